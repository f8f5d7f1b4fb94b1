// The HTTP API calls the web client makes (login, who am I, names, previews, read markers, settings).

export class HttpError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

async function call(method, path, body) {
  const init = { method, credentials: "same-origin", headers: {} };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await fetch(path, init);
  if (response.status === 204) return null;
  const data = await response.json().catch(() => ({}));
  if (!response.ok) {
    const error = data.error || {};
    throw new HttpError(response.status, error.code || "internal", error.message || response.statusText);
  }
  return data;
}

/** A CSV of client events, sent as a file; `onProgress` hears each chunk written, the report comes last. */
async function importEvents(file, onProgress) {
  const form = new FormData();
  form.append("file", file);
  const response = await fetch("/api/client-events/import", { method: "POST", credentials: "same-origin", headers: { Accept: "application/x-ndjson" }, body: form });
  if (!response.ok) {
    const error = (await response.json().catch(() => ({}))).error || {};
    throw new HttpError(response.status, error.code || "internal", error.message || response.statusText);
  }
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffered = "";
  let report = null;
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffered += value;
    const lines = buffered.split("\n");
    buffered = lines.pop();
    for (const line of lines.filter(Boolean)) {
      const item = JSON.parse(line);
      if (item.progress) onProgress(item.progress);
      else report = item.report;
    }
  }
  if (report == null) throw new HttpError(502, "internal", "the import ended without a report");
  return report;
}

export const api = {
  login: (email, password) => call("POST", "/api/login", { email, password }),
  logout: () => call("POST", "/api/logout"),
  me: () => call("GET", "/api/me"),
  people: () => call("GET", "/api/people"),
  messages: (ids) => call("GET", `/api/messages?ids=${ids.join(",")}`),
  readers: (threadId) => call("GET", `/api/threads/${threadId}/readers`),
  notificationSettings: () => call("GET", "/api/notifications/settings"),
  saveNotificationSettings: (change) => call("PATCH", "/api/notifications/settings", change),
  templates: () => call("GET", "/api/templates"),
  createTemplate: (template) => call("POST", "/api/templates", template),
  updateTemplate: (id, template) => call("PUT", `/api/templates/${id}`, template),
  deleteTemplate: (id) => call("DELETE", `/api/templates/${id}`),
  users: () => call("GET", "/api/users"),
  createUser: (user) => call("POST", "/api/users", user),
  updateUser: (id, change) => call("PATCH", `/api/users/${id}`, change),
  signature: () => call("GET", "/api/me/signature"),
  saveSignature: (signature) => call("PUT", "/api/me/signature", { signature }),
  firmSignature: () => call("GET", "/api/firm/signature"),
  saveFirmSignature: (change) => call("PUT", "/api/firm/signature", change),
  businessHours: () => call("GET", "/api/firm/business-hours"),
  saveBusinessHours: (hours) => call("PUT", "/api/firm/business-hours", hours),
  eventKinds: () => call("GET", "/api/client-events/kinds"),
  events: (after) => call("GET", `/api/client-events?after=${after}`),
  recordEvent: (event) => call("POST", "/api/client-events", event),
  deleteEvent: (id) => call("DELETE", `/api/client-events/${id}`),
  importEvents,
  rules: () => call("GET", "/api/automatic-emails/rules"),
  createRule: (rule) => call("POST", "/api/automatic-emails/rules", rule),
  changeRule: (id, change) => call("PATCH", `/api/automatic-emails/rules/${id}`, change),
  sendAll: (id) => call("POST", `/api/automatic-emails/rules/${id}/send-all`),
  drafts: (ruleId) => call("GET", `/api/automatic-emails/drafts?rule_id=${ruleId}`),
  sendDraft: (id, edit) => call("POST", `/api/automatic-emails/drafts/${id}/send`, edit),
};
