// The signed-in app: the staff inbox or the client portal (same screens, role-aware), kept live over
// one WebSocket. Routes live in the URL hash: #/ (list), #/t/ID (a thread), #/new (a new thread),
// #/f/NAME (a staff folder), #/settings/SECTION.

import { api } from "./api.js";
import { formatSize, upload } from "./attachments.js";
import { bulkToolbar } from "./bulk.js";
import { renderClientCard } from "./clientcard.js";
import { FollowUpPanel } from "./followup.js";
import { renderMyTasks } from "./mytasks.js";
import { Connection } from "./connection.js";
import { renderMessages, renderTyping, trackPinned } from "./conversation.js";
import { h, replace, uuid } from "./dom.js";
import { FOLDERS, folderColumn, renderFolders } from "./folders.js";
import { t } from "./i18n.js";
import { newThreadForm } from "./newthread.js";
import { renderScheduled, schedulePanel } from "./schedule.js";
import { Notifier } from "./notify.js";
import { Outbox } from "./outbox.js";
import { ReplyOptions } from "./replyoptions.js";
import { renderResults, searchForm } from "./search.js";
import { settingsPage } from "./settings.js";
import { Suggest } from "./suggest.js";
import { templatePanel } from "./templates.js";
import { Store } from "./store.js";
import { avatar, enableArrowKeys, renderThreadList } from "./threadlist.js";

const TYPING_EVERY_MS = 2000;
const PAGE = 100;

export class App {
  constructor(root, me, onSignedOut) {
    this.root = root;
    this.me = me;
    this.onSignedOut = onSignedOut;
    this.store = new Store(me);
    this.currentId = null;
    this.editing = null;
    this.focusEdit = false;
    this.view = "list";
    // Staff look at one folder (and maybe one source) at a time; clients at all their threads.
    this.folder = me.role === "client" ? null : "inbox";
    this.source = null;
    this.folderCounts = new Map();
    this.listGeneration = 0;
    this.selection = new Set();
    this.bulkKey = null;
    this.search = null;
    this.tasks = new Map(); // message id → its task
    this.acks = new Map(); // message id → Map(user id → when), for messages asking for acknowledgement
    this.cardOpen = false;
    this.followUpOpen = false;
    this.myTasks = new Map(); // a client's own tasks: open ones, and those ticked since the page opened
    this.taskMessages = new Map();
    this.card = null;
    this.renderQueued = false;
    this.refreshTimers = {};
    this.readSent = new Map();
    this.lastTypingSent = 0;
    this.draftKey = `chatd.drafts.${me.id}`;
    this.drafts = new Map(JSON.parse(localStorage.getItem(this.draftKey) || "[]"));
    this.conn = new Connection({
      onEvent: (frame) => this.onEvent(frame),
      onReady: (fresh) => this.onReady(fresh),
      onStatus: () => this.render(),
      onAuthLost: () => this.signedOut(),
    });
    this.outbox = new Outbox(
      me.id,
      this.conn,
      () => this.render(),
      (message) => {
        this.store.upsertMessage(message);
        this.render();
      },
    );
    this.notifier = new Notifier((threadId) => (location.hash = `#/t/${threadId}`));
    this.listeners = [];
  }

  start() {
    this.buildShell();
    this.listen(window, "hashchange", () => this.route(true));
    this.listen(document, "visibilitychange", () => this.markRead());
    this.listen(window, "focus", () => this.markRead());
    this.listen(window, "beforeunload", (event) => {
      // Leaving with a draft or unsent messages: let the browser ask for confirmation.
      if (this.composer.value.trim() || this.staged.length > 0 || this.outbox.size > 0) {
        event.preventDefault();
        event.returnValue = "";
      }
    });
    this.refreshPeople();
    this.conn.start();
    this.route(false);
  }

  listen(target, type, handler) {
    target.addEventListener(type, handler);
    this.listeners.push([target, type, handler]);
  }

  async signOut() {
    try {
      await api.logout();
    } finally {
      this.signedOut();
    }
  }

  signedOut() {
    this.conn.stop();
    for (const [target, type, handler] of this.listeners) target.removeEventListener(type, handler);
    history.replaceState(null, "", "#/");
    this.onSignedOut();
  }

  // ---- the shell -------------------------------------------------------------------------------

