// Parley's chat page: pick a nick, join rooms, chat; survive drops and server restarts without
// losing or doubling a message. See docs/PROTOCOL.md for the messages exchanged here.

import { Connection, Disconnected } from "./js/connection.js";
import { element } from "./js/render.js";
import { Room } from "./js/room.js";

const $ = (id) => document.getElementById(id);
const storage = {
  get nick() {
    return localStorage.getItem("parley.nick") || "";
  },
  set nick(value) {
    localStorage.setItem("parley.nick", value);
  },
  get rooms() {
    try {
      const rooms = JSON.parse(localStorage.getItem("parley.rooms") || "[]");
      return Array.isArray(rooms) ? rooms.filter((room) => typeof room === "string") : [];
    } catch {
      return [];
    }
  },
  set rooms(value) {
    localStorage.setItem("parley.rooms", JSON.stringify(value));
  },
  // The session token lets a reconnect (or a reload) take the nick and rooms back without the
  // others seeing a leave and a join. Per tab (sessionStorage): two tabs are two sessions.
  get session() {
    return sessionStorage.getItem("parley.session") || "";
  },
  set session(value) {
    if (value) sessionStorage.setItem("parley.session", value);
    else sessionStorage.removeItem("parley.session");
  },
};

const connection = new Connection(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws`);
const rooms = new Map(); // room name -> Room, in the order of the room list
let nick = "";
let signedIn = false; // the server has accepted the nick at least once
// A sign-in is wanted (the form was sent, or a remembered nick is being used). Cleared when the
// server refuses the nick, so that a reconnect does not retry it and pull the focus away from a
// user who is typing another one.
let signInWanted = false;
let active = null; // the Room in view

// --- room list and switching

function roomFromHash() {
  try {
    return decodeURIComponent(location.hash.slice(1)).trim();
  } catch {
    return ""; // a malformed hash names no room
  }
}

function saveRooms() {
  storage.rooms = [...rooms.keys()];
}

function renderRoomList() {
  const list = $("room-list");
  list.replaceChildren(
    ...[...rooms.values()].map((room) => {
      const item = element("li", "room-item");
      const tab = element("button", "room-tab");
      tab.type = "button";
      tab.dataset.room = room.name;
      tab.append(element("span", "room-name", `#${room.name}`));
      if (room.unread) {
        const badge = element("span", "unread", String(room.unread));
        badge.setAttribute("aria-label", `${room.unread} unread`);
        tab.append(badge);
      }
      if (room === active) tab.setAttribute("aria-current", "true");
      tab.addEventListener("click", () => activate(room));
      const leave = element("button", "leave", "×");
      leave.type = "button";
      leave.title = `Leave #${room.name}`;
      leave.setAttribute("aria-label", `Leave #${room.name}`);
      leave.addEventListener("click", () => leaveRoom(room));
      item.append(tab, leave);
      return item;
    }),
  );
  const unread = [...rooms.values()].reduce((sum, room) => sum + room.unread, 0);
  document.title = unread ? `(${unread}) Parley` : "Parley";
}

function renderMembers() {
  const members = active ? active.sortedMembers() : [];
  $("member-count").textContent = String(members.length);
  $("members").replaceChildren(
    ...members.map((member) => element("li", member.toLowerCase() === nick.toLowerCase() ? "me" : "", member)),
  );
}

function activate(room) {
  if (active && active !== room) {
    active.draft = $("text").value;
    active.show(false);
  }
  active = room;
  $("no-room").hidden = room !== null;
  $("composer").hidden = room === null;
  if (room) {
    room.show(true);
    $("room-title").textContent = `#${room.name}`;
    $("text").value = room.draft;
    if (roomFromHash().toLowerCase() !== room.name) {
      history.replaceState(null, "", `#${encodeURIComponent(room.name)}`);
    }
    $("text").focus();
  } else {
    $("room-title").textContent = "";
    history.replaceState(null, "", location.pathname);
  }
  renderRoomList();
  renderMembers();
}

/** The room the user asked for: shown at once, joined now or as soon as the connection is up. */
function openRoom(name) {
  const key = name.toLowerCase();
  let room = rooms.get(key);
  if (!room) {
    room = new Room(key, { older: loadOlder, retry, discard });
    rooms.set(key, room);
    $("rooms").append(room.section);
    saveRooms();
    if (connection.state === "online" && signedIn) join(room);
  }
  activate(room);
}

function forget(room) {
  rooms.delete(room.name);
  room.section.remove();
  saveRooms();
  if (active === room) activate(rooms.values().next().value ?? null);
  else renderRoomList();
}

async function leaveRoom(room) {
  forget(room);
  try {
    await connection.request({ type: "leave", room: room.name });
  } catch {
    // Offline or not in the room: either way it is not rejoined.
  }
}

