// Starting a conversation: a subject, (for staff) the client it is with, and the first message.

import { h, uuid } from "./dom.js";
import { t } from "./i18n.js";

export function newThreadForm(store, create) {
  const subject = h("input", { id: "new-subject", required: true, maxlength: "200", autocomplete: "off" });
  const body = h("textarea", { id: "new-body", required: true, rows: "6" });
  const error = h("p", { class: "form-error", role: "alert" });
  const submit = h("button", { type: "submit", class: "button primary" }, t.create);
  let account = null;
  if (store.isStaff) {
    account = h(
      "select",
      { id: "new-client" },
      h("option", { value: "" }, t.noClient),
      [...store.accounts.values()].map((a) => h("option", { value: String(a.id) }, a.name)),
    );
  }
  // One key per thread to create, kept across retries so a retry cannot create it twice.
  let clientMsgId = uuid();
  const form = h(
    "form",
    { class: "new-thread", "aria-labelledby": "new-title" },
    h("h2", { id: "new-title" }, t.newThread),
    h("label", { for: "new-subject" }, t.subject),
    subject,
    account ? [h("label", { for: "new-client" }, t.client), account] : null,
    h("label", { for: "new-body" }, t.firstMessage),
    body,
    error,
    h("div", { class: "actions" }, h("a", { href: "#/", class: "button ghost" }, t.cancel), submit),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!subject.value.trim() || !body.value.trim()) return;
    submit.disabled = true;
    error.textContent = "";
    try {
      await create(subject.value.trim(), body.value, account && account.value ? Number(account.value) : null, clientMsgId);
      clientMsgId = uuid();
    } catch (failure) {
      error.textContent = failure.code === "offline" ? t.offline : failure.message;
    } finally {
      submit.disabled = false;
    }
  });
  return form;
}
