// Client events (Settings, staff): the dated events automatic emails are written from (arrivals,
// balances due…): import a CSV with live progress and a report per bad row, add one, list and delete.

import { api } from "./api.js";
import { h, replace } from "./dom.js";
import { formatDate, t } from "./i18n.js";

function today() {
  const now = new Date();
  return new Date(now.getTime() - now.getTimezoneOffset() * 60000).toISOString().slice(0, 10);
}

function reportLines(report) {
  return h(
    "div",
    { class: "import-report" },
    h("p", {}, t.importSummary(report.imported, report.already_recorded, report.problems.length)),
    report.problems.length
      ? h("ul", { class: "import-problems", "aria-label": t.importProblems }, report.problems.map((problem) => h("li", {}, t.rowProblem(problem.row, problem.error))))
      : null,
  );
}

function importForm(onDone) {
  const file = h("input", { type: "file", id: "events-file", accept: ".csv,text/csv", required: true });
  const progress = h("p", { class: "save-status", role: "status" });
  const result = h("div", {});
  const form = h(
    "form",
    { class: "settings-form", "aria-labelledby": "events-import-title" },
    h("h3", { id: "events-import-title" }, t.importEvents),
    h("p", { class: "muted" }, t.importEventsLead),
    h("label", { for: "events-file" }, t.csvFile),
    file,
    h("div", { class: "actions" }, progress, h("button", { type: "submit", class: "button primary" }, t.importButton)),
    result,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!file.files.length) return;
    progress.classList.remove("error");
    progress.textContent = t.importing;
    replace(result);
    try {
      const report = await api.importEvents(file.files[0], (step) => {
        progress.textContent = t.importProgress(step.rows, step.imported, step.problems);
      });
      progress.textContent = t.importDone;
      replace(result, reportLines(report));
      onDone();
    } catch (error) {
      progress.textContent = error.message;
      progress.classList.add("error");
    }
  });
  return form;
}

function addForm(store, kinds, onAdded) {
  const clients = [...store.accounts.values()].sort((a, b) => a.name.localeCompare(b.name));
  const client = h("select", { id: "event-client", required: true }, clients.map((account) => h("option", { value: account.id }, account.name)));
  const kind = h("select", { id: "event-kind", required: true }, Object.entries(kinds).map(([value, label]) => h("option", { value }, label)));
  const date = h("input", { type: "date", id: "event-date", required: true, value: today() });
  const reference = h("input", { id: "event-reference", maxlength: 200, autocomplete: "off" });
  const line = h("p", { class: "save-status", role: "status" });
  const form = h(
    "form",
    { class: "settings-form", "aria-labelledby": "event-add-title" },
    h("h3", { id: "event-add-title" }, t.addEvent),
    h("label", { for: "event-client" }, t.client),
    client,
    h("label", { for: "event-kind" }, t.eventKind),
    kind,
    h("label", { for: "event-date" }, t.eventDate),
    date,
    h("label", { for: "event-reference" }, t.eventReference),
    reference,
    h("div", { class: "actions" }, line, h("button", { type: "submit", class: "button primary" }, t.addEventButton)),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      await api.recordEvent({ client_account_id: Number(client.value), kind: kind.value, date: date.value, reference: reference.value.trim() });
      onAdded(t.eventAdded);
    } catch (error) {
      line.textContent = error.message;
      line.classList.add("error");
    }
  });
  return form;
}

function eventList(events, store, kinds, onDelete) {
  return h(
    "section",
    { class: "settings-form", "aria-labelledby": "events-title" },
    h("h3", { id: "events-title" }, t.upcomingEvents(events.length)),
    events.length
      ? h(
          "table",
          { class: "events" },
          h("thead", {}, h("tr", {}, [t.eventDate, t.client, t.eventKind, t.eventReference, ""].map((label) => h("th", { scope: "col" }, label)))),
          h(
            "tbody",
            {},
            events.map((item) =>
              h(
                "tr",
                {},
                h("td", {}, formatDate(item.date)),
                h("td", {}, store.accounts.get(item.client_account_id)?.name || `#${item.client_account_id}`),
                h("td", {}, kinds[item.kind] || item.kind),
                h("td", {}, item.reference),
                h("td", {}, h("button", { type: "button", class: "link-button", "aria-label": t.deleteEvent(item.reference || formatDate(item.date)), onclick: () => onDelete(item) }, t.delete)),
              ),
            ),
          ),
        )
      : h("p", { class: "muted" }, t.noEvents),
  );
}

/** The section: import, add, and the events from today on, soonest first (refreshed after each change). */
export async function clientEvents(body, me, store) {
  replace(body, h("p", { class: "muted" }, t.loading));
  const { kinds } = await api.eventKinds();
  const status = h("p", { class: "save-status", role: "status" });
  const listPlace = h("div", {});
  const refresh = async (text = "") => {
    const { events } = await api.events(today());
    const sorted = [...events].sort((a, b) => a.date.localeCompare(b.date) || a.id - b.id);
    replace(listPlace, eventList(sorted, store, kinds, remove));
    status.classList.remove("error");
    status.textContent = text;
  };
  const failed = (error) => {
    status.textContent = error.message;
    status.classList.add("error");
  };
  async function remove(item) {
    try {
      await api.deleteEvent(item.id);
      await refresh(t.eventDeleted);
    } catch (error) {
      failed(error);
    }
  }
  await refresh();
  replace(body, importForm(() => refresh().catch(failed)), addForm(store, kinds, (text) => refresh(text).catch(failed)), status, listPlace);
}
