// Parley's chat page: pick a nick, join rooms, chat; survive drops and server restarts without
// losing or doubling a message. This file wires the pieces in js/ together: sign-in, the room
// list, and the server's events. See docs/PROTOCOL.md for the messages exchanged here.

import { Composer, textLength } from "./js/composer.js";
import { Connection, Disconnected } from "./js/connection.js";
import { attachDirectory, showDirectory } from "./js/directory.js";
import { askForNotificationsOnce, notifyMention } from "./js/notify.js";
import { Room } from "./js/room.js";
import { renderMemberList, renderRoomTabs } from "./js/roomlist.js";
import { Search } from "./js/search.js";
import { Sender } from "./js/sender.js";
import { storage } from "./js/storage.js";
import { mentionPattern } from "./js/text.js";

const $ = (id) => document.getElementById(id);
const maxNickLength = 32;
const maxRoomLength = 64;

const connection = new Connection({
  webSocket: `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws`,
  http: location.origin,
});
const rooms = new Map(); // room name -> Room, in the order of the room list
/** Who reads: shared with every Room, which renders mentions of this nick. */
const viewer = { nick: "", mentionPattern: null };
let signedIn = false; // the server has accepted the nick at least once
// A sign-in is wanted (the form was sent, or a remembered nick is being used). Cleared when the
// server refuses the nick, so that a reconnect does not retry it and pull the focus away from a
// user who is typing another one.
let signInWanted = false;
let active = null; // the Room in view

const sender = new Sender(connection, {
  held: () => showNotice("Sending more slowly: the server takes a few messages a second. Yours go out in order.", "quiet"),
});
const composer = new Composer({ form: $("composer"), field: $("text"), counter: $("text-counter") }, say);
const search = new Search(
  { form: $("search-form"), field: $("search"), panel: $("search-panel") },
  { room: () => active, request: (command) => connection.request(command), jump },
);

function setNick(nick) {
  viewer.nick = nick;
  viewer.mentionPattern = mentionPattern(nick);
}

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
  renderRoomTabs($("room-list"), rooms.values(), active, { activate, leave: leaveRoom });
}

function renderMembers() {
  renderMemberList($("members"), $("member-count"), active ? active.sortedMembers() : [], viewer.nick);
}

/** The user looks at `room` now: what it shows is read. */
function markSeen(room, options) {
  storage.setLastRead(room.name, room.seen(options));
}

function activate(room) {
  if (active && active !== room) {
    active.draft = composer.value;
    active.show(false);
  }
  active = room;
  search.close();
  $("no-room").hidden = room !== null;
  $("composer").hidden = room === null;
  if (room) {
    room.show(true);
    markSeen(room, { divider: true });
    $("room-title").textContent = `#${room.name}`;
    composer.value = room.draft;
    if (roomFromHash().toLowerCase() !== room.name) {
      history.replaceState(null, "", `#${encodeURIComponent(room.name)}`);
    }
    $("text").focus();
  } else {
    $("room-title").textContent = "";
    history.replaceState(null, "", location.pathname);
    showDirectory($("directory-empty"), { pick: openRoom, joined: new Set(rooms.keys()) });
  }
  $("search-form").hidden = room === null;
  renderRoomList();
  renderMembers();
}

