// What the tab knows: threads, messages, names, read markers and who is typing, kept up to date
// from protocol events. Messages and threads are upserted by id, so replays and races are harmless.

const TYPING_SHOWN_MS = 5000;

export class Store {
  constructor(me) {
    this.me = me;
    this.people = new Map();
    this.accounts = new Map();
    this.threads = new Map();
    // The listed folder's threads, in the server's order, and the cursor of its next page.
    this.listIds = [];
    this.listCursor = null;
    this.previews = new Map();
    this.messages = new Map();
    this.loaded = new Set();
    this.hasMore = new Map();
    this.readers = new Map();
    this.typing = new Map();
  }

  get isStaff() {
    return this.me.role !== "client";
  }

  setPeople({ users, client_accounts }) {
    this.people = new Map(users.map((u) => [u.id, u]));
    this.accounts = new Map(client_accounts.map((a) => [a.id, a]));
  }

  name(userId) {
    if (userId === this.me.id) return this.me.name;
    return this.people.get(userId)?.name;
  }

  /** Threads as a list answered them (with the caller's `unread`). */
  mergeThreads(threads) {
    for (const thread of threads) this.threads.set(thread.id, { ...this.threads.get(thread.id), ...thread });
  }

  setList(ids, cursor) {
    this.listIds = ids;
    this.listCursor = cursor;
  }

  /** A thread from an event: events carry no `unread` (thread.updated) or the creator's view. */
  upsertThread(thread) {
    const known = this.threads.get(thread.id);
    this.threads.set(thread.id, known ? { ...known, ...thread, unread: known.unread } : thread);
  }

  dropThread(threadId) {
    this.threads.delete(threadId);
    this.previews.delete(threadId);
    this.messages.delete(threadId);
    this.listIds = this.listIds.filter((id) => id !== threadId);
  }

  /** The listed threads, newest activity first (live messages move a thread up). */
  sortedThreads() {
    const listed = new Set(this.listIds);
    return [...this.threads.values()]
      .filter((thread) => listed.has(thread.id))
      .sort((a, b) => (b.last_message_id || 0) - (a.last_message_id || 0) || b.id - a.id);
  }

  staffMembers() {
    return [...this.people.values()].filter((u) => u.role === "owner" || u.role === "manager" || u.role === "staff");
  }

  totalUnread() {
    let total = 0;
    for (const thread of this.threads.values()) total += thread.unread || 0;
    return total;
  }

  threadMessages(threadId) {
    let found = this.messages.get(threadId);
    if (!found) this.messages.set(threadId, (found = new Map()));
    return found;
  }

  sortedMessages(threadId) {
    return [...this.threadMessages(threadId).values()].sort((a, b) => a.id - b.id);
  }

  upsertMessage(message) {
    this.threadMessages(message.thread_id).set(message.id, message);
    const thread = this.threads.get(message.thread_id);
    if (thread && message.id >= (thread.last_message_id || 0)) {
      thread.last_message_id = message.id;
      thread.last_activity_at = message.created_at;
      this.previews.set(thread.id, message);
    } else if (this.previews.get(message.thread_id)?.id === message.id) {
      this.previews.set(message.thread_id, message);
    }
    this.stopTyping(message.thread_id, message.author_id);
  }

  addHistory(threadId, messages, hasMore, older) {
    for (const message of messages) this.threadMessages(threadId).set(message.id, message);
    if (!older || !this.hasMore.has(threadId)) this.hasMore.set(threadId, hasMore);
    else this.hasMore.set(threadId, hasMore);
    this.loaded.add(threadId);
  }

  forgetMessages() {
    this.messages.clear();
    this.loaded.clear();
    this.hasMore.clear();
  }

  setReaders(threadId, readers) {
    this.readers.set(threadId, new Map(readers.map((r) => [r.user_id, r])));
  }

  markRead(threadId, userId, messageId, readAt) {
    let found = this.readers.get(threadId);
    if (!found) this.readers.set(threadId, (found = new Map()));
    const known = found.get(userId);
    if (!known || known.message_id < messageId) found.set(userId, { user_id: userId, message_id: messageId, read_at: readAt });
  }

  myMarker(threadId) {
    return this.readers.get(threadId)?.get(this.me.id)?.message_id || 0;
  }

  /** Other people's markers at or past ``messageId``. */
  seenBy(threadId, messageId) {
    const found = this.readers.get(threadId);
    if (!found) return [];
    return [...found.values()].filter((r) => r.user_id !== this.me.id && r.message_id >= messageId);
  }

  startTyping(threadId, userId, kind) {
    let found = this.typing.get(threadId);
    if (!found) this.typing.set(threadId, (found = new Map()));
    found.set(userId, { kind, until: Date.now() + TYPING_SHOWN_MS });
    return TYPING_SHOWN_MS;
  }

  stopTyping(threadId, userId) {
    this.typing.get(threadId)?.delete(userId);
  }

  typers(threadId) {
    const found = this.typing.get(threadId);
    if (!found) return [];
    const now = Date.now();
    return [...found.entries()].filter(([, t]) => t.until > now).map(([userId, t]) => ({ userId, kind: t.kind }));
  }
}
