// The sign-in screen.

import { api, HttpError } from "./api.js";
import { h, replace } from "./dom.js";
import { t } from "./i18n.js";

export function renderLogin(root, onLoggedIn) {
  document.title = `${t.signInTitle} · ${t.appName}`;
  const error = h("p", { class: "form-error", role: "alert", id: "login-error" });
  const email = h("input", { id: "login-email", type: "email", name: "email", autocomplete: "username", required: true });
  const password = h("input", {
    id: "login-password",
    type: "password",
    name: "password",
    autocomplete: "current-password",
    required: true,
  });
  const button = h("button", { type: "submit", class: "button primary wide" }, t.signIn);
  const form = h(
    "form",
    { class: "login-card", "aria-labelledby": "login-title", "aria-describedby": "login-error" },
    h("div", { class: "brand brand-large", "aria-hidden": "true" }, h("span", { class: "brand-mark" }), t.appName),
    h("h1", { id: "login-title" }, t.signInTitle),
    h("p", { class: "lead" }, t.signInLead),
    h("label", { for: "login-email" }, t.email),
    email,
    h("label", { for: "login-password" }, t.password),
    password,
    error,
    button,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    button.disabled = true;
    button.textContent = t.signingIn;
    error.textContent = "";
    try {
      const { user } = await api.login(email.value.trim(), password.value);
      onLoggedIn(user);
    } catch (failure) {
      error.textContent = failure instanceof HttpError && failure.status === 401 ? t.wrongPassword : t.networkError;
      button.disabled = false;
      button.textContent = t.signIn;
      password.select();
    }
  });
  replace(root, h("main", { id: "main", class: "login-page" }, form));
  email.focus();
}
