/* /staff, the audit tab: who did what to which record, filtered by person or target, details in words. */
"use strict";

const StaffAudit = (() => {
  const { $, el, clear, setText, api, describe, fmtTime, statusName, taxonomy } = JSB;
  let staff = null;
  const ROLE_NAMES = taxonomy.roles || {};

  const DETAIL_NAMES = {
    comment: "意见", slug: "标识", from: "原版本", to: "回滚到", platform: "平台", dispatch: "转办", bodies: "部门",
    status: "状态", questions: "问题数", target: "转介对象", outcome: "结果", format: "格式", created: "新建",
    updated: "更新", unchanged: "未变", role: "角色", name: "用户", label: "说明", proposal: "建议", key: "密钥",
  };
  /** An audit entry's details in words (keys and known values in Chinese; anything else as it is). */
  function detailText(detail) {
    if (!detail || typeof detail !== "object") return "";
    return Object.entries(detail).map(([k, v]) => {
      let value = Array.isArray(v) ? v.join("、") : v !== null && typeof v === "object" ? JSON.stringify(v) : String(v);
      if (k === "target") value = JSB.targetName(value);
      else if (k === "status") value = (taxonomy.dispatch_statuses || {})[value] || statusName(value);
      else if (k === "outcome") value = (taxonomy.referral_outcomes || {})[value] || value;
      else if (k === "role") value = ROLE_NAMES[value] || value;
      return `${DETAIL_NAMES[k] || k}：${value}`;
    }).join("；");
  }

  let auditRequest = 0;
  async function loadAudit() {
    const mine = ++auditRequest;
    const params = new URLSearchParams({ limit: "200" });
    if ($("a-actor").value.trim()) params.set("actor", $("a-actor").value.trim());
    if ($("a-target").value.trim()) params.set("target", $("a-target").value.trim());
    try {
      const rows = await api("GET", "/v1/admin/audit?" + params);
      if (mine !== auditRequest) return;
      const tbody = clear($("audit-table").tBodies[0]);
      for (const r of rows) {
        tbody.appendChild(el("tr", {},
          el("td", { class: "small nowrap", text: fmtTime(r.at) }), el("td", { text: r.actor }), el("td", { text: ROLE_NAMES[r.role] || r.role }),
          el("td", { text: staff.ACTION_NAMES[r.action] || r.action }),
          el("td", { class: "nowrap" }, /^entry:\d+$/.test(r.target || "")
            ? el("a", { href: "#", text: r.target, onclick: (e) => { e.preventDefault(); staff.openTab("entries"); staff.openEntry(parseInt(r.target.slice(6), 10)); } })
            : (r.target || "")),
          el("td", { text: r.version === null || r.version === undefined ? "" : r.version }),
          el("td", { class: "small", text: detailText(r.detail) })));
      }
    } catch (err) {
      JSB.flash("审计日志载入失败：" + describe(err), "error");
    }
  }

  function install(s) {
    staff = s;
    $("audit-filters").addEventListener("submit", (ev) => { ev.preventDefault(); loadAudit(); });
  }

  return { install, load: loadAudit };
})();
