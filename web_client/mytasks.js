// A client's own tasks in the portal: what the firm asked them to do, in which conversation, by
// when, with a box to tick each one done.

import { h, replace } from "./dom.js";
import { formatDate, t } from "./i18n.js";

function messageText(message) {
  if (!message) return "";
  const text = message.html ? new DOMParser().parseFromString(message.html, "text/html").body.textContent : message.body;
  return text.replace(/\s+/g, " ").trim();
}

/** tasks: my tasks (open ones, and those ticked since the page opened); onDone(task, done). */
export function renderMyTasks(container, store, tasks, messages, onDone) {
  const open = tasks.filter((task) => !task.done_at).length;
  container.hidden = tasks.length === 0;
  replace(
    container,
    h("h2", { id: "my-tasks-title" }, t.myTasks, " ", h("span", { class: "badge quiet", "aria-label": t.openTasks(open) }, String(open))),
    h(
      "ul",
      { class: "task-list", role: "list" },
      tasks.map((task) => {
        const thread = store.threads.get(task.thread_id);
        const overdue = !task.done_at && task.due_on && task.due_on < new Date().toISOString().slice(0, 10);
        return h(
          "li",
          { class: `my-task${task.done_at ? " done" : ""}` },
          h("input", { type: "checkbox", id: `my-task-${task.id}`, checked: Boolean(task.done_at), onchange: (event) => onDone(task, event.target.checked) }),
          h(
            "span",
            { class: "my-task-main" },
            h("label", { for: `my-task-${task.id}` }, messageText(messages.get(task.message_id)) || t.task),
            h(
              "span",
              { class: "my-task-meta" },
              task.due_on ? h("span", { class: overdue ? "overdue" : null }, t.dueOn(formatDate(task.due_on))) : null,
              thread ? h("a", { href: `#/t/${thread.id}` }, thread.subject) : null,
            ),
          ),
        );
      }),
    ),
  );
}