// --- talking to the server

async function join(room) {
  const rejoin = room.joinedOnce;
  const command = { type: "join", room: room.name, nick };
  if (rejoin) command.since = room.lastId; // exactly what was missed while away
  if (storage.session) command.resume = storage.session;
  // The `history` event follows `joined` without a `ref`; onEvent hands it over through this.
  const history = new Promise((resolve) => (room.historyWaiter = resolve));
  try {
    const joined = await connection.request(command);
    if (joined.session) storage.session = joined.session;
    if (!signedIn) signIn(joined.nick);
    if (joined.room !== room.name) renameRoom(room, joined.room);
    room.joinedOnce = true;
    room.setMembers(joined.members);
    if (room === active) renderMembers();
    const page = await history;
    if (!page) return; // the connection dropped in between: the next one rejoins
    const added = room.add(page.messages, nick);
    if (rejoin) {
      noteUnread(room, added);
      // A backlog of more than one page is read to the end before anything unsent is resent,
      // so that a message stored just before the drop shows in its place (the server would not
      // store it twice anyway: it carries the same mid).
      let truncated = page.truncated;
      while (truncated) {
        const next = await connection.request({ type: "history", room: room.name, after: room.lastId, limit: 200 });
        noteUnread(room, room.add(next.messages, nick));
        truncated = next.truncated;
      }
    } else {
      room.setHasOlder(page.truncated);
    }
    room.live = true;
    for (const outgoing of room.unsent()) sendOutgoing(room, outgoing);
  } catch (error) {
    if (error instanceof Disconnected) return; // rejoined on the next connection
    joinFailed(room, error);
  }
}

function joinFailed(room, error) {
  if (!signedIn) {
    // The nick (or the first room) was refused: ask again; the connection stays usable.
    signInWanted = false;
    if (error.code === "invalid_room") forget(room);
    showLogin(error.message);
  } else if (error.code === "nick_taken") {
    // Our previous connection still holds the nick (and this tab has no session token to take
    // it back with) until the server notices it is gone.
    setStatusNote("your nick is still held by the previous connection");
    connection.drop();
  } else {
    forget(room);
    showNotice(`Could not join #${room.name}: ${error.message}`);
  }
}

/** Joins every open room on a fresh connection: the one in view first, as it signs the nick in. */
function joinAll() {
  if (signedIn) {
    for (const room of rooms.values()) join(room);
  } else if (active && signInWanted) {
    const first = active;
    // Rooms opened meanwhile are included: they could not be joined before the nick was accepted.
    join(first).then(() => {
      if (signedIn) for (const room of rooms.values()) if (room !== first) join(room);
    });
  }
}

async function loadOlder(room) {
  if (room.loadingOlder || !room.oldestId) return;
  room.loadingOlder = true;
  try {
    const page = await connection.request({ type: "history", room: room.name, before: room.oldestId, limit: 50 });
    room.addOlder(page.messages, page.truncated, nick);
  } catch (error) {
    showNotice(`Could not load older messages: ${error.message}`);
  } finally {
    room.loadingOlder = false;
  }
}

function renameRoom(room, name) {
  const entries = [...rooms.entries()].map(([key, value]) => (value === room ? [name, room] : [key, value]));
  rooms.clear();
  for (const [key, value] of entries) rooms.set(key, value);
  room.name = name;
  room.section.dataset.room = name;
  saveRooms();
  if (room === active) activate(room);
}

function say(text) {
  if (!active || !text.trim()) return;
  const outgoing = active.queue(text);
  if (active.live) sendOutgoing(active, outgoing);
}

async function sendOutgoing(room, outgoing) {
  room.mark(outgoing, "sent");
  try {
    await connection.request({ type: "say", room: room.name, text: outgoing.text, mid: outgoing.mid });
    room.remove(outgoing); // usually gone already: the `message` event comes before the `ack`
  } catch (error) {
    if (error instanceof Disconnected) return; // connectionLost() marked it; the rejoin decides
    room.mark(outgoing, "failed", error.message);
  }
}

function retry(room, outgoing) {
  room.mark(outgoing, "queued");
  if (room.live) sendOutgoing(room, outgoing);
}

function discard(room, outgoing) {
  room.remove(outgoing);
}

function noteUnread(room, count) {
  if (!count || (room === active && !document.hidden)) return;
  room.unread += count;
  renderRoomList();
}

