// The room directory: the rooms that exist (from `GET /api/rooms`), who is there now and when
// each last spoke, so a newcomer finds where the conversation is.

import { element } from "./render.js";

const relative = new Intl.RelativeTimeFormat([], { numeric: "auto" });

/** "5 minutes ago", "yesterday", …, from a past date. */
export function ago(date, now = Date.now()) {
  const seconds = Math.round((date.getTime() - now) / 1000);
  const units = [
    ["year", 31536000],
    ["month", 2592000],
    ["week", 604800],
    ["day", 86400],
    ["hour", 3600],
    ["minute", 60],
  ];
  for (const [unit, size] of units) {
    if (Math.abs(seconds) >= size) return relative.format(Math.round(seconds / size), unit);
  }
  return "just now";
}

/** The rooms, busiest first: members now, then the most recent activity. */
export async function loadDirectory() {
  const response = await fetch("/api/rooms", { headers: { accept: "application/json" } });
  if (!response.ok) throw new Error(`The room list could not be read (${response.status}).`);
  const body = await response.json();
  const rooms = Array.isArray(body.rooms) ? body.rooms : [];
  return rooms
    .filter((room) => typeof room.name === "string")
    .sort(
      (a, b) =>
        (b.members ?? 0) - (a.members ?? 0) ||
        String(b.last_message_at ?? "").localeCompare(String(a.last_message_at ?? "")) ||
        a.name.localeCompare(b.name),
    );
}

/**
 * Fills `container` with the directory; `pick(name)` opens a room. Rooms in `joined` are marked.
 */
export async function showDirectory(container, { pick, joined }) {
  container.replaceChildren(element("p", "hint", "Loading rooms…"));
  let rooms;
  try {
    rooms = await loadDirectory();
  } catch (error) {
    container.replaceChildren(element("p", "error", error.message));
    return;
  }
  if (!rooms.length) {
    container.replaceChildren(element("p", "hint", "No rooms yet: name one to start it."));
    return;
  }
  const list = element("ul", "directory-list");
  for (const room of rooms) {
    const button = element("button", "directory-room");
    button.type = "button";
    button.dataset.room = room.name;
    button.append(element("span", "room-name", `#${room.name}`));
    const details = [`${room.members} here`];
    if (room.last_message_at) details.push(`active ${ago(new Date(room.last_message_at))}`);
    if (joined.has(room.name)) details.push("joined");
    button.append(element("span", "directory-details", details.join(" · ")));
    // mousedown, not click: the join field's blur would otherwise hide the list first.
    button.addEventListener("mousedown", (event) => event.preventDefault());
    button.addEventListener("click", () => pick(room.name));
    const item = element("li");
    item.append(button);
    list.append(item);
  }
  container.replaceChildren(list);
}

/** Opens the directory under `input` (the join field) while it has the focus. */
export function attachDirectory(input, popover, { pick, joined }) {
  const content = popover.querySelector(".directory-content");
  input.addEventListener("focus", () => {
    popover.hidden = false;
    showDirectory(content, {
      pick: (name) => {
        popover.hidden = true;
        pick(name);
      },
      joined: joined(),
    });
  });
  input.addEventListener("blur", () => (popover.hidden = true));
  input.addEventListener("keydown", (event) => {
    if (event.key === "Escape") popover.hidden = true;
  });
}
