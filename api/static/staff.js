/* /staff: the knowledge-base editor.
 *
 * Entry list with filters, the review queue, one entry's editor (saved with the version being edited:
 * a stale one is refused and the user's text stays in the form), history with diff and rollback, the
 * review workflow, import/export, the gaps tab and the audit log.
 *
 * One plain script per tab, each sharing JSB (common.js) and defining one global with an install(staff)
 * that wires its part of the page once the user is known: staff-entries.js (the list), staff-review.js
 * (the review queue), staff-editor.js (the editor and its workflow actions), staff-history.js (history,
 * diff, rollback), staff-import.js (import/export), staff-gaps.js, staff-paraphrases.js,
 * staff-standing.js, staff-alerts.js, staff-audit.js. This file, loaded last, wires them together. */
"use strict";

(async () => {
  const { el, clear } = JSB;
  const FIELD_NAMES = {
    title: "标题", question: "问题", paraphrases: "同义问法", operator_answer: "给接线员的答复",
    worker_answer: "给劳动者的答复", steps: "步骤", evidence: "证据清单", referrals: "转介对象",
    legal_basis: "法律依据", issue_types: "问题类型", jurisdiction: "适用地区", effective_from: "生效日期",
    review_by: "复核日期", unverified: "待核实事项", sources: "来源", case: "案例", kind: "类型", slug: "标识",
  };
  const ACTION_NAMES = {
    create: "新建", edit: "修改", submit: "提交审核", approve: "批准发布", reject: "驳回", archive: "归档",
    restore: "恢复", rollback: "回滚", flag: "标记过时", import: "导入", draft_from_gap: "由知识缺口生成草稿",
    dispatch: "转办平台", dispatch_reply: "平台答复", consult: "多部门会商", add_user: "新增用户",
    disable_user: "停用用户", add_key: "新增 API 密钥", revoke_key: "吊销 API 密钥",
    accept_paraphrase: "采纳同义问法", reject_paraphrase: "拒绝同义问法", case_note: "追加个案记录", claim: "接手个案",
    refer: "记录转介", referral_outcome: "记录转介结果", dispatch_reopen: "重新打开转办", gap_paraphrases: "由知识缺口加入同义问法",
    login: "登录", logout: "退出登录",
  };

  const who = await JSB.guard();
  if (!who) return;

  // --- tabs ------------------------------------------------------------------------------------

  const tabs = { entries: StaffEntries, review: StaffReview, gaps: StaffGaps, audit: StaffAudit,
    paraphrases: StaffParaphrases, standing: StaffStanding, alerts: StaffAlerts };
  function openTab(name) {
    document.querySelectorAll(".tab").forEach((t) => t.setAttribute("aria-selected", String(t.dataset.tab === name)));
    document.querySelectorAll(".tabpanel").forEach((p) => { p.hidden = p.id !== "tab-" + name; });
    tabs[name].load();
  }

  // --- what the tabs share ---------------------------------------------------------------------

  const staff = {
    who, FIELD_NAMES, ACTION_NAMES, openTab,
    openEntry: (id) => StaffEditor.openEntry(id),
    /** Show an entry in the editor (a view the server just returned). */
    showEntry: (view) => StaffEditor.load(view),
    /** After a write: the list and the review queue again. */
    refreshLists() {
      StaffEntries.load();
      StaffReview.load();
    },
    /** Fill a <select> with value -> label pairs (``keep``: after the options already there). */
    options(select, map, keep = true) {
      if (!keep) clear(select);
      for (const [value, label] of Object.entries(map)) select.appendChild(el("option", { value, text: label }));
    },
    /** A link that opens an entry in the editor (on the entries tab). */
    entryLink(id, title) {
      return el("a", { href: "#", text: title || `#${id}`, onclick: (e) => { e.preventDefault(); openTab("entries"); staff.openEntry(id); } });
    },
  };

  document.querySelectorAll(".tab").forEach((t) => t.addEventListener("click", () => openTab(t.dataset.tab)));
  StaffEntries.install(staff);
  StaffReview.install(staff);
  StaffEditor.install(staff);
  StaffHistory.install(staff);
  StaffImport.install();
  StaffGaps.install(staff);
  StaffParaphrases.install(staff);
  StaffStanding.install(staff);
  StaffAlerts.install();
  StaffAudit.install(staff);

  // --- start -----------------------------------------------------------------------------------

  EntryForm.install();

  const wanted = new URLSearchParams(location.search).get("entry");
  openTab("entries");
  StaffReview.load();
  // The learning-loop tabs show their counts (proposals waiting, entries to review, alerts) from the start.
  StaffParaphrases.load();
  StaffStanding.load();
  StaffAlerts.load();
  if (wanted && /^\d+$/.test(wanted)) staff.openEntry(parseInt(wanted, 10));
})();
