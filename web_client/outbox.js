// Messages the user sent that the server has not confirmed yet. Kept in localStorage, so they survive
// a lost connection and a reload, and sent once: every retry reuses the message's client_msg_id.

import { uuid } from "./dom.js";

const RETRY_LATER = new Set(["offline", "internal", "rate_limited"]);

export class Outbox {
  constructor(userId, connection, onChange, onSent) {
    this.key = `chatd.outbox.${userId}`;
    this.connection = connection;
    this.onChange = onChange;
    this.onSent = onSent;
    this.items = this.load();
    this.flushing = false;
  }

  load() {
    try {
      return JSON.parse(localStorage.getItem(this.key)) || [];
    } catch {
      return [];
    }
  }

  save() {
    localStorage.setItem(this.key, JSON.stringify(this.items));
    this.onChange();
  }

  forThread(threadId) {
    return this.items.filter((item) => item.thread_id === threadId);
  }

  get size() {
    return this.items.length;
  }

  /** options: the send op's urgent, ack_requested, private_to, task and signature. */
  add(threadId, body, kind, attachments = [], options = {}) {
    this.items.push({ client_msg_id: uuid(), thread_id: threadId, body, kind, attachments, options, state: "queued", error: null });
    this.save();
    this.flush();
  }

  /** The server confirmed this message (an `ok`, or an event carrying our client_msg_id). */
  confirm(clientMsgId) {
    const before = this.items.length;
    this.items = this.items.filter((item) => item.client_msg_id !== clientMsgId);
    if (this.items.length !== before) this.save();
  }

  retry(clientMsgId) {
    for (const item of this.items) if (item.client_msg_id === clientMsgId) Object.assign(item, { state: "queued", error: null });
    this.save();
    this.flush();
  }

  discard(clientMsgId) {
    this.confirm(clientMsgId);
  }

  /** Send what is queued, in order, one at a time; stop at the first failure that a retry may fix.
   * Messages added while it runs are sent in the same run: `add` finds it busy and leaves them to it. */
  async flush() {
    if (this.flushing || !this.connection.ready) return;
    this.flushing = true;
    const tried = new Set();
    try {
      for (;;) {
        const item = this.items.find((candidate) => candidate.state !== "failed" && !tried.has(candidate));
        if (!item) break;
        tried.add(item);
        item.state = "sending";
        this.onChange();
        try {
          const fields = { thread_id: item.thread_id, body: item.body, client_msg_id: item.client_msg_id };
          if (item.kind === "note") fields.kind = "note";
          if (item.attachments?.length) fields.attachment_ids = item.attachments.map((a) => a.id);
          Object.assign(fields, item.options);
          const result = await this.connection.request("send", fields);
          this.confirm(item.client_msg_id);
          this.onSent(result.message);
        } catch (error) {
          if (RETRY_LATER.has(error.code)) {
            item.state = "queued";
            this.save();
            if (error.code !== "offline") setTimeout(() => this.flush(), 3000);
            break;
          }
          Object.assign(item, { state: "failed", error: error.message });
          this.save();
        }
      }
    } finally {
      this.flushing = false;
    }
  }
}
