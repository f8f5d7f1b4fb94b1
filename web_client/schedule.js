// Scheduled sends (staff): picking a time in the composer, and the thread's messages waiting to go.

import { h, replace } from "./dom.js";
import { formatFull, t } from "./i18n.js";

/** The value a datetime-local input shows for a moment, in the browser's time zone. */
export function localInputValue(date) {
  const shifted = new Date(date.getTime() - date.getTimezoneOffset() * 60000);
  return shifted.toISOString().slice(0, 16);
}

export function schedulePanel(onSchedule, onClose) {
  const when = h("input", { type: "datetime-local", id: "schedule-at", required: true });
  const inOneHour = new Date(Date.now() + 3600000);
  when.value = localInputValue(inOneHour);
  when.min = localInputValue(new Date());
  const cancelIfClient = h("input", { type: "checkbox", id: "schedule-cancel" });
  const error = h("p", { class: "form-error", role: "alert" });
  const panel = h(
    "div",
    { class: "schedule-panel", role: "group", "aria-labelledby": "schedule-title" },
    h("p", { id: "schedule-title", class: "schedule-title" }, t.scheduleTitle),
    h("div", { class: "schedule-fields" },
      h("label", { for: "schedule-at" }, t.sendAt),
      when,
      h("span", { class: "check" }, cancelIfClient, h("label", { for: "schedule-cancel" }, t.cancelIfClientWrites)),
    ),
    error,
    h(
      "div",
      { class: "actions" },
      h("button", { type: "button", class: "button ghost small", onclick: onClose }, t.cancel),
      h(
        "button",
        {
          type: "button",
          class: "button primary small",
          onclick: async () => {
            error.textContent = "";
            const at = new Date(when.value);
            if (Number.isNaN(at.getTime())) return;
            try {
              await onSchedule(at.toISOString(), cancelIfClient.checked);
            } catch (failure) {
              error.textContent = failure.code === "offline" ? t.offline : failure.message;
            }
          },
        },
        t.schedule,
      ),
    ),
  );
  return { panel, focus: () => when.focus() };
}

export function renderScheduled(container, items, onCancel) {
  const waiting = items.filter((item) => item.state === "scheduled").sort((a, b) => a.send_at.localeCompare(b.send_at));
  container.hidden = waiting.length === 0;
  replace(
    container,
    waiting.length
      ? [
          h("h3", { class: "scheduled-title", id: "scheduled-title" }, h("span", { class: "clock", "aria-hidden": "true" }), t.scheduledCount(waiting.length)),
          h(
            "ul",
            {},
            waiting.map((item) =>
              h(
                "li",
                { class: `scheduled-item${item.kind === "note" ? " note" : ""}`, dataset: { scheduledId: item.id } },
                h("span", { class: "scheduled-when" }, t.willBeSent(formatFull(item.send_at))),
                h("span", { class: "scheduled-body" }, item.body),
                h("button", { type: "button", class: "link-button", "aria-label": t.cancelScheduled(formatFull(item.send_at)), onclick: () => onCancel(item) }, t.cancel),
              ),
            ),
          ),
        ]
      : [],
  );
}
