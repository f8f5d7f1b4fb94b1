// One thread's messages: day separators, grouped bubbles, notes set apart, pending sends, the read
// receipt under your newest message, and who is typing.

import { renderAttachments } from "./attachments.js";
import { h, replace } from "./dom.js";
import { formatDate, formatDay, formatFull, formatTime, joinNames, t } from "./i18n.js";
import { renderBody, renderEmbeds } from "./richtext.js";
import { avatar } from "./threadlist.js";

const GROUP_MS = 5 * 60 * 1000;

function messageBody(store, message) {
  if (message.deleted_at) return h("p", { class: "body deleted" }, t.deleted);
  const body = message.body.trim() ? renderBody(message) : null;
  for (const mention of body?.querySelectorAll(`.mention[data-user-id="${store.me.id}"]`) || []) mention.classList.add("mention-me");
  return [
    body,
    renderAttachments(message.attachments),
    renderEmbeds(message, t.video),
  ];
}

function receipt(store, threadId, message) {
  const readers = store.seenBy(threadId, message.id);
  if (readers.length === 0) return null;
  const names = joinNames(readers.map((r) => store.name(r.user_id) || t.unknownUser));
  const times = readers.map((r) => r.read_at).filter(Boolean).sort();
  const text = times.length ? t.seenBy(names, formatTime(times.at(-1))) : t.seenByNoTime(names);
  return h("p", { class: "receipt" }, h("span", { class: "receipt-check", "aria-hidden": "true" }, "✓✓"), text);
}

function editForm(message, actions) {
  const text = h("textarea", { class: "edit-text", id: `edit-${message.id}`, rows: "3", "aria-label": t.editLabel, value: actions.editing.text });
  text.addEventListener("input", () => (actions.editing.text = text.value));
  text.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      actions.saveEdit();
    } else if (event.key === "Escape") {
      actions.cancelEdit();
    }
  });
  return h(
    "div",
    { class: "edit-form" },
    text,
    h(
      "div",
      { class: "edit-actions" },
      h("button", { type: "button", class: "button ghost small", onclick: () => actions.cancelEdit() }, t.cancel),
      h("button", { type: "button", class: "button primary small", onclick: () => actions.saveEdit() }, t.save),
    ),
  );
}

function messageActions(store, message, actions) {
  if (message.deleted_at) return null;
  const mine = message.author_id === store.me.id;
  const canDelete = mine || store.me.role === "owner" || store.me.role === "manager";
  if (!mine && !canDelete) return null;
  return h(
    "div",
    { class: "msg-actions" },
    mine ? h("button", { type: "button", class: "link-button", "aria-label": t.editMessage, onclick: () => actions.startEdit(message) }, t.edit) : null,
    h("button", { type: "button", class: "link-button", "aria-label": t.deleteMessage, onclick: () => actions.deleteMessage(message) }, t.delete),
  );
}

/** The task a message carries: who, by when, and a box to tick it done (staff, or the client it is for). */
function taskBar(store, task, actions) {
  const name = task.assignee_id === store.me.id ? t.you : store.name(task.assignee_id) || t.unknownUser;
  const label = `${t.taskFor(name)}${task.due_on ? ` · ${t.dueOn(formatDate(task.due_on))}` : ""}`;
  const mayTick = store.isStaff || task.assignee_id === store.me.id;
  return h(
    "div",
    { class: `task-bar${task.done_at ? " done" : ""}` },
    h("input", {
      type: "checkbox",
      id: `task-${task.id}`,
      checked: Boolean(task.done_at),
      disabled: !mayTick,
      onchange: (event) => actions.setTaskDone(task, event.target.checked),
    }),
    h("label", { for: `task-${task.id}` }, h("span", { class: "task-tag" }, t.task), " ", label),
  );
}

/** An urgent message asking for acknowledgement: who acknowledged, and the button for the others. */
function ackLine(store, message, actions) {
  if (!message.ack_requested || message.deleted_at) return null;
  const acks = actions.acks(message);
  const names = [...acks.keys()].map((id) => (id === store.me.id ? t.you : store.name(id) || t.unknownUser));
  const mine = message.author_id === store.me.id;
  return h(
    "p",
    { class: "ack-line" },
    names.length ? t.acknowledgedBy(joinNames(names)) : mine ? t.waitingForAck : null,
    !mine && !acks.has(store.me.id) ? h("button", { type: "button", class: "button primary small", onclick: () => actions.ack(message) }, t.acknowledge) : null,
  );
}

