// One joined room: its messages (deduplicated and kept in id order, whatever order they arrive
// in), its members, the user's unsent messages, and the part of the page that shows them.

import { element, messageElement } from "./render.js";

const nearBottom = 40; // px: closer than this to the end counts as "reading the newest"

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
    // queued: not sent yet; sent: waiting for the ack; unknown: sent on a connection that
    // dropped, so it may or may not be stored; failed: the server refused it.
    this.state = "queued";
    this.node = null;
  }
}

export class Room {
  /**
   * @param {string} name the room's name as the server spells it (case-folded)
   * @param {object} actions callbacks: older(room), retry(room, outgoing), discard(room, outgoing)
   */
  constructor(name, actions) {
    this.name = name;
    this.actions = actions;
    this.nodes = new Map(); // message id -> <li>
    this.ids = []; // ascending
    this.hasOlder = false;
    this.joinedOnce = false;
    this.members = new Map(); // lowercased nick -> nick
    this.unread = 0;
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
    this.empty = element("p", "empty", "No messages yet. Say hello!");
    this.list = element("ol", "messages");
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
      if (this.stick) this.scrollToBottom();
    }
  }

  /**
   * Adds messages, skipping ids already shown; returns how many were new and not the user's own.
   * A message carrying the `mid` of an unconfirmed one settles it.
   */
  add(messages, myNick) {
    let added = 0;
    let addedBelow = false;
    for (const message of messages) {
      if (this.nodes.has(message.id)) continue;
      const node = messageElement({ nick: message.nick, text: message.text, date: new Date(message.ts) });
      node.dataset.id = message.id;
      const index = this.insertionIndex(message.id);
      const next = this.ids[index];
      this.list.insertBefore(node, next === undefined ? null : this.nodes.get(next));
      this.ids.splice(index, 0, message.id);
      this.nodes.set(message.id, node);
      if (next === undefined) addedBelow = true;
      if (message.mid) this.settle(message.mid);
      if (message.nick.toLowerCase() !== myNick.toLowerCase()) added += 1;
    }
    this.empty.hidden = this.ids.length > 0 || this.outgoing.length > 0;
    if (addedBelow) {
      if (this.stick) this.scrollToBottom();
      else if (added) this.newBelow.hidden = false;
    }
    return added;
  }

  /** Adds a page of older messages without moving what the user is looking at. */
  addOlder(messages, truncated, myNick) {
    const before = this.scroller.scrollHeight;
    this.add(messages, myNick);
    this.scroller.scrollTop += this.scroller.scrollHeight - before;
    this.setHasOlder(truncated);
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

  /** Queues `text` and shows it as pending at the end of the conversation. */
  queue(text) {
    const outgoing = new Outgoing(text);
    outgoing.node = messageElement({ nick: "", text, date: new Date() });
    outgoing.node.querySelector(".nick").textContent = "you";
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
    for (const outgoing of this.outgoing) if (outgoing.state === "sent") this.mark(outgoing, "unknown");
  }

  /**
   * What to send once the room is joined again: queued messages, and in-flight ones the backlog
   * did not show. Resending those is safe: the server stores a `mid` only once.
   */
  unsent() {
    return this.outgoing.filter((outgoing) => outgoing.state === "queued" || outgoing.state === "unknown");
  }
}
