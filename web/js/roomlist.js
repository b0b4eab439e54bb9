// The list of the user's rooms (with unread and mention counts) and the member list of the
// room in view.

import { element } from "./render.js";

/** Fills `list` with a tab per room; `actions.activate(room)` and `actions.leave(room)`. */
export function renderRoomTabs(list, rooms, active, actions) {
  const all = [...rooms];
  list.replaceChildren(
    ...all.map((room) => {
      const item = element("li", "room-item");
      const tab = element("button", "room-tab");
      tab.type = "button";
      tab.dataset.room = room.name;
      tab.append(element("span", "room-name", `#${room.name}`));
      if (room.mentions) {
        const badge = element("span", "mention-count", `@${room.mentions}`);
        badge.setAttribute("aria-label", `${room.mentions} mentioning you`);
        tab.append(badge);
      }
      if (room.unread) {
        const badge = element("span", "unread", String(room.unread));
        badge.setAttribute("aria-label", `${room.unread} unread`);
        tab.append(badge);
      }
      if (room === active) tab.setAttribute("aria-current", "true");
      tab.addEventListener("click", () => actions.activate(room));
      const leave = element("button", "leave", "×");
      leave.type = "button";
      leave.title = `Leave #${room.name}`;
      leave.setAttribute("aria-label", `Leave #${room.name}`);
      leave.addEventListener("click", () => actions.leave(room));
      item.append(tab, leave);
      return item;
    }),
  );
  // The tab's title counts what is unread, with an @ when something mentions the user.
  const unread = all.reduce((sum, room) => sum + room.unread, 0);
  const mentioned = all.some((room) => room.mentions);
  document.title = unread ? `(${mentioned ? "@" : ""}${unread}) Parley` : "Parley";
}

/** Fills the member list, the user's own nick marked. */
export function renderMemberList(list, count, members, myNick) {
  count.textContent = String(members.length);
  list.replaceChildren(
    ...members.map((member) => element("li", member.toLowerCase() === myNick.toLowerCase() ? "me" : "", member)),
  );
}
