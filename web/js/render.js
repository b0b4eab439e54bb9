// DOM building blocks. Every piece of user text goes through textContent, never innerHTML, so a
// message like `<img src=x onerror=alert(1)>` shows as those characters and runs nothing.

/** Creates an element with a class and optional text. */
export function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

const timeFormat = new Intl.DateTimeFormat([], { hour: "2-digit", minute: "2-digit" });
const dateTimeFormat = new Intl.DateTimeFormat([], {
  month: "short",
  day: "numeric",
  hour: "2-digit",
  minute: "2-digit",
});
const fullFormat = new Intl.DateTimeFormat([], { dateStyle: "full", timeStyle: "medium" });

/** Local time; with the date when it is not today. */
export function timeElement(date) {
  const today = new Date().toDateString() === date.toDateString();
  const time = element("time", "", (today ? timeFormat : dateTimeFormat).format(date));
  time.dateTime = date.toISOString();
  time.title = fullFormat.format(date);
  return time;
}

/** A stable colour per nick, dark enough for 4.5:1 contrast on the light background. */
export function nickHue(nick) {
  let hash = 0;
  for (const char of nick.toLowerCase()) hash = (hash * 31 + char.codePointAt(0)) >>> 0;
  return hash % 360;
}

/** One line of the conversation: time, nick, text. */
export function messageElement({ nick, text, date }) {
  const item = element("li", "message");
  const who = element("span", "nick", nick);
  who.style.setProperty("--hue", nickHue(nick));
  item.append(timeElement(date), who, element("span", "text", text));
  return item;
}
