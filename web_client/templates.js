// The template picker of the reply bar (staff): pick a template, fill in its fields, and its text,
// rendered for the thread's client, goes into the composer.

import { h, replace } from "./dom.js";
import { t } from "./i18n.js";

/** onInsert(body, note) puts the text in the composer; note is the template's instruction or a warning. */
export function templatePanel(conn, thread, onInsert, onClose) {
  const body = h("div", { class: "template-body" }, h("p", { class: "muted" }, t.loading));
  const panel = h(
    "div",
    { class: "template-panel", role: "group", "aria-labelledby": "template-title" },
    h("div", { class: "panel-head" }, h("p", { id: "template-title", class: "schedule-title" }, t.templates), h("button", { type: "button", class: "chip-remove", "aria-label": t.close, onclick: onClose }, "×")),
    body,
  );
  panel.addEventListener("keydown", (event) => event.key === "Escape" && onClose());

  async function insert(template, fields, error) {
    error.textContent = "";
    try {
      const preview = await conn.request("template.preview", {
        template_id: template.id,
        fields,
        ...(thread.client_account_id != null ? { client_account_id: thread.client_account_id } : {}),
      });
      if (preview.missing_fields.length) {
        const labels = template.fields.filter((f) => preview.missing_fields.includes(f.name)).map((f) => f.label || f.name);
        error.textContent = t.fillIn(labels.join(", "));
        return;
      }
      const notes = [preview.instruction, preview.unknown.length ? t.unknownValues(preview.unknown.join(", ")) : ""].filter(Boolean);
      onInsert(preview.body, notes.join(" · "));
    } catch (failure) {
      error.textContent = failure.code === "offline" ? t.offline : failure.message;
    }
  }

  function fillForm(template) {
    const error = h("p", { class: "form-error", role: "alert" });
    const inputs = template.fields.map((field, at) => {
      const input = h("input", { id: `template-field-${at}`, required: field.required, autocomplete: "off" });
      return { field, input };
    });
    const form = h(
      "form",
      { class: "template-fields", "aria-label": template.name },
      h("p", { class: "template-name" }, template.name),
      inputs.map(({ field, input }) => [h("label", { for: input.id }, field.label || field.name, field.required ? h("span", { class: "required", "aria-hidden": "true" }, " *") : null), input]),
      error,
      h(
        "div",
        { class: "actions" },
        h("button", { type: "button", class: "button ghost small", onclick: () => showList() }, t.back),
        h("button", { type: "submit", class: "button primary small" }, t.insert),
      ),
    );
    form.noValidate = true; // the server says which required fields are missing, in the same words
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      insert(template, Object.fromEntries(inputs.filter(({ input }) => input.value.trim()).map(({ field, input }) => [field.name, input.value.trim()])), error);
    });
    replace(body, form);
    inputs[0]?.input.focus();
  }

  let templates = [];
  function showList() {
    const error = h("p", { class: "form-error", role: "alert" });
    replace(
      body,
      templates.length === 0
        ? h("p", { class: "muted" }, t.noTemplates)
        : h(
            "ul",
            { class: "template-list" },
            templates.map((template) =>
              h(
                "li",
                {},
                h(
                  "button",
                  { type: "button", class: "template-choice", onclick: () => (template.fields.length ? fillForm(template) : insert(template, {}, error)) },
                  h("span", { class: "template-name" }, template.name),
                  template.shortcut ? h("span", { class: "mark" }, template.shortcut) : null,
                  h("span", { class: "mark" }, template.scope === "firm" ? t.firmWide : t.personal),
                ),
              ),
            ),
          ),
      error,
    );
    body.querySelector("button")?.focus();
  }

  conn.request("template.list").then(
    (answer) => {
      templates = answer.templates;
      showList();
    },
    (failure) => replace(body, h("p", { class: "form-error", role: "alert" }, failure.message)),
  );
  return panel;
}
