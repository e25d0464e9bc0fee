/* /staff: the knowledge-base editor.
 *
 * Entry list with filters, the review queue, one entry's editor (saved with the version being edited:
 * a stale one is refused and the user's text stays in the form), history with diff and rollback, the
 * review workflow, import/export, the gaps tab and the audit log. */
"use strict";

(async () => {
  const { $, el, clear, show, setText, api, describe, lines, fmtTime, issueName, statusName, kindName, taxonomy } = JSB;
  const PAGE = 50;
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
  const ROLE_NAMES = taxonomy.roles || {};
  const SECOND_APPROVER = !!(taxonomy.rules || {}).second_approver;
  const CONTENT_ACTIONS = new Set(["create", "edit", "rollback", "import"]);
  const ALLOWED = {
    draft: ["submit", "archive"], in_review: ["approve", "reject", "archive"],
    published: ["archive", "flag"], archived: ["restore"],
  };

  const who = await JSB.guard();
  if (!who) return;

  let offset = 0;
  let editing = null;  // {id, version, view}; null while creating a new entry
  let dirty = false;

  // --- pickers from the taxonomy ---------------------------------------------------------------

  function options(select, map, keep = true) {
    if (!keep) clear(select);
    for (const [value, label] of Object.entries(map)) select.appendChild(el("option", { value, text: label }));
  }
  options($("f-status"), taxonomy.statuses || {});
  options($("f-kind"), taxonomy.kinds || {});
  options($("f-issue"), taxonomy.issue_types || {});
  options($("ed-kind"), taxonomy.kinds || {}, false);
  options($("ed-jurisdiction"), Object.fromEntries((taxonomy.jurisdictions || ["national"]).map((j) => [j, j === "national" ? "全国" : j])), false);

  function checks(container, map, name) {
    clear(container);
    for (const [value, label] of Object.entries(map)) {
      container.appendChild(el("label", { class: "check" },
        el("input", { type: "checkbox", name, value }), " ", label));
    }
  }
  checks($("ed-issue-types"), taxonomy.issue_types || {}, "issue_types");
  checks($("ed-referrals"), Object.fromEntries(Object.entries(taxonomy.referral_targets || {}).map(([k, v]) => [k, v.name])), "referrals");

  // --- tabs ------------------------------------------------------------------------------------

  const loaders = { entries: loadEntries, review: loadReview, gaps: loadGaps, audit: loadAudit,
    paraphrases: loadParaphrases, standing: loadStanding, alerts: loadAlerts };
  function openTab(name) {
    document.querySelectorAll(".tab").forEach((t) => t.setAttribute("aria-selected", String(t.dataset.tab === name)));
    document.querySelectorAll(".tabpanel").forEach((p) => { p.hidden = p.id !== "tab-" + name; });
    loaders[name]();
  }
  document.querySelectorAll(".tab").forEach((t) => t.addEventListener("click", () => openTab(t.dataset.tab)));

  // --- the entry list and the review queue -----------------------------------------------------

  function entryRow(v) {
    return el("tr", { class: "entry-row", dataset: { id: v.id, slug: v.slug }, tabindex: "0", onclick: () => openEntry(v.id),
      onkeydown: (e) => { if (e.key === "Enter") openEntry(v.id); } },
      el("td", { class: "nowrap", text: v.id }),
      el("td", {}, el("span", { class: "e-title", text: v.title }), v.flagged_outdated ? el("span", { class: "warn small", text: " 已标记过时" }) : null,
        el("div", { class: "small muted", text: v.slug + " · " + (v.issue_types || []).map(issueName).join("、") })),
      el("td", { class: "nowrap", text: kindName(v.kind) }),
      el("td", { class: "nowrap" }, el("span", { class: "status-pill", dataset: { status: v.status }, text: statusName(v.status) })),
      el("td", { class: "nowrap" }, `v${v.version}`,
        v.published_version ? el("div", { class: "small muted", text: `发布 v${v.published_version}` }) : null),
      el("td", { class: "small nowrap", text: fmtTime(v.updated_at) }));
  }

  let listRequest = 0;  // a slower, older list request must not overwrite a newer one
  async function loadEntries() {
    const mine = ++listRequest;
    const params = new URLSearchParams({ limit: String(PAGE), offset: String(offset) });
    for (const [k, id] of [["status", "f-status"], ["kind", "f-kind"], ["issue_type", "f-issue"], ["q", "f-q"]]) {
      const v = $(id).value.trim();
      if (v) params.set(k, v);
    }
    try {
      const res = await api("GET", "/v1/entries?" + params);
      if (mine !== listRequest) return;
      const tbody = clear($("entry-table").tBodies[0]);
      res.items.forEach((v) => tbody.appendChild(entryRow(v)));
      setText($("entry-total"), `共 ${res.total} 条`);
      setText($("page-info"), res.total ? `${offset + 1}–${offset + res.items.length} / ${res.total}` : "");
      $("page-prev").disabled = offset === 0;
      $("page-next").disabled = offset + res.items.length >= res.total;
    } catch (err) {
      JSB.flash("条目列表载入失败：" + describe(err), "error");
    }
  }

  $("filters").addEventListener("submit", (ev) => { ev.preventDefault(); offset = 0; loadEntries(); });
  $("page-prev").addEventListener("click", () => { offset = Math.max(0, offset - PAGE); loadEntries(); });
  $("page-next").addEventListener("click", () => { offset += PAGE; loadEntries(); });

  async function loadReview() {
    try {
      const res = await api("GET", "/v1/entries?status=in_review&limit=200");
      const tbody = clear($("review-table").tBodies[0]);
      for (const v of res.items) {
        tbody.appendChild(el("tr", { class: "entry-row", dataset: { id: v.id }, tabindex: "0", onclick: () => openEntry(v.id) },
          el("td", { text: v.id }), el("td", { text: v.title }), el("td", { text: kindName(v.kind) }),
          el("td", { text: v.author }), el("td", { text: v.version }), el("td", { class: "small", text: fmtTime(v.updated_at) })));
      }
      setText($("review-count"), res.total ? String(res.total) : "");
    } catch (err) {
      JSB.flash("审核队列载入失败：" + describe(err), "error");
    }
  }

  // --- the editor ------------------------------------------------------------------------------

  function legalRow(ref) {
    const row = el("div", { class: "row legal-row" },
      el("input", { class: "legal-law grow", maxlength: "300", placeholder: "法律名称，如 中华人民共和国劳动合同法", "aria-label": "法律" }),
      el("input", { class: "legal-article", maxlength: "30", placeholder: "第三十条", "aria-label": "条" }),
      el("button", { type: "button", class: "small", text: "删除", onclick: () => { row.remove(); dirty = true; } }));
    row.querySelector(".legal-law").value = (ref && ref.law) || "";
    row.querySelector(".legal-article").value = (ref && ref.article) || "";
    return row;
  }
  $("ed-legal-add").addEventListener("click", () => $("ed-legal").appendChild(legalRow(null)));

  function setChecks(container, values) {
    const set = new Set(values || []);
    container.querySelectorAll("input[type=checkbox]").forEach((c) => { c.checked = set.has(c.value); });
  }
  function getChecks(container) {
    return Array.from(container.querySelectorAll("input[type=checkbox]")).filter((c) => c.checked).map((c) => c.value);
  }

  function fillForm(c) {
    $("ed-kind").value = c.kind || "procedure";
    $("ed-slug").value = c.slug || "";
    $("ed-title").value = c.title || "";
    $("ed-question").value = c.question || "";
    $("ed-paraphrases").value = (c.paraphrases || []).join("\n");
    $("ed-operator-answer").value = c.operator_answer || "";
    $("ed-worker-answer").value = c.worker_answer || "";
    $("ed-steps").value = (c.steps || []).join("\n");
    $("ed-evidence").value = (c.evidence || []).join("\n");
    setChecks($("ed-referrals"), c.referrals);
    setChecks($("ed-issue-types"), c.issue_types);
    const legal = clear($("ed-legal"));
    (c.legal_basis || []).forEach((r) => legal.appendChild(legalRow(r)));
    $("ed-jurisdiction").value = c.jurisdiction || "national";
    $("ed-effective-from").value = c.effective_from || "";
    $("ed-review-by").value = c.review_by || "";
    $("ed-unverified").value = (c.unverified || []).join("\n");
    $("ed-sources").value = (c.sources || []).join("\n");
    $("ed-case-situation").value = (c.case && c.case.situation) || "";
    $("ed-case-actions").value = ((c.case && c.case.actions) || []).join("\n");
    $("ed-case-outcome").value = (c.case && c.case.outcome) || "";
    $("ed-comment").value = "";
    $("ed-slug").dataset.auto = c.slug ? "false" : "true";
    caseBox();
    EntryForm.clearErrors();
    EntryForm.measureAll();
    dirty = false;
  }

  /** The content to save: the loaded content (so fields without a form control survive) overlaid
   * with the form. */
  function formContent() {
    const base = editing ? JSON.parse(JSON.stringify(editing.view.content)) : {};
    const c = Object.assign(base, {
      kind: editing ? editing.view.content.kind : $("ed-kind").value,
      slug: editing ? editing.view.content.slug : ($("ed-slug").value.trim() || null),
      title: $("ed-title").value.trim(),
      question: $("ed-question").value.trim(),
      paraphrases: lines($("ed-paraphrases").value),
      operator_answer: $("ed-operator-answer").value.trim(),
      worker_answer: $("ed-worker-answer").value.trim(),
      steps: lines($("ed-steps").value),
      evidence: lines($("ed-evidence").value),
      referrals: getChecks($("ed-referrals")),
      legal_basis: Array.from($("ed-legal").querySelectorAll(".legal-row"))
        .map((r) => ({ law: r.querySelector(".legal-law").value.trim(), article: r.querySelector(".legal-article").value.trim() }))
        .filter((r) => r.law || r.article),
      issue_types: getChecks($("ed-issue-types")),
      jurisdiction: $("ed-jurisdiction").value,
      effective_from: $("ed-effective-from").value || null,
      review_by: $("ed-review-by").value || null,
      unverified: lines($("ed-unverified").value),
      sources: lines($("ed-sources").value),
    });
    if (c.kind === "past_case") {
      c.case = { situation: $("ed-case-situation").value.trim(), actions: lines($("ed-case-actions").value),
        outcome: $("ed-case-outcome").value.trim() };
    } else if (!("case" in c)) {
      c.case = null;
    }
    return c;
  }

  // The slug follows the title (its pinyin, from the server) until someone types their own.
  const suggestSlug = JSB.debounce(async () => {
    const slug = $("ed-slug");
    const title = $("ed-title").value.trim();
    if (editing || slug.dataset.auto !== "true" || !title) return;
    try {
      const res = await api("GET", "/v1/entries/slug?" + new URLSearchParams({ title: title.slice(0, 300) }));
      if (!editing && slug.dataset.auto === "true" && $("ed-title").value.trim() === title) slug.value = res.slug;
    } catch (_) { /* the server makes one on save anyway */ }
  }, 300);
  $("ed-title").addEventListener("input", suggestSlug);
  $("ed-slug").addEventListener("input", () => { $("ed-slug").dataset.auto = $("ed-slug").value.trim() ? "false" : "true"; });

  function caseBox() {
    const kind = editing ? editing.view.content.kind : $("ed-kind").value;
    show($("case-box"), kind === "past_case");
  }
  $("ed-kind").addEventListener("change", caseBox);
  $("ed-form").addEventListener("input", () => { dirty = true; });
  $("ed-form").addEventListener("change", () => { dirty = true; });

  function clearMessages() {
    EntryForm.clearErrors();
    show($("ed-error"), false);
    clear($("ed-error-details"));
    show($("ed-conflict"), false);
    show($("ed-action-status"), false);
  }

  function showError(err, prefix) {
    // Beside each field it names; the first one scrolled into view. What names no field is listed up here.
    const fieldErrors = EntryForm.fromServer(err);
    const rest = EntryForm.showErrors(fieldErrors);
    const placed = fieldErrors.length - rest.length;
    setText($("ed-error"), (prefix || "") + describe(err) + (placed ? `（${placed} 处，见字段旁的红字）` : ""));
    show($("ed-error"), true);
    if (!placed) $("ed-error").scrollIntoView({ block: "center" });
    const details = clear($("ed-error-details"));
    if (fieldErrors.length) {
      rest.forEach((e) => details.appendChild(el("li", { text: e.message })));
      return;
    }
    if (err && Array.isArray(err.details)) {
      for (const d of err.details.slice(0, 20)) {
        if (d && d.line !== undefined) details.appendChild(el("li", { text: `第 ${d.line} 行：${d.message}` }));
        else if (d && d.loc) details.appendChild(el("li", { text: `${(d.loc || []).filter((p) => p !== "body").join(".")}：${d.message_zh || ""}（${d.message || ""}）` }));
      }
    } else if (err && err.details && Array.isArray(err.details.reasons)) {
      err.details.reasons.filter((r) => !err.messageZh.includes(r)).forEach((r) => details.appendChild(el("li", { text: r })));
    }
  }

  function showMeta() {
    const heading = $("ed-heading");
    const meta = $("ed-meta");
    clear(meta);
    if (!editing) {
      setText(heading, "新建条目");
      $("ed-kind").disabled = false;
      $("ed-slug").disabled = false;
      show($("ed-actions"), false);
      show($("ed-history"), false);
      show($("ed-flag"), false);
      $("editor").dataset.status = "new";
      return;
    }
    const v = editing.view;
    setText(heading, v.title);
    $("ed-kind").disabled = true;
    $("ed-slug").disabled = true;
    JSB.append(meta, [
      `#${v.id} · ${v.slug} · ${kindName(v.kind)} · `,
      el("span", { id: "ed-status", class: "status-pill", dataset: { status: v.status }, text: statusName(v.status) }),
      ` · 第 `, el("span", { id: "ed-version", text: v.version }), ` 版 · 已发布版本 ${v.published_version || "无"} · 作者 ${v.author} · 更新于 ${fmtTime(v.updated_at)}`,
    ]);
    $("editor").dataset.status = v.status;
    $("editor").dataset.version = String(v.version);
    $("editor").dataset.entryId = String(v.id);
    setText($("ed-flag"), v.flagged_outdated ? "已标记过时：" + (v.flag_reason || "") : "");
    show($("ed-flag"), !!v.flagged_outdated);
    const allowed = new Set(ALLOWED[v.status] || []);
    if (v.flagged_outdated) allowed.delete("flag");
    $("ed-actions").querySelectorAll("button[data-action]").forEach((b) => { b.disabled = !allowed.has(b.dataset.action); });
    show($("ed-actions"), true);
  }

  function load(view) {
    editing = { id: view.id, version: view.version, view };
    clearMessages();
    fillForm(view.content);
    showMeta();
    show($("editor"), true);
    loadHistory();
  }

  async function openEntry(id) {
    if (dirty && editing && editing.id !== id && !confirm("当前条目有未保存的修改，确定离开？")) return;
    try {
      load(await api("GET", `/v1/entries/${id}`));
    } catch (err) {
      JSB.flash("条目载入失败：" + describe(err), "error");
    }
  }

  $("new-entry").addEventListener("click", () => {
    if (dirty && !confirm("当前条目有未保存的修改，确定离开？")) return;
    editing = null;
    clearMessages();
    fillForm({ kind: "procedure", jurisdiction: "national" });
    showMeta();
    show($("editor"), true);
    $("ed-title").focus();
  });
  $("ed-close").addEventListener("click", () => {
    if (dirty && !confirm("当前条目有未保存的修改，确定关闭？")) return;
    dirty = false;
    show($("editor"), false);
  });

  function conflict(err) {
    const current = err.details && err.details.current;
    setText($("ed-conflict-text"), "别人已经修改了这个条目，请重新载入。" +
      (current ? `（你编辑的是第 ${editing.version} 版，现在是第 ${current} 版。）` : "") + "你的修改还在下面的表单里，没有丢失。");
    show($("ed-conflict"), true);
  }

  async function save() {
    clearMessages();
    const content = formContent();
    const comment = $("ed-comment").value.trim() || undefined;
    const problems = EntryForm.check(content);
    if (problems.length) {
      const rest = EntryForm.showErrors(problems);
      setText($("ed-error"), `有 ${problems.length} 处需要修改，见字段旁的红字。`);
      show($("ed-error"), true);
      rest.forEach((e) => $("ed-error-details").appendChild(el("li", { text: e.message })));
      return false;
    }
    const button = $("ed-save");
    button.disabled = true;
    try {
      let view;
      if (editing) {
        view = await api("PUT", `/v1/entries/${editing.id}`, { body: { content, comment }, headers: { "If-Match": `"${editing.version}"` } });
      } else {
        view = await api("POST", "/v1/entries", { body: { content, comment } });
      }
      load(view);
      setText($("ed-action-status"), `已保存为第 ${view.version} 版（草稿；提交审核并批准后才会发布）`);
      show($("ed-action-status"), true);
      refreshLists();
      return true;
    } catch (err) {
      if (err.status === 409 && err.code === "stale_version" || err.status === 412) conflict(err);
      else showError(err, "保存失败：");
      return false;
    } finally {
      button.disabled = false;
    }
  }
  $("ed-form").addEventListener("submit", (ev) => { ev.preventDefault(); save(); });

  /** Keep the user's text after a conflict: a field the user changed keeps the user's value, a field
   * they did not touch takes the latest version's; then save over the latest version. */
  $("ed-keep-mine").addEventListener("click", async () => {
    const mine = formContent();
    const original = editing.view.content;
    let latest;
    try {
      latest = await api("GET", `/v1/entries/${editing.id}`);
    } catch (err) {
      showError(err, "载入最新版本失败：");
      return;
    }
    const same = (a, b) => JSON.stringify(a === undefined ? null : a) === JSON.stringify(b === undefined ? null : b);
    const merged = {};
    const both = [];
    for (const k of new Set([...Object.keys(latest.content), ...Object.keys(mine)])) {
      if (same(mine[k], original[k])) {
        merged[k] = latest.content[k];
      } else {
        merged[k] = mine[k];
        if (!same(latest.content[k], original[k]) && !same(latest.content[k], mine[k])) both.push(FIELD_NAMES[k] || k);
      }
    }
    const comment = $("ed-comment").value;
    editing = { id: latest.id, version: latest.version, view: latest };
    fillForm(merged);
    $("ed-comment").value = comment;
    dirty = true;
    showMeta();
    if (await save() && both.length) {
      setText($("ed-action-status"), `已保存。以下字段你和别人都改过，保留的是你的版本，请核对：${both.join("、")}`);
    }
  });
  $("ed-discard").addEventListener("click", () => { dirty = false; openEntry(editing.id); });

  // --- the workflow ----------------------------------------------------------------------------

  $("ed-actions").querySelectorAll("button[data-action]").forEach((b) => b.addEventListener("click", () => act(b.dataset.action)));

  async function act(action) {
    if (!editing) return;
    clearMessages();
    if (dirty) {
      setText($("ed-error"), "表单里有未保存的修改：请先保存，再进行审核操作。");
      show($("ed-error"), true);
      return;
    }
    const comment = $("ed-action-comment").value.trim();
    if ((action === "reject" || action === "flag") && !comment) {
      setText($("ed-error"), action === "reject" ? "驳回需要写明理由。" : "请说明条目为什么过时。");
      show($("ed-error"), true);
      $("ed-action-comment").focus();
      return;
    }
    try {
      const view = await api("POST", `/v1/entries/${editing.id}/${action}`, {
        body: comment ? { comment } : {}, headers: { "If-Match": `"${editing.version}"` } });
      load(view);
      $("ed-action-comment").value = "";
      setText($("ed-action-status"), `${ACTION_NAMES[action] || action}：完成，现在是「${statusName(view.status)}」（第 ${view.version} 版）`);
      show($("ed-action-status"), true);
      refreshLists();
    } catch (err) {
      if (err.status === 409 && err.code === "stale_version" || err.status === 412) conflict(err);
      else showError(err, `${ACTION_NAMES[action] || action}失败：`);
    }
  }

  function refreshLists() {
    loadEntries();
    loadReview();
  }

  // --- history, diff, rollback -----------------------------------------------------------------

  async function loadHistory() {
    if (!editing) return;
    const id = editing.id;
    try {
      const revs = await api("GET", `/v1/entries/${id}/history`);
      if (!editing || editing.id !== id) return;
      const tbody = clear($("history-table").tBodies[0]);
      const n = revs.length;
      revs.forEach((r, i) => {
        tbody.appendChild(el("tr", { dataset: { version: r.version } },
          el("td", {}, el("input", { type: "radio", name: "diff-a", value: r.version, checked: i === n - 2, "aria-label": `A 第 ${r.version} 版` })),
          el("td", {}, el("input", { type: "radio", name: "diff-b", value: r.version, checked: i === n - 1, "aria-label": `B 第 ${r.version} 版` })),
          el("td", { text: r.version }),
          el("td", { text: ACTION_NAMES[r.action] || r.action }),
          el("td", { text: statusName(r.status) }),
          el("td", { text: r.author }),
          el("td", { text: r.comment || "" }),
          el("td", { text: fmtTime(r.created_at) }),
          el("td", {}, r.version !== editing.version
            ? el("button", { type: "button", class: "small rollback", text: "回滚到此版", onclick: () => rollback(r.version) }) : null)));
      });
      clear($("diff"));
      show($("ed-history"), true);
      approveRule(revs);
    } catch (err) {
      JSB.flash("历史载入失败：" + describe(err), "error");
    }
  }

  /** The second-approver rule: whoever wrote the version under review may not approve it. */
  function approveRule(revs) {
    const hint = $("ed-approve-hint");
    const button = $("ed-actions").querySelector('button[data-action="approve"]');
    const lastApproval = Math.max(0, ...revs.filter((r) => r.action === "approve").map((r) => r.version));
    const writers = new Set(revs.filter((r) => r.version > lastApproval && CONTENT_ACTIONS.has(r.action)).map((r) => r.author));
    const blocked = SECOND_APPROVER && editing && editing.view.status === "in_review" && writers.has(who.name);
    if (blocked) button.disabled = true;
    setText(hint, blocked ? `须由另一位工作人员批准发布：你参与撰写了这一版（撰写人：${Array.from(writers).join("、")}）。` : "");
    show(hint, !!blocked);
  }

  function picked(name) {
    const c = document.querySelector(`input[name=${name}]:checked`);
    return c ? parseInt(c.value, 10) : null;
  }

  function showValue(v) {
    if (v === null || v === undefined) return "（空）";
    if (typeof v === "string") return v;
    if (Array.isArray(v) && v.every((x) => typeof x === "string")) return v.join("\n");
    return JSON.stringify(v, null, 2);
  }

  $("diff-button").addEventListener("click", async () => {
    const a = picked("diff-a");
    const b = picked("diff-b");
    const box = clear($("diff"));
    if (!a || !b || a === b) { box.appendChild(el("p", { class: "muted", text: "请选择两个不同的版本。" })); return; }
    try {
      const d = await api("GET", `/v1/entries/${editing.id}/diff?a=${a}&b=${b}`);
      const keys = Object.keys(d.changes || {});
      box.appendChild(el("p", { class: "small", text: `第 ${d.from} 版 → 第 ${d.to} 版：${keys.length ? keys.length + " 处不同" : "没有不同"}` }));
      for (const k of keys) {
        const ch = d.changes[k];
        const section = el("div", { class: "diff-field" }, el("h4", { text: FIELD_NAMES[k] || k }));
        if (ch.unified) {
          const pre = el("pre", { class: "unified" });
          ch.unified.split("\n").forEach((line) => {
            const cls = line.startsWith("+++") || line.startsWith("---") ? "meta" : line.startsWith("+") ? "add" : line.startsWith("-") ? "del" : line.startsWith("@@") ? "meta" : "";
            pre.appendChild(el("span", { class: "line " + cls, text: line }));
          });
          section.appendChild(pre);
        } else {
          section.appendChild(el("div", { class: "two" },
            el("pre", { class: "before", text: showValue(ch.before) }),
            el("pre", { class: "after", text: showValue(ch.after) })));
        }
        box.appendChild(section);
      }
    } catch (err) {
      box.appendChild(el("p", { class: "error", text: "比较失败：" + describe(err) }));
    }
  });

  async function rollback(toVersion) {
    if (dirty && !confirm("表单里有未保存的修改，回滚会替换它们。继续？")) return;
    clearMessages();
    try {
      const view = await api("POST", `/v1/entries/${editing.id}/rollback`, {
        body: { to_version: toVersion }, headers: { "If-Match": `"${editing.version}"` } });
      load(view);
      setText($("ed-action-status"), `已回滚到第 ${toVersion} 版的内容（新的第 ${view.version} 版，草稿）`);
      show($("ed-action-status"), true);
      refreshLists();
    } catch (err) {
      if (err.status === 409 && err.code === "stale_version" || err.status === 412) conflict(err);
      else showError(err, "回滚失败：");
    }
  }

  // --- import / export -------------------------------------------------------------------------

  async function exportAs(format) {
    try {
      const text = await api("GET", `/v1/entries/export?format=${format}`, { as: "text" });
      JSB.download(`entries.${format}`, text, format === "csv" ? "text/csv;charset=utf-8" : "application/x-ndjson;charset=utf-8");
    } catch (err) {
      JSB.flash("导出失败：" + describe(err), "error");
    }
  }
  $("export-jsonl").addEventListener("click", () => exportAs("jsonl"));
  $("export-csv").addEventListener("click", () => exportAs("csv"));

  $("import-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const out = clear($("import-result"));
    const file = $("import-file").files[0];
    if (!file) { out.appendChild(el("p", { class: "error", text: "请先选择文件。" })); return; }
    const format = $("import-format").value;
    const status = $("import-status").value;
    try {
      const text = await file.text();
      const res = await api("POST", `/v1/entries/import?format=${format}&status=${status}`, {
        raw: text, contentType: format === "csv" ? "text/csv; charset=utf-8" : "application/x-ndjson; charset=utf-8" });
      out.appendChild(el("p", { class: "ok", text: `导入完成：新建 ${res.created} 条，更新 ${res.updated} 条，未变 ${res.unchanged} 条。` }));
      loadEntries();
    } catch (err) {
      out.appendChild(el("p", { class: "error", text: "导入失败：" + describe(err) }));
      if (Array.isArray(err.details)) {
        out.appendChild(el("ul", {}, err.details.slice(0, 50).map((d) =>
          el("li", { text: d.line !== undefined ? `第 ${d.line} 行：${d.message}` : JSON.stringify(d) }))));
      }
    }
  });

  // --- gaps ------------------------------------------------------------------------------------

  let gapRequest = 0;
  async function loadGaps() {
    const mine = ++gapRequest;
    const params = new URLSearchParams({ days: $("g-days").value || "90" });
    if ($("g-source").value) params.set("source", $("g-source").value);
    const list = clear($("gap-list"));
    setText($("gap-summary"), "载入中…");
    try {
      const res = await api("GET", "/v1/gaps?" + params);
      if (mine !== gapRequest) return;
      setText($("gap-summary"), `${res.questions} 个没答好的问题，分成 ${res.clusters.length} 组（大的在前）。`);
      for (const c of res.clusters) {
        const status = el("span", { class: "small" });
        list.appendChild(el("li", { class: "gap card", dataset: { key: c.key } },
          el("div", { class: "row spread" },
            el("div", {}, (c.terms || []).map((t) => el("span", { class: "chip", text: t }))),
            el("strong", { class: "gap-count", text: `${c.count} 问` })),
          el("p", { class: "small muted", text: [(c.issue_types || []).map(issueName).join("、"),
            Object.entries(c.sources || {}).map(([s, n]) => `${s === "worker" ? "劳动者" : "接线员"} ${n}`).join("，")].filter(Boolean).join(" · ") }),
          el("ul", { class: "examples" }, (c.examples || []).map((x) => el("li", { text: x }))),
          nearestBox(c, status),
          el("div", { class: "row" },
            el("button", { type: "button", class: "draft", text: "都不合适：新建草稿", onclick: (e) => draftFromGap(c, e.currentTarget, status) }),
            status)));
      }
    } catch (err) {
      setText($("gap-summary"), "知识缺口载入失败：" + describe(err));
    }
  }
  $("gap-filters").addEventListener("submit", (ev) => { ev.preventDefault(); loadGaps(); });

  /** The existing entries nearest to a gap: check them first; the questions can become one's paraphrases
   * (a new draft revision, reviewed and approved like any edit) instead of a duplicate entry. */
  function nearestBox(c, status) {
    const box = el("div", { class: "near" });
    const draw = (near) => {
      clear(box);
      const entries = (near && near.entries) || [];
      if (!entries.length) { box.appendChild(el("p", { class: "small muted", text: "没有找到相近的已发布条目。" })); return; }
      box.appendChild(el("p", { class: "small", text: "已有的相近条目（先看看能不能用，避免重复）：" }));
      box.appendChild(el("ul", { class: "plain" }, entries.map((e) => el("li", { class: "near-entry", dataset: { entryId: e.entry_id } },
        entryLink(e.entry_id, e.title),
        el("span", { class: "small muted", text: ` ${{ confident: "很相近", likely: "可能相近", none: "不太相近" }[e.tier] || ""}` +
          (e.score === null || e.score === undefined ? "" : ` · ${Math.round(e.score * 100)}%`) + " " }),
        el("button", { type: "button", class: "small add-paraphrases", text: "把这些问题加为该条目的同义问法",
          onclick: (ev) => addParaphrases(c, e, ev.currentTarget, status) })))));
    };
    if (c.nearest !== undefined) draw(c.nearest);
    else {
      box.appendChild(el("button", { type: "button", class: "small find-near", text: "查找相近条目", onclick: async (ev) => {
        ev.currentTarget.disabled = true;
        try { draw(await api("POST", "/v1/gaps/nearest", { body: { question_ids: c.question_ids } })); }
        catch (err) { setText(status, "查找失败：" + describe(err)); ev.currentTarget.disabled = false; }
      } }));
    }
    return box;
  }

  async function addParaphrases(c, e, button, status) {
    button.disabled = true;
    try {
      const res = await api("POST", "/v1/gaps/paraphrases", { body: { question_ids: c.question_ids, entry_id: e.entry_id } });
      status.dataset.state = "ok";
      if (!res.added.length) {
        setText(status, "这些问法条目里都已经有了，没有改动。");
        button.disabled = false;
        return;
      }
      setText(status, `已把 ${res.added.length} 个问题加为「${res.entry.title}」的同义问法：生成草稿第 ${res.entry.version} 版，` +
        "请提交审核，由另一位工作人员批准后生效。" + (res.skipped.length ? `（${res.skipped.length} 个已有或超出 40 个上限，未加）` : ""));
      openTab("entries");
      load(res.entry);
    } catch (err) {
      setText(status, "加入失败：" + describe(err));
      status.dataset.state = "error";
      button.disabled = false;
    }
  }

  async function draftFromGap(c, button, status) {
    button.disabled = true;
    try {
      const view = await api("POST", "/v1/gaps/draft", { body: { question_ids: c.question_ids } });
      setText(status, `已生成草稿 #${view.id}`);
      openTab("entries");
      load(view);
    } catch (err) {
      setText(status, "生成失败：" + describe(err));
      button.disabled = false;
    }
  }

  // --- the learning loop: paraphrase proposals, standing and flagged entries, alerts -------------

  function entryLink(id, title) {
    return el("a", { href: "#", text: title || `#${id}`, onclick: (e) => { e.preventDefault(); openTab("entries"); openEntry(id); } });
  }

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
  $("p-filters").addEventListener("submit", (ev) => { ev.preventDefault(); loadParaphrases(); });

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
      el("td", {}, entryLink(p.entry_id, p.entry_title), el("div", { class: "small muted", text: p.entry_slug || "" })),
      el("td", { class: "nowrap", text: p.source === "worker" ? "劳动者" : "接线员" }),
      el("td", { text: p.times }),
      el("td", { text: p.nearest === null || p.nearest === undefined ? "—" : p.nearest.toFixed(2) }),
      actions);
  }

  function pct(x) { return (100 * x).toFixed(0) + "%"; }
  function standingRow(s) {
    return el("tr", { dataset: { id: s.entry_id } },
      el("td", { text: s.entry_id }),
      el("td", {}, entryLink(s.entry_id, s.title), s.flagged ? el("span", { class: "warn small", text: " 需复核" }) : null),
      el("td", { text: s.positive }), el("td", { text: s.negative }), el("td", { text: s.shown }),
      el("td", { class: "nowrap", text: `${pct(s.mean)}（${pct(s.low)}–${pct(s.high)}）` }),
      el("td", { text: "×" + s.multiplier.toFixed(3) }));
  }

  async function loadStanding() {
    try {
      const res = await api("GET", "/v1/standing");
      const r = res.rule || {};
      setText($("standing-rule"), `有用：接线员复制或标“有用”、劳动者说“有用”；不对：接线员标“不对”、劳动者说“没用”。` +
        `先验：以全体有用率 ${pct(r.global_rate || 0)} 为中心、相当于 ${r.prior_strength} 票；` +
        `排序系数限定在 ×${(r.multiplier_bounds || [])[0]} 到 ×${(r.multiplier_bounds || [])[1]} 之间，只调整排序，不改变匹配分。` +
        `需复核：至少 ${r.flag_min_votes} 票，且有用率 95% 区间上限低于 ${pct(r.flag_below || 0)}。`);
      const flagged = res.items.filter((s) => s.flagged);
      const ft = clear($("flagged-table").tBodies[0]);
      flagged.forEach((s) => ft.appendChild(standingRow(s)));
      setText($("flagged-summary"), flagged.length ? `${flagged.length} 个条目屡次被标“不对”或“没用”，请复核内容。` : "目前没有需要复核的条目。");
      setText($("flagged-count"), flagged.length ? String(flagged.length) : "");
      const tbody = clear($("standing-table").tBodies[0]);
      res.items.forEach((s) => tbody.appendChild(standingRow(s)));
    } catch (err) {
      setText($("flagged-summary"), "反馈载入失败：" + describe(err));
    }
  }

  const DIMENSION_NAMES = { platform: "平台", district: "区县", station: "站点" };
  let alertRequest = 0;
  async function loadAlerts() {
    const mine = ++alertRequest;
    const params = new URLSearchParams();
    if ($("al-as-of").value) params.set("as_of", $("al-as-of").value);
    if ($("al-dimension").value) params.set("dimension", $("al-dimension").value);
    const list = clear($("alert-list"));
    setText($("alert-summary"), "载入中…");
    try {
      const res = await api("GET", "/v1/alerts?" + params);
      if (mine !== alertRequest) return;
      setText($("alert-rule"), "规则：" + (res.rule.text_zh || res.rule.text) + `。统计期 ${res.window[0]} 至 ${res.window[1]}，对比 ${res.baseline[0]} 至 ${res.baseline[1]}。`);
      setText($("alert-summary"), res.alerts.length ? `${res.alerts.length} 条预警（共检查 ${res.pairs_checked} 个组合）` : `没有预警（共检查 ${res.pairs_checked} 个组合）。`);
      if (!params.has("dimension") && !params.has("as_of")) setText($("alert-count"), res.alerts.length ? String(res.alerts.length) : "");
      for (const a of res.alerts) list.appendChild(alertItem(a));
    } catch (err) {
      setText($("alert-summary"), "预警载入失败：" + describe(err));
    }
  }
  $("alert-filters").addEventListener("submit", (ev) => { ev.preventDefault(); loadAlerts(); });

  function alertItem(a) {
    const max = Math.max(1, ...a.daily.map((d) => d.count));
    const bars = el("div", { class: "spark", "aria-label": "每日案件数" },
      a.daily.map((d, i) => el("span", { class: i >= a.daily.length - 7 ? "bar recent" : "bar", title: `${d.date}：${d.count}`,
        dataset: { h: String(Math.round(10 * d.count / max)) } })));
    return el("li", { class: "alert card", dataset: { dimension: a.dimension, value: a.value, issueType: a.issue_type } },
      el("div", { class: "row spread wrap" },
        el("strong", { text: `${DIMENSION_NAMES[a.dimension] || a.dimension}「${a.value}」· ${issueName(a.issue_type)}` }),
        el("span", { class: "warn", text: `近 7 天 ${a.count} 件，按此前水平应约 ${a.expected} 件（${a.ratio} 倍），p = ${a.p_value}` })),
      el("p", { class: "small muted", text: `此前 28 天 ${a.baseline} 件 · 案件编号：${a.case_ids.join("、")}` }),
      bars,
      el("details", {}, el("summary", { text: `查看案件（${a.cases.length}）` }),
        el("ul", { class: "examples" }, a.cases.map((c) => el("li", {},
          el("span", { class: "small muted", text: `#${c.id} ${fmtTime(c.created_at)} ${[c.platform, c.district, c.station].filter(Boolean).join(" · ")} ` }),
          el("span", { text: c.text_masked }))))));
  }

  // --- audit -----------------------------------------------------------------------------------

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
          el("td", { text: ACTION_NAMES[r.action] || r.action }),
          el("td", { class: "nowrap" }, /^entry:\d+$/.test(r.target || "")
            ? el("a", { href: "#", text: r.target, onclick: (e) => { e.preventDefault(); openTab("entries"); openEntry(parseInt(r.target.slice(6), 10)); } })
            : (r.target || "")),
          el("td", { text: r.version === null || r.version === undefined ? "" : r.version }),
          el("td", { class: "small", text: detailText(r.detail) })));
      }
    } catch (err) {
      JSB.flash("审计日志载入失败：" + describe(err), "error");
    }
  }
  $("audit-filters").addEventListener("submit", (ev) => { ev.preventDefault(); loadAudit(); });

  // --- start -----------------------------------------------------------------------------------

  EntryForm.install();

  const wanted = new URLSearchParams(location.search).get("entry");
  openTab("entries");
  loadReview();
  // The learning-loop tabs show their counts (proposals waiting, entries to review, alerts) from the start.
  loadParaphrases();
  loadStanding();
  loadAlerts();
  if (wanted && /^\d+$/.test(wanted)) openEntry(parseInt(wanted, 10));
})();