  buildShell() {
    const staff = this.store.isStaff;
    this.banner = h("div", { class: "banner", role: "status", "aria-live": "polite", hidden: true });
    this.threadList = h("ul", { class: "thread-list", role: "list" });
    enableArrowKeys(this.threadList);
    this.listTitle = h("h1", { id: "list-title" }, staff ? t.folderNames[this.folder] : t.myThreads);
    this.listStatus = h("p", { class: "list-status", role: "status" });
    this.bulkPlace = h("div", { class: "bulk-place" });
    this.results = h("div", { class: "search-results", hidden: true });
    this.searchBox = searchForm(this.store, (fields) => this.runSearch(fields), () => this.clearSearch());
    this.folderParts = staff ? folderColumn((source) => this.setSource(source)) : null;
    this.tasksBox = staff ? null : h("section", { class: "my-tasks", "aria-labelledby": "my-tasks-title", hidden: true });
    this.notifyButton = h(
      "button",
      { type: "button", class: "button ghost small", "aria-label": t.enableNotifications, title: t.enableNotifications, onclick: () => this.notifier.ask().then(() => this.showNotifyButton()) },
      h("span", { class: "bell", "aria-hidden": "true" }),
      h("span", { class: "label-wide" }, t.enableNotifications),
    );
    this.showNotifyButton();
    this.pane = h("main", { id: "main", class: "pane", tabindex: "-1" });
    this.layout = h(
      "div",
      { class: `layout${staff ? " with-folders" : ""}` },
      this.folderParts?.column,
      h(
        "nav",
        { class: "sidebar", "aria-labelledby": "list-title" },
        h(
          "div",
          { class: "sidebar-head" },
          this.listTitle,
          h("a", { href: "#/new", class: "button primary small", "aria-label": t.newThread, title: t.newThread }, h("span", { "aria-hidden": "true" }, "+"), t.newShort),
        ),
        this.searchBox.form,
        this.tasksBox,
        this.bulkPlace,
        this.listStatus,
        this.threadList,
        this.results,
      ),
      this.pane,
    );
    replace(
      this.root,
      h("a", { class: "skip-link", href: "#main", onclick: (e) => (e.preventDefault(), this.pane.focus()) }, t.skipToContent),
      h(
        "div",
        { class: `shell ${staff ? "staff" : "client"}` },
        h(
          "header",
          { class: "topbar" },
          h("div", { class: "brand" }, h("span", { class: "brand-mark", "aria-hidden": "true" }), t.appName),
          h("span", { class: "spacer" }),
          this.notifyButton,
          h("a", { href: "#/settings", class: "button ghost small", "aria-label": t.settings, title: t.settings }, h("span", { class: "gear", "aria-hidden": "true" }), h("span", { class: "label-wide" }, t.settings)),
          h(
            "span",
            { class: "me", title: t.signedInAs(this.me.name) },
            avatar(this.me.name, "small"),
            h("span", { class: "me-name" }, this.me.name),
            h("span", { class: "role-tag" }, t.roles[this.me.role] || this.me.role),
          ),
          h("button", { type: "button", class: "button ghost small", onclick: () => this.signOut() }, t.signOut),
        ),
        this.banner,
        this.layout,
      ),
    );
    this.buildConversation();
  }

