// The page's link to the server: one WebSocket (or, where WebSocket is blocked, the HTTP
// transport) that comes back by itself after a drop, and commands that return a promise of their
// reply (matched by `ref`, as the protocol promises exactly one reply per command).

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
 * The WebSocket transport: the protocol's commands and events as text frames.
 * Calls `handlers.open()`, `handlers.event(event)`, `handlers.close(code, opened)`.
 */
class WebSocketTransport {
  constructor(url, handlers) {
    this.opened = false;
    this.socket = new WebSocket(url);
    this.socket.addEventListener("open", () => {
      this.opened = true;
      handlers.open();
    });
    this.socket.addEventListener("message", (message) => {
      let event;
      try {
        event = JSON.parse(message.data);
      } catch {
        return; // the server sends JSON only; anything else is not ours to interpret
      }
      handlers.event(event);
    });
    this.socket.addEventListener("close", (close) => handlers.close(close.code, this.opened));
  }

  send(command) {
    this.socket.send(JSON.stringify(command));
  }

  close(code, reason) {
    this.socket.close(code, reason);
  }
}

/**
 * The HTTP transport, for networks that block WebSocket: events come down a Server-Sent Events
 * stream (`/events`), whose first event names the stream; commands go up as `POST`s to
 * `/events/<token>`, one after the other so that they arrive in order. A refused `POST` answers
 * with an `error` object, handed on as the command's reply.
 */
class EventStreamTransport {
  constructor(base, handlers) {
    this.base = base;
    this.handlers = handlers;
    this.opened = false;
    this.closed = false;
    this.token = null;
    this.posting = Promise.resolve();
    this.source = new EventSource(`${base}/events`);
    this.source.addEventListener("message", (message) => {
      let event;
      try {
        event = JSON.parse(message.data);
      } catch {
        return;
      }
      if (event.type === "stream") {
        this.token = event.token;
        this.opened = true;
        handlers.open();
        return;
      }
      handlers.event(event);
    });
    // The server ends a stream with the close code a WebSocket would have had.
    this.source.addEventListener("close", (message) => {
      let code = 1006;
      try {
        code = JSON.parse(message.data).code ?? 1006;
      } catch {}
      this.end(code);
    });
    // EventSource would reconnect by itself, to a new stream the page must rejoin anyway: the
    // page's own reconnect (with `since` and the session) does that, so a drop ends the stream.
    this.source.addEventListener("error", () => this.end(1006));
  }

  send(command) {
    const body = JSON.stringify(command);
    const token = this.token;
    this.posting = this.posting.then(async () => {
      if (this.closed) return;
      try {
        const response = await fetch(`${this.base}/events/${token}`, {
          method: "POST",
          headers: { "Content-Type": "application/json" },
          body,
        });
        if (response.status === 202) return;
        const error = await response.json().catch(() => null);
        if (error && error.type === "error" && error.code !== "unknown_stream") {
          this.handlers.event({ ...error, ref: command.ref });
        } else {
          this.end(1006);
        }
      } catch {
        this.end(1006);
      }
    });
  }

  close(code) {
    this.end(code);
  }

  end(code) {
    if (this.closed) return;
    this.closed = true;
    this.source.close();
    this.handlers.close(code, this.opened);
  }
}

/**
 * A reconnecting link to the server, over WebSocket or, where WebSocket cannot get through,
 * the HTTP transport. The rest of the page does not know which one is used.
 *
 * WebSocket is tried first. When it fails to open twice in a row, the HTTP transport is tried;
 * once that opens, the link is in compatibility mode (`mode` is "events"), and every later
 * reconnect tries WebSocket once before falling back again.
 *
 * Events: `state` (detail: { state, retryAt }), `open`, `close`, `event` (detail: a server event
 * without a pending request, or with one after it was settled).
 * States: `idle`, `connecting`, `online`, `waiting` (a reconnect is scheduled at `retryAt`),
 * `replaced` (another connection resumed this one's session: no automatic reconnect, or two
 * tabs sharing a session would take it from each other forever).
 */
export class Connection extends EventTarget {
  constructor(base, { minDelay = 500, maxDelay = 30000 } = {}) {
    super();
    this.base = base;
    this.minDelay = minDelay;
    this.maxDelay = maxDelay;
    this.state = "idle";
    this.mode = "websocket";
    this.retryAt = 0;
    this.failures = 0;
    // WebSocket attempts in a row that closed before they opened; from 2, the HTTP transport.
    this.webSocketFailures = 0;
    this.retryWebSocket = false;
    this.transport = null;
    this.timer = null;
    this.nextRef = 1;
    this.pending = new Map(); // ref -> { resolve, reject }
  }

  /** Connects, unless already connected or connecting. */
  start() {
    if (this.state === "connecting" || this.state === "online") return;
    clearTimeout(this.timer);
    this.setState("connecting");
    const useEvents = this.webSocketFailures >= 2 && !this.retryWebSocket;
    this.retryWebSocket = false;
    const handlers = {
      open: () => {
        if (this.transport !== transport) return;
        if (!useEvents) this.webSocketFailures = 0;
        this.mode = useEvents ? "events" : "websocket";
        this.setState("online");
        this.dispatchEvent(new Event("open"));
      },
      event: (event) => {
        if (this.transport === transport) this.receive(event);
      },
      close: (code, opened) => {
        if (this.transport !== transport) return;
        this.transport = null;
        this.failPending();
        let fallBackNow = false;
        if (useEvents) {
          // A drop in compatibility mode: WebSocket gets one more chance first. A stream that
          // never opened means HTTP does not get through either (the server is down, say):
          // start over with WebSocket.
          if (opened) this.retryWebSocket = true;
          else this.webSocketFailures = 0;
        } else if (!opened) {
          this.webSocketFailures += 1;
          fallBackNow = this.webSocketFailures >= 2;
        }
        if (code === 4001) this.setState("replaced");
        else if (fallBackNow) {
          this.state = "idle";
          this.start();
        }
        else this.scheduleReconnect();
        this.dispatchEvent(new CustomEvent("close", { detail: { code } }));
      },
    };
    const transport = useEvents
      ? new EventStreamTransport(this.base.http, handlers)
      : new WebSocketTransport(this.base.webSocket, handlers);
    this.transport = transport;
  }

  /** Called once the server has accepted the session, so the next drop retries quickly again. */
  markHealthy() {
    this.failures = 0;
  }

  /** Skips the rest of the waiting time. */
  reconnectNow() {
    if (this.state === "waiting" || this.state === "replaced") this.start();
  }

  /** Closes the link and reconnects after the usual backoff (for example, the nick is still held). */
  drop() {
    this.transport?.close(4000, "retry");
  }

  /** Sends `command` with a fresh `ref`; resolves with the reply event, rejects with the error. */
  request(command) {
    if (this.state !== "online") return Promise.reject(new Disconnected());
    const ref = `r${this.nextRef++}`;
    return new Promise((resolve, reject) => {
      this.pending.set(ref, { resolve, reject });
      this.transport.send({ ...command, ref });
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
