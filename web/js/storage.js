// What the page remembers, per browser (localStorage): every tab of the browser is the same
// person, so a new tab, or the page opened again, resumes the session at once.

function read(key, fallback) {
  try {
    const value = JSON.parse(localStorage.getItem(key) ?? "null");
    return value ?? fallback;
  } catch {
    return fallback; // written by something else: start afresh rather than fail
  }
}

export const storage = {
  get nick() {
    return localStorage.getItem("parley.nick") || "";
  },
  set nick(value) {
    localStorage.setItem("parley.nick", value);
  },

  get rooms() {
    const rooms = read("parley.rooms", []);
    return Array.isArray(rooms) ? rooms.filter((room) => typeof room === "string") : [];
  },
  set rooms(value) {
    localStorage.setItem("parley.rooms", JSON.stringify(value));
  },

  /** The session token: lets a reconnect, a reload or another tab take the nick back. */
  get session() {
    return localStorage.getItem("parley.session") || "";
  },
  set session(value) {
    if (value) localStorage.setItem("parley.session", value);
    else localStorage.removeItem("parley.session");
  },

  /** The newest message id the user has seen in each room, for "new since you left". */
  lastRead(room) {
    const ids = read("parley.read", {});
    const id = ids && typeof ids === "object" ? ids[room] : 0;
    return Number.isSafeInteger(id) ? id : 0;
  },
  setLastRead(room, id) {
    const ids = read("parley.read", {});
    const table = ids && typeof ids === "object" && !Array.isArray(ids) ? ids : {};
    if ((table[room] ?? 0) >= id) return;
    table[room] = id;
    localStorage.setItem("parley.read", JSON.stringify(table));
  },

  /** Forgets the person: signing out. */
  clear() {
    for (const key of ["parley.nick", "parley.rooms", "parley.session", "parley.read"]) localStorage.removeItem(key);
  },
};
