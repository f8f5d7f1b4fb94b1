// Acting on many threads at once (staff): the toolbar shown while threads are selected. Each
// button sends one `threads.act` for the whole selection.

import { h } from "./dom.js";
import { t } from "./i18n.js";
import { localInputValue } from "./schedule.js";

/** The moves offered in a folder: out of the Trash, Spam or Archived, or into them. */
function moves(folder) {
  if (folder === "trash") return [["restore", t.restore], ["delete_forever", t.deleteForever]];
  if (folder === "spam") return [["not_spam", t.notSpam], ["trash", t.trash]];
  if (folder === "archived") return [["unarchive", t.unarchive], ["trash", t.trash], ["spam", t.spam]];
  return [["archive", t.archive], ["trash", t.trash], ["spam", t.spam]];
}

/**
 * act(action) sends the action for the selection and resolves with a line to show;
 * selectAll(on) and clear() change the selection.
 */
export function bulkToolbar({ count, total, folder, staff, act, selectAll, clear }) {
  const run = (action) => act(action);
  const all = h("input", { type: "checkbox", id: "select-all", checked: count === total, onchange: (e) => selectAll(e.target.checked) });
  const assignee = h(
    "select",
    { id: "bulk-assignee", "aria-label": t.assignTo },
    h("option", { value: "" }, t.nobody),
    staff.map((user) => h("option", { value: String(user.id) }, user.name)),
  );
  const followUp = h("input", { type: "datetime-local", id: "bulk-follow-up", "aria-label": t.followUpOn, value: localInputValue(new Date(Date.now() + 86400000)) });
  return h(
    "div",
    { class: "bulk", role: "toolbar", "aria-label": t.bulkActions },
    h(
      "div",
      { class: "bulk-head" },
      h("span", { class: "check" }, all, h("label", { for: "select-all" }, t.selectAll)),
      h("span", { class: "bulk-count", "aria-live": "polite" }, t.selectedCount(count)),
      h("button", { type: "button", class: "link-button", onclick: clear }, t.clearSelection),
    ),
    h(
      "div",
      { class: "bulk-buttons" },
      h("button", { type: "button", class: "button ghost small", onclick: () => run({ type: "read" }) }, t.markRead),
      h("button", { type: "button", class: "button ghost small", onclick: () => run({ type: "unread" }) }, t.markUnread),
      moves(folder).map(([type, label]) =>
        h(
          "button",
          {
            type: "button",
            class: `button ghost small${type === "delete_forever" ? " danger" : ""}`,
            onclick: () => {
              if (type === "delete_forever" && !confirm(t.confirmDeleteForever(count))) return;
              run({ type });
            },
          },
          label,
        ),
      ),
    ),
    h(
      "div",
      { class: "bulk-fields" },
      assignee,
      h("button", { type: "button", class: "button ghost small", onclick: () => run({ type: "assign", user_id: assignee.value ? Number(assignee.value) : null }) }, t.assign),
    ),
    h(
      "div",
      { class: "bulk-fields" },
      followUp,
      h(
        "button",
        {
          type: "button",
          class: "button ghost small",
          onclick: () => {
            const at = new Date(followUp.value);
            if (!Number.isNaN(at.getTime())) run({ type: "follow_up", at: at.toISOString() });
          },
        },
        t.followUp,
      ),
    ),
  );
}
