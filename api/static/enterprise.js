/* /enterprise: a platform sub-line's queue (GET /v1/enterprise/queue) with a reply form per open dispatch
 * (POST /v1/dispatches/{id}/reply) and its reply clock (SLA). A resolved or rejected dispatch is read-only:
 * it can only be reopened, on purpose, with a reason (POST /v1/dispatches/{id}/reopen). Staff and admin may
 * look at any platform's queue (read only). */
"use strict";

(async () => {
  const { $, el, clear, show, setText, api, describe, fmtTime, issueName } = JSB;
  const T = JSB.taxonomy;
  const named = (map, key) => ((T[map] || {})[key]) || key;
  const REFRESH_MS = 30000;

  const who = await JSB.guard();
  if (!who) return;
  const enterprise = who.role === "enterprise";
  setText($("platform-name"), enterprise && who.platform ? `· ${who.platform}` : "");
  show($("platform-box"), !enterprise);

  function say(node, text, state) { setText(node, text); node.dataset.state = state || ""; }

  function replyForm(d, status) {
    const text = el("textarea", { rows: "3", maxlength: "4000", class: "reply-text", placeholder: "给热线的答复：核实情况、处理结果或安排", "aria-label": "答复" });
    const select = el("select", { class: "reply-status", "aria-label": "答复后的状态", required: true },
      el("option", { value: "", text: "选择答复后的状态…" }),
      ["in_progress", "resolved", "rejected"].map((s) => el("option", { value: s, text: named("dispatch_statuses", s) })));
    const hint = el("p", { class: "small muted", text: "选“已解决”或“不予处理”后，这个转办就办结了，之后只能写明理由重新打开。" });
    const form = el("form", { class: "stack reply-form" }, text, el("div", { class: "row wrap" }, select,
      el("button", { type: "submit", class: "primary", text: "提交答复" })), hint);
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const reply = text.value.trim();
      if (!reply) { say(status, "请先写答复。", "error"); text.focus(); return; }
      if (!select.value) { say(status, "请选择答复后的状态。", "error"); select.focus(); return; }
      const button = form.querySelector("button");
      button.disabled = true;
      try {
        const res = await api("POST", `/v1/dispatches/${d.id}/reply`, { body: { reply, status: select.value } });
        say(status, `已答复，状态：${named("dispatch_statuses", res.status)}`, "ok");
        await load();
      } catch (err) {
        say(status, "提交失败：" + describe(err), "error");
        button.disabled = false;
      }
    });
    return form;
  }

  function reopenForm(d, status) {
    const reason = el("textarea", { rows: "2", maxlength: "1000", class: "reopen-reason", placeholder: "为什么要重新处理（必填）", "aria-label": "重新打开的理由" });
    const form = el("form", { class: "stack reopen-form" }, reason,
      el("div", {}, el("button", { type: "submit", class: "reopen", text: "重新打开" })));
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      if (!reason.value.trim()) { say(status, "请写明重新打开的理由。", "error"); reason.focus(); return; }
      const button = form.querySelector("button");
      button.disabled = true;
      try {
        await api("POST", `/v1/dispatches/${d.id}/reopen`, { body: { reason: reason.value.trim() } });
        say(status, "已重新打开，可以继续答复。", "ok");
        await load();
      } catch (err) {
        say(status, "重新打开失败：" + describe(err), "error");
        button.disabled = false;
      }
    });
    return el("details", { class: "reopen-box" }, el("summary", { text: "需要继续处理？重新打开" }), form);
  }

  function slaText(d) {
    if (!d.awaiting_reply || !d.due_at) return null;
    const c = CaseViewClock(d.due_at);
    return el("span", { class: "sla small", dataset: { due: d.due_at, late: String(c.late) }, text: `答复时限 ${fmtTime(d.due_at)} · ${c.text}` });
  }

  // The same clock as the console's (console-case.js is not loaded here).
  function CaseViewClock(dueIso) {
    const diff = new Date(dueIso).getTime() - Date.now();
    const abs = Math.abs(diff);
    const h = Math.floor(abs / 3600000);
    const span = h >= 24 ? `${Math.floor(h / 24)} 天 ${h % 24} 小时` : h >= 1 ? `${h} 小时 ${Math.floor((abs % 3600000) / 60000)} 分` : `${Math.max(1, Math.floor(abs / 60000))} 分钟`;
    return diff >= 0 ? { text: `还剩 ${span}`, late: false } : { text: `已超时 ${span}`, late: true };
  }

  function item(d) {
    const c = d.case || {};
    const status = el("p", { class: "status small", role: "status" });
    const closed = d.status === "resolved" || d.status === "rejected";
    return el("li", { class: "dispatch card", dataset: { id: d.id, status: d.status } },
      el("div", { class: "row spread wrap" },
        el("strong", { text: `转办 #${d.id} · 个案 #${d.case_id}` }),
        el("span", { class: "row" }, el("span", { class: "status-pill", dataset: { status: d.status }, text: named("dispatch_statuses", d.status) }), slaText(d))),
      el("p", { class: "small muted", text: [fmtTime(d.created_at), "热线转办",
        c.urgency ? `紧急程度 ${named("urgency", c.urgency)}` : null,
        (c.issue_types || []).map(issueName).join("、"), c.district].filter(Boolean).join(" · ") }),
      el("p", { class: "case-text", text: c.text_masked || "" }),
      d.note ? el("p", {}, el("span", { class: "label", text: "热线备注 " }), d.note) : null,
      (d.events || []).length ? el("ol", { class: "plain timeline events" }, d.events.map((e) => el("li", { class: "event", dataset: { kind: e.kind } },
        el("span", { class: "small muted", text: `${fmtTime(e.at)} · ${e.role === "enterprise" ? e.by : "热线"}` + (e.kind === "reopen" ? " 重新打开" : ` 答复（${named("dispatch_statuses", e.status)}）`) }),
        el("p", { class: "replied", text: e.kind === "reopen" ? `理由：${e.text}` : e.text }))))
        : d.reply ? el("p", { class: "replied" }, el("span", { class: "label", text: `已答复（${d.replied_by || ""} ${fmtTime(d.replied_at)}）` }), " ", d.reply) : null,
      closed ? el("p", { class: "readonly-note small", text: `已办结（${named("dispatch_statuses", d.status)}）：不能再答复。` }) : null,
      enterprise && !closed ? replyForm(d, status) : null,
      enterprise && closed ? reopenForm(d, status) : null,
      status);
  }

  let request = 0;
  async function load() {
    const mine = ++request;
    const params = new URLSearchParams();
    if ($("q-status").value) params.set("status", $("q-status").value);
    if (!enterprise) {
      const p = $("q-platform").value.trim();
      if (!p) { setText($("queue-summary"), "请输入要查看的平台名称。"); clear($("queue")); return; }
      params.set("platform", p);
    }
    // Keep what someone is typing: skip the refresh while a reply form holds text.
    const typing = Array.from(document.querySelectorAll("#queue textarea")).some((t) => t.value.trim());
    if (typing && mine > 1 && document.activeElement && document.activeElement.closest && document.activeElement.closest("#queue")) return;
    try {
      const items = await api("GET", "/v1/enterprise/queue?" + params);
      if (mine !== request) return;
      const late = items.filter((d) => d.overdue).length;
      setText($("queue-summary"), items.length ? `共 ${items.length} 件` + (late ? `，${late} 件已超过答复时限` : "") : "没有转来的个案。");
      const ol = clear($("queue"));
      items.forEach((d) => ol.appendChild(item(d)));
    } catch (err) {
      setText($("queue-summary"), "载入失败：" + describe(err));
    }
  }

  $("queue-filters").addEventListener("submit", (ev) => { ev.preventDefault(); load(); });
  load();
  setInterval(load, REFRESH_MS);
})();
