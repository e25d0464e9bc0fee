/* /login: name + password -> POST /v1/auth/login; the token goes to sessionStorage; then on to the
 * page for the role (or back to the page that sent the user here). */
"use strict";

(() => {
  const { $, api, describe, setSession, homeFor, show, setText, guard } = JSB;

  function nextPath() {
    const next = new URLSearchParams(location.search).get("next") || "";
    // Only a path on this site (never //host or a scheme): no open redirect.
    return /^\/(?!\/)[^\s\\]*$/.test(next) && !next.startsWith("/login") ? next : null;
  }

  guard();
  $("login-name").focus();
  $("login-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const err = $("login-error");
    show(err, false);
    const button = $("login-submit");
    button.disabled = true;
    try {
      const res = await api("POST", "/v1/auth/login", {
        anonymous: true,
        body: { name: $("login-name").value.trim(), password: $("login-password").value },
      });
      setSession(res.token, res);
      location.assign(nextPath() || homeFor(res.role));
    } catch (e) {
      setText(err, e.status === 401 ? "用户名或密码不对" : describe(e));
      show(err, true);
    } finally {
      button.disabled = false;
    }
  });
})();
