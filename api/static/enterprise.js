/* /enterprise: a platform sub-line's queue (GET /v1/enterprise/queue) with a reply form per dispatch
 * (POST /v1/dispatches/{id}/reply). Staff and admin may look at any platform's queue (read only). */
"use strict";

(async () => {
  const { $, el, clear, show, setText, api, describe, fmtTime, issueName } = JSB;
  const STATUS = { pending: "待处理", in_progress: "处理中", resolved: "已解决", rejected: "不予处理" };
  const URGENCY = { emergency: "紧急", high: "较急", normal: "一般", low: "不急" };

  const who = await JSB.guard();
  if (!who) return;
  const enterprise = who.role === "enterprise";
  setText($("platform-name"), enterprise && who.platform ? `· ${who.platform}` : "");
  show($("platform-box"), !enterprise);

  function replyForm(d, status) {
    const text = el("textarea", { rows: "3", maxlength: "4000", class: "reply-text", placeholder: "给热线的答复：核实情况、处理结果或安排", "aria-label": "答复" });
    const select = el("select", { class: "reply-status", "aria-label": "状态" },
      ["in_progress", "resolved", "rejected"].map((s) => el("option", { value: s, text: STATUS[s] })));
    const form = el("form", { class: "stack reply-form" }, text, el("div", { class: "row" }, select,
      el("button", { type: "submit", class: "primary", text: "提交答复" })));
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const reply = text.value.trim();
      if (!reply) { setText(status, "请先写答复。"); return; }
      const button = form.querySelector("button");
      button.disabled = true;
      try {
        const res = await api("POST", `/v1/dispatches/${d.id}/reply`, { body: { reply, status: select.value } });
        setText(status, `已答复，状态：${STATUS[res.status] || res.status}`);
        status.dataset.state = "ok";
        await load();
      } catch (err) {
        setText(status, "提交失败：" + describe(err));
        status.dataset.state = "error";
        button.disabled = false;
      }
    });
    return form;
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
    try {
      const items = await api("GET", "/v1/enterprise/queue?" + params);
      if (mine !== request) return;
      setText($("queue-summary"), items.length ? `共 ${items.length} 件` : "没有转来的个案。");
      const ol = clear($("queue"));
      for (const d of items) {
        const c = d.case || {};
        const status = el("p", { class: "status small", role: "status" });
        ol.appendChild(el("li", { class: "dispatch card", dataset: { id: d.id, status: d.status } },
          el("div", { class: "row spread" },
            el("strong", { text: `转办 #${d.id} · 个案 #${d.case_id}` }),
            el("span", { class: "status-pill", dataset: { status: d.status }, text: STATUS[d.status] || d.status })),
          el("p", { class: "small muted", text: [fmtTime(d.created_at), d.created_by ? `转办人 ${d.created_by}` : null,
            c.urgency ? `紧急程度 ${URGENCY[c.urgency] || c.urgency}` : null,
            (c.issue_types || []).map(issueName).join("、"), c.district].filter(Boolean).join(" · ") }),
          el("p", { class: "case-text", text: c.text_masked || "" }),
          d.note ? el("p", {}, el("span", { class: "label", text: "热线备注 " }), d.note) : null,
          d.reply ? el("p", { class: "replied" }, el("span", { class: "label", text: `已答复（${d.replied_by || ""} ${fmtTime(d.replied_at)}）` }), " ", d.reply) : null,
          enterprise ? replyForm(d, status) : null,
          status));
      }
    } catch (err) {
      setText($("queue-summary"), "载入失败：" + describe(err));
    }
  }

  $("queue-filters").addEventListener("submit", (ev) => { ev.preventDefault(); load(); });
  load();
})();
