// Business hours and the automatic reply (Settings): the firm's opening times per weekday, its closed
// dates and the reply a client gets when writing while it is closed. Owners change them; staff read them.

import { api } from "./api.js";
import { h, replace } from "./dom.js";
import { t } from "./i18n.js";

const DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
const INTERVAL = /^(\d{1,2}):(\d\d)\s*[-–]\s*(\d{1,2}):(\d\d)$/;

function pad(hours, minutes) {
  return `${hours.padStart(2, "0")}:${minutes}`;
}

/** "09:00-12:00, 14:00-18:00" → [["09:00", "12:00"], ["14:00", "18:00"]]; throws on anything else. */
function parseDay(text, day) {
  return text
    .split(/[,;]/)
    .map((part) => part.trim())
    .filter(Boolean)
    .map((part) => {
      const match = part.match(INTERVAL);
      if (!match) throw new Error(t.badInterval(t.weekdays[day], part));
      return [pad(match[1], match[2]), pad(match[3], match[4])];
    });
}

export async function businessHours(body, me) {
  const { business_hours: hours } = await api.businessHours();
  const owner = me.role === "owner";
  const zone = h("input", { id: "hours-zone", value: hours.time_zone, list: "time-zones", autocomplete: "off", disabled: !owner });
  const zones = h("datalist", { id: "time-zones" }, (Intl.supportedValuesOf?.("timeZone") || []).map((name) => h("option", { value: name })));
  const days = new Map(
    DAYS.map((day) => [day, h("input", { id: `hours-${day}`, value: (hours.week[day] || []).map(([a, b]) => `${a}-${b}`).join(", "), placeholder: t.closed, autocomplete: "off", disabled: !owner })]),
  );
  const closed = h("textarea", { id: "hours-closed", rows: "3", value: hours.closed_dates.join("\n"), placeholder: "2026-12-25", disabled: !owner });
  const reply = h("textarea", { id: "hours-reply", rows: "4", value: hours.auto_reply || "", disabled: !owner });
  const line = h("p", { class: "save-status", role: "status" });
  const form = h(
    "form",
    { class: "settings-form", "aria-labelledby": "hours-title" },
    h("h3", { id: "hours-title" }, t.businessHours),
    h("p", { class: "muted" }, owner ? t.hoursLead : t.hoursOwnersOnly),
    h("label", { for: "hours-zone" }, t.timeZone),
    zone,
    zones,
    h("div", { class: "week" }, DAYS.map((day) => [h("label", { for: `hours-${day}` }, t.weekdays[day]), days.get(day)])),
    h("p", { class: "muted" }, t.hoursHelp),
    h("label", { for: "hours-closed" }, t.closedDates),
    closed,
    h("label", { for: "hours-reply" }, t.autoReply),
    reply,
    h("p", { class: "muted" }, t.autoReplyHelp),
    owner ? h("div", { class: "actions" }, line, h("button", { type: "submit", class: "button primary" }, t.save)) : null,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    line.classList.remove("error");
    try {
      const week = {};
      for (const day of DAYS) {
        const intervals = parseDay(days.get(day).value, day);
        if (intervals.length) week[day] = intervals;
      }
      await api.saveBusinessHours({
        time_zone: zone.value.trim(),
        week,
        closed_dates: closed.value.split(/\s+/).filter(Boolean),
        auto_reply: reply.value.trim() ? reply.value : null,
      });
      line.textContent = t.saved;
    } catch (error) {
      line.textContent = error.message;
      line.classList.add("error");
    }
  });
  replace(body, form);
}
