// The page's link to the server: one WebSocket that comes back by itself after a drop, and
// commands that return a promise of their reply (matched by `ref`, as the protocol promises
// exactly one reply per command).

/** Why a command got no reply: the connection closed first. */
export class Disconnected extends Error {
  constructor() {
    super("The connection closed before the server answered.");
    this.code = "disconnected";
  }
}

/** An `error` event from the server, as a rejection. */
export class ServerError extends Error {
  constructor(event) {
    super(event.message);
    this.code = event.code;
    // For `rate_limited`: how long to wait before the same command is accepted.
    this.retryAfter = event.retry_after_ms;
  }
}

/**
 * A reconnecting WebSocket.
 *
 * Events: `state` (detail: { state, retryAt }), `open`, `close`, `event` (detail: a server event
 * without a pending request, or with one after it was settled).
 * States: `idle`, `connecting`, `online`, `waiting` (a reconnect is scheduled at `retryAt`),
 * `replaced` (another connection resumed this one's session: no automatic reconnect, or two
 * tabs sharing a session would take it from each other forever).
 */
export class Connection extends EventTarget {
  constructor(url, { minDelay = 500, maxDelay = 30000 } = {}) {
    super();
    this.url = url;
    this.minDelay = minDelay;
    this.maxDelay = maxDelay;
    this.state = "idle";
    this.retryAt = 0;
    this.failures = 0;
    this.socket = null;
    this.timer = null;
    this.nextRef = 1;
    this.pending = new Map(); // ref -> { resolve, reject }
  }

  /** Connects, unless already connected or connecting. */
  start() {
    if (this.state === "connecting" || this.state === "online") return;
    clearTimeout(this.timer);
    this.setState("connecting");
    const socket = new WebSocket(this.url);
    this.socket = socket;
    socket.addEventListener("open", () => {
      if (this.socket !== socket) return;
      this.setState("online");
      this.dispatchEvent(new Event("open"));
    });
    socket.addEventListener("message", (message) => {
      if (this.socket !== socket) return;
      let event;
      try {
        event = JSON.parse(message.data);
      } catch {
        return; // the server sends JSON only; anything else is not ours to interpret
      }
      this.receive(event);
    });
    socket.addEventListener("close", (close) => {
      if (this.socket !== socket) return;
      this.socket = null;
      this.failPending();
      if (close.code === 4001) this.setState("replaced");
      else this.scheduleReconnect();
      this.dispatchEvent(new CustomEvent("close", { detail: { code: close.code } }));
    });
  }

  /** Called once the server has accepted the session, so the next drop retries quickly again. */
  markHealthy() {
    this.failures = 0;
  }

  /** Skips the rest of the waiting time. */
  reconnectNow() {
    if (this.state === "waiting" || this.state === "replaced") this.start();
  }

  /** Closes the socket and reconnects after the usual backoff (for example, the nick is still held). */
  drop() {
    this.socket?.close(4000, "retry");
  }

  /** Sends `command` with a fresh `ref`; resolves with the reply event, rejects with the error. */
  request(command) {
    if (this.state !== "online") return Promise.reject(new Disconnected());
    const ref = `r${this.nextRef++}`;
    return new Promise((resolve, reject) => {
      this.pending.set(ref, { resolve, reject });
      this.socket.send(JSON.stringify({ ...command, ref }));
    });
  }

  receive(event) {
    const waiter = event.ref !== undefined ? this.pending.get(event.ref) : undefined;
    if (waiter) {
      this.pending.delete(event.ref);
      if (event.type === "error") waiter.reject(new ServerError(event));
      else waiter.resolve(event);
    }
    this.dispatchEvent(new CustomEvent("event", { detail: event }));
  }

  failPending() {
    const waiters = [...this.pending.values()];
    this.pending.clear();
    for (const waiter of waiters) waiter.reject(new Disconnected());
  }

  // Exponential backoff with "equal jitter": half the delay is fixed, half random, so a server
  // that restarts is not hit by every client at the same instant, and no client retries at once.
  scheduleReconnect() {
    const ceiling = Math.min(this.maxDelay, this.minDelay * 2 ** this.failures);
    const delay = ceiling / 2 + Math.random() * (ceiling / 2);
    this.failures += 1;
    this.retryAt = Date.now() + delay;
    this.timer = setTimeout(() => this.start(), delay);
    this.setState("waiting");
  }

  setState(state) {
    this.state = state;
    this.dispatchEvent(new CustomEvent("state", { detail: { state, retryAt: this.retryAt } }));
  }
}
