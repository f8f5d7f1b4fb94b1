// The HTTP API calls the web client makes (login, who am I, names, previews, read markers).

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

export const api = {
  login: (email, password) => call("POST", "/api/login", { email, password }),
  logout: () => call("POST", "/api/logout"),
  me: () => call("GET", "/api/me"),
  people: () => call("GET", "/api/people"),
  messages: (ids) => call("GET", `/api/messages?ids=${ids.join(",")}`),
  readers: (threadId) => call("GET", `/api/threads/${threadId}/readers`),
};