function onEvent(event) {
  const room = event.room === undefined ? undefined : rooms.get(event.room);
  switch (event.type) {
    case "history":
      if (room && event.ref === undefined) {
        room.historyWaiter?.(event);
        room.historyWaiter = null;
      }
      break;
    case "message":
      if (room) noteUnread(room, room.add([event], nick));
      break;
    case "presence":
      if (!room) break;
      if (event.event === "join") room.memberJoined(event.nick);
      else room.memberLeft(event.nick);
      if (room === active) renderMembers();
      break;
    case "error":
      if (event.ref === undefined) showNotice(event.message);
      break;
  }
}

// --- sign-in and connection state

function signIn(acceptedNick) {
  signedIn = true;
  nick = acceptedNick;
  storage.nick = acceptedNick;
  connection.markHealthy();
  $("login").hidden = true;
  $("chat").hidden = false;
  $("me").textContent = acceptedNick;
  $("session").hidden = false;
}

function showLogin(message) {
  $("login").hidden = false;
  $("login-error").textContent = message;
  $("nick").focus();
  $("nick").select();
}

let notePending = "";
function setStatusNote(note) {
  notePending = note;
}

let countdown = null;
function renderState({ state, retryAt }) {
  const status = $("status");
  status.dataset.state = state;
  clearInterval(countdown);
  const labels = {
    idle: "offline",
    connecting: "connecting…",
    online: "online",
    replaced: "signed in from another tab or device",
  };
  $("reconnect-now").hidden = state !== "waiting" && state !== "replaced";
  if (state !== "waiting") {
    status.textContent = labels[state];
    return;
  }
  const tick = () => {
    const seconds = Math.max(0, Math.ceil((retryAt - Date.now()) / 1000));
    status.textContent = `reconnecting in ${seconds}s${notePending ? ` (${notePending})` : ""}`;
  };
  tick();
  countdown = setInterval(tick, 1000);
}

function showNotice(text) {
  const notice = $("notice");
  notice.textContent = text;
  notice.hidden = false;
  clearTimeout(showNotice.timer);
  showNotice.timer = setTimeout(() => (notice.hidden = true), 8000);
}

connection.addEventListener("state", (event) => renderState(event.detail));
connection.addEventListener("event", (event) => onEvent(event.detail));
connection.addEventListener("open", () => {
  notePending = "";
  joinAll();
});
connection.addEventListener("close", () => {
  for (const room of rooms.values()) {
    room.live = false;
    room.connectionLost();
    room.historyWaiter?.(null);
    room.historyWaiter = null;
  }
});

// --- the user's actions

$("login").addEventListener("submit", (event) => {
  event.preventDefault();
  nick = $("nick").value.trim();
  const name = $("login-room").value.trim().replace(/^#/, "");
  if (!nick || !name) return;
  $("login-error").textContent = "";
  signInWanted = true;
  openRoom(name);
  if (connection.state === "online") joinAll();
  else connection.start();
});

$("join-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const name = $("join-room").value.trim().replace(/^#/, "");
  if (!name) return;
  $("join-room").value = "";
  openRoom(name);
});

$("composer").addEventListener("submit", (event) => {
  event.preventDefault();
  say($("text").value);
  $("text").value = "";
});

$("text").addEventListener("keydown", (event) => {
  if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    $("composer").requestSubmit();
  }
});

$("reconnect-now").addEventListener("click", () => connection.reconnectNow());

$("sign-out").addEventListener("click", async () => {
  // Leaving every room first ends the session on the server at once, so the nick is free
  // for whoever wants it instead of being held for a reconnect that will not come.
  await Promise.allSettled([...rooms.keys()].map((room) => connection.request({ type: "leave", room })));
  localStorage.removeItem("parley.nick");
  localStorage.removeItem("parley.rooms");
  storage.session = "";
  location.hash = "";
  location.reload();
});

window.addEventListener("hashchange", () => {
  const name = roomFromHash();
  if (name && signedIn) openRoom(name);
});

document.addEventListener("visibilitychange", () => {
  if (!document.hidden && active && active.unread) {
    active.unread = 0;
    renderRoomList();
  }
});

// --- start: a remembered nick goes straight back into its rooms

renderState({ state: "idle" });
// On a phone the member list starts folded, leaving the screen to the conversation.
if (matchMedia("(max-width: 44rem)").matches) $("members-details").open = false;
const hashRoom = roomFromHash();
$("nick").value = storage.nick;
$("login-room").value = hashRoom || "general";
if (storage.nick) {
  nick = storage.nick;
  signInWanted = true;
  const names = storage.rooms;
  if (hashRoom && !names.includes(hashRoom.toLowerCase())) names.push(hashRoom);
  if (names.length) {
    $("login").hidden = true;
    $("chat").hidden = false;
    for (const name of names) openRoom(name);
    openRoom(hashRoom || names[0]);
    connection.start();
  }
}
if (!signedIn) $("nick").focus();
