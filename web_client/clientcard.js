// The client card beside a conversation (staff): the account, its contacts and its other conversations.

import { h, replace } from "./dom.js";
import { formatShort, lang, t } from "./i18n.js";
import { avatar } from "./threadlist.js";

const since = new Intl.DateTimeFormat(lang, { month: "long", year: "numeric" });

export function renderClientCard(container, card, currentId, onClose) {
  if (!card) {
    replace(container, h("p", { class: "muted" }, t.loading));
    return;
  }
  const { client, threads } = card;
  replace(
    container,
    h(
      "div",
      { class: "card-head" },
      avatar(client.name),
      h("div", {}, h("h3", { id: "card-title" }, client.name), h("p", { class: "muted" }, t.clientSince(since.format(new Date(client.created_at))))),
      h("button", { type: "button", class: "chip-remove", "aria-label": t.closeCard, onclick: onClose }, "×"),
    ),
    h("h4", {}, t.contacts),
    h(
      "ul",
      { class: "card-list" },
      client.contacts.map((contact) =>
        h(
          "li",
          { class: contact.active ? null : "inactive" },
          h("span", { class: "contact-name" }, contact.name, contact.active ? null : h("span", { class: "mark" }, t.inactive)),
          h("a", { href: `mailto:${contact.email}` }, contact.email),
        ),
      ),
    ),
    h("h4", {}, t.conversationsCount(threads.length)),
    h(
      "ul",
      { class: "card-list" },
      threads.map((thread) =>
        h(
          "li",
          {},
          h(
            "a",
            { href: `#/t/${thread.id}`, "aria-current": thread.id === currentId ? "page" : null, class: "card-thread" },
            h("span", { class: "card-subject" }, thread.subject),
            h("span", { class: "muted" }, `${t.states[thread.state] || thread.state} · ${formatShort(thread.last_activity_at)}`),
            thread.unread ? h("span", { class: "badge", "aria-label": t.unreadCount(thread.unread) }, String(thread.unread)) : null,
          ),
        ),
      ),
    ),
  );
}
