// Settings (#/settings/SECTION): notifications for everyone; templates and automatic emails for staff;
// the team for owners.
// Each section loads from and saves to the HTTP API, and says plainly what was saved or refused.

import { api } from "./api.js";
import { automaticEmails } from "./autoemails.js";
import { clientEvents } from "./clientevents.js";
import { businessHours } from "./hours.js";
import { h, replace } from "./dom.js";
import { t } from "./i18n.js";

const KINDS = ["new_message", "mention", "assignment", "reminder", "follow_up"];
const CHANNELS = ["in_app", "email", "sms"];

export function settingsSections(me) {
  const staff = me.role !== "client";
  return [
    ["notifications", t.notificationsTitle],
    staff ? ["signature", t.signature] : null,
    staff ? ["templates", t.templates] : null,
    staff ? ["automatic", t.automaticEmails] : null,
    staff ? ["events", t.clientEvents] : null,
    staff ? ["hours", t.businessHours] : null,
    me.role === "owner" ? ["team", t.team] : null,
  ].filter(Boolean);
}

/** The settings page for one section; `section` falls back to the first one. */
export function settingsPage(me, store, section) {
  const sections = settingsSections(me);
  const current = sections.find(([name]) => name === section) ? section : sections[0][0];
  const body = h("div", { class: "settings-body" });
  const page = h(
    "section",
    { class: "settings", "aria-labelledby": "settings-title" },
    h("header", { class: "conv-head" }, h("a", { href: "#/", class: "back-link", "aria-label": t.back }, "‹"), h("h2", { id: "settings-title", tabindex: "-1" }, t.settings)),
    h(
      "div",
      { class: "settings-layout" },
      h(
        "nav",
        { class: "settings-nav", "aria-label": t.settingsSections },
        h("ul", { role: "list" }, sections.map(([name, label]) =>
            h(
              "li",
              {},
              h(
                "a",
                {
                  href: `#/settings/${name}`,
                  "aria-current": name === current ? "page" : null,
                  // The open section's link loads it again (the queue of drafts fills in the background).
                  onclick: (event) => {
                    if (location.hash !== `#/settings/${name}`) return;
                    event.preventDefault();
                    window.dispatchEvent(new HashChangeEvent("hashchange"));
                  },
                },
                label,
              ),
            ),
          )),
      ),
      body,
    ),
  );
  const build = { notifications: notificationSettings, signature: signatureSettings, templates: templateSettings, automatic: automaticEmails, events: clientEvents, hours: businessHours, team: teamSettings }[current];
  build(body, me, store).catch((error) => replace(body, h("p", { class: "form-error", role: "alert" }, error.message)));
  return page;
}

function status() {
  return h("p", { class: "save-status", role: "status" });
}

function failed(line, error) {
  line.textContent = error.message;
  line.classList.add("error");
}

function saved(line, text = t.saved) {
  line.textContent = text;
  line.classList.remove("error");
}

// ---- notifications ---------------------------------------------------------------------------------

async function notificationSettings(body) {
  replace(body, h("p", { class: "muted" }, t.loading));
  const { settings } = await api.notificationSettings();
  const phone = h("input", { id: "notify-phone", type: "tel", autocomplete: "tel", value: settings.phone || "" });
  const boxes = new Map();
  const line = status();
  const form = h(
    "form",
    { class: "settings-form", "aria-labelledby": "notify-title" },
    h("h3", { id: "notify-title" }, t.notificationsTitle),
    h("p", { class: "muted" }, t.notificationsLead),
    h(
      "table",
      { class: "channels" },
      h("thead", {}, h("tr", {}, h("th", { scope: "col" }, t.whatHappens), CHANNELS.map((channel) => h("th", { scope: "col" }, t.channels[channel])))),
      h(
        "tbody",
        {},
        KINDS.map((kind) =>
          h(
            "tr",
            {},
            h("th", { scope: "row" }, t.kinds[kind]),
            CHANNELS.map((channel) => {
              const box = h("input", { type: "checkbox", checked: (settings.channels[kind] || []).includes(channel), "aria-label": `${t.kinds[kind]}: ${t.channels[channel]}` });
              boxes.set(`${kind}/${channel}`, box);
              return h("td", {}, box);
            }),
          ),
        ),
      ),
    ),
    h("label", { for: "notify-phone" }, t.phoneForSms),
    phone,
    h("div", { class: "actions" }, line, h("button", { type: "submit", class: "button primary" }, t.save)),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const channels = Object.fromEntries(KINDS.map((kind) => [kind, CHANNELS.filter((channel) => boxes.get(`${kind}/${channel}`).checked)]));
    const change = { channels };
    if (phone.value.trim()) change.phone = phone.value.trim();
    else change.clear_phone = true;
    try {
      await api.saveNotificationSettings(change);
      saved(line);
    } catch (error) {
      failed(line, error);
    }
  });
  replace(body, form);
}