function messageElement(store, message, grouped, withReceipt, actions) {
  const editing = actions.editing?.id === message.id;
  const mine = message.author_id === store.me.id;
  const note = message.kind === "note";
  const author = mine ? t.you : store.name(message.author_id) || t.unknownUser;
  const task = actions.tasks.get(message.id);
  const privateWith = message.private_to != null ? (mine ? store.name(message.private_to) : t.you) || t.unknownUser : null;
  // Marks force a header even on a grouped message, so they are never lost.
  const marked = message.urgent || privateWith;
  return h(
    "article",
    {
      class: `msg${mine ? " mine" : ""}${note ? " note" : ""}${grouped ? " grouped" : ""}${message.urgent ? " urgent" : ""}${privateWith ? " private" : ""}`,
      dataset: { messageId: message.id, kind: message.kind },
      "aria-label": `${note ? `${t.internalNote}, ` : ""}${author}, ${formatTime(message.created_at)}`,
    },
    grouped || mine ? null : avatar(store.name(message.author_id) || "?"),
    h(
      "div",
      { class: "bubble" },
      grouped && !marked
        ? null
        : h(
            "header",
            { class: "msg-head" },
            h("span", { class: "author" }, author),
            note ? h("span", { class: "note-tag" }, t.internalNote) : null,
            message.urgent ? h("span", { class: "urgent-tag" }, t.urgent) : null,
            message.automatic === "auto_reply" ? h("span", { class: "auto-tag" }, t.automaticReply) : null,
            privateWith ? h("span", { class: "private-tag" }, t.privateWith(privateWith)) : null,
            h("time", { datetime: message.created_at, title: formatFull(message.created_at) }, formatTime(message.created_at)),
          ),
      editing ? editForm(message, actions) : messageBody(store, message),
      message.edited_at && !message.deleted_at && !editing ? h("span", { class: "edited" }, `(${t.edited})`) : null,
      task && !message.deleted_at ? taskBar(store, task, actions) : null,
      ackLine(store, message, actions),
    ),
    editing ? null : messageActions(store, message, actions),
    withReceipt ? receipt(store, message.thread_id, message) : null,
  );
}

function pendingElement(item, actions) {
  const failed = item.state === "failed";
  return h(
    "article",
    { class: `msg mine pending${item.kind === "note" ? " note" : ""}${failed ? " failed" : ""}`, dataset: { pending: item.client_msg_id } },
    h(
      "div",
      { class: "bubble" },
      item.kind === "note" ? h("header", { class: "msg-head" }, h("span", { class: "note-tag" }, t.internalNote)) : null,
      item.body.trim() ? h("div", { class: "body plain" }, item.body) : null,
      renderAttachments(item.attachments),
    ),
    h(
      "p",
      { class: "pending-state", role: failed ? "alert" : null },
      failed ? `${t.failed} ${item.error}` : item.state === "sending" ? t.sending : t.queued,
      failed ? h("button", { type: "button", class: "link-button", onclick: () => actions.retry(item.client_msg_id) }, t.retry) : null,
      failed ? h("button", { type: "button", class: "link-button", onclick: () => actions.discard(item.client_msg_id) }, t.discard) : null,
    ),
  );
}

export function renderMessages(container, store, threadId, pending, actions) {
  const atBottom = container.dataset.pinned !== "0";
  const previousHeight = container.scrollHeight;
  const messages = store.sortedMessages(threadId);
  const mine = messages.filter((m) => m.author_id === store.me.id && !m.deleted_at);
  const receiptOn = mine.at(-1)?.id;
  const children = [];
  if (store.hasMore.get(threadId)) {
    children.push(h("button", { type: "button", class: "load-older", onclick: () => actions.loadOlder() }, t.loadOlder));
  }
  let previous = null;
  for (const message of messages) {
    const day = formatDay(message.created_at);
    if (!previous || formatDay(previous.created_at) !== day) {
      children.push(h("div", { class: "day", role: "separator" }, h("span", {}, day)));
      previous = null;
    }
    const grouped =
      previous &&
      previous.author_id === message.author_id &&
      previous.kind === message.kind &&
      new Date(message.created_at) - new Date(previous.created_at) < GROUP_MS;
    children.push(messageElement(store, message, grouped, message.id === receiptOn, actions));
    previous = message;
  }
  for (const item of pending) children.push(pendingElement(item, actions));
  const focusedPending = container.contains(document.activeElement);
  const editFocused = document.activeElement?.classList.contains("edit-text");
  replace(container, children);
  const editText = container.querySelector(".edit-text");
  if (editText && (editFocused || actions.focusEdit)) {
    editText.focus();
    editText.setSelectionRange(editText.value.length, editText.value.length);
  }
  if (atBottom || actions.stickToBottom) container.scrollTop = container.scrollHeight;
  else if (actions.keepOffset) container.scrollTop += container.scrollHeight - previousHeight;
  if (focusedPending && !editText) container.focus();
  // Images grow the list as they load: stay at the bottom if the reader was there.
  for (const img of container.querySelectorAll("img")) {
    if (!img.complete) img.addEventListener("load", () => container.dataset.pinned !== "0" && (container.scrollTop = container.scrollHeight), { once: true });
  }
}

/** Remember whether the reader is at the bottom of the list (new messages then keep it there). */
export function trackPinned(container) {
  container.addEventListener("scroll", () => {
    container.dataset.pinned = container.scrollHeight - container.scrollTop - container.clientHeight < 60 ? "1" : "0";
  });
}

export function renderTyping(line, store, threadId) {
  const typers = store.typers(threadId);
  const notes = typers.filter((x) => x.kind === "note").map((x) => store.name(x.userId) || t.unknownUser);
  const messages = typers.filter((x) => x.kind !== "note").map((x) => store.name(x.userId) || t.unknownUser);
  const parts = [];
  if (messages.length) parts.push(t.typing(joinNames(messages)));
  if (notes.length) parts.push(t.typingNote(joinNames(notes)));
  replace(line, parts.length ? [h("span", { class: "dots", "aria-hidden": "true" }, h("i"), h("i"), h("i")), parts.join(" · ")] : []);
}
