// The follow-up panel beside a conversation (staff): reply reminders emailed to a client who does not
// answer, and recurring messages. The server keeps the schedule; this panel only asks and shows.

import { h, replace } from "./dom.js";
import { formatDate, formatFull, t } from "./i18n.js";

const WEEKDAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

/** The five cron fields for what the form offers: monthly on a day, weekly on a day, or weekdays. */
export function ruleFor(repeat, day, weekday, time) {
  const [hour, minute] = time.split(":").map(Number);
  if (repeat === "monthly") return `${minute} ${hour} ${day} * *`;
  if (repeat === "weekly") return `${minute} ${hour} * * ${weekday}`;
  return `${minute} ${hour} * * mon-fri`;
}

/** A rule the form could have made, in words; any other rule as written. */
export function describeRule(rule) {
  const match = /^(\d+) (\d+) (\S+) \* (\S+)$/.exec(rule);
  if (!match) return rule;
  const [, minute, hour, day, weekday] = match;
  const time = `${hour.padStart(2, "0")}:${minute.padStart(2, "0")}`;
  if (weekday === "*" && /^\d+$/.test(day)) return t.monthlyOn(Number(day), time);
  if (day === "*" && weekday === "mon-fri") return t.weekdaysAt(time);
  if (day === "*" && WEEKDAYS.includes(weekday)) return t.weeklyOn(t.weekdays[weekday], time);
  return rule;
}

function failureText(failure) {
  return failure.code === "offline" ? t.offline : failure.message;
}

export class FollowUpPanel {
  constructor(conn) {
    this.conn = conn;
    this.threadId = null;
    this.reminders = null;
    this.recurring = [];
    this.element = h("aside", { class: "client-card follow-up", id: "follow-up", "aria-labelledby": "follow-up-title", hidden: true });
  }

  async show(threadId, onClose) {
    this.onClose = onClose;
    if (threadId !== this.threadId) {
      this.threadId = threadId;
      this.reminders = null;
      this.recurring = [];
      this.render();
      await this.load();
    }
  }

  async load() {
    const threadId = this.threadId;
    this.loadError = null;
    try {
      const [{ reminders }, { recurring }] = await Promise.all([
        this.conn.request("reminders.get", { thread_id: threadId }),
        this.conn.request("recurring.list", { thread_id: threadId }),
      ]);
      if (threadId !== this.threadId) return;
      this.reminders = reminders;
      this.recurring = recurring;
    } catch (failure) {
      this.loadError = failureText(failure);
    }
    this.render();
  }

  forget() {
    this.threadId = null;
  }

  async act(errorLine, action, then = () => this.render()) {
    errorLine.textContent = "";
    try {
      await action();
    } catch (failure) {
      errorLine.textContent = failureText(failure);
      return;
    }
    then();
  }

  render() {
    if (this.reminders == null) {
      replace(this.element, h("p", { class: "muted" }, this.loadError || t.loading));
      return;
    }
    replace(
      this.element,
      h(
        "div",
        { class: "card-head" },
        h("div", {}, h("h3", { id: "follow-up-title" }, t.followUpPanel)),
        h("button", { type: "button", class: "chip-remove", "aria-label": t.closeFollowUp, onclick: () => this.onClose() }, "×"),
      ),
      this.remindersSection(),
      this.recurringSection(),
    );
  }

  remindersSection() {
    const state = this.reminders;
    const enabled = h("input", { type: "checkbox", id: "reminders-enabled", checked: state.enabled });
    const interval = h("input", { type: "number", id: "reminders-interval", min: 1, max: 365, value: String(state.interval_days), required: true });
    const count = h("input", { type: "number", id: "reminders-count", min: 1, max: 20, value: String(state.count), required: true });
    const error = h("p", { class: "form-error", role: "alert" });
    const save = () =>
      this.act(error, async () => {
        const fields = { thread_id: this.threadId, enabled: enabled.checked, interval_days: Number(interval.value), count: Number(count.value) };
        this.reminders = (await this.conn.request("reminders.set", fields)).reminders;
      });
    const resend = () =>
      this.act(error, async () => {
        this.reminders = (await this.conn.request("reminders.resend", { thread_id: this.threadId })).reminders;
      });
    const status = state.enabled
      ? [t.remindersSent(state.sent, state.count), state.next_at ? ` · ${t.nextOn(formatFull(state.next_at))}` : ""].join("")
      : t.remindersOff;
    return h(
      "section",
      { class: "follow-up-part", "aria-labelledby": "reminders-title" },
      h("h4", { id: "reminders-title" }, t.replyReminders),
      h("p", { class: "muted", id: "reminders-status" }, status),
      h("span", { class: "check" }, enabled, h("label", { for: "reminders-enabled" }, t.remindClient)),
      h(
        "div",
        { class: "follow-up-fields" },
        h("label", { for: "reminders-interval" }, t.everyDays),
        interval,
        h("label", { for: "reminders-count" }, t.upToReminders),
        count,
      ),
      error,
      h(
        "div",
        { class: "actions" },
        h("button", { type: "button", class: "button ghost small", onclick: resend }, t.remindNow),
        h("button", { type: "button", class: "button primary small", onclick: save }, t.saveReminders),
      ),
    );
  }

