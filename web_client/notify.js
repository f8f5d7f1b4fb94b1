// Desktop notifications for messages that arrive while the tab is hidden. Permission is asked only
// from a click (browsers ignore or penalise prompts that no gesture started).

import { t } from "./i18n.js";

export class Notifier {
  constructor(open) {
    this.open = open;
  }

  get supported() {
    return "Notification" in window;
  }

  canAsk() {
    return this.supported && Notification.permission === "default";
  }

  async ask() {
    if (this.canAsk()) await Notification.requestPermission();
  }

  show(authorName, message, thread) {
    if (!this.supported || Notification.permission !== "granted") return;
    const body = message.deleted_at ? t.deleted : message.body.slice(0, 160);
    const shown = new Notification(t.newMessageFrom(authorName), { body: `${thread.subject}\n${body}`, tag: `thread-${thread.id}` });
    shown.onclick = () => {
      window.focus();
      this.open(thread.id);
      shown.close();
    };
  }
}
