// Search in the room in view: results from the server's full-text index, newest first, each of
// which jumps to the message in its conversation.

import { element, messageElement } from "./render.js";

export class Search {
  /**
   * @param {object} parts `form`, `field`, `panel` elements
   * @param {object} actions `room()` the room in view, `request(command)` a promise of the reply,
   *   `jump(room, id)` shows a message in context
   */
  constructor({ form, field, panel }, actions) {
    this.form = form;
    this.field = field;
    this.panel = panel;
    this.actions = actions;
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.run();
    });
    field.addEventListener("keydown", (event) => {
      if (event.key === "Escape") this.close();
    });
  }

  async run(before) {
    const room = this.actions.room();
    const query = this.field.value.trim();
    if (!room || !query) return this.close();
    const command = { type: "search", room: room.name, query, limit: 20 };
    if (before) command.before = before;
    if (!before) this.open(room, query);
    let page;
    try {
      page = await this.actions.request(command);
    } catch (error) {
      this.list.replaceChildren(element("li", "error", error.message));
      return;
    }
    if (this.room !== room || this.query !== query) return; // another search started meanwhile
    this.more?.remove();
    if (!before) this.list.replaceChildren();
    // Newest first: the page comes oldest first.
    for (const message of [...page.messages].reverse()) {
      const item = messageElement({
        nick: message.nick,
        text: message.text,
        date: new Date(message.ts),
        mentionPattern: room.viewer.mentionPattern,
      });
      item.classList.add("result");
      item.dataset.id = message.id;
      item.tabIndex = 0;
      const jump = () => {
        this.close();
        this.actions.jump(room, message.id);
      };
      item.addEventListener("click", (event) => {
        if (!event.target.closest("a")) jump();
      });
      item.addEventListener("keydown", (event) => {
        if (event.key === "Enter") jump();
      });
      this.list.append(item);
    }
    if (!this.list.children.length) this.list.append(element("li", "hint", "No messages match."));
    if (page.truncated && page.messages.length) {
      this.more = element("button", "older", "Older results");
      this.more.type = "button";
      this.more.addEventListener("click", () => this.run(page.messages[0].id));
      this.panel.append(this.more);
    }
  }

  open(room, query) {
    this.room = room;
    this.query = query;
    const heading = element("div", "search-heading");
    heading.append(element("h3", "", `Results for “${query}” in #${room.name}`));
    const close = element("button", "link", "Close");
    close.type = "button";
    close.addEventListener("click", () => this.close());
    heading.append(close);
    this.list = element("ol", "messages search-results");
    this.list.append(element("li", "hint", "Searching…"));
    this.more = null;
    this.panel.replaceChildren(heading, this.list);
    this.panel.hidden = false;
  }

  close() {
    this.panel.hidden = true;
    this.panel.replaceChildren();
    this.room = null;
  }
}
