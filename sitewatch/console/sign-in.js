// The sign-in form, shared by the node's console and the fleet hub's: checks the token with
// the API, keeps it, and enters the application (``enter`` gets the caller from /api/me).

import { describeError, storeToken, whoIs } from "./api.js";
import { say } from "./dom.js";
import { t } from "./i18n.js";

export function signInHandler(enter) {
  const $ = (id) => document.getElementById(id);
  return async function signIn(event) {
    event.preventDefault();
    const token = $("token").value.trim();
    const button = $("sign-in");
    button.disabled = true;
    try {
      const me = await whoIs(token);
      storeToken(token);
      $("token").value = "";
      await enter(me);
    } catch (error) {
      say($("login-error"), "error", t("login.refused", { reason: describeError(error) }));
    } finally {
      button.disabled = false;
    }
  };
}