  buildConversation() {
    this.convTitle = h("h2", { id: "conv-title", tabindex: "-1" });
    this.convSub = h("p", { class: "conv-sub" });
    this.messageList = h("div", { class: "messages", role: "log", "aria-labelledby": "conv-title", tabindex: "0" });
    trackPinned(this.messageList);
    this.typingLine = h("p", { class: "typing", "aria-live": "polite" });
    this.composer = h("textarea", { id: "composer", rows: "1", "aria-describedby": "composer-hint" });
    this.modeInputs = ["message", "note"].map((kind) =>
      h("input", { type: "radio", name: "compose-kind", value: kind, id: `kind-${kind}`, checked: kind === "message" }),
    );
    this.sendButton = h("button", { type: "submit", class: "button primary send" }, t.send);
    this.staged = [];
    this.uploads = new Set();
    this.fileInput = h("input", { type: "file", multiple: true, class: "visually-hidden", tabindex: "-1", "aria-hidden": "true", id: "attach-input" });
    this.fileInput.addEventListener("change", () => this.attach([...this.fileInput.files]));
    this.attachButton = h(
      "button",
      { type: "button", class: "button ghost attach", "aria-label": t.attach, title: t.attach, onclick: () => this.fileInput.click() },
      h("span", { class: "clip", "aria-hidden": "true" }),
    );
    this.stagedList = h("ul", { class: "staged", "aria-label": t.attachments, "aria-live": "polite" });
    this.scheduled = new Map();
    this.scheduledBox = h("section", { class: "scheduled", "aria-labelledby": "scheduled-title", hidden: true });
    this.schedulePlace = h("div", { class: "schedule-place" });
    this.scheduleButton = this.store.isStaff
      ? h(
          "button",
          { type: "button", class: "button ghost attach", "aria-label": t.scheduleSend, title: t.scheduleSend, "aria-expanded": "false", onclick: () => this.toggleSchedule() },
          h("span", { class: "clock", "aria-hidden": "true" }),
        )
      : null;
    this.composerLabel = h("label", { for: "composer", class: "visually-hidden" }, t.messageLabel);
    this.replyOptions = this.store.isStaff ? new ReplyOptions(this.store) : null;
    this.templateButton = this.store.isStaff
      ? h(
          "button",
          { type: "button", class: "button ghost attach", "aria-label": t.templates, title: t.templates, "aria-expanded": "false", onclick: () => this.toggleTemplates() },
          h("span", { class: "template-icon", "aria-hidden": "true" }),
        )
      : null;
    this.templatePlace = h("div", { class: "template-place" });
    this.noticeLine = h("p", { class: "composer-notice", role: "status" });
    // Staff messages get their signature from the server; shown here, and left out for one message on request.
    this.signature = "";
    this.signatureOn = h("input", { type: "checkbox", id: "signature-on", checked: true });
    this.signatureText = h("span", { class: "signature-text" });
    this.signatureLine = h("p", { class: "signature-line", hidden: true }, h("span", { class: "check" }, this.signatureOn, h("label", { for: "signature-on" }, t.addSignature)), this.signatureText);
    this.suggest = new Suggest(this.composer, this.suggestSources(), () => this.onComposerInput());
    this.form = h(
      "form",
      { class: "composer-form", "aria-label": t.reply },
      this.store.isStaff
        ? h(
            "div",
            { class: "mode", role: "radiogroup", "aria-label": t.replyMode },
            this.modeInputs[0],
            h("label", { for: "kind-message" }, t.reply),
            this.modeInputs[1],
            h("label", { for: "kind-note" }, t.internalNote),
          )
        : null,
      this.replyOptions?.element,
      this.stagedList,
      this.schedulePlace,
      this.templatePlace,
      this.noticeLine,
      this.signatureLine,
      this.suggest.list,
      h("div", { class: "compose-row" }, this.attachButton, this.templateButton, this.fileInput, this.composerLabel, this.composer, this.scheduleButton, this.sendButton),
      h("p", { id: "composer-hint", class: "visually-hidden" }, t.composerHint),
    );
    for (const input of this.modeInputs) input.addEventListener("change", () => this.updateMode());
    this.composer.addEventListener("input", () => this.onComposerInput());
    this.composer.addEventListener("keydown", (event) => {
      if (this.suggest.handleKey(event)) return;
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        this.form.requestSubmit();
      }
    });
    this.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.send();
    });
    this.cardButton = this.store.isStaff
      ? h("button", { type: "button", class: "button ghost small card-button", "aria-expanded": "false", "aria-controls": "client-card", onclick: () => this.toggleCard() }, t.clientCard)
      : null;
    this.cardAside = h("aside", { class: "client-card", id: "client-card", "aria-labelledby": "card-title", hidden: true });
    this.followUp = this.store.isStaff ? new FollowUpPanel(this.conn) : null;
    this.followUpButton = this.followUp
      ? h("button", { type: "button", class: "button ghost small card-button", "aria-expanded": "false", "aria-controls": "follow-up", onclick: () => this.toggleFollowUp() }, t.followUpPanel)
      : null;
    this.conversation = h(
      "section",
      { class: "conversation", "aria-labelledby": "conv-title" },
      h("header", { class: "conv-head" }, h("a", { href: "#/", class: "back-link", "aria-label": t.back }, "‹"), h("div", { class: "conv-titles" }, this.convTitle, this.convSub), this.followUpButton, this.cardButton),
      h(
        "div",
        { class: "conv-body" },
        h("div", { class: "conv-main" }, this.messageList, this.typingLine, this.scheduledBox, this.form),
        this.cardAside,
        this.followUp?.element,
      ),
    );
    this.updateMode();
  }

  get kind() {
    return this.store.isStaff && this.modeInputs[1].checked ? "note" : "message";
  }

  updateMode() {
    const note = this.kind === "note";
    this.form.classList.toggle("note-mode", note);
    this.composer.placeholder = note ? t.notePlaceholder : t.messagePlaceholder;
    this.sendButton.textContent = note ? t.addNote : t.send;
    this.replyOptions?.setNote(note);
    this.showSignature();
  }

  async loadSignature() {
    if (!this.store.isStaff || !this.conn.ready) return;
    try {
      this.signature = (await this.conn.request("signature.get")).composed;
    } catch {
      this.signature = "";
    }
    this.showSignature();
  }

  showSignature() {
    this.signatureLine.hidden = !this.signature || this.kind === "note";
    this.signatureText.textContent = this.signature.replace(/[*_`]/g, "").replace(/\s+/g, " "); // a one-line hint, marks aside
    this.signatureText.title = this.signature;
  }

  // ---- the reply bar's helpers (staff): templates, quick replies, mentions; the client card ----

  suggestSources() {
    const mentions = {
      label: t.mentionSuggestions,
      fetch: async (query) => {
        if (this.currentId == null) return [];
        const { users } = await this.conn.request("mention.suggest", { thread_id: this.currentId, query, limit: 8 });
        return users.map((user) => ({ label: user.name, detail: `@${user.handle}${user.in_thread ? "" : ` · ${t.notInThread}`}`, value: user.handle }));
      },
      pick: async (item) => `@${item.value} `,
    };
    if (!this.store.isStaff) return { "@": mentions };
    return {
      "@": mentions,
      "/": {
        label: t.quickReplies,
        fetch: async (query) => {
          const { quick_replies } = await this.conn.request("quick_reply.list", { prefix: query });
          return quick_replies.map((reply) => ({ label: `/${reply.shortcut.replace(/^\//, "")}`, detail: reply.name, value: reply.shortcut }));
        },
        pick: async (item) => {
          try {
            const answer = await this.conn.request("quick_reply.expand", { shortcut: item.value, ...(this.currentId != null ? { thread_id: this.currentId } : {}) });
            return answer.body;
          } catch (error) {
            this.noticeLine.textContent = error.code === "offline" ? t.offline : error.message;
            return null;
          }
        },
      },
    };
  }

  toggleTemplates() {
    if (this.templatePlace.firstChild) {
      this.closeTemplates();
      return;
    }
    const thread = this.store.threads.get(this.currentId);
    if (!thread) return;
    const panel = templatePanel(
      this.conn,
      thread,
      (body, note) => {
        const before = this.composer.value.trim() ? `${this.composer.value.replace(/\s+$/, "")}\n\n` : "";
        this.composer.value = before + body;
        this.noticeLine.textContent = note;
        this.closeTemplates();
        this.onComposerInput();
        this.composer.focus();
      },
      () => {
        this.closeTemplates();
        this.composer.focus();
      },
    );
    replace(this.templatePlace, panel);
    this.templateButton.setAttribute("aria-expanded", "true");
  }

  closeTemplates() {
    replace(this.templatePlace);
    this.templateButton?.setAttribute("aria-expanded", "false");
  }

  toggleCard() {
    this.cardOpen = !this.cardOpen;
    if (this.cardOpen) this.followUpOpen = false; // one side panel at a time
    this.card = null;
    this.cardFor = null;
    if (this.cardOpen) this.loadCard();
    this.render();
  }

  toggleFollowUp() {
    this.followUpOpen = !this.followUpOpen;
    if (this.followUpOpen) this.cardOpen = false;
    this.followUp.forget();
    this.render();
  }

  async loadCard() {
    const thread = this.store.threads.get(this.currentId);
    if (!this.cardOpen || thread?.client_account_id == null) return;
    this.cardFor = thread.client_account_id;
    try {
      const card = await this.conn.request("client.card", { client_account_id: thread.client_account_id });
      if (this.store.threads.get(this.currentId)?.client_account_id === card.client.id) this.card = card;
    } catch (error) {
      this.noticeLine.textContent = error.code === "offline" ? t.offline : error.message;
    }
    this.render();
  }

  // ---- tasks and acknowledgements on messages ----------------------------------------------------

  async loadTasks(threadId) {
    const { tasks } = await this.conn.request("tasks", { thread_id: threadId, status: "all", limit: 100 });
    for (const task of tasks) this.tasks.set(task.message_id, task);
    this.render();
  }

  async loadMyTasks() {
    if (this.store.isStaff) return;
    const { tasks } = await this.conn.request("tasks", { status: "open", limit: 100 });
    for (const task of tasks) this.myTasks.set(task.id, task);
    await this.loadTaskMessages();
  }

  async loadTaskMessages() {
    const ids = [...this.myTasks.values()].map((task) => task.message_id).filter((id) => !this.taskMessages.has(id));
    for (let at = 0; at < ids.length; at += 100) {
      const { messages } = await api.messages(ids.slice(at, at + 100));
      for (const message of messages) this.taskMessages.set(message.id, message);
    }
    this.render();
  }

  async setTaskDone(task, done) {
    try {
      const answer = await this.conn.request("task.update", { task_id: task.id, done });
      this.tasks.set(answer.task.message_id, answer.task);
      if (this.myTasks.has(answer.task.id)) this.myTasks.set(answer.task.id, answer.task);
    } catch (error) {
      alert(error.code === "offline" ? t.offline : error.message);
    }
    this.render();
  }

  acksOf(message) {
    let found = this.acks.get(message.id);
    if (!found) {
      this.acks.set(message.id, (found = new Map()));
      this.conn.request("message.acks", { message_id: message.id }).then(
        ({ acks }) => {
          for (const ack of acks) found.set(ack.user_id, ack.at);
          this.render();
        },
        () => this.acks.delete(message.id),
      );
    }
    return found;
  }

  async acknowledge(message) {
    try {
      const { acks } = await this.conn.request("message.ack", { message_id: message.id });
      const found = this.acksOf(message);
      for (const ack of acks) found.set(ack.user_id, ack.at);
    } catch (error) {
      alert(error.code === "offline" ? t.offline : error.message);
    }
    this.render();
  }

  /** Offered while the browser may still ask; checked at start and after the user's click only, so the
   * button does not vanish under the pointer when the permission changes elsewhere. */
  showNotifyButton() {
    this.notifyButton.hidden = !this.notifier.canAsk();
  }

  // ---- routing ---------------------------------------------------------------------------------

  route(byUser) {
    const match = location.hash.match(/^#\/t\/(\d+)$/);
    const folder = location.hash.match(/^#\/f\/([a-z_]+)$/);
    this.saveDraft();
    if (folder && this.folder != null && FOLDERS.includes(folder[1])) {
      this.setFolder(folder[1]);
      history.replaceState(null, "", "#/");
    }
    if (match) {
      this.view = "thread";
      this.currentId = Number(match[1]);
      this.composer.value = this.drafts.get(this.currentId) || "";
      this.autoGrow();
      this.loadThread(this.currentId);
      this.loadSignature(); // it may have changed in Settings
      replace(this.pane, this.conversation);
      this.stickToBottom = true;
      this.renderNow();
      if (byUser) this.convTitle.focus();
      this.markRead();
    } else if (location.hash.startsWith("#/settings")) {
      this.view = "settings";
      this.currentId = null;
      replace(this.pane, settingsPage(this.me, this.store, location.hash.split("/")[2]));
      if (byUser) this.pane.querySelector("h2")?.focus();
    } else if (location.hash === "#/new") {
      this.view = "new";
      this.currentId = null;
      replace(this.pane, newThreadForm(this.store, (subject, body, accountId, clientMsgId) => this.createThread(subject, body, accountId, clientMsgId)));
      this.pane.querySelector("input")?.focus();
    } else {
      this.view = "list";
      this.currentId = null;
      replace(this.pane, h("div", { class: "empty-pane" }, h("div", { class: "empty-art", "aria-hidden": "true" }), h("p", {}, t.noThreadSelected)));
    }
    this.layout.classList.toggle("has-detail", this.view !== "list");
    this.layout.classList.toggle("settings-mode", this.view === "settings");
    this.render();
  }

  // ---- data ------------------------------------------------------------------------------------

  async onReady(fresh) {
    if (fresh) this.store.forgetMessages();
    try {
      await this.loadThreads();
    } catch {
      return; // the connection dropped; the next onReady tries again
    }
    this.outbox.flush();
    this.loadMyTasks().catch(() => {});
    this.loadSignature();
    if (this.currentId != null) await this.loadThread(this.currentId);
    this.render();
  }

  listFields() {
    const fields = { limit: PAGE };
    if (this.folder) fields.folder = this.folder;
    if (this.source) fields.source = this.source;
    return fields;
  }

  /** The listed folder again, as many pages as were shown; answers for an older folder are dropped. */
  async loadThreads() {
    const generation = ++this.listGeneration;
    const want = Math.max(this.store.listIds.length, 1);
    const ids = [];
    let cursor = null;
    do {
      const page = await this.conn.request("threads", { ...this.listFields(), ...(cursor ? { cursor } : {}) });
      if (generation !== this.listGeneration) return;
      this.store.mergeThreads(page.threads);
      ids.push(...page.threads.map((thread) => thread.id));
      cursor = page.cursor;
    } while (cursor && ids.length < want);
    this.store.setList(ids, cursor);
    this.render();
    await this.loadPreviews(ids);
    this.loadFolders();
  }

  async loadMore() {
    const generation = this.listGeneration;
    const cursor = this.store.listCursor;
    if (!cursor) return;
    const page = await this.conn.request("threads", { ...this.listFields(), cursor });
    if (generation !== this.listGeneration) return;
    this.store.mergeThreads(page.threads);
    this.store.setList([...this.store.listIds, ...page.threads.map((thread) => thread.id)], page.cursor);
    this.render();
    await this.loadPreviews(page.threads.map((thread) => thread.id));
  }

  async loadPreviews(threadIds) {
    const ids = threadIds
      .map((id) => this.store.threads.get(id))
      .filter((thread) => thread?.last_message_id && this.store.previews.get(thread.id)?.id !== thread.last_message_id)
      .map((thread) => thread.last_message_id);
    for (let at = 0; at < ids.length; at += 100) {
      const { messages } = await api.messages(ids.slice(at, at + 100));
      for (const message of messages) this.store.previews.set(message.thread_id, message);
    }
    this.render();
  }

  /** Exact counts per folder (staff); called after anything that may move a thread or its unread count. */
  async loadFolders() {
    if (this.folder == null || !this.conn.ready) return;
    try {
      const { folders } = await this.conn.request("folders", this.source ? { source: this.source } : {});
      this.folderCounts = new Map(folders.map((folder) => [folder.name, folder]));
      this.render();
    } catch {
      /* refetched on the next change or reconnect */
    }
  }

  /** A change seen live: recount the folders and list the folder again, once for a burst of events. */
  refreshList() {
    this.later("threads", 250, () => this.loadThreads().catch(() => {}));
  }

  setFolder(folder) {
    if (folder === this.folder) return;
    this.folder = folder;
    this.selection.clear();
    this.store.setList([], null);
    this.listTitle.textContent = t.folderNames[folder];
    this.listStatus.textContent = "";
    this.loadThreads().catch(() => {});
  }

  setSource(source) {
    this.source = source;
    this.selection.clear();
    this.store.setList([], null);
    this.loadThreads().catch(() => {});
  }

  // ---- acting on a selection (staff) -------------------------------------------------------------

  select(threadId, on) {
    if (on) this.selection.add(threadId);
    else this.selection.delete(threadId);
    this.render();
  }

  async act(action) {
    const ids = [...this.selection];
    try {
      const { results } = await this.conn.request("threads.act", { thread_ids: ids, action });
      const failed = results.filter((result) => !result.ok);
      this.listStatus.textContent = t.actDone(results.length - failed.length, failed.length);
      this.selection = new Set(failed.map((result) => result.thread_id));
      for (const result of results) {
        const thread = this.store.threads.get(result.thread_id);
        if (action.type === "read" && result.ok && thread) thread.unread = 0;
      }
    } catch (error) {
      this.listStatus.textContent = error.code === "offline" ? t.offline : error.message;
    }
    this.refreshList();
    this.render();
  }

  renderBulk() {
    const listed = this.store.listIds;
    for (const id of this.selection) if (!listed.includes(id)) this.selection.delete(id);
    const key = this.selection.size ? `${this.selection.size}/${listed.length}/${this.folder}` : null;
    if (key === this.bulkKey) return;
    this.bulkKey = key;
    const had = this.bulkPlace.contains(document.activeElement);
    replace(
      this.bulkPlace,
      key
        ? bulkToolbar({
            count: this.selection.size,
            total: listed.length,
            folder: this.folder,
            staff: this.store.staffMembers(),
            act: (action) => this.act(action),
            selectAll: (on) => {
              this.selection = new Set(on ? listed : []);
              this.render();
            },
            clear: () => {
              this.selection.clear();
              this.render();
            },
          })
        : null,
    );
    if (had && !key) this.threadList.querySelector("input, a")?.focus();
  }

  // ---- search ------------------------------------------------------------------------------------

  async runSearch(fields, more = false) {
    const search = more ? this.search : { fields, results: [], cursor: null, busy: true };
    this.search = search;
    this.render();
    try {
      const page = await this.conn.request("search", { ...search.fields, limit: 20, ...(more ? { cursor: search.cursor } : {}) });
      if (this.search !== search) return;
      search.results.push(...page.results);
      search.cursor = page.cursor;
      search.error = null;
    } catch (error) {
      search.error = error.code === "offline" ? t.offline : error.message;
    }
    search.busy = false;
    this.render();
  }

  clearSearch() {
    if (!this.search) return;
    this.search = null;
    this.render();
  }

  async refreshPeople() {
    try {
      this.store.setPeople(await api.people());
      this.render();
    } catch {
      /* kept from before; retried on the next unknown name */
    }
  }

  later(name, delay, work) {
    clearTimeout(this.refreshTimers[name]);
    this.refreshTimers[name] = setTimeout(work, delay);
  }

  async loadThread(threadId) {
    if (!this.conn.ready) return;
    this.notFound = false;
    try {
      if (!this.store.loaded.has(threadId)) {
        const { messages, has_more } = await this.conn.request("history", { thread_id: threadId, limit: 50 });
        this.store.addHistory(threadId, messages, has_more, false);
        this.stickToBottom = true;
      }
      await this.loadScheduled(threadId);
      await this.loadTasks(threadId);
      const { readers } = await api.readers(threadId);
      for (const reader of readers) this.store.markRead(threadId, reader.user_id, reader.message_id, reader.read_at);
    } catch (error) {
      if (error.code === "not_found") this.notFound = true;
    }
    this.render();
    this.markRead();
  }

  async loadOlder() {
    const threadId = this.currentId;
    const oldest = this.store.sortedMessages(threadId)[0];
    if (!oldest) return;
    const { messages, has_more } = await this.conn.request("history", { thread_id: threadId, before: oldest.id, limit: 50 });
    this.store.addHistory(threadId, messages, has_more, true);
    this.keepOffset = true;
    this.renderNow();
  }

  /** Move my read marker to the newest message of the open thread, when I can actually see it. */
  markRead() {
    const threadId = this.currentId;
    if (threadId == null || document.visibilityState !== "visible" || !this.conn.ready) return;
    const newest = this.store.sortedMessages(threadId).at(-1);
    if (!newest || newest.id <= Math.max(this.store.myMarker(threadId), this.readSent.get(threadId) || 0)) return;
    this.readSent.set(threadId, newest.id);
    this.conn.request("read", { thread_id: threadId, message_id: newest.id }).then(
      () => {
        this.store.markRead(threadId, this.me.id, newest.id, new Date().toISOString());
        const thread = this.store.threads.get(threadId);
        if (thread && newest.id >= (thread.last_message_id || 0)) thread.unread = 0;
        this.render();
      },
      () => this.readSent.delete(threadId),
    );
  }

  // ---- events ----------------------------------------------------------------------------------

  onEvent(frame) {
    const { type, data } = frame;
    const store = this.store;
    if (type === "message.created") {
      const message = data.message;
      if (message.client_msg_id) this.outbox.confirm(message.client_msg_id);
      // Already counted when the thread (list or thread.created) named it as its newest message.
      const counted = message.id <= (store.threads.get(message.thread_id)?.last_message_id || 0);
      const known = counted || store.threadMessages(message.thread_id).has(message.id);
      store.upsertMessage(message);
      const thread = store.threads.get(message.thread_id);
      if (!thread || !store.listIds.includes(message.thread_id)) this.refreshList();
      else this.later("folders", 250, () => this.loadFolders());
      if (!store.people.has(message.author_id) && message.author_id !== this.me.id) this.later("people", 300, () => this.refreshPeople());
      if (thread && !known && message.author_id !== this.me.id) {
        const looking = message.thread_id === this.currentId && document.visibilityState === "visible";
        if (!looking) thread.unread = (thread.unread || 0) + 1;
        if (document.hidden) this.notifier.show(store.name(message.author_id) || t.unknownUser, message, thread);
      }
      if (message.thread_id === this.currentId) this.markRead();
    } else if (type === "message.updated" || type === "message.deleted") {
      store.upsertMessage(data.message);
      if (type === "message.deleted") this.refreshList();
    } else if (type === "read") {
      store.markRead(data.thread_id, data.user_id, data.message_id, new Date().toISOString());
      const thread = store.threads.get(data.thread_id);
      if (data.user_id === this.me.id && thread) {
        if (data.message_id >= (thread.last_message_id || 0)) thread.unread = 0;
        if (this.folder === "unread" || data.message_id < (thread.last_message_id || 0)) this.refreshList();
        else this.later("folders", 250, () => this.loadFolders());
      }
    } else if (type === "thread.created") {
      store.upsertThread(data.thread);
      // New threads land in the Inbox: show it at once, then list the folder exactly.
      if ((this.folder == null || this.folder === "inbox") && !store.listIds.includes(data.thread.id)) store.listIds.push(data.thread.id);
      this.refreshList();
      const account = data.thread.client_account_id;
      if (account != null && !store.accounts.has(account)) this.later("people", 300, () => this.refreshPeople());
    } else if (type === "task.updated") {
      this.tasks.set(data.task.message_id, data.task);
      if (!store.isStaff && (this.myTasks.has(data.task.id) || (data.task.assignee_id === this.me.id && !data.task.done_at))) {
        this.myTasks.set(data.task.id, data.task);
        if (data.task.assignee_id !== this.me.id) this.myTasks.delete(data.task.id);
        this.loadTaskMessages().catch(() => {});
      }
    } else if (type === "message.acked") {
      this.acks.get(data.message_id)?.set(data.user_id, data.at);
    } else if (type === "thread.updated") {
      store.upsertThread(data.thread);
      this.refreshList();
    } else if (type === "thread.unread") {
      const thread = store.threads.get(data.thread_id);
      if (thread) thread.unread = data.unread;
      this.readSent.delete(data.thread_id);
      this.refreshList();
    } else if (type === "thread.deleted") {
      store.dropThread(data.thread_id);
      this.selection.delete(data.thread_id);
      if (data.thread_id === this.currentId) this.notFound = true;
      this.refreshList();
    } else if (type === "scheduled.updated") {
      this.scheduled.set(data.scheduled.id, data.scheduled);
    } else if (type === "recurring.updated") {
      this.followUp?.recurringChanged(data.recurring);
    } else if (type === "typing") {
      if (data.user_id !== this.me.id) {
        const shown = store.startTyping(data.thread_id, data.user_id, data.kind || "message");
        setTimeout(() => this.render(), shown + 50);
      }
    }
    this.render();
  }

  // ---- composing -------------------------------------------------------------------------------

  onComposerInput() {
    this.autoGrow();
    this.saveDraftSoon();
    const now = Date.now();
    if (this.composer.value.trim() && this.currentId != null && now - this.lastTypingSent > TYPING_EVERY_MS) {
      this.lastTypingSent = now;
      this.conn.notify("typing", { thread_id: this.currentId, ...(this.kind === "note" ? { kind: "note" } : {}) });
    }
  }

  autoGrow() {
    this.composer.style.height = "auto";
    this.composer.style.height = `${Math.min(this.composer.scrollHeight, 240)}px`;
  }

  saveDraftSoon() {
    this.later("draft", 400, () => {
      this.saveDraft();
      this.render();
    });
  }

  saveDraft() {
    if (this.currentId == null) return;
    const text = this.composer.value;
    if (text.trim()) this.drafts.set(this.currentId, text);
    else this.drafts.delete(this.currentId);
    localStorage.setItem(this.draftKey, JSON.stringify([...this.drafts]));
  }

  toggleSchedule() {
    if (this.schedulePlace.firstChild) {
      this.closeSchedule();
      return;
    }
    const { panel, focus } = schedulePanel(
      (sendAt, cancelIfClient) => this.scheduleSend(sendAt, cancelIfClient),
      () => this.closeSchedule(),
    );
    replace(this.schedulePlace, panel);
    this.scheduleButton.setAttribute("aria-expanded", "true");
    focus();
  }

  closeSchedule() {
    replace(this.schedulePlace);
    this.scheduleButton?.setAttribute("aria-expanded", "false");
  }

  async scheduleSend(sendAt, cancelIfClient) {
    const body = this.composer.value;
    if (!body.trim() || this.currentId == null) return;
    const fields = { thread_id: this.currentId, body, client_msg_id: this.scheduleKey || (this.scheduleKey = uuid()), send_at: sendAt };
    if (this.kind === "note") fields.kind = "note";
    if (cancelIfClient) fields.cancel_if_client_writes = true;
    const { scheduled } = await this.conn.request("send", fields);
    this.scheduleKey = null;
    this.scheduled.set(scheduled.id, scheduled);
    this.composer.value = "";
    this.saveDraft();
    this.closeSchedule();
    this.render();
    this.composer.focus();
  }

  async loadScheduled(threadId) {
    if (!this.store.isStaff) return;
    const { scheduled } = await this.conn.request("scheduled.list", { thread_id: threadId });
    for (const item of scheduled) this.scheduled.set(item.id, item);
    this.render();
  }

  async cancelScheduled(item) {
    const { scheduled } = await this.conn.request("scheduled.cancel", { scheduled_id: item.id });
    this.scheduled.set(scheduled.id, scheduled);
    this.render();
  }

  async saveEdit() {
    const editing = this.editing;
    if (!editing || !editing.text.trim()) return;
    try {
      const { message } = await this.conn.request("edit", { message_id: editing.id, body: editing.text });
      this.store.upsertMessage(message);
      this.editing = null;
      this.composer.focus();
    } catch (error) {
      alert(error.code === "offline" ? t.offline : error.message);
    }
    this.render();
  }

  async deleteMessage(message) {
    if (!confirm(t.confirmDelete)) return;
    try {
      const { message: tombstone } = await this.conn.request("delete", { message_id: message.id });
      this.store.upsertMessage(tombstone);
    } catch (error) {
      if (error.code !== "conflict") alert(error.code === "offline" ? t.offline : error.message);
    }
    this.render();
  }

  async attach(files) {
    this.fileInput.value = "";
    if (files.length === 0) return;
    const pending = { uploading: files.map((f) => f.name) };
    this.staged.push(pending);
    this.renderStaged();
    const done = upload(files).then(
      (stored) => {
        const at = this.staged.indexOf(pending);
        if (at >= 0) this.staged.splice(at, 1, ...stored);
      },
      (error) => {
        pending.error = `${t.uploadFailed} ${error.message}`;
      },
    );
    this.uploads.add(done);
    await done;
    this.uploads.delete(done);
    this.renderStaged();
  }

  renderStaged() {
    replace(
      this.stagedList,
      this.staged.map((item) =>
        h(
          "li",
          { class: `chip${item.error ? " chip-error" : ""}` },
          item.id
            ? [h("span", { class: "chip-name" }, item.name), h("span", { class: "chip-size" }, formatSize(item.size))]
            : h("span", { class: "chip-name" }, item.error || `${t.uploading} ${item.uploading.join(", ")}`),
          h(
            "button",
            {
              type: "button",
              class: "chip-remove",
              "aria-label": t.removeFile(item.name || item.uploading.join(", ")),
              onclick: () => {
                this.staged.splice(this.staged.indexOf(item), 1);
                this.renderStaged();
              },
            },
            "×",
          ),
        ),
      ),
    );
  }

  async send() {
    if (this.uploads.size) {
      // Files still going up: send once they are stored.
      this.sendButton.disabled = true;
      await Promise.all(this.uploads);
      this.sendButton.disabled = false;
    }
    const body = this.composer.value;
    const files = this.staged.filter((item) => item.id);
    if ((!body.trim() && files.length === 0) || this.currentId == null) return;
    const options = this.replyOptions?.values() || {};
    if (!this.signatureLine.hidden && !this.signatureOn.checked) options.signature = false;
    this.outbox.add(this.currentId, body, this.kind, files, options);
    this.signatureOn.checked = true;
    this.replyOptions?.reset();
    this.noticeLine.textContent = "";
    this.staged = [];
    this.renderStaged();
    this.composer.value = "";
    this.lastTypingSent = 0;
    this.autoGrow();
    this.saveDraft();
    this.stickToBottom = true;
    this.render();
    this.composer.focus();
  }

  async createThread(subject, body, accountId, clientMsgId) {
    const fields = { subject, body, client_msg_id: clientMsgId };
    if (accountId != null) fields.client_account_id = accountId;
    const { thread, message } = await this.conn.request("thread.create", fields);
    this.store.upsertThread(thread);
    if (!this.store.listIds.includes(thread.id)) this.store.listIds.push(thread.id);
    this.store.upsertMessage(message);
    location.hash = `#/t/${thread.id}`;
  }

  // ---- rendering -------------------------------------------------------------------------------

  render() {
    if (this.renderQueued) return;
    this.renderQueued = true;
    queueMicrotask(() => this.renderNow());
  }

  renderNow() {
    this.renderQueued = false;
    const store = this.store;
    const unread = store.totalUnread();
    const subject = this.currentId != null ? store.threads.get(this.currentId)?.subject : null;
    document.title = `${unread ? `(${unread}) ` : ""}${subject ? `${subject} · ` : ""}${t.appName}`;
    this.renderBanner();
    renderThreadList(this.threadList, store, this.currentId, {
      drafts: this.drafts,
      selection: this.folder != null ? this.selection : null,
      onSelect: (id, on) => this.select(id, on),
      loadMore: () => this.loadMore().catch(() => {}),
    });
    if (this.folderParts) renderFolders(this.folderParts.list, this.folderCounts, this.folder);
    if (this.folder != null) this.renderBulk();
    if (this.tasksBox) {
      const tasks = [...this.myTasks.values()].sort((a, b) => (a.due_on || "9999").localeCompare(b.due_on || "9999") || a.id - b.id);
      renderMyTasks(this.tasksBox, store, tasks, this.taskMessages, (task, done) => this.setTaskDone(task, done));
    }
    this.threadList.hidden = this.search != null;
    this.results.hidden = this.search == null;
    if (this.search) {
      renderResults(this.results, store, this.search, {
        clear: () => this.clearSearch(),
        more: () => this.runSearch(null, true),
      });
    }
    if (this.view === "thread") this.renderConversation();
  }

  renderBanner() {
    const offline = this.conn.status === "offline";
    this.banner.hidden = !offline;
    if (!offline) return;
    replace(
      this.banner,
      h("span", { class: "banner-dot", "aria-hidden": "true" }),
      h("span", {}, navigator.onLine ? t.reconnecting : t.offline),
      h("button", { type: "button", class: "link-button", onclick: () => this.conn.reconnectNow() }, t.reconnectNow),
    );
  }

  renderConversation() {
    const store = this.store;
    const thread = store.threads.get(this.currentId);
    if (!thread) {
      this.convTitle.textContent = this.notFound ? t.notFound : t.loading;
      this.convSub.textContent = "";
    } else {
      this.convTitle.textContent = thread.subject;
      // Staff see who the thread is with; a client knows it is with them.
      this.convSub.textContent = !store.isStaff
        ? ""
        : thread.client_account_id == null
          ? t.internalThread
          : store.accounts.get(thread.client_account_id)?.name || "";
    }
    this.form.hidden = !thread;
    renderMessages(this.messageList, store, this.currentId, this.outbox.forThread(this.currentId), {
      retry: (id) => this.outbox.retry(id),
      discard: (id) => this.outbox.discard(id),
      loadOlder: () => this.loadOlder(),
      stickToBottom: this.stickToBottom,
      keepOffset: this.keepOffset,
      editing: this.editing,
      focusEdit: this.focusEdit,
      startEdit: (message) => {
        this.editing = { id: message.id, text: message.body };
        this.focusEdit = true;
        this.render();
      },
      cancelEdit: () => {
        this.editing = null;
        this.render();
        this.composer.focus();
      },
      saveEdit: () => this.saveEdit(),
      deleteMessage: (message) => this.deleteMessage(message),
      tasks: this.tasks,
      setTaskDone: (task, done) => this.setTaskDone(task, done),
      acks: (message) => this.acksOf(message),
      ack: (message) => this.acknowledge(message),
    });
    this.replyOptions?.setThread(thread);
    const withCard = this.cardOpen && thread?.client_account_id != null;
    this.cardAside.hidden = !withCard;
    if (this.cardButton) {
      this.cardButton.hidden = thread?.client_account_id == null;
      this.cardButton.setAttribute("aria-expanded", String(withCard));
    }
    if (withCard) {
      if (this.card && this.card.client.id !== thread.client_account_id) this.card = null;
      if (this.cardFor !== thread.client_account_id) this.later("card", 0, () => this.loadCard());
      renderClientCard(this.cardAside, this.card, this.currentId, () => this.toggleCard());
    }
    this.renderFollowUp(thread);
    this.focusEdit = false;
    this.stickToBottom = false;
    this.keepOffset = false;
    renderTyping(this.typingLine, store, this.currentId);
    const waiting = [...this.scheduled.values()].filter((item) => item.thread_id === this.currentId);
    renderScheduled(this.scheduledBox, waiting, (item) => this.cancelScheduled(item).catch(() => {}));
  }

  renderFollowUp(thread) {
    if (!this.followUp) return;
    // Reminders and recurring messages go to a client, so the panel is for threads with one.
    const shown = this.followUpOpen && thread?.client_account_id != null;
    this.followUp.element.hidden = !shown;
    this.followUpButton.hidden = thread?.client_account_id == null;
    this.followUpButton.setAttribute("aria-expanded", String(shown));
    if (shown) this.followUp.show(this.currentId, () => this.toggleFollowUp());
  }
}
