// Sends the user's messages one at a time, in the order written, across rooms. When the server
// says "too fast" (`rate_limited` with `retry_after_ms`), the message is held and sent again by
// itself once allowed, and the ones after it wait their turn: nothing is refused for being quick,
// and nothing overtakes.

import { Disconnected } from "./connection.js";

export class Sender {
  /**
   * @param {Connection} connection
   * @param {object} hooks `held()` when the server asks to wait (once per wait)
   */
  constructor(connection, hooks) {
    this.connection = connection;
    this.hooks = hooks;
    this.queue = []; // { room, outgoing }
    this.running = false;
  }

  /** Sends `outgoing` after everything queued before it. */
  send(room, outgoing) {
    if (this.queue.some((entry) => entry.outgoing === outgoing)) return;
    this.queue.push({ room, outgoing });
    this.pump();
  }

  async pump() {
    if (this.running) return;
    this.running = true;
    try {
      while (this.queue.length) {
        const { room, outgoing } = this.queue[0];
        // Discarded, settled by its `message` event, or its room left: nothing to send.
        if (!room.live || !room.outgoing.includes(outgoing)) {
          this.queue.shift();
          continue;
        }
        room.mark(outgoing, "sent");
        try {
          await this.connection.request({ type: "say", room: room.name, text: outgoing.text, mid: outgoing.mid });
          room.remove(outgoing); // usually gone already: the `message` event comes before the `ack`
          this.queue.shift();
        } catch (error) {
          if (error instanceof Disconnected) {
            // The rejoin sends again what is unconfirmed, in order; this queue starts afresh.
            this.queue = [];
            break;
          }
          if (error.code === "rate_limited") {
            room.mark(outgoing, "held");
            this.hooks.held();
            await new Promise((resolve) => setTimeout(resolve, Math.max(50, error.retryAfter ?? 1000)));
            continue;
          }
          room.mark(outgoing, "failed", error.message);
          this.queue.shift();
        }
      }
    } finally {
      this.running = false;
    }
  }
}
