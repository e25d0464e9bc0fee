/* Shared helpers for every page: the /v1 client, the signed-in user, and DOM building.
 *
 * The DOM is only ever built with createElement and textContent: nothing from the API or the user is
 * parsed as markup. The sign-in token lives in sessionStorage (this tab only, gone when it closes). */
"use strict";

const JSB = (() => {
  const TOKEN_KEY = "jishibang.token";
  const ME_KEY = "jishibang.me";

  let taxonomy = {};
  const node = document.getElementById("taxonomy");
  if (node) {
    try { taxonomy = JSON.parse(node.textContent || "{}"); } catch (_) { taxonomy = {}; }
  }

  // --- DOM -------------------------------------------------------------------------------------

  /** el("li", {class: "x", text: "…", dataset: {id: 1}, onclick: fn, href: "…"}, child, "text", …) */
  function el(tag, attrs, ...children) {
    const svg = tag.startsWith("svg:");
    const e = svg ? document.createElementNS("http://www.w3.org/2000/svg", tag.slice(4)) : document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === "text") e.textContent = String(v);
      else if (k === "class") e.setAttribute("class", v);
      else if (k === "dataset") Object.entries(v).forEach(([dk, dv]) => { e.dataset[dk] = String(dv); });
      else if (k.startsWith("on") && typeof v === "function") e.addEventListener(k.slice(2), v);
      else if (k === "href" && !safeHref(String(v))) continue;
      else e.setAttribute(k, v === true ? "" : String(v));
    }
    append(e, children);
    return e;
  }

  function append(parent, children) {
    for (const c of children.flat()) {
      if (c === null || c === undefined || c === false) continue;
      parent.appendChild(typeof c === "string" || typeof c === "number" ? document.createTextNode(String(c)) : c);
    }
    return parent;
  }

  function safeHref(href) {
    return /^(\/(?!\/)|#|tel:|mailto:|blob:|https?:\/\/)/i.test(href) && !/^\s*javascript:/i.test(href);
  }

  /** Text with each phone number (12351, 0750-3276220 ...) as a tel: link; everything else stays text. */
  function phoneLinks(text, cls) {
    const out = [];
    const s = String(text || "");
    const re = /\d[\d-]{2,}\d/g;
    let last = 0;
    let m;
    while ((m = re.exec(s)) !== null) {
      if (m.index > last) out.push(s.slice(last, m.index));
      out.push(el("a", { class: cls || "tel", href: "tel:" + m[0].replace(/-/g, ""), text: m[0] }));
      last = m.index + m[0].length;
    }
    if (last < s.length) out.push(s.slice(last));
    return out;
  }

  function clear(n) { while (n.firstChild) n.removeChild(n.firstChild); return n; }
  function $(id) { return document.getElementById(id); }
  function show(n, yes = true) { if (n) n.hidden = !yes; return n; }
  function setText(n, text) { if (n) n.textContent = text === null || text === undefined ? "" : String(text); return n; }

  /** Non-empty trimmed lines of a textarea's value. */
  function lines(text) { return String(text || "").split(/\r?\n/).map((s) => s.trim()).filter(Boolean); }

  function fmtTime(iso) {
    if (!iso) return "";
    const d = new Date(iso);
    if (Number.isNaN(d.getTime())) return String(iso);
    const p = (n) => String(n).padStart(2, "0");
    return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}`;
  }

  function issueName(id) { return (taxonomy.issue_types || {})[id] || id; }
  function targetName(id) { return ((taxonomy.referral_targets || {})[id] || {}).name || id; }
  function statusName(s) { return (taxonomy.statuses || {})[s] || s; }
  function kindName(k) { return (taxonomy.kinds || {})[k] || k; }

  let flashTimer = null;
  function flash(message, kind = "info", ms = 6000) {
    const f = $("flash");
    if (!f) return;
    setText(f, message);
    f.dataset.kind = kind;
    f.hidden = false;
    clearTimeout(flashTimer);
    if (ms) flashTimer = setTimeout(() => { f.hidden = true; }, ms);
  }

  // --- session ---------------------------------------------------------------------------------

  function token() { try { return sessionStorage.getItem(TOKEN_KEY); } catch (_) { return null; } }
  function me() { try { return JSON.parse(sessionStorage.getItem(ME_KEY) || "null"); } catch (_) { return null; } }
  function setSession(tok, who) {
    sessionStorage.setItem(TOKEN_KEY, tok);
    sessionStorage.setItem(ME_KEY, JSON.stringify({ name: who.name, role: who.role, platform: who.platform || null }));
  }
  function clearSession() {
    try { sessionStorage.removeItem(TOKEN_KEY); sessionStorage.removeItem(ME_KEY); } catch (_) { /* ignore */ }
  }
  function goLogin() {
    const here = location.pathname + location.search;
    location.assign(here.startsWith("/login") ? "/login" : "/login?next=" + encodeURIComponent(here));
  }
  function homeFor(role) {
    return { operator: "/console", staff: "/staff", admin: "/staff", enterprise: "/enterprise" }[role] || "/";
  }

  // --- the API ---------------------------------------------------------------------------------

  class ApiError extends Error {
    constructor(status, payload, response) {
      const err = (payload && payload.error) || {};
      super(err.message || `HTTP ${status}`);
      this.status = status;
      this.code = err.code || `http_${status}`;
      this.messageZh = err.message_zh || (status === 0 ? "网络连接失败，请稍后再试" : `请求失败（${status}）`);
      this.details = err.details;
      const ra = response ? response.headers.get("Retry-After") : null;
      this.retryAfter = ra ? parseInt(ra, 10) : null;
    }
  }

  /** fetch /v1 with the bearer token. Options: body (JSON) | raw (string) + contentType, headers,
   * as: "json" | "text" | "response". A 401 on a signed-in page sends the user back to /login. */
  async function api(method, path, opts = {}) {
    const headers = Object.assign({ Accept: "application/json" }, opts.headers || {});
    const tok = token();
    if (tok && !opts.anonymous) headers.Authorization = "Bearer " + tok;
    let body;
    if (opts.raw !== undefined) { body = opts.raw; headers["Content-Type"] = opts.contentType || "text/plain"; }
    else if (opts.body !== undefined) { body = JSON.stringify(opts.body); headers["Content-Type"] = "application/json"; }
    let res;
    try {
      res = await fetch(path, { method, headers, body, credentials: "same-origin", cache: "no-store" });
    } catch (_) {
      throw new ApiError(0, null, null);
    }
    if (res.status === 401 && !opts.anonymous && !path.startsWith("/v1/auth/login")) {
      clearSession();
      goLogin();
      throw new ApiError(401, await res.json().catch(() => null), res);
    }
    if (!res.ok) throw new ApiError(res.status, await res.json().catch(() => null), res);
    if (opts.as === "response") return res;
    if (opts.as === "text") return res.text();
    if (res.status === 204) return null;
    return res.json();
  }

  /** "message_zh" plus, for validation errors, which fields. */
  function describe(err) {
    if (!(err instanceof ApiError)) return String(err && err.message ? err.message : err);
    let msg = err.messageZh;
    if (Array.isArray(err.details) && err.details.length && err.details[0] && err.details[0].loc) {
      msg += "：" + err.details.slice(0, 5).map((d) => `${(d.loc || []).filter((p) => p !== "body").join(".")} ${d.message_zh || ""}`).join("；");
    }
    return msg;
  }

  // --- the signed-in bar and the page's roles --------------------------------------------------

  function showWho(who) {
    const box = $("who");
    const signin = $("signin");
    if (!box) return;
    if (who) {
      setText($("who-name"), who.name + (who.platform ? ` · ${who.platform}` : ""));
      setText($("who-role"), { operator: "接线员", staff: "工作人员", admin: "管理员", enterprise: "平台企业" }[who.role] || who.role);
      box.hidden = false;
      if (signin) signin.hidden = true;
    } else {
      box.hidden = true;
      if (signin) signin.hidden = false;
    }
    document.querySelectorAll("#nav a[data-roles]").forEach((a) => {
      a.hidden = !!who && !a.dataset.roles.split(",").includes(who.role);
    });
  }

  async function signOut(ev) {
    if (ev) ev.preventDefault();
    if (token()) {
      try { await api("POST", "/v1/auth/logout", { anonymous: false }); } catch (_) { /* the token may be gone */ }
    }
    clearSession();
    location.assign("/login");
  }

  /** Resolve the signed-in user for this page. Pages with roles need one (else /login); the promise
   * resolves to the user, or null when the page may not be used by this role (a notice is shown). */
  async function guard() {
    const roles = (document.body.dataset.roles || "").split(",").filter(Boolean);
    const so = $("signout");
    if (so) so.addEventListener("click", signOut);
    let who = me();
    if (!roles.length) {
      showWho(token() ? who : null);
      return who;
    }
    if (!token()) { goLogin(); return null; }
    try {
      const fresh = await api("GET", "/v1/auth/me");
      who = { name: fresh.name, role: fresh.role, platform: fresh.platform || null };
      sessionStorage.setItem(ME_KEY, JSON.stringify(who));
    } catch (err) {
      if (err.status !== 401) flash(describe(err), "error", 0);
      return null;
    }
    showWho(who);
    if (!roles.includes(who.role)) {
      const main = $("main");
      clear(main);
      main.appendChild(el("section", { class: "card notice", id: "forbidden" },
        el("p", { text: "你的角色无权使用此页面。" }),
        el("p", {}, el("a", { href: homeFor(who.role), text: "去我的工作页面" }))));
      return null;
    }
    return who;
  }

  // --- small utilities -------------------------------------------------------------------------

  function debounce(fn, ms) {
    let t = null;
    return (...args) => { clearTimeout(t); t = setTimeout(() => fn(...args), ms); };
  }

  async function copyText(text) {
    try {
      if (navigator.clipboard && window.isSecureContext) {
        await navigator.clipboard.writeText(text);
        return true;
      }
    } catch (_) { /* fall back below */ }
    const ta = el("textarea", { class: "offscreen", readonly: true });
    ta.value = text;
    document.body.appendChild(ta);
    ta.select();
    let ok = false;
    try { ok = document.execCommand("copy"); } catch (_) { ok = false; }
    ta.remove();
    return ok;
  }

  function download(filename, text, type) {
    const url = URL.createObjectURL(new Blob([text], { type }));
    const a = el("a", { href: url, download: filename, class: "offscreen" });
    document.body.appendChild(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  }

  return {
    taxonomy, el, append, clear, phoneLinks, $, show, setText, lines, fmtTime, issueName, targetName, statusName, kindName,
    flash, token, me, setSession, clearSession, goLogin, homeFor, api, ApiError, describe, guard, showWho,
    debounce, copyText, download,
  };
})();
