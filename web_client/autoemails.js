// Automatic emails (staff): the rules that write drafts from clients' dated events, and the queue of
// drafts each rule is waiting to send: all at once, or one at a time after reading and editing it.

import { api } from "./api.js";
import { h, replace } from "./dom.js";
import { formatDate, t } from "./i18n.js";

function when(rule, kinds) {
  const kind = kinds[rule.event_kind] || rule.event_kind;
  if (rule.days === 0) return t.onTheDay(kind);
  return rule.days < 0 ? t.daysBefore(-rule.days, kind) : t.daysAfter(rule.days, kind);
}

function draftItem(draft, store, onSent, line) {
  const text = h("textarea", { rows: "4", "aria-label": t.draftText(draft.subject), value: draft.body });
  const client = store.accounts.get(draft.client_account_id)?.name || t.client;
  const send = h("button", { type: "button", class: "button primary small" }, t.sendNow);
  send.addEventListener("click", async () => {
    send.disabled = true;
    try {
      await api.sendDraft(draft.id, text.value !== draft.body ? { body: text.value } : {});
      onSent(t.draftSent(client));
    } catch (error) {
      line.textContent = error.message;
      line.classList.add("error");
      send.disabled = false;
    }
  });
  return h(
    "li",
    { class: "draft" },
    h("p", { class: "draft-head" }, h("strong", {}, client), " · ", draft.subject, h("span", { class: "muted" }, ` · ${formatDate(draft.date)}`)),
    draft.unknown.length ? h("p", { class: "form-error" }, t.draftLacks(draft.unknown.join(", "))) : null,
    text,
    h("div", { class: "actions" }, send),
  );
}

/** The section: rules with their waiting drafts; owners and managers also add and pause rules. */
export async function automaticEmails(body, me, store) {
  const [{ rules }, { templates }, { kinds }] = await Promise.all([api.rules(), api.templates(), api.eventKinds()]);
  const line = h("p", { class: "save-status", role: "status" });
  const mayEdit = me.role === "owner" || me.role === "manager";
  const reload = (text) =>
    automaticEmails(body, me, store).then(() => {
      const status = body.querySelector(".save-status");
      status.textContent = text;
    });
  const templateName = (id) => templates.find((tpl) => tpl.id === id)?.name || `#${id}`;
  const failed = (error) => {
    line.textContent = error.message;
    line.classList.add("error");
  };

  async function showDrafts(rule, place) {
    const { drafts } = await api.drafts(rule.id);
    replace(
      place,
      drafts.length === 0
        ? h("p", { class: "muted" }, t.noDrafts)
        : h("ul", { class: "drafts", role: "list", "aria-label": t.draftsOf(rule.name) }, drafts.map((draft) => draftItem(draft, store, reload, line))),
    );
  }

  const list = rules.map((rule) => {
    const place = h("div", { class: "draft-place" });
    return h(
      "li",
      { class: `rule${rule.active ? "" : " paused"}` },
      h(
        "div",
        { class: "rule-head" },
        h("span", { class: "settings-item" }, h("span", { class: "template-name" }, rule.name), rule.active ? null : h("span", { class: "mark" }, t.paused), rule.pending ? h("span", { class: "mark due" }, t.waitingDrafts(rule.pending)) : null),
        h(
          "span",
          { class: "settings-actions" },
          rule.pending
            ? h(
                "button",
                {
                  type: "button",
                  class: "button ghost small",
                  "aria-label": t.showDrafts(rule.name),
                  onclick: () => showDrafts(rule, place).catch(failed),
                },
                t.drafts,
              )
            : null,
          rule.pending
            ? h(
                "button",
                {
                  type: "button",
                  class: "button primary small",
                  "aria-label": t.sendAllOf(rule.name),
                  onclick: async () => {
                    if (!confirm(t.confirmSendAll(rule.pending, rule.name))) return;
                    try {
                      const { sent, skipped } = await api.sendAll(rule.id);
                      await reload(t.sentAll(sent.length, skipped.length));
                    } catch (error) {
                      failed(error);
                    }
                  },
                },
                t.sendAll(rule.pending),
              )
            : null,
          mayEdit
            ? h(
                "button",
                {
                  type: "button",
                  class: "link-button",
                  onclick: () => api.changeRule(rule.id, { active: !rule.active }).then(() => reload(rule.active ? t.rulePaused(rule.name) : t.ruleResumed(rule.name)), failed),
                },
                rule.active ? t.pause : t.resume,
              )
            : null,
        ),
      ),
      h("p", { class: "muted" }, `${when(rule, kinds)} · ${t.templateLabel(templateName(rule.template_id))}`),
      place,
    );
  });

  replace(
    body,
    h(
      "div",
      { class: "settings-form" },
      h("h3", {}, t.automaticEmails),
      h("p", { class: "muted" }, t.automaticLead),
      line,
      rules.length ? h("ul", { class: "settings-list rules", role: "list" }, list) : h("p", { class: "muted" }, t.noRules),
      mayEdit ? ruleForm(kinds, templates, reload, failed) : null,
    ),
  );
}

function ruleForm(kinds, templates, reload, failed) {
  const name = h("input", { id: "rule-name", required: true, autocomplete: "off" });
  const days = h("input", { id: "rule-days", type: "number", min: "0", max: "365", value: "7", required: true });
  const side = h("select", { id: "rule-side", "aria-label": t.beforeOrAfter }, h("option", { value: "-1" }, t.before), h("option", { value: "1" }, t.after));
  const kind = h("select", { id: "rule-kind", "aria-label": t.eventKind }, Object.entries(kinds).map(([value, label]) => h("option", { value }, label)));
  const template = h("select", { id: "rule-template" }, templates.map((tpl) => h("option", { value: String(tpl.id) }, tpl.name)));
  const form = h(
    "form",
    { class: "member-form", "aria-labelledby": "rule-title" },
    h("h4", { id: "rule-title" }, t.newRule),
    h("label", { for: "rule-name" }, t.templateName),
    name,
    h("label", { for: "rule-days" }, t.days),
    h("span", { class: "rule-when" }, days, side, kind),
    h("label", { for: "rule-template" }, t.templates),
    template,
    h("div", { class: "actions" }, h("button", { type: "submit", class: "button primary" }, t.addRule)),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      await api.createRule({ name: name.value.trim(), event_kind: kind.value, days: Number(days.value) * Number(side.value), template_id: Number(template.value) });
      await reload(t.ruleAdded(name.value.trim()));
    } catch (error) {
      failed(error);
    }
  });
  return form;
}
