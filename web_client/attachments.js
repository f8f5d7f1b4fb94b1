// Files: uploading them before a send, and showing them on messages (image previews, downloads).

import { HttpError } from "./api.js";
import { h } from "./dom.js";
import { lang, t } from "./i18n.js";

const sizeFormat = new Intl.NumberFormat(lang, { maximumFractionDigits: 1 });

export function formatSize(bytes) {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${sizeFormat.format(bytes / 1024)} KB`;
  return `${sizeFormat.format(bytes / 1024 / 1024)} MB`;
}

export async function upload(files) {
  const form = new FormData();
  for (const file of files) form.append("file", file, file.name);
  const response = await fetch("/api/attachments", { method: "POST", body: form, credentials: "same-origin" });
  const data = await response.json().catch(() => ({}));
  if (!response.ok) {
    const error = data.error || {};
    throw new HttpError(response.status, error.code || "internal", error.message || response.statusText);
  }
  return data.attachments;
}

// Only the server's own download URLs are linked or loaded.
const OWN = /^\/api\/attachments\/\d+(\/thumbnail)?$/;

export function renderAttachments(attachments) {
  const files = (attachments || []).filter((a) => OWN.test(a.url));
  if (files.length === 0) return null;
  return h(
    "ul",
    { class: "attachments", "aria-label": t.attachments },
    files.map((file) =>
      h(
        "li",
        {},
        file.thumbnail_url && OWN.test(file.thumbnail_url)
          ? h(
              "a",
              { href: file.url, target: "_blank", rel: "noopener", class: "attachment-image", title: `${file.name} · ${formatSize(file.size)}` },
              h("img", { src: file.thumbnail_url, alt: file.name, loading: "lazy" }),
            )
          : h(
              "a",
              { href: file.url, download: file.name, class: "attachment-file" },
              h("span", { class: "file-icon", "aria-hidden": "true" }, (file.name.split(".").pop() || "").slice(0, 4).toUpperCase()),
              h("span", { class: "file-meta" }, h("span", { class: "file-name" }, file.name), h("span", { class: "file-size" }, formatSize(file.size))),
            ),
      ),
    ),
  );
}