  recurringSection() {
    this.recurringError = h("p", { class: "form-error", role: "alert" });
    this.recurringList = h("div", {});
    this.renderRecurringList();
    return h(
      "section",
      { class: "follow-up-part", "aria-labelledby": "recurring-title" },
      h("h4", { id: "recurring-title" }, t.recurringMessages),
      this.recurringList,
      this.recurringError,
      this.recurringForm(this.recurringError),
    );
  }

  /** The list alone, so a change (yours, a teammate's, an occurrence sent) keeps what the form holds. */
  renderRecurringList() {
    const error = this.recurringError;
    const change = (request) =>
      this.act(
        error,
        async () => this.replaceRecurring((await request()).recurring),
        () => this.renderRecurringList(),
      );
    const update = (item, fields) => change(() => this.conn.request("recurring.update", { recurring_id: item.id, ...fields }));
    const stop = (item) => change(() => this.conn.request("recurring.cancel", { recurring_id: item.id }));
    replace(
      this.recurringList,
      this.recurring.length
        ? h(
            "ul",
            { class: "card-list recurring-list" },
            this.recurring.map((item) =>
              h(
                "li",
                { dataset: { recurringId: item.id } },
                h("span", { class: "recurring-body" }, item.body),
                h("span", { class: "muted" }, describeRule(item.rule)),
                h("span", { class: "muted" }, item.state === "active" && item.next_at ? t.nextOn(formatFull(item.next_at)) : t.recurringStates[item.state] || item.state),
                item.ends_on ? h("span", { class: "muted" }, t.until(formatDate(item.ends_on))) : null,
                item.error ? h("span", { class: "form-error" }, item.error) : null,
                h(
                  "span",
                  { class: "actions" },
                  item.state === "active"
                    ? h("button", { type: "button", class: "link-button", onclick: () => update(item, { paused: true }) }, t.pause)
                    : null,
                  item.state === "paused"
                    ? h("button", { type: "button", class: "link-button", onclick: () => update(item, { paused: false }) }, t.resume)
                    : null,
                  item.state === "active" || item.state === "paused"
                    ? h("button", { type: "button", class: "link-button", onclick: () => stop(item) }, t.stopRecurring)
                    : null,
                ),
              ),
            ),
          )
        : h("p", { class: "muted" }, t.noRecurring),
    );
  }

  /** A `recurring.updated` event: shown at once if it is this conversation's. */
  recurringChanged(updated) {
    if (updated.thread_id !== this.threadId || this.reminders == null) return;
    this.replaceRecurring(updated);
    this.renderRecurringList();
  }

  recurringForm(error) {
    const body = h("textarea", { id: "recurring-body", rows: 3, required: true });
    const repeat = h(
      "select",
      { id: "recurring-repeat" },
      h("option", { value: "monthly" }, t.repeatMonthly),
      h("option", { value: "weekly" }, t.repeatWeekly),
      h("option", { value: "weekdays" }, t.repeatWeekdays),
    );
    const day = h("input", { type: "number", id: "recurring-day", min: 1, max: 28, value: "1" });
    const weekday = h("select", { id: "recurring-weekday" }, WEEKDAYS.map((name) => h("option", { value: name }, t.weekdays[name])));
    const time = h("input", { type: "time", id: "recurring-time", value: "09:00", required: true });
    const until = h("input", { type: "date", id: "recurring-until" });
    const dayField = h("span", { class: "follow-up-field" }, h("label", { for: "recurring-day" }, t.onDay), day);
    const weekdayField = h("span", { class: "follow-up-field", hidden: true }, h("label", { for: "recurring-weekday" }, t.onWeekday), weekday);
    repeat.addEventListener("change", () => {
      dayField.hidden = repeat.value !== "monthly";
      weekdayField.hidden = repeat.value !== "weekly";
    });
    const add = () =>
      this.act(error, async () => {
        if (!body.value.trim()) throw new Error(t.recurringNeedsText);
        const fields = { thread_id: this.threadId, body: body.value, rule: ruleFor(repeat.value, day.value, weekday.value, time.value) };
        if (until.value) fields.ends_on = until.value;
        this.replaceRecurring((await this.conn.request("recurring.create", fields)).recurring);
      });
    return h(
      "div",
      { class: "follow-up-form", role: "group", "aria-labelledby": "recurring-new-title" },
      h("p", { id: "recurring-new-title", class: "schedule-title" }, t.newRecurring),
      h("label", { for: "recurring-body" }, t.recurringText),
      body,
      h(
        "div",
        { class: "follow-up-fields" },
        h("label", { for: "recurring-repeat" }, t.repeat),
        repeat,
        dayField,
        weekdayField,
        h("label", { for: "recurring-time" }, t.atTime),
        time,
        h("label", { for: "recurring-until" }, t.untilOptional),
        until,
      ),
      h("div", { class: "actions" }, h("button", { type: "button", class: "button primary small", onclick: add }, t.addRecurring)),
    );
  }

  /** Stopped and ended ones leave the list; a failed one stays, with its reason, until the panel reloads. */
  replaceRecurring(updated) {
    const kept = updated.state !== "cancelled" && updated.state !== "ended";
    const others = this.recurring.filter((item) => item.id !== updated.id);
    const known = others.length !== this.recurring.length;
    this.recurring = kept ? (known ? this.recurring.map((item) => (item.id === updated.id ? updated : item)) : [...others, updated]) : others;
  }
}
