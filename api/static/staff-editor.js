/* /staff, the entry editor: one entry's form (saved with the version being edited: a stale one is refused and
 * the user's text stays in the form, or is merged over the latest version), a new entry, and the review
 * workflow's actions. Which actions each status allows, and which need a comment, come from the server
 * (kb/workflow.py's transitions, in the page's taxonomy as "workflow"): the page does not define them. */
"use strict";

const StaffEditor = (() => {
  const { $, el, clear, show, setText, api, describe, lines, fmtTime, statusName, kindName, taxonomy } = JSB;
  const WORKFLOW = taxonomy.workflow || {};
  const ALLOWED = WORKFLOW.allowed || {};  // status -> the actions it allows
  const NEEDS_COMMENT = new Set(WORKFLOW.needs_comment || []);
  const COMMENT_ASKED = { reject: "驳回需要写明理由。", flag: "请说明条目为什么过时。" };
  let staff = null;
  let FIELD_NAMES = {};
  let ACTION_NAMES = {};

  let editing = null;  // {id, version, view}; null while creating a new entry
  let dirty = false;

  // --- the editor ------------------------------------------------------------------------------

  function checks(container, map, name) {
    clear(container);
    for (const [value, label] of Object.entries(map)) {
      container.appendChild(el("label", { class: "check" },
        el("input", { type: "checkbox", name, value }), " ", label));
    }
  }

  function legalRow(ref) {
    const row = el("div", { class: "row legal-row" },
      el("input", { class: "legal-law grow", maxlength: "300", placeholder: "法律名称，如 中华人民共和国劳动合同法", "aria-label": "法律" }),
      el("input", { class: "legal-article", maxlength: "30", placeholder: "第三十条", "aria-label": "条" }),
      el("button", { type: "button", class: "small", text: "删除", onclick: () => { row.remove(); dirty = true; } }));
    row.querySelector(".legal-law").value = (ref && ref.law) || "";
    row.querySelector(".legal-article").value = (ref && ref.article) || "";
    return row;
  }

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

  function caseBox() {
    const kind = editing ? editing.view.content.kind : $("ed-kind").value;
    show($("case-box"), kind === "past_case");
  }

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
    StaffHistory.load();
  }

  async function openEntry(id) {
    if (dirty && editing && editing.id !== id && !confirm("当前条目有未保存的修改，确定离开？")) return;
    try {
      load(await api("GET", `/v1/entries/${id}`));
    } catch (err) {
      JSB.flash("条目载入失败：" + describe(err), "error");
    }
  }

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
      staff.refreshLists();
      return true;
    } catch (err) {
      if (err.status === 409 && err.code === "stale_version" || err.status === 412) conflict(err);
      else showError(err, "保存失败：");
      return false;
    } finally {
      button.disabled = false;
    }
  }

  /** Keep the user's text after a conflict: a field the user changed keeps the user's value, a field
   * they did not touch takes the latest version's; then save over the latest version. */
  async function keepMine() {
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
  }

  // --- the workflow ----------------------------------------------------------------------------

  async function act(action) {
    if (!editing) return;
    clearMessages();
    if (dirty) {
      setText($("ed-error"), "表单里有未保存的修改：请先保存，再进行审核操作。");
      show($("ed-error"), true);
      return;
    }
    const comment = $("ed-action-comment").value.trim();
    if (NEEDS_COMMENT.has(action) && !comment) {
      setText($("ed-error"), COMMENT_ASKED[action] || `${ACTION_NAMES[action] || action}需要写明理由。`);
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
      staff.refreshLists();
    } catch (err) {
      if (err.status === 409 && err.code === "stale_version" || err.status === 412) conflict(err);
      else showError(err, `${ACTION_NAMES[action] || action}失败：`);
    }
  }

  function install(s) {
    staff = s;
    ({ FIELD_NAMES, ACTION_NAMES } = staff);
    // the editor's pickers from the taxonomy
    staff.options($("ed-kind"), taxonomy.kinds || {}, false);
    staff.options($("ed-jurisdiction"), Object.fromEntries((taxonomy.jurisdictions || ["national"]).map((j) => [j, j === "national" ? "全国" : j])), false);
    checks($("ed-issue-types"), taxonomy.issue_types || {}, "issue_types");
    checks($("ed-referrals"), Object.fromEntries(Object.entries(taxonomy.referral_targets || {}).map(([k, v]) => [k, v.name])), "referrals");

    $("ed-legal-add").addEventListener("click", () => $("ed-legal").appendChild(legalRow(null)));
    $("ed-title").addEventListener("input", suggestSlug);
    $("ed-slug").addEventListener("input", () => { $("ed-slug").dataset.auto = $("ed-slug").value.trim() ? "false" : "true"; });
    $("ed-kind").addEventListener("change", caseBox);
    $("ed-form").addEventListener("input", () => { dirty = true; });
    $("ed-form").addEventListener("change", () => { dirty = true; });
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
    $("ed-form").addEventListener("submit", (ev) => { ev.preventDefault(); save(); });
    $("ed-keep-mine").addEventListener("click", keepMine);
    $("ed-discard").addEventListener("click", () => { dirty = false; openEntry(editing.id); });
    $("ed-actions").querySelectorAll("button[data-action]").forEach((b) => b.addEventListener("click", () => act(b.dataset.action)));
  }

  return {
    install, load, openEntry, clearMessages, showError, conflict,
    /** The entry being edited ({id, version, view}), or null while creating one. */
    current: () => editing,
    /** Whether the form has changes not saved yet. */
    isDirty: () => dirty,
  };
})();
