// One joined room: its messages (deduplicated and kept in id order, whatever order they arrive
// in), its members, the user's unsent messages, and the part of the page that shows them.

import { dayLabel, element, messageElement } from "./render.js";
import { mentions } from "./text.js";

const nearBottom = 40; // px: closer than this to the end counts as "reading the newest"
// Messages from one nick closer together than this, on the same day, share one name and time.
const groupingWindow = 5 * 60 * 1000;

/** A random message id (`mid`): a resend with the same one is never stored twice. */
function newMessageID() {
  if (crypto.randomUUID) return crypto.randomUUID(); // only in secure contexts (https, localhost)
  return [...crypto.getRandomValues(new Uint8Array(16))].map((byte) => byte.toString(16).padStart(2, "0")).join("");
}

/** A message the user wrote that the server has not confirmed yet. */
class Outgoing {
  constructor(text) {
    this.text = text;
    this.mid = newMessageID();
    // queued: not sent yet; sent: waiting for the ack; held: the server asked to wait (rate
    // limit) and it goes again by itself; unknown: sent on a connection that dropped, so it may
    // or may not be stored; failed: the server refused it.
    this.state = "queued";
    this.node = null;
  }
}

export class Room {
  /**
   * @param {string} name the room's name as the server spells it (case-folded)
   * @param {object} viewer who reads: `nick` and `mentionPattern` (both change on sign-in)
   * @param {object} actions callbacks: older(room), retry(room, outgoing), discard(room, outgoing)
   */
  constructor(name, viewer, actions) {
    this.name = name;
    this.viewer = viewer;
    this.actions = actions;
    this.nodes = new Map(); // message id -> <li>
    this.ids = []; // ascending
    this.hasOlder = false;
    this.joinedOnce = false;
    this.members = new Map(); // lowercased nick -> nick
    this.unread = 0;
    this.mentions = 0; // of the unread, how many mention the user
    this.readUpTo = 0; // the newest id the user has seen here (set from storage by the page)
    this.outgoing = [];
    this.draft = "";
    this.stick = true; // follow new messages until the user scrolls up
    this.buildView();
  }

  /** The newest id seen: what `since` must carry on a rejoin. */
  get lastId() {
    return this.ids.length ? this.ids[this.ids.length - 1] : 0;
  }

  get oldestId() {
    return this.ids.length ? this.ids[0] : 0;
  }

  buildView() {
    this.section = element("section", "room-view");
    this.section.hidden = true;
    this.section.dataset.room = this.name;
    this.section.setAttribute("aria-label", `#${this.name}`);

    this.scroller = element("div", "scroller");
    this.scroller.tabIndex = 0; // keyboard users can scroll the conversation
    this.olderButton = element("button", "older", "Load older messages");
    this.olderButton.type = "button";
    this.olderButton.hidden = true;
    this.olderButton.addEventListener("click", () => this.actions.older(this));
    this.empty = element("p", "empty", "Loading messages…");
    this.list = element("ol", "messages");
    this.divider = element("li", "divider", "New since you left");
    this.divider.setAttribute("role", "separator");
    this.list.setAttribute("role", "log");
    this.list.setAttribute("aria-live", "polite");
    this.outbox = element("ol", "messages outgoing");
    this.scroller.append(this.olderButton, this.empty, this.list, this.outbox);
    this.scroller.addEventListener("scroll", () => {
      this.stick = this.distanceFromBottom() < nearBottom;
      if (this.stick) this.newBelow.hidden = true;
    });

    this.newBelow = element("button", "new-below", "New messages ↓");
    this.newBelow.type = "button";
    this.newBelow.hidden = true;
    this.newBelow.addEventListener("click", () => this.scrollToBottom());
    this.section.append(this.scroller, this.newBelow);
  }

  distanceFromBottom() {
    return this.scroller.scrollHeight - this.scroller.scrollTop - this.scroller.clientHeight;
  }

  scrollToBottom() {
    this.scroller.scrollTop = this.scroller.scrollHeight;
    this.stick = true;
    this.newBelow.hidden = true;
  }

  /** Shows or hides the room; a room that comes into view is read. */
  show(visible) {
    this.section.hidden = !visible;
    if (visible) {
      this.unread = 0;
      this.mentions = 0;
      if (this.stick) this.scrollToBottom();
    }
  }

  /**
   * The user looks at the room: with `divider`, a line marks the first message from someone else
   * they had not seen yet. Returns the id now read up to.
   */
  seen({ divider = false } = {}) {
    if (divider) {
      this.divider.remove();
      const me = this.viewer.nick.toLowerCase();
      const first = this.ids.find((id) => id > this.readUpTo && this.nodes.get(id).dataset.nick !== me);
      if (first !== undefined && this.readUpTo > 0) this.list.insertBefore(this.divider, this.nodes.get(first));
    }
    this.readUpTo = Math.max(this.readUpTo, this.lastId);
    return this.readUpTo;
  }

  /** Scrolls to a message and marks it for a moment (a search result shown in context). */
  reveal(id) {
    const node = this.nodes.get(id);
    if (!node) return false;
    node.scrollIntoView({ block: "center" });
    this.stick = this.distanceFromBottom() < nearBottom;
    node.classList.remove("found");
    void node.offsetWidth; // restart the highlight if it is already running
    node.classList.add("found");
    return true;
  }

