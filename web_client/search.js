// Searching messages: the search box with its filters, and the results with the hits highlighted.

import { h, replace } from "./dom.js";
import { formatFull, formatShort, t } from "./i18n.js";
import { FOLDERS } from "./folders.js";

/** onSearch(fields) runs a search; onClear() leaves it. Returns the form and a function to fill its lists. */
export function searchForm(store, onSearch, onClear) {
  const q = h("input", { type: "search", id: "search-q", placeholder: t.searchPlaceholder, autocomplete: "off", enterkeyhint: "search" });
  const from = h("select", { id: "search-from" });
  const client = store.isStaff ? h("select", { id: "search-client" }) : null;
  const folder = store.isStaff
    ? h("select", { id: "search-folder" }, h("option", { value: "" }, t.anyFolder), FOLDERS.map((name) => h("option", { value: name }, t.folderNames[name])))
    : null;
  const after = h("input", { type: "date", id: "search-after" });
  const before = h("input", { type: "date", id: "search-before" });
  const files = h("input", { type: "checkbox", id: "search-files" });
  const unread = h("input", { type: "checkbox", id: "search-unread" });
  const filters = h(
    "div",
    { class: "search-filters", id: "search-filters", hidden: true },
    h("label", { for: "search-from" }, t.from),
    from,
    client ? [h("label", { for: "search-client" }, t.clientAccount), client] : null,
    folder ? [h("label", { for: "search-folder" }, t.folder), folder] : null,
    h("label", { for: "search-after" }, t.after),
    after,
    h("label", { for: "search-before" }, t.before),
    before,
    h("span", { class: "check" }, files, h("label", { for: "search-files" }, t.hasAttachment)),
    h("span", { class: "check" }, unread, h("label", { for: "search-unread" }, t.unreadOnly)),
  );
  const toggle = h(
    "button",
    {
      type: "button",
      class: "button ghost small",
      "aria-expanded": "false",
      "aria-controls": "search-filters",
      onclick: () => {
        filters.hidden = !filters.hidden;
        toggle.setAttribute("aria-expanded", String(!filters.hidden));
        if (!filters.hidden) fillPeople();
      },
    },
    t.filters,
  );
  const form = h(
    "form",
    { class: "search", role: "search", "aria-label": t.search },
    h("div", { class: "search-row" }, h("label", { for: "search-q", class: "visually-hidden" }, t.search), q, toggle),
    filters,
  );
  function fillPeople() {
    const keep = (select) => select && select.value;
    const [fromValue, clientValue] = [keep(from), keep(client)];
    replace(from, h("option", { value: "" }, t.anyone), [...store.people.values()].filter((u) => u.role !== "bot").map((u) => h("option", { value: String(u.id) }, u.name)));
    from.value = fromValue || "";
    if (client) {
      replace(client, h("option", { value: "" }, t.anyClient), [...store.accounts.values()].map((a) => h("option", { value: String(a.id) }, a.name)));
      client.value = clientValue || "";
    }
  }
  fillPeople();
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const fields = {};
    if (q.value.trim()) fields.q = q.value.trim();
    if (from.value) fields.author_id = Number(from.value);
    if (client?.value) fields.client_account_id = Number(client.value);
    if (folder?.value) fields.folder = folder.value;
    if (after.value) fields.after = after.value;
    if (before.value) fields.before = before.value;
    if (files.checked) fields.has_attachment = true;
    if (unread.checked) fields.unread = true;
    if (Object.keys(fields).length === 0) onClear();
    else onSearch(fields);
  });
  q.addEventListener("keydown", (event) => {
    if (event.key === "Escape") {
      q.value = "";
      onClear();
    }
  });
  q.addEventListener("input", () => !q.value && filters.hidden && onClear());
  return { form, fillPeople };
}

/** The snippet's text with its `<mark>`s: the server escapes the rest, and only text and marks are kept here. */
function snippet(html) {
  const parsed = new DOMParser().parseFromString(html, "text/html");
  return [...parsed.body.childNodes].map((node) => (node.nodeName === "MARK" ? h("mark", {}, node.textContent) : node.textContent));
}

export function renderResults(container, store, search, { clear, more }) {
  const { results, cursor, error, busy } = search;
  replace(
    container,
    h(
      "div",
      { class: "results-head" },
      h("p", { class: "results-count", role: "status" }, error ? error : busy && results.length === 0 ? t.loading : t.searchResults(results.length, Boolean(cursor))),
      h("button", { type: "button", class: "link-button", onclick: clear }, t.clearSearch),
    ),
    h(
      "ul",
      { class: "results", role: "list" },
      results.map((result) => {
        const message = result.message;
        const author = message.author_id === store.me.id ? t.you : store.name(message.author_id) || t.unknownUser;
        return h(
          "li",
          {},
          h(
            "a",
            { href: `#/t/${result.thread_id}`, class: "result" },
            h(
              "span",
              { class: "row-top" },
              h("span", { class: "row-title" }, result.subject),
              h("time", { datetime: message.created_at, title: formatFull(message.created_at) }, formatShort(message.created_at)),
            ),
            h("span", { class: "result-author" }, author),
            h("span", { class: "snippet" }, snippet(result.snippet)),
          ),
        );
      }),
    ),
    cursor ? h("button", { type: "button", class: "button ghost small wide", onclick: more }, t.moreResults) : null,
  );
}
