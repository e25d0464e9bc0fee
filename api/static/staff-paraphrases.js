/* /staff, the paraphrases tab: real questions (masked) that workers found helpful or operators copied, proposed
 * as paraphrases of their entry; accepting one makes a new draft revision, still reviewed and approved. */
"use strict";

const StaffParaphrases = (() => {
  const { $, el, clear, setText, api, describe } = JSB;
  let staff = null;

  let paraphraseRequest = 0;
  async function loadParaphrases() {
    const mine = ++paraphraseRequest;
    const status = $("p-status").value || "proposed";
    setText($("p-summary"), "载入中…");
    try {
      const res = await api("GET", "/v1/paraphrases?" + new URLSearchParams({ status, limit: "200" }));
      if (mine !== paraphraseRequest) return;
      const tbody = clear($("paraphrase-table").tBodies[0]);
      for (const p of res.items) tbody.appendChild(paraphraseRow(p));
      const fresh = (res.synced && res.synced.proposed) || 0;
      setText($("p-summary"), `共 ${res.total} 条` + (fresh ? `（本次新增 ${fresh} 条）` : ""));
      if (status === "proposed") setText($("paraphrase-count"), res.total ? String(res.total) : "");
    } catch (err) {
      setText($("p-summary"), "问法建议载入失败：" + describe(err));
    }
  }

  function paraphraseRow(p) {
    const status = el("span", { class: "small status", role: "status" });
    const text = el("input", { class: "p-text grow", maxlength: "300", value: p.text, "aria-label": "问法（可修改后采纳）" });
    const actions = el("td", { class: "nowrap" });
    if (p.status === "proposed") {
      actions.appendChild(el("button", { type: "button", class: "small primary p-accept", text: "采纳", onclick: async (e) => {
        const button = e.currentTarget;
        button.disabled = true;
        try {
          const edited = text.value.trim();
          const res = await api("POST", `/v1/paraphrases/${p.id}/accept`, { body: edited && edited !== p.text ? { text: edited } : {} });
          setText(status, `已加入条目，生成草稿第 ${res.entry.version} 版（须审核发布）`);
          status.dataset.state = "ok";
          text.disabled = true;
          actions.querySelectorAll("button").forEach((b) => { b.disabled = true; });
          setText($("paraphrase-count"), String(Math.max(0, parseInt($("paraphrase-count").textContent || "1", 10) - 1) || ""));
        } catch (err) {
          setText(status, "采纳失败：" + describe(err));
          status.dataset.state = "error";
          button.disabled = false;
        }
      } }), " ");
      actions.appendChild(el("button", { type: "button", class: "small p-reject", text: "拒绝", onclick: async (e) => {
        const button = e.currentTarget;
        button.disabled = true;
        try {
          await api("POST", `/v1/paraphrases/${p.id}/reject`, { body: {} });
          setText(status, "已拒绝");
          status.dataset.state = "ok";
          actions.querySelectorAll("button").forEach((b) => { b.disabled = true; });
        } catch (err) {
          setText(status, "操作失败：" + describe(err));
          status.dataset.state = "error";
          button.disabled = false;
        }
      } }));
    } else {
      text.disabled = true;
      actions.appendChild(el("span", { class: "small", text: `${p.status === "accepted" ? "已采纳" : "已拒绝"} · ${p.decided_by || ""}` +
        (p.entry_version ? ` · 草稿第 ${p.entry_version} 版` : "") }));
    }
    actions.appendChild(el("div", {}, status));
    return el("tr", { class: "paraphrase-row", dataset: { id: p.id } },
      el("td", {}, text),
      el("td", {}, staff.entryLink(p.entry_id, p.entry_title), el("div", { class: "small muted", text: p.entry_slug || "" })),
      el("td", { class: "nowrap", text: p.source === "worker" ? "劳动者" : "接线员" }),
      el("td", { text: p.times }),
      el("td", { text: p.nearest === null || p.nearest === undefined ? "—" : p.nearest.toFixed(2) }),
      actions);
  }

  function install(s) {
    staff = s;
    $("p-filters").addEventListener("submit", (ev) => { ev.preventDefault(); loadParaphrases(); });
  }

  return { install, load: loadParaphrases };
})();
