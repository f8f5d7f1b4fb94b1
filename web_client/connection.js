// One WebSocket per tab: protocol v1 over JSON, requests matched to answers by id, automatic
// reconnection with jittered exponential backoff, and `resume` so no event is missed or repeated.

import { api, HttpError } from "./api.js";

const MAX_BACKOFF_MS = 8000;

export class RequestError extends Error {
  constructor(code, message, retryAfter) {
    super(message);
    this.code = code;
    this.retryAfter = retryAfter;
  }
}

export class Connection {
  /**
   * onEvent(frame): every event frame, in arrival order.
   * onReady(fresh): the session may be used; fresh means cached threads and messages must be refetched
   *   (first connection, or a gap `resume` could not fill). Its first request is the session's first frame.
   * onStatus(status): "connecting" | "online" | "offline".
   * onAuthLost(): the login is gone; reconnecting will not help.
   */
  constructor({ onEvent, onReady, onStatus, onAuthLost }) {
    this.handlers = { onEvent, onReady, onStatus, onAuthLost };
    this.lastEventId = null;
    this.resuming = false; // a resume is in flight: its replay may interleave with live events
    this.newestSeen = null; // the newest event id received during that resume
    this.helloSocket = null; // the socket the current greeting came on
    this.pending = new Map();
    this.nextId = 1;
    this.attempt = 0;
    this.status = "connecting";
    this.socket = null;
    this.hello = null;
    this.retryTimer = null;
    this.pingTimer = null;
    this.stopped = false;
    window.addEventListener("online", () => this.reconnectNow());
    window.addEventListener("offline", () => this.socket && this.socket.close());
  }

  start() {
    this.stopped = false;
    this.open();
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    clearInterval(this.pingTimer);
    if (this.socket) this.socket.close(1000);
  }

  get ready() {
    return this.status === "online";
  }

  reconnectNow() {
    if (this.stopped || this.status === "online") return;
    this.attempt = 0;
    clearTimeout(this.retryTimer);
    if (this.socket) this.socket.close();
    else this.open();
  }

  /** A request with an id; resolves with its result, rejects with a RequestError. */
  request(op, fields = {}, { whenReady = true } = {}) {
    if (whenReady && !this.ready) return Promise.reject(new RequestError("offline", "not connected"));
    return this.sendRequest(op, fields, 0);
  }

  /** A fire-and-forget request (typing): no answer unless it fails. */
  notify(op, fields = {}) {
    if (this.ready) this.socket.send(JSON.stringify({ op, ...fields }));
  }

  sendRequest(op, fields, tries) {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      if (!this.socket || this.socket.readyState !== WebSocket.OPEN) {
        reject(new RequestError("offline", "not connected"));
        return;
      }
      this.pending.set(id, { resolve, reject });
      this.socket.send(JSON.stringify({ op, id, ...fields }));
    }).catch((error) => {
      if (error.code === "rate_limited" && tries < 5) {
        return new Promise((r) => setTimeout(r, (error.retryAfter || 0.1) * 1000)).then(() =>
          this.sendRequest(op, fields, tries + 1),
        );
      }
      throw error;
    });
  }

  open() {
    clearTimeout(this.retryTimer);
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const socket = new WebSocket(`${scheme}://${location.host}/ws`, ["chatd.v1.json"]);
    this.socket = socket;
    this.hello = null;
    socket.onmessage = (message) => this.receive(JSON.parse(message.data));
    socket.onclose = () => this.closed(socket);
  }

  receive(frame) {
    if (frame.op === "hello") {
      this.greeted(frame);
    } else if (frame.op === "event") {
      if (frame.event_id != null) this.newestSeen = Math.max(this.newestSeen ?? frame.event_id, frame.event_id);
      // While a resume runs, live events may come before the replay's end: the position moves only
      // once the replay is answered, or a socket lost mid-replay would skip the rest of it.
      if (frame.event_id != null && this.lastEventId != null && !this.resuming) {
        this.lastEventId = Math.max(this.lastEventId, frame.event_id);
      }
      this.handlers.onEvent(frame);
    } else if (frame.op === "ok" || frame.op === "error") {
      const waiting = this.pending.get(frame.id);
      if (!waiting) return;
      this.pending.delete(frame.id);
      if (frame.op === "ok") waiting.resolve(frame.result);
      else waiting.reject(new RequestError(frame.code, frame.message, frame.retry_after));
    }
  }

  async greeted(hello) {
    this.hello = hello;
    this.helloSocket = this.socket;
    this.startPings(hello.heartbeat_s);
    let fresh = this.lastEventId == null;
    if (!fresh) {
      // The first frame after hello: replays what happened while we were away, before any live event.
      this.resuming = true;
      this.newestSeen = null;
      try {
        await this.sendRequest("resume", { after_event_id: this.lastEventId }, 0);
        this.lastEventId = Math.max(this.lastEventId, hello.event_id, this.newestSeen ?? hello.event_id);
      } catch (error) {
        if (error.code !== "resync_required") {
          // Refused for now (unavailable, rate_limited) or the socket closed: going on live would
          // leave the gap unfilled, so the next connection resumes again from the same place.
          if (this.socket && this.socket === this.helloSocket) this.socket.close();
          return;
        }
        fresh = true;
      } finally {
        this.resuming = false;
      }
    }
    if (fresh) this.lastEventId = hello.event_id;
    this.attempt = 0; // back: a refused resume keeps backing off instead
    this.setStatus("online");
    this.handlers.onReady(fresh);
  }

  startPings(heartbeatS) {
    clearInterval(this.pingTimer);
    let waiting = false;
    this.pingTimer = setInterval(() => {
      if (waiting) {
        this.socket.close(); // no answer within a heartbeat: the connection is dead
        return;
      }
      waiting = true;
      this.sendRequest("ping", {}, 0).then(
        () => (waiting = false),
        () => {},
      );
    }, heartbeatS * 1000);
  }

  async closed(socket) {
    if (socket !== this.socket) return;
    clearInterval(this.pingTimer);
    const greeted = this.hello != null;
    this.socket = null;
    for (const waiting of this.pending.values()) waiting.reject(new RequestError("offline", "connection closed"));
    this.pending.clear();
    if (this.stopped) return;
    this.setStatus("offline");
    if (!greeted && (await this.loginLost())) {
      this.stopped = true;
      this.handlers.onAuthLost();
      return;
    }
    const ceiling = Math.min(MAX_BACKOFF_MS, 500 * 2 ** this.attempt);
    this.attempt += 1;
    this.retryTimer = setTimeout(() => this.open(), Math.random() * ceiling);
  }

  /** A refused handshake looks like a network error to scripts; /api/me tells them apart. */
  async loginLost() {
    try {
      await api.me();
      return false;
    } catch (error) {
      return error instanceof HttpError && error.status === 401;
    }
  }

  setStatus(status) {
    if (status === this.status) return;
    this.status = status;
    this.handlers.onStatus(status);
  }
}
