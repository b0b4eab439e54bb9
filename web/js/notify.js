// Browser notifications for mentions while the page is hidden. Permission is asked for only
// after the user did something (signing in, sending), as browsers expect, and only once.

export function askForNotificationsOnce() {
  if (!("Notification" in window) || Notification.permission !== "default") return;
  if (askForNotificationsOnce.asked) return;
  askForNotificationsOnce.asked = true;
  Notification.requestPermission().catch(() => {});
}

/** Tells the user that `message` in `room` mentions them, unless they are looking already. */
export function notifyMention(room, message, open) {
  if (!document.hidden || !("Notification" in window) || Notification.permission !== "granted") return;
  const text = message.text.length > 200 ? `${message.text.slice(0, 200)}…` : message.text;
  const notification = new Notification(`${message.nick} in #${room}`, { body: text, tag: `parley-${room}` });
  notification.onclick = () => {
    window.focus();
    open(room);
    notification.close();
  };
}