// ---- signatures ------------------------------------------------------------------------------------

async function signatureSettings(body, me) {
  const mine = await api.signature();
  const firm = me.role === "owner" ? await api.firmSignature() : null;
  const own = h("textarea", { id: "my-signature", rows: "3", maxlength: "2000", value: mine.signature });
  const composed = h("pre", { class: "signature-preview", id: "signature-preview" }, mine.composed || t.noSignature);
  const line = status();
  const form = h(
    "form",
    { class: "settings-form", "aria-labelledby": "signature-title" },
    h("h3", { id: "signature-title" }, t.signature),
    h("p", { class: "muted" }, t.signatureLead),
    h("label", { for: "my-signature" }, t.mySignature),
    own,
    h("p", { class: "field-title", id: "preview-title" }, t.signaturePreview),
    composed,
    h("div", { class: "actions" }, line, h("button", { type: "submit", class: "button primary" }, t.save)),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      const answer = await api.saveSignature(own.value);
      composed.textContent = answer.composed || t.noSignature;
      saved(line);
    } catch (error) {
      failed(line, error);
    }
  });
  replace(body, form, firm ? firmSignatureForm(firm, composed) : null);
}

function firmSignatureForm(firm, composed) {
  const signature = h("textarea", { id: "firm-signature", rows: "3", maxlength: "2000", value: firm.signature });
  const template = h("textarea", { id: "signature-template", rows: "3", maxlength: "2000", value: firm.template });
  const line = status();
  const form = h(
    "form",
    { class: "settings-form", "aria-labelledby": "firm-signature-title" },
    h("h3", { id: "firm-signature-title" }, t.firmSignature),
    h("label", { for: "firm-signature" }, t.firmSignatureText),
    signature,
    h("label", { for: "signature-template" }, t.signatureTemplate),
    template,
    h("p", { class: "muted" }, t.signatureTemplateHelp),
    h("div", { class: "actions" }, line, h("button", { type: "submit", class: "button primary" }, t.save)),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      await api.saveFirmSignature({ signature: signature.value, template: template.value });
      composed.textContent = (await api.signature()).composed || t.noSignature;
      saved(line);
    } catch (error) {
      failed(line, error);
    }
  });
  return form;
}

// ---- templates -------------------------------------------------------------------------------------

function fieldRow(field = { name: "", label: "", required: false }) {
  const name = h("input", { value: field.name, "aria-label": t.fieldName, placeholder: t.fieldName, autocomplete: "off" });
  const label = h("input", { value: field.label || "", "aria-label": t.fieldLabel, placeholder: t.fieldLabel, autocomplete: "off" });
  const required = h("input", { type: "checkbox", checked: field.required, "aria-label": t.fieldRequired });
  const row = h(
    "li",
    { class: "field-row" },
    name,
    label,
    h("label", { class: "check" }, required, t.fieldRequired),
    h("button", { type: "button", class: "chip-remove", "aria-label": t.removeField, onclick: () => row.remove() }, "×"),
  );
  row.fieldValue = () => ({ name: name.value.trim(), label: label.value.trim() || name.value.trim(), required: required.checked });
  return row;
}

