// Suggestions while typing in the composer (`/shortcut` quick replies, `@handle` mentions): the word
// being typed is looked up, a list shows under the caret's line, and picking one replaces the word.

import { h, replace } from "./dom.js";

let lists = 0;

export class Suggest {
  /**
   * textarea: the composer. sources: { "/": source, "@": source } where a source is
   * { fetch(query) → [{ label, detail, value }], pick(item) → the text that replaces the word, label }.
   */
  constructor(textarea, sources, onChange) {
    this.textarea = textarea;
    this.sources = sources;
    this.onChange = onChange;
    this.id = `suggest-${++lists}`;
    this.list = h("ul", { class: "suggest", role: "listbox", id: this.id, hidden: true });
    this.items = [];
    this.active = 0;
    this.asked = 0;
    this.token = null;
    textarea.setAttribute("aria-autocomplete", "list");
    textarea.setAttribute("aria-controls", this.id);
    textarea.setAttribute("aria-expanded", "false");
    textarea.addEventListener("input", () => this.lookUp());
    textarea.addEventListener("click", () => this.lookUp());
    textarea.addEventListener("blur", () => setTimeout(() => this.close(), 150));
  }

  /** The word at the caret when it starts with a trigger: { trigger, query, start }. */
  currentToken() {
    const caret = this.textarea.selectionStart;
    if (caret !== this.textarea.selectionEnd) return null;
    const match = this.textarea.value.slice(0, caret).match(/(^|\s)([/@])([^\s/@]{0,40})$/);
    if (!match || !this.sources[match[2]]) return null;
    return { trigger: match[2], query: match[3], start: caret - match[3].length - 1 };
  }

  async lookUp() {
    const token = this.currentToken();
    this.token = token;
    if (!token) {
      this.close();
      return;
    }
    const asked = ++this.asked;
    let items = [];
    try {
      items = await this.sources[token.trigger].fetch(token.query);
    } catch {
      items = [];
    }
    if (asked !== this.asked) return; // a newer word was typed meanwhile
    this.items = items;
    this.active = 0;
    this.render();
  }

  get open() {
    return !this.list.hidden;
  }

  render() {
    const source = this.token && this.sources[this.token.trigger];
    if (!source || this.items.length === 0) {
      this.close();
      return;
    }
    this.list.setAttribute("aria-label", source.label);
    replace(
      this.list,
      this.items.map((item, at) =>
        h(
          "li",
          {
            role: "option",
            id: `${this.id}-${at}`,
            class: at === this.active ? "active" : null,
            "aria-selected": String(at === this.active),
            onmousedown: (event) => {
              event.preventDefault(); // keep the focus in the composer
              this.pick(at);
            },
          },
          h("span", { class: "suggest-label" }, item.label),
          item.detail ? h("span", { class: "suggest-detail" }, item.detail) : null,
        ),
      ),
    );
    this.list.hidden = false;
    this.textarea.setAttribute("aria-expanded", "true");
    this.textarea.setAttribute("aria-activedescendant", `${this.id}-${this.active}`);
  }

  close() {
    this.list.hidden = true;
    this.items = [];
    this.textarea.setAttribute("aria-expanded", "false");
    this.textarea.removeAttribute("aria-activedescendant");
  }

  /** Keys while the list is open; true when the key was used here (not by the composer). */
  handleKey(event) {
    if (!this.open) return false;
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      const step = event.key === "ArrowDown" ? 1 : -1;
      this.active = (this.active + step + this.items.length) % this.items.length;
      this.render();
    } else if ((event.key === "Enter" && !event.shiftKey) || event.key === "Tab") {
      this.pick(this.active);
    } else if (event.key === "Escape") {
      this.close();
    } else {
      return false;
    }
    event.preventDefault();
    return true;
  }

  async pick(at) {
    const item = this.items[at];
    const token = this.token;
    this.close();
    if (!item || !token) return;
    const text = await this.sources[token.trigger].pick(item);
    if (text == null) return;
    const value = this.textarea.value;
    const end = token.start + 1 + token.query.length;
    if (value.slice(token.start, end) !== token.trigger + token.query) return; // the text changed meanwhile
    this.textarea.value = value.slice(0, token.start) + text + value.slice(end);
    const caret = token.start + text.length;
    this.textarea.setSelectionRange(caret, caret);
    this.textarea.focus();
    this.onChange();
  }
}
