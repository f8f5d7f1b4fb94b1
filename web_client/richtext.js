// Message bodies as the server rendered them (`html`, already sanitized by nh3), rebuilt node by node
// through an allowlist as a second guard: only known tags and safe link targets reach the page.

import { h } from "./dom.js";

const TAGS = new Set(["P", "BR", "STRONG", "EM", "S", "DEL", "UL", "OL", "LI", "A", "CODE", "PRE", "BLOCKQUOTE", "HR", "H1", "H2", "H3", "H4", "H5", "H6", "SPAN"]);
const SAFE_URL = /^(https?:|mailto:|tel:)/i;

function copy(node) {
  if (node.nodeType === Node.TEXT_NODE) return document.createTextNode(node.textContent);
  if (node.nodeType !== Node.ELEMENT_NODE) return null;
  const children = [...node.childNodes].map(copy).filter(Boolean);
  if (!TAGS.has(node.tagName)) return children; // unknown element: keep its text only
  const el = document.createElement(node.tagName.toLowerCase());
  if (node.tagName === "A") {
    const href = node.getAttribute("href") || "";
    if (SAFE_URL.test(href)) {
      el.setAttribute("href", href);
      el.setAttribute("target", "_blank");
      el.setAttribute("rel", "noopener noreferrer nofollow");
    }
    if (node.title) el.setAttribute("title", node.title);
  }
  if (node.tagName === "OL" && /^\d+$/.test(node.getAttribute("start") || "")) el.setAttribute("start", node.getAttribute("start"));
  if (node.tagName === "SPAN") {
    // Only the server's mention spans keep their meaning; any other span is just its text.
    if (!node.classList.contains("mention") || !/^\d+$/.test(node.dataset.userId || "")) return children;
    el.className = "mention";
    el.dataset.userId = node.dataset.userId;
  }
  for (const child of children.flat()) el.append(child);
  return el;
}

/** The message's body: its rendered HTML when there is one, else its source as plain text. */
export function renderBody(message) {
  if (!message.html) return h("div", { class: "body plain" }, message.body);
  // DOMParser builds an inert document: nothing in it runs or loads.
  const parsed = new DOMParser().parseFromString(message.html, "text/html");
  const body = h("div", { class: "body rich" });
  for (const node of [...parsed.body.childNodes].map(copy).flat()) if (node) body.append(node);
  return body;
}

const PLAYERS = /^https:\/\/(www\.youtube-nocookie\.com\/embed\/|player\.vimeo\.com\/video\/|www\.loom\.com\/embed\/|drive\.google\.com\/file\/d\/)/;

export function renderEmbeds(message, title) {
  const players = (message.embeds || []).filter((embed) => PLAYERS.test(embed.url));
  if (players.length === 0) return null;
  return h(
    "div",
    { class: "embeds" },
    players.map((embed) =>
      h("iframe", {
        src: embed.url,
        title: `${title} (${embed.provider})`,
        loading: "lazy",
        sandbox: "allow-scripts allow-same-origin allow-presentation allow-popups",
        allow: "fullscreen; picture-in-picture",
        referrerpolicy: "strict-origin-when-cross-origin",
      }),
    ),
  );
}
