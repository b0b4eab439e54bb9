// The message box: Enter sends, Shift+Enter starts a new line, and a counter shows before the
// text reaches the server's limit. Text over the limit is never cut: it stays, and is not sent.

/** The server's default `--max-text-length`, in Unicode scalars (what the server counts). */
export const maxMessageLength = 4000;
const showCounterFrom = maxMessageLength - 400;

export function textLength(text) {
  let length = 0;
  for (const _ of text) length += 1; // code points, as the server counts
  return length;
}

export class Composer {
  /**
   * @param {object} parts `form`, `field`, `counter` elements
   * @param {(text: string) => void} send called with text that may be sent
   */
  constructor({ form, field, counter }, send) {
    this.form = form;
    this.field = field;
    this.counter = counter;
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const text = field.value;
      if (!text.trim() || textLength(text) > maxMessageLength) {
        this.update();
        return;
      }
      send(text);
      field.value = "";
      this.update();
    });
    field.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        form.requestSubmit();
      }
    });
    field.addEventListener("input", () => this.update());
  }

  /** Shows how much room is left, or how much is too much. */
  update() {
    const length = textLength(this.field.value);
    const over = length - maxMessageLength;
    this.counter.hidden = length < showCounterFrom;
    this.counter.classList.toggle("over", over > 0);
    this.counter.textContent =
      over > 0
        ? `${over} characters too long to send (at most ${maxMessageLength})`
        : `${maxMessageLength - length} characters left`;
    this.field.setAttribute("aria-invalid", over > 0 ? "true" : "false");
  }

  set value(text) {
    this.field.value = text;
    this.update();
  }

  get value() {
    return this.field.value;
  }
}