/** A room name the server could take, or null after saying why not (nothing is cut short). */
function checkedRoomName(raw, complain) {
  const name = raw.trim().replace(/^#/, "");
  if (!name) return null;
  if (textLength(name) > maxRoomLength) {
    complain(`A room name may have at most ${maxRoomLength} characters.`);
    return null;
  }
  return name;
}

/** The room the user asked for: shown at once, joined now or as soon as the connection is up. */
function openRoom(name) {
  const key = name.toLowerCase();
  let room = rooms.get(key);
  if (!room) {
    room = new Room(key, viewer, { older: (room) => loadOlder(room), retry, discard });
    room.readUpTo = storage.lastRead(key);
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
  const command = { type: "join", room: room.name, nick: viewer.nick };
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
    const added = room.add(page.messages);
    room.loaded();
    if (rejoin) {
      noteUnread(room, added);
      // A backlog of more than one page is read to the end before anything unsent is resent,
      // so that a message stored just before the drop shows in its place (the server would not
      // store it twice anyway: it carries the same mid).
      let truncated = page.truncated;
      while (truncated) {
        const next = await connection.request({ type: "history", room: room.name, after: room.lastId, limit: 200 });
        noteUnread(room, room.add(next.messages));
        truncated = next.truncated;
      }
    } else {
      room.setHasOlder(page.truncated);
      if (room === active && !document.hidden) markSeen(room, { divider: true });
    }
    room.live = true;
    for (const outgoing of room.unsent()) sender.send(room, outgoing);
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
    // Our previous connection still holds the nick (and there is no session token to take it
    // back with) until the server notices it is gone.
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

async function loadOlder(room, limit = 50) {
  if (room.loadingOlder || !room.oldestId) return;
  room.loadingOlder = true;
  try {
    const page = await connection.request({ type: "history", room: room.name, before: room.oldestId, limit });
    room.addOlder(page.messages, page.truncated);
  } catch (error) {
    showNotice(`Could not load older messages: ${error.message}`);
  } finally {
    room.loadingOlder = false;
  }
}

/** Shows message `id` of `room` in its conversation, reading older pages until it is there. */
async function jump(room, id) {
  if (room !== active) activate(room);
  for (let pages = 0; !room.nodes.has(id) && room.oldestId > id && room.hasOlder && pages < 25; pages += 1) {
    await loadOlder(room, Math.min(200, room.oldestId - id + 10));
  }
  if (!room.reveal(id)) showNotice("That message is no longer in the room's history.");
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
  if (!active) return;
  askForNotificationsOnce();
  const outgoing = active.queue(text);
  if (active.live) sender.send(active, outgoing);
}

function retry(room, outgoing) {
  room.mark(outgoing, "queued");
  if (room.live) sender.send(room, outgoing);
}

function discard(room, outgoing) {
  room.remove(outgoing);
}

/** Counts what arrived unseen; notifies of mentions that arrive live while the page is hidden. */
function noteUnread(room, added, { live = false } = {}) {
  if (!added.count) return;
  if (room === active && !document.hidden) {
    markSeen(room);
    return;
  }
  room.unread += added.count;
  room.mentions += added.mentioning.length;
  if (live) for (const message of added.mentioning) notifyMention(room.name, message, openRoom);
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
      if (room) noteUnread(room, room.add([event]), { live: room.live });
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
  setNick(acceptedNick);
  storage.nick = acceptedNick;
  connection.markHealthy();
  $("login").hidden = true;
  $("chat").hidden = false;
  $("me").textContent = acceptedNick;
  $("session").hidden = false;
  // The chat was hidden until now, so the message box could not take the focus before.
  if (active) $("text").focus();
}

/** The login form, alone: never over a half-built conversation. */
function showLogin(message) {
  $("chat").hidden = true;
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
  document.body.dataset.connection = state;
  clearInterval(countdown);
  const labels = {
    idle: "offline",
    connecting: "connecting…",
    online: "online",
    replaced: "signed in from another tab or device",
  };
  const button = $("reconnect-now");
  button.hidden = state !== "waiting" && state !== "replaced";
  button.textContent = state === "replaced" ? "use here" : "reconnect now";
  $("text").placeholder =
    state === "online" || state === "idle"
      ? "Message (Enter sends, Shift+Enter for a new line)"
      : "Offline: what you write is sent when the connection is back";
  if (state !== "waiting") {
    // Quietly, for whoever wonders why things are slower: the HTTP transport is in use.
    status.textContent = state === "online" && connection.mode === "events" ? "online (compatibility mode)" : labels[state];
    return;
  }
  const tick = () => {
    const seconds = Math.max(0, Math.ceil((retryAt - Date.now()) / 1000));
    status.textContent = `reconnecting in ${seconds}s${notePending ? ` (${notePending})` : ""}`;
  };
  tick();
  countdown = setInterval(tick, 1000);
}

/** A line above the composer for a few seconds; `quiet` for news that is not an error. */
function showNotice(text, tone = "error") {
  const notice = $("notice");
  notice.textContent = text;
  notice.dataset.tone = tone;
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
  const nick = $("nick").value.trim();
  if (textLength(nick) > maxNickLength) {
    $("login-error").textContent = `A nick may have at most ${maxNickLength} characters.`;
    return;
  }
  const name = checkedRoomName($("login-room").value, (problem) => ($("login-error").textContent = problem));
  if (!nick || !name) return;
  $("login-error").textContent = "";
  askForNotificationsOnce();
  setNick(nick);
  signInWanted = true;
  openRoom(name);
  if (connection.state === "online") joinAll();
  else connection.start();
});

$("join-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const name = checkedRoomName($("join-room").value, showNotice);
  if (!name) return;
  $("join-room").value = "";
  $("directory").hidden = true;
  openRoom(name);
});

attachDirectory($("join-room"), $("directory"), {
  pick: (name) => {
    $("join-room").value = "";
    openRoom(name);
  },
  joined: () => new Set(rooms.keys()),
});

$("reconnect-now").addEventListener("click", () => connection.reconnectNow());

$("sign-out").addEventListener("click", async () => {
  // Leaving every room first ends the session on the server at once, so the nick is free
  // for whoever wants it instead of being held for a reconnect that will not come.
  await Promise.allSettled([...rooms.keys()].map((room) => connection.request({ type: "leave", room })));
  storage.clear();
  location.hash = "";
  location.reload();
});

window.addEventListener("hashchange", () => {
  const name = roomFromHash();
  if (name && signedIn && textLength(name) <= maxRoomLength) openRoom(name);
});

document.addEventListener("visibilitychange", () => {
  if (!document.hidden && active && (active.unread || active.mentions)) {
    markSeen(active, { divider: true });
    active.unread = 0;
    active.mentions = 0;
    renderRoomList();
  }
});

// --- start: a remembered nick goes straight back into its rooms, as the same session

renderState({ state: "idle" });
// On a phone the member list starts folded, leaving the screen to the conversation.
if (matchMedia("(max-width: 44rem)").matches) $("members-details").open = false;
const hashRoom = roomFromHash();
$("nick").value = storage.nick;
$("login-room").value = hashRoom || "general";
if (storage.nick) {
  setNick(storage.nick);
  signInWanted = true;
  const names = storage.rooms.filter((name) => textLength(name) <= maxRoomLength);
  if (hashRoom && textLength(hashRoom) <= maxRoomLength && !names.includes(hashRoom.toLowerCase())) names.push(hashRoom);
  if (names.length) {
    $("login").hidden = true;
    $("chat").hidden = false;
    for (const name of names) openRoom(name);
    openRoom(hashRoom || names[0]);
    connection.start();
  }
}
if (!signedIn && !$("login").hidden) $("nick").focus();
