// DOM building blocks. Every piece of user text goes through textContent, never innerHTML, so a
// message like `<img src=x onerror=alert(1)>` shows as those characters and runs nothing.

import { tokenize } from "./text.js";

/** Creates an element with a class and optional text. */
export function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

// "7:49 AM" or "07:49": the locale decides; a leading zero only where the locale writes one.
const timeFormat = new Intl.DateTimeFormat([], { hour: "numeric", minute: "2-digit" });
const fullFormat = new Intl.DateTimeFormat([], { dateStyle: "full", timeStyle: "medium" });
const dayFormat = new Intl.DateTimeFormat([], { weekday: "long", month: "long", day: "numeric" });
const dayWithYearFormat = new Intl.DateTimeFormat([], { dateStyle: "full" });

/** The time of day, with the full date in its tooltip. */
export function timeElement(date) {
  const time = element("time", "", timeFormat.format(date));
  time.dateTime = date.toISOString();
  time.title = fullFormat.format(date);
  return time;
}

/** "Today", "Yesterday", "Friday, 4 December", or with the year when it is not this year. */
export function dayLabel(date, now = new Date()) {
  const day = new Date(date.getFullYear(), date.getMonth(), date.getDate());
  const today = new Date(now.getFullYear(), now.getMonth(), now.getDate());
  const days = Math.round((today - day) / 86400000);
  if (days === 0) return "Today";
  if (days === 1) return "Yesterday";
  return (date.getFullYear() === now.getFullYear() ? dayFormat : dayWithYearFormat).format(date);
}

/** A stable colour per nick, dark enough for 4.5:1 contrast on the light background. */
export function nickHue(nick) {
  let hash = 0;
  for (const char of nick.toLowerCase()) hash = (hash * 31 + char.codePointAt(0)) >>> 0;
  return hash % 360;
}

/** Message text as nodes: text, links that open in a new tab, and mentions of the user. */
export function textElement(text, mentionPattern) {
  const span = element("span", "text");
  for (const token of tokenize(text, mentionPattern)) {
    if (token.kind === "link") {
      const link = element("a", "", token.text);
      link.href = token.href;
      link.target = "_blank";
      link.rel = "noopener noreferrer";
      span.append(link);
    } else if (token.kind === "mention") {
      span.append(element("mark", "mention", token.text));
    } else {
      span.append(token.text);
    }
  }
  return span;
}

/** One message of the conversation: time, nick, text. */
export function messageElement({ nick, text, date, mentionPattern }) {
  const item = element("li", "message");
  const who = element("span", "nick", nick);
  who.style.setProperty("--hue", nickHue(nick));
  const body = textElement(text, mentionPattern);
  if (body.querySelector(".mention")) item.classList.add("mentions-me");
  item.append(timeElement(date), who, body);
  return item;
}
