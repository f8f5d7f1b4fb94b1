// The list of threads: subject, who it is with, last message preview and time, unread badge.

import { h, replace } from "./dom.js";
import { formatFull, formatShort, t } from "./i18n.js";

export function initials(name) {
  const parts = String(name || "?").trim().split(/\s+/);
  return (parts[0][0] + (parts.length > 1 ? parts.at(-1)[0] : "")).toUpperCase();
}

/** A stable hue per name so avatars are told apart at a glance. */
export function hue(name) {
  let sum = 0;
  for (const char of String(name)) sum = (sum * 31 + char.codePointAt(0)) % 360;
  return sum;
}

export function avatar(name, extraClass = "") {
  const el = h("span", { class: `avatar ${extraClass}`, "aria-hidden": "true" }, initials(name));
  el.dataset.hue = String(hue(name) % 8);
  return el;
}

function counterpart(store, thread) {
  if (thread.client_account_id == null) return t.internalThread;
  return store.accounts.get(thread.client_account_id)?.name || t.client;
}

function previewText(store, message) {
  if (!message) return "";
  const who = message.author_id === store.me.id ? t.you : store.name(message.author_id) || t.unknownUser;
  const files = (message.attachments || []).map((a) => a.name).join(", ");
  // The rendered text (no Markdown marks) when there is one; parsing it runs nothing.
  const source = message.html ? new DOMParser().parseFromString(message.html, "text/html").body.textContent : message.body;
  const text = source.replace(/\s+/g, " ").trim();
  const body = message.deleted_at ? t.deleted : text || (files ? `📎 ${files}` : "");
  return `${message.kind === "note" ? `${t.note} · ` : ""}${who}: ${body}`;
}

/** Staff marks on a row: urgent, follow-up, assignee and labels. */
function inboxMarks(store, thread) {
  if (!store.isStaff) return null;
  const marks = [];
  if (thread.urgent) marks.push(h("span", { class: "mark urgent" }, t.urgent));
  if (thread.follow_up_due) marks.push(h("span", { class: "mark due" }, t.followUpDue));
  else if (thread.follow_up_at) marks.push(h("span", { class: "mark waiting" }, t.followUpAt(formatShort(thread.follow_up_at))));
  else if (thread.snoozed) marks.push(h("span", { class: "mark waiting" }, t.waitingForClient));
  for (const label of thread.labels || []) marks.push(h("span", { class: "mark label" }, label));
  if (thread.assignee_id != null) {
    const name = store.name(thread.assignee_id) || t.unknownUser;
    marks.push(h("span", { class: "mark assignee", title: t.assignedTo(name) }, avatar(name, "tiny"), h("span", { class: "visually-hidden" }, t.assignedTo(name)), h("span", { "aria-hidden": "true" }, name)));
  }
  return marks.length ? h("span", { class: "row-marks" }, marks) : null;
}

/**
 * options: drafts (thread id → text), selection (a Set of ids, staff) and onSelect(id, on),
 * loadMore() when the folder has another page.
 */
export function renderThreadList(list, store, currentId, options) {
  const { drafts, selection, onSelect, loadMore } = options;
  const threads = store.sortedThreads();
  if (threads.length === 0) {
    replace(list, h("li", { class: "empty" }, store.isStaff ? t.emptyFolder : t.noThreads));
    return;
  }
  const active = document.activeElement;
  const focused = list.contains(active) ? (active.dataset.threadId ? `a[data-thread-id="${active.dataset.threadId}"]` : active.dataset.selectId ? `input[data-select-id="${active.dataset.selectId}"]` : null) : null;
  replace(
    list,
    threads.map((thread) => {
      const unread = thread.unread || 0;
      const who = counterpart(store, thread);
      const preview = store.previews.get(thread.id);
      const draft = drafts.get(thread.id);
      const current = thread.id === currentId;
      const picked = selection?.has(thread.id);
      return h(
        "li",
        { class: `thread-item${picked ? " picked" : ""}${thread.urgent && store.isStaff ? " urgent" : ""}` },
        selection
          ? h("input", {
              type: "checkbox",
              class: "row-select",
              checked: picked,
              "aria-label": t.selectThread(`${who} — ${thread.subject}`),
              dataset: { selectId: thread.id },
              onchange: (event) => onSelect(thread.id, event.target.checked),
            })
          : null,
        h(
          "a",
          {
            href: `#/t/${thread.id}`,
            class: `thread-row${unread ? " unread" : ""}${current ? " current" : ""}`,
            "aria-current": current ? "page" : null,
            dataset: { threadId: thread.id },
          },
          avatar(store.isStaff ? who : store.name(preview?.author_id) || thread.subject),
          h(
            "span",
            { class: "row-main" },
            h(
              "span",
              { class: "row-top" },
              h("span", { class: "row-title" }, store.isStaff ? who : thread.subject),
              h("time", { datetime: thread.last_activity_at, title: formatFull(thread.last_activity_at) }, formatShort(thread.last_activity_at)),
            ),
            store.isStaff ? h("span", { class: "row-subject" }, thread.subject) : null,
            h(
              "span",
              { class: "row-bottom" },
              h(
                "span",
                { class: "row-preview" },
                draft ? h("span", { class: "draft-tag" }, `${t.draft}: `) : null,
                draft || previewText(store, preview),
              ),
              unread ? h("span", { class: "badge", "aria-label": t.unreadCount(unread) }, String(unread)) : null,
            ),
            inboxMarks(store, thread),
          ),
        ),
      );
    }),
    store.listCursor ? h("li", { class: "more" }, h("button", { type: "button", class: "button ghost small wide", onclick: loadMore }, t.loadMore)) : null,
  );
  if (focused) list.querySelector(focused)?.focus();
}

/** Up and down arrows move between threads. */
export function enableArrowKeys(list) {
  list.addEventListener("keydown", (event) => {
    if (event.key !== "ArrowDown" && event.key !== "ArrowUp") return;
    const links = [...list.querySelectorAll("a.thread-row")];
    const at = links.indexOf(document.activeElement);
    if (at < 0) return;
    event.preventDefault();
    const next = links[Math.max(0, Math.min(links.length - 1, at + (event.key === "ArrowDown" ? 1 : -1)))];
    next.focus();
  });
}
