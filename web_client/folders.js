// The staff inbox's folders with their live counts, and the filter by source.

import { h, replace } from "./dom.js";
import { t } from "./i18n.js";

export const FOLDERS = ["inbox", "unread", "follow_up", "assigned", "urgent", "archived", "trash", "spam"];
const SOURCES = ["portal", "email", "sms", "api", "bulk", "automatic"];

/** The folder column: build once, then renderFolders() with each new count. */
export function folderColumn(onSource) {
  const list = h("ul", { class: "folder-list", role: "list" });
  const source = h(
    "select",
    { id: "source-filter", onchange: () => onSource(source.value || null) },
    h("option", { value: "" }, t.allSources),
    SOURCES.map((name) => h("option", { value: name }, t.sources[name])),
  );
  const column = h(
    "section",
    { class: "folders", "aria-label": t.foldersLabel },
    h("h2", { class: "visually-hidden" }, t.foldersLabel),
    list,
    h("div", { class: "source" }, h("label", { for: "source-filter" }, t.source), source),
  );
  return { column, list };
}

export function renderFolders(list, counts, current) {
  replace(
    list,
    FOLDERS.map((name) => {
      const count = counts.get(name);
      const label = t.folderNames[name];
      // Unread folders show how many threads have unread messages; the others how many threads they hold.
      const shown = count == null ? "" : name === "unread" || name === "inbox" ? count.unread : count.count;
      return h(
        "li",
        {},
        h(
          "a",
          {
            href: `#/f/${name}`,
            class: `folder${name === current ? " current" : ""}${count?.unread ? " has-unread" : ""}`,
            "aria-current": name === current ? "page" : null,
            "aria-label": count ? t.folderCount(label, count.count, count.unread) : label,
            dataset: { folder: name },
          },
          h("span", { class: `folder-icon ${name}`, "aria-hidden": "true" }),
          h("span", { class: "folder-name" }, label),
          shown ? h("span", { class: "folder-count", "aria-hidden": "true" }, String(shown)) : null,
        ),
      );
    }),
  );
}