function templateForm(me, template, onDone) {
  const mayFirm = me.role === "owner" || me.role === "manager";
  const input = (id, value, attrs = {}) => h("input", { id, value: value || "", autocomplete: "off", ...attrs });
  const name = input("tpl-name", template?.name, { required: true });
  const shortcut = input("tpl-shortcut", template?.shortcut, { placeholder: "thx", pattern: "[a-z0-9_\\-]{1,50}" });
  const subject = input("tpl-subject", template?.subject);
  const text = h("textarea", { id: "tpl-body", rows: "6", required: true, value: template?.body || "" });
  const instruction = input("tpl-instruction", template?.instruction);
  const scope = h("select", { id: "tpl-scope", disabled: !mayFirm }, h("option", { value: "personal" }, t.personal), h("option", { value: "firm" }, t.firmWide));
  scope.value = template?.scope || "personal";
  const fields = h("ul", { class: "field-rows", role: "list" }, (template?.fields || []).map((field) => fieldRow(field)));
  const line = status();
  const form = h(
    "form",
    { class: "settings-form", "aria-labelledby": "tpl-form-title" },
    h("h3", { id: "tpl-form-title" }, template ? t.editTemplate(template.name) : t.newTemplate),
    h("label", { for: "tpl-name" }, t.templateName),
    name,
    h("label", { for: "tpl-shortcut" }, t.shortcut),
    shortcut,
    h("label", { for: "tpl-subject" }, t.subjectForNew),
    subject,
    h("label", { for: "tpl-body" }, t.templateBody),
    text,
    h("p", { class: "muted" }, t.templateHelp),
    h("label", { for: "tpl-instruction" }, t.instruction),
    instruction,
    h("p", { class: "field-title" }, t.fillInFields),
    fields,
    h("button", { type: "button", class: "button ghost small", onclick: () => fields.append(fieldRow()) }, t.addField),
    h("label", { for: "tpl-scope" }, t.visibleTo),
    scope,
    h("div", { class: "actions" }, line, h("button", { type: "button", class: "button ghost", onclick: () => onDone(false) }, t.cancel), h("button", { type: "submit", class: "button primary" }, t.save)),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    // Optional parts left empty are left out: PUT replaces the template, so they are cleared.
    const optional = { subject: subject.value.trim(), instruction: instruction.value.trim(), shortcut: shortcut.value.trim().replace(/^\//, "") };
    const data = {
      name: name.value.trim(),
      body: text.value,
      fields: [...fields.children].map((row) => row.fieldValue()).filter((field) => field.name),
      scope: scope.value,
      ...Object.fromEntries(Object.entries(optional).filter(([, value]) => value)),
    };
    try {
      if (template) await api.updateTemplate(template.id, data);
      else await api.createTemplate(data);
      onDone(true);
    } catch (error) {
      failed(line, error);
    }
  });
  return form;
}

async function templateSettings(body, me) {
  const { templates } = await api.templates();
  const line = status();
  const show = (form) => {
    replace(body, form);
    form.querySelector("input")?.focus();
  };
  const done = (changed) => templateSettings(body, me).then(() => changed && saved(body.querySelector(".save-status")));
  replace(
    body,
    h(
      "div",
      { class: "settings-form" },
      h("div", { class: "settings-head" }, h("h3", {}, t.templates), h("button", { type: "button", class: "button primary small", onclick: () => show(templateForm(me, null, done)) }, t.newTemplate)),
      h("p", { class: "muted" }, t.templatesLead),
      line,
      templates.length === 0
        ? h("p", { class: "muted" }, t.noTemplatesYet)
        : h(
            "ul",
            { class: "settings-list", role: "list" },
            templates.map((template) => {
              const mine = template.scope === "personal" || me.role === "owner" || me.role === "manager";
              return h(
                "li",
                {},
                h(
                  "span",
                  { class: "settings-item" },
                  h("span", { class: "template-name" }, template.name),
                  template.shortcut ? h("span", { class: "mark" }, `/${template.shortcut}`) : null,
                  h("span", { class: "mark" }, template.scope === "firm" ? t.firmWide : t.personal),
                  template.fields.length ? h("span", { class: "mark" }, t.fieldCount(template.fields.length)) : null,
                ),
                mine
                  ? h(
                      "span",
                      { class: "settings-actions" },
                      h("button", { type: "button", class: "link-button", "aria-label": t.editTemplate(template.name), onclick: () => show(templateForm(me, template, done)) }, t.edit),
                      h(
                        "button",
                        {
                          type: "button",
                          class: "link-button",
                          "aria-label": t.deleteTemplate(template.name),
                          onclick: async () => {
                            if (!confirm(t.confirmDeleteTemplate(template.name))) return;
                            try {
                              await api.deleteTemplate(template.id);
                              await done(true);
                            } catch (error) {
                              failed(line, error);
                            }
                          },
                        },
                        t.delete,
                      ),
                    )
                  : null,
              );
            }),
          ),
    ),
  );
}

// ---- the team (owners) ---------------------------------------------------------------------------------

async function teamSettings(body, me) {
  const { users } = await api.users();
  const line = status();
  const reload = (text) => teamSettings(body, me).then(() => saved(body.querySelector(".save-status"), text));
  const change = async (user, fields, text) => {
    try {
      await api.updateUser(user.id, fields);
      await reload(text);
    } catch (error) {
      failed(line, error);
    }
  };
  const name = h("input", { id: "member-name", required: true, autocomplete: "off" });
  const email = h("input", { id: "member-email", type: "email", required: true, autocomplete: "off" });
  const role = h("select", { id: "member-role" }, ["staff", "manager", "client"].map((r) => h("option", { value: r }, t.roles[r])));
  const password = h("input", { id: "member-password", type: "password", required: true, minlength: "8", autocomplete: "new-password" });
  const add = h(
    "form",
    { class: "member-form", "aria-labelledby": "member-title" },
    h("h4", { id: "member-title" }, t.addMember),
    h("label", { for: "member-name" }, t.fullName),
    name,
    h("label", { for: "member-email" }, t.email),
    email,
    h("label", { for: "member-role" }, t.role),
    role,
    h("label", { for: "member-password" }, t.firstPassword),
    password,
    h("div", { class: "actions" }, h("button", { type: "submit", class: "button primary" }, t.addMember)),
  );
  add.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      await api.createUser({ name: name.value.trim(), email: email.value.trim(), role: role.value, password: password.value });
      await reload(t.memberAdded(name.value.trim()));
    } catch (error) {
      failed(line, error);
    }
  });
  replace(
    body,
    h(
      "div",
      { class: "settings-form" },
      h("h3", {}, t.team),
      h("p", { class: "muted" }, t.teamLead),
      line,
      h(
        "div",
        { class: "table-wrap" },
        h(
        "table",
        { class: "team" },
        h("thead", {}, h("tr", {}, [t.fullName, t.email, t.role, t.state].map((title) => h("th", { scope: "col" }, title)), h("td"))),
        h(
          "tbody",
          {},
          users.map((user) => {
            const self = user.id === me.id;
            const roleCell =
              user.role === "client" || self
                ? t.roles[user.role]
                : h(
                    "select",
                    { "aria-label": t.roleOf(user.name), onchange: (event) => change(user, { role: event.target.value }, t.roleChanged(user.name)) },
                    ["owner", "manager", "staff"].map((r) => h("option", { value: r, selected: r === user.role }, t.roles[r])),
                  );
            return h(
              "tr",
              { class: user.active ? null : "inactive" },
              h("th", { scope: "row" }, user.name),
              h("td", {}, user.email),
              h("td", {}, roleCell),
              h("td", {}, user.active ? t.active : t.inactiveState),
              h(
                "td",
                {},
                self
                  ? null
                  : h(
                      "button",
                      {
                        type: "button",
                        class: "button ghost small",
                        "aria-label": user.active ? t.deactivateUser(user.name) : t.reactivateUser(user.name),
                        onclick: () => change(user, { active: !user.active }, user.active ? t.deactivated(user.name) : t.reactivated(user.name)),
                      },
                      user.active ? t.deactivate : t.reactivate,
                    ),
              ),
            );
          }),
        ),
      ),
      ),
      add,
    ),
  );
}