  /**
   * Adds messages, skipping ids already shown. Returns the new messages that are not the user's
   * own (`count`), and how many of those mention the user (`mentioning`, the messages).
   * A message carrying the `mid` of an unconfirmed one settles it.
   */
  add(messages) {
    const me = this.viewer.nick.toLowerCase();
    const result = { count: 0, mentioning: [] };
    let addedBelow = false;
    for (const message of messages) {
      if (this.nodes.has(message.id)) continue;
      const date = new Date(message.ts);
      const node = messageElement({ nick: message.nick, text: message.text, date, mentionPattern: this.viewer.mentionPattern });
      node.dataset.id = message.id;
      node.dataset.nick = message.nick.toLowerCase();
      node.dataset.time = date.getTime();
      const index = this.insertionIndex(message.id);
      const next = this.ids[index];
      this.list.insertBefore(node, next === undefined ? null : this.nodes.get(next));
      this.ids.splice(index, 0, message.id);
      this.nodes.set(message.id, node);
      this.restyle(index);
      this.restyle(index + 1);
      if (next === undefined) addedBelow = true;
      if (message.mid) this.settle(message.mid);
      if (message.nick.toLowerCase() === me) {
        node.classList.remove("mentions-me"); // writing one's own nick is no mention
      } else {
        result.count += 1;
        if (mentions(message.text, this.viewer.mentionPattern)) result.mentioning.push(message);
      }
    }
    this.empty.hidden = this.ids.length > 0 || this.outgoing.length > 0;
    if (addedBelow) {
      if (this.stick) this.scrollToBottom();
      else if (result.count) this.newBelow.hidden = false;
    }
    return result;
  }

  /** Groups the message at `index` under its predecessor's name, or starts a new day there. */
  restyle(index) {
    const node = this.nodes.get(this.ids[index]);
    if (!node) return;
    const previous = index > 0 ? this.nodes.get(this.ids[index - 1]) : null;
    const time = Number(node.dataset.time);
    const day = dayLabel(new Date(time));
    const newDay = !previous || dayLabel(new Date(Number(previous.dataset.time))) !== day;
    if (newDay) node.dataset.day = day;
    else delete node.dataset.day;
    const continued =
      !newDay && previous.dataset.nick === node.dataset.nick && time - Number(previous.dataset.time) < groupingWindow;
    node.classList.toggle("continued", continued);
  }

  /** Adds a page of older messages without moving what the user is looking at. */
  addOlder(messages, truncated) {
    const before = this.scroller.scrollHeight;
    this.add(messages);
    this.scroller.scrollTop += this.scroller.scrollHeight - before;
    this.setHasOlder(truncated);
  }

  /** The join's history has arrived: an empty room now says so. */
  loaded() {
    this.empty.textContent = "No messages yet. Say hello!";
  }

  setHasOlder(hasOlder) {
    this.hasOlder = hasOlder;
    this.olderButton.hidden = !hasOlder;
  }

  insertionIndex(id) {
    let low = 0;
    let high = this.ids.length;
    while (low < high) {
      const middle = (low + high) >> 1;
      if (this.ids[middle] < id) low = middle + 1;
      else high = middle;
    }
    return low;
  }

  // --- members

  setMembers(nicks) {
    this.members = new Map(nicks.map((nick) => [nick.toLowerCase(), nick]));
  }

  memberJoined(nick) {
    this.members.set(nick.toLowerCase(), nick);
  }

  memberLeft(nick) {
    this.members.delete(nick.toLowerCase());
  }

  sortedMembers() {
    return [...this.members.values()].sort((a, b) => a.localeCompare(b, undefined, { sensitivity: "base" }));
  }

  // --- the user's unconfirmed messages

  /** Queues `text` and shows it as pending, under the user's nick, at the end of the conversation. */
  queue(text) {
    const outgoing = new Outgoing(text);
    outgoing.node = messageElement({ nick: this.viewer.nick, text, date: new Date() });
    outgoing.status = element("span", "delivery");
    outgoing.node.append(outgoing.status);
    this.outgoing.push(outgoing);
    this.outbox.append(outgoing.node);
    this.empty.hidden = true;
    this.mark(outgoing, "queued");
    this.scrollToBottom();
    return outgoing;
  }

  /** Shows the delivery state of an unconfirmed message. */
  mark(outgoing, state, reason = "") {
    outgoing.state = state;
    outgoing.node.className = `message pending ${state}`;
    const labels = {
      queued: "waiting for the connection…",
      sent: "sending…",
      held: "waiting to send…",
      unknown: "connection lost; checking…",
      failed: `not sent: ${reason}`,
    };
    outgoing.status.replaceChildren(element("span", "", labels[state]));
    if (state === "failed") {
      const retry = element("button", "link", "Retry");
      retry.type = "button";
      retry.addEventListener("click", () => this.actions.retry(this, outgoing));
      const discard = element("button", "link", "Discard");
      discard.type = "button";
      discard.addEventListener("click", () => this.actions.discard(this, outgoing));
      outgoing.status.append(" ", retry, " ", discard);
    }
  }

  /** Removes an unconfirmed message from the page: it was stored, or the user gave up on it. */
  remove(outgoing) {
    const index = this.outgoing.indexOf(outgoing);
    if (index < 0) return;
    this.outgoing.splice(index, 1);
    outgoing.node.remove();
    this.empty.hidden = this.ids.length > 0 || this.outgoing.length > 0;
  }

  settle(mid) {
    const outgoing = this.outgoing.find((candidate) => candidate.mid === mid);
    if (outgoing) this.remove(outgoing);
  }

  /** After a drop: what was in flight may or may not have been stored. */
  connectionLost() {
    for (const outgoing of this.outgoing) {
      if (outgoing.state === "sent") this.mark(outgoing, "unknown");
      else if (outgoing.state === "held") this.mark(outgoing, "queued");
    }
  }

  /**
   * What to send once the room is joined again: queued messages, and in-flight ones the backlog
   * did not show. Resending those is safe: the server stores a `mid` only once.
   */
  unsent() {
    return this.outgoing.filter((outgoing) => ["queued", "held", "unknown"].includes(outgoing.state));
  }
}
