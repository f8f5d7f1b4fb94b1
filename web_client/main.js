// Entry point: show the login form, or the app for whoever is logged in.

import { api, HttpError } from "./api.js";
import { App } from "./app.js";
import { lang, t } from "./i18n.js";
import { renderLogin } from "./login.js";

document.documentElement.lang = lang;
document.title = t.appName;
const root = document.getElementById("app");

function showLogin() {
  renderLogin(root, (user) => new App(root, user, showLogin).start());
}

async function boot() {
  try {
    const { user } = await api.me();
    new App(root, user, showLogin).start();
  } catch (error) {
    if (error instanceof HttpError && error.status === 401) showLogin();
    else {
      root.textContent = t.networkError;
      setTimeout(boot, 3000);
    }
  }
}

boot();
