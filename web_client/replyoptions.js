// The reply bar's staff toggles besides Reply / Internal note: urgent (with an acknowledgement asked),
// private to one person, and "make it a task" for someone by a date.

import { h, replace } from "./dom.js";
import { t } from "./i18n.js";

function toggle(id, label, onchange) {
  const input = h("input", { type: "checkbox", id, class: "toggle-input", onchange });
  return { input, element: h("span", { class: "toggle" }, input, h("label", { for: id }, label)) };
}

export class ReplyOptions {
  constructor(store) {
    this.store = store;
    const refresh = () => this.layout();
    this.urgent = toggle("opt-urgent", t.urgent, refresh);
    this.ack = toggle("opt-ack", t.askAck, refresh);
    this.private = toggle("opt-private", t.private, refresh);
    this.task = toggle("opt-task", t.task, refresh);
    this.privateTo = h("select", { id: "opt-private-to", "aria-label": t.privateTo });
    this.assignee = h("select", { id: "opt-task-assignee", "aria-label": t.taskAssignee });
    this.due = h("input", { type: "date", id: "opt-task-due", "aria-label": t.taskDue });
    this.privateFields = h("span", { class: "opt-fields" }, this.privateTo);
    this.taskFields = h("span", { class: "opt-fields" }, this.assignee, this.due);
    this.element = h(
      "div",
      { class: "reply-options", role: "group", "aria-label": t.messageOptions },
      this.urgent.element,
      this.ack.element,
      this.private.element,
      this.privateFields,
      this.task.element,
      this.taskFields,
    );
    this.note = false;
    this.layout();
  }

  /** The people of this thread: the firm's staff and, for a client's thread, that client's users. */
  setThread(thread) {
    const people = [...this.store.people.values()].filter(
      (u) => u.id !== this.store.me.id && (u.role === "owner" || u.role === "manager" || u.role === "staff" || (thread?.client_account_id != null && u.client_account_id === thread.client_account_id)),
    );
    const fill = (select, withMe) => {
      const kept = select.value;
      const me = this.store.me;
      replace(select, (withMe ? [me, ...people] : people).map((u) => h("option", { value: String(u.id) }, u.id === me.id ? `${u.name} (${t.you})` : u.name)));
      if ([...select.options].some((o) => o.value === kept)) select.value = kept;
    };
    fill(this.privateTo, false);
    fill(this.assignee, true);
  }

  setNote(note) {
    this.note = note;
    this.layout();
  }

  layout() {
    // A note is for staff already: it cannot also be private (the server refuses it).
    this.private.element.hidden = this.note;
    if (this.note) this.private.input.checked = false;
    this.ack.element.hidden = !this.urgent.input.checked;
    if (!this.urgent.input.checked) this.ack.input.checked = false;
    this.privateFields.hidden = !this.private.input.checked;
    this.taskFields.hidden = !this.task.input.checked;
    this.element.classList.toggle("urgent-on", this.urgent.input.checked);
  }

  /** The send op's fields for what is switched on. */
  values() {
    const options = {};
    if (this.urgent.input.checked) options.urgent = true;
    if (this.ack.input.checked) options.ack_requested = true;
    if (this.private.input.checked && this.privateTo.value) options.private_to = Number(this.privateTo.value);
    if (this.task.input.checked && this.assignee.value) options.task = { assignee_id: Number(this.assignee.value), due_on: this.due.value || null };
    return options;
  }

  reset() {
    for (const option of [this.urgent, this.ack, this.private, this.task]) option.input.checked = false;
    this.due.value = "";
    this.layout();
  }
}
