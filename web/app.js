// Parley's first page: pick a nick, join a room, read history and live messages, send.
// Every piece of user text is rendered with textContent, never as HTML.

const $ = (id) => document.getElementById(id);
const wsURL = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws`;

const state = {
  socket: null,
  nick: localStorage.getItem("parley.nick") || "",
  room: roomFromHash() || "general",
  lastID: 0,           // newest message id seen in the room, for `since` on reconnect
  seen: new Set(),     // message ids already shown
  members: new Set(),
  nextRef: 1,
  pending: new Map(),  // ref -> list item of a message waiting for its ack
  retry: 0,
  joined: false,
};

function roomFromHash() {
  try {
    return decodeURIComponent(location.hash.slice(1));
  } catch {
    return ""; // a malformed hash names no room
  }
}

$("nick").value = state.nick;
$("room").value = state.room;

$("login").addEventListener("submit", (event) => {
  event.preventDefault();
  state.nick = $("nick").value.trim();
  state.room = $("room").value.trim().toLowerCase();
  localStorage.setItem("parley.nick", state.nick);
  location.hash = encodeURIComponent(state.room);
  $("login-error").textContent = "";
  connect();
});

$("composer").addEventListener("submit", (event) => {
  event.preventDefault();
  send();
});

$("text").addEventListener("keydown", (event) => {
  if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    send();
  }
});

function setStatus(text, online = false) {
  $("status").textContent = text;
  $("status").classList.toggle("online", online);
}

function connect() {
  if (state.socket) state.socket.close();
  setStatus("connecting…");
  const socket = new WebSocket(wsURL);
  state.socket = socket;
  socket.addEventListener("open", () => {
    const join = { type: "join", room: state.room, nick: state.nick, ref: "join" };
    if (state.joined) join.since = state.lastID; // reconnect: only what was missed
    socket.send(JSON.stringify(join));
  });
  socket.addEventListener("message", (event) => handle(JSON.parse(event.data)));
  socket.addEventListener("close", () => {
    if (state.socket !== socket) return;
    state.socket = null;
    if (!state.joined) { setStatus("offline"); return; }
    const delay = Math.min(30000, 500 * 2 ** state.retry) * (0.5 + Math.random() / 2);
    state.retry += 1;
    setStatus(`reconnecting in ${Math.ceil(delay / 1000)}s`);
    setTimeout(connect, delay);
  });
}

function handle(event) {
  switch (event.type) {
    case "joined":
      state.joined = true;
      state.retry = 0;
      state.room = event.room;
      state.members = new Set(event.members);
      $("login").hidden = true;
      $("chat").hidden = false;
      $("room-title").textContent = `#${event.room} as ${event.nick}`;
      renderMembers();
      setStatus("online", true);
      $("text").focus();
      break;
    case "history":
      for (const message of event.messages) showMessage(message);
      break;
    case "message":
      showMessage(event);
      break;
    case "ack": {
      const item = state.pending.get(event.ref);
      state.pending.delete(event.ref);
      if (item) item.remove(); // the message itself arrives (or arrived) as a `message` event
      break;
    }
    case "presence":
      if (event.event === "join") state.members.add(event.nick); else state.members.delete(event.nick);
      renderMembers();
      break;
    case "error": {
      const item = event.ref && state.pending.get(event.ref);
      if (item) {
        item.classList.replace("pending", "failed");
        item.title = event.message;
        state.pending.delete(event.ref);
      } else if (!state.joined) {
        $("login-error").textContent = event.message;
        state.socket?.close();
      } else {
        setStatus(event.message);
      }
      break;
    }
  }
}

function send() {
  const text = $("text").value;
  if (!text.trim() || !state.socket || state.socket.readyState !== WebSocket.OPEN) return;
  const ref = `m${state.nextRef++}`;
  state.socket.send(JSON.stringify({ type: "say", room: state.room, text, ref }));
  const item = messageItem(state.nick, text, new Date());
  item.classList.add("pending");
  state.pending.set(ref, item);
  appendItem(item);
  $("text").value = "";
}

function showMessage(message) {
  if (state.seen.has(message.id)) return;
  state.seen.add(message.id);
  state.lastID = Math.max(state.lastID, message.id);
  const item = messageItem(message.nick, message.text, new Date(message.ts));
  item.dataset.id = message.id;
  appendItem(item);
}

function messageItem(nick, text, date) {
  const item = document.createElement("li");
  const time = document.createElement("time");
  time.dateTime = date.toISOString();
  time.textContent = date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  const who = document.createElement("span");
  who.className = "nick";
  who.textContent = nick;
  const body = document.createElement("span");
  body.className = "text";
  body.textContent = text;
  item.append(time, who, body);
  return item;
}

function appendItem(item) {
  const list = $("messages");
  const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
  const firstPending = list.querySelector(".pending");
  if (firstPending && !item.classList.contains("pending")) list.insertBefore(item, firstPending);
  else list.append(item);
  if (atBottom) list.scrollTop = list.scrollHeight;
}

function renderMembers() {
  const list = $("members");
  list.replaceChildren(...[...state.members].sort().map((nick) => {
    const item = document.createElement("li");
    item.textContent = nick;
    return item;
  }));
}

if (state.nick && location.hash) connect();
