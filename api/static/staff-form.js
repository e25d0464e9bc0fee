/* The entry editor's form helpers (/staff): character counters with the schema's real limits (nothing is cut
 * silently: a text over its limit turns red and saving is refused beside the field), checks before sending,
 * and every error shown beside its field, the first one scrolled into view and focused. */
"use strict";

const EntryForm = (() => {
  const { $, el, setText, lines } = JSB;
  const LIMITS = JSB.taxonomy.entry_limits || {};
  // schema field -> the control (or group) it is edited in
  const FIELDS = {
    kind: "ed-kind", slug: "ed-slug", title: "ed-title", question: "ed-question", paraphrases: "ed-paraphrases",
    operator_answer: "ed-operator-answer", worker_answer: "ed-worker-answer", steps: "ed-steps", evidence: "ed-evidence",
    referrals: "ed-referrals", legal_basis: "ed-legal", issue_types: "ed-issue-types", jurisdiction: "ed-jurisdiction",
    effective_from: "ed-effective-from", review_by: "ed-review-by", unverified: "ed-unverified", sources: "ed-sources",
    case: "case-box", "case.situation": "ed-case-situation", "case.actions": "ed-case-actions", "case.outcome": "ed-case-outcome",
    comment: "ed-comment",
  };
  const LISTS = new Set(["paraphrases", "steps", "evidence", "unverified", "sources", "case.actions"]);
  const REQUIRED = { title: "标题", question: "问题", operator_answer: "给接线员的答复", worker_answer: "给劳动者的白话答复" };

  function counterFor(field) {
    const control = $(FIELDS[field]);
    if (!control) return null;
    let c = control.parentElement.querySelector(`.counter[data-field="${field}"]`);
    if (!c) {
      c = el("span", { class: "counter small muted", dataset: { field }, "aria-live": "polite" });
      control.insertAdjacentElement("afterend", c);
    }
    return c;
  }

  /** Over-limit problems of one field right now, in Chinese ([] when fine); updates its counter. */
  function measure(field) {
    const lim = LIMITS[field];
    const control = $(FIELDS[field]);
    if (!lim || !control || !("value" in control)) return [];
    const c = counterFor(field);
    const problems = [];
    let text;
    if (LISTS.has(field)) {
      const items = lines(control.value);
      const longest = items.reduce((m, x) => Math.max(m, x.length), 0);
      text = `${items.length} / ${lim.items} 项` + (lim.chars ? `，每项最多 ${lim.chars} 字（最长 ${longest} 字）` : "");
      if (lim.items && items.length > lim.items) problems.push(`最多 ${lim.items} 项，现在 ${items.length} 项`);
      const long = items.findIndex((x) => lim.chars && x.length > lim.chars);
      if (long >= 0) problems.push(`第 ${long + 1} 项有 ${items[long].length} 字，超过 ${lim.chars} 字`);
    } else {
      const n = control.value.trim().length;
      text = `${n} / ${lim.chars} 字`;
      if (lim.chars && n > lim.chars) problems.push(`最多 ${lim.chars} 字，现在 ${n} 字（超出 ${n - lim.chars} 字）`);
    }
    setText(c, text);
    c.dataset.over = String(problems.length > 0);
    return problems;
  }

  function measureAll() {
    Object.keys(FIELDS).forEach((f) => { if (LIMITS[f]) measure(f); });
  }

  function clearErrors() {
    document.querySelectorAll("#ed-form .field-error").forEach((n) => n.remove());
    document.querySelectorAll('#ed-form [aria-invalid="true"]').forEach((n) => n.removeAttribute("aria-invalid"));
  }

  /** Show ``message`` beside ``field``; returns the control, or null when the field is not on the form. */
  function fieldError(field, message) {
    const key = FIELDS[field] ? field : FIELDS[field.split(".")[0]] ? field.split(".")[0] : null;
    if (!key) return null;
    const control = $(FIELDS[key]);
    if (!control) return null;
    control.setAttribute("aria-invalid", "true");
    const holder = control.closest("label") || control.closest("fieldset") || control.parentElement;
    holder.appendChild(el("p", { class: "field-error", role: "alert", dataset: { field: key }, text: message }));
    return control;
  }

  /** Show errors [{field, message}] beside their fields; the first is scrolled into view and focused.
   * Returns the errors that have no field on the form. */
  function showErrors(errors) {
    clearErrors();
    const rest = [];
    let first = null;
    for (const e of errors) {
      const control = fieldError(e.field, e.message);
      if (!control) rest.push(e);
      else if (!first) first = control;
    }
    if (first) {
      if ($("case-box") && $("case-box").contains(first)) $("case-box").hidden = false;
      first.scrollIntoView({ block: "center", behavior: "instant" });
      const focusable = first.matches("input, textarea, select") ? first : first.querySelector("input, textarea, select");
      if (focusable) focusable.focus({ preventScroll: true });
    }
    return rest;
  }

  /** What is wrong with ``content`` before it is sent (the same rules the server applies, in Chinese). */
  function check(content) {
    const errors = [];
    for (const [field, name] of Object.entries(REQUIRED)) {
      if (!String(content[field] || "").trim()) errors.push({ field, message: `请填写${name}` });
    }
    if (!(content.issue_types || []).length) errors.push({ field: "issue_types", message: "至少选一个问题类型" });
    if (content.slug && !/^[a-z0-9][a-z0-9-]{1,118}[a-z0-9]$/.test(content.slug)) {
      errors.push({ field: "slug", message: "标识只能用小写字母、数字和连字符（-），3 到 120 个字符，首尾不能是连字符；留空则按标题拼音自动生成" });
    }
    for (const field of Object.keys(LIMITS)) {
      measure(field).forEach((message) => errors.push({ field, message }));
    }
    (content.legal_basis || []).forEach((r, i) => {
      if (!r.law || !r.article) errors.push({ field: "legal_basis", message: `第 ${i + 1} 条法律依据：法律名称和条号都要填` });
      else if (!/^第[零〇一二三四五六七八九十百千]+条(之[一二三四五六七八九十]+)?$/.test(r.article)) {
        errors.push({ field: "legal_basis", message: `第 ${i + 1} 条法律依据：条号写成“第三十条”这样的中文数字` });
      }
    });
    if (content.effective_from && content.review_by && content.review_by < content.effective_from) {
      errors.push({ field: "review_by", message: "复核日期不能早于生效日期" });
    }
    if (content.kind === "past_case") {
      const c = content.case || {};
      if (!String(c.situation || "").trim()) errors.push({ field: "case.situation", message: "过往案例须写明情况" });
      if (!String(c.outcome || "").trim()) errors.push({ field: "case.outcome", message: "过往案例须写明结果" });
    }
    return errors;
  }

  const WORKFLOW = [
    [/no referral target|没有填写转介对象/, "referrals"],
    [/evidence checklist|证据清单/, "evidence"],
    [/review_by|复核日期/, "review_by"],
    [/legal basis|法律依据/, "legal_basis"],
  ];

  /** The server's errors as [{field, message}]: validation details by their location, workflow reasons and
   * personal data by the field they name. */
  function fromServer(err) {
    const out = [];
    const details = err && err.details;
    if (Array.isArray(details)) {
      for (const d of details) {
        if (!d || !d.loc) continue;
        const loc = d.loc.filter((p) => p !== "body" && p !== "content");
        let field = loc.filter((p) => !/^\d+$/.test(String(p))).join(".");
        if (!field) field = "title";
        const index = loc.find((p) => /^\d+$/.test(String(p)));
        const where = index !== undefined && LISTS.has(field) ? `第 ${Number(index) + 1} 项：` : "";
        out.push({ field, message: where + (d.message_zh || "不符合要求") });
      }
    } else if (details && Array.isArray(details.reasons_zh)) {
      details.reasons_zh.forEach((reason, i) => {
        const hit = WORKFLOW.find(([re]) => re.test(reason) || re.test((details.reasons || [])[i] || ""));
        out.push({ field: hit ? hit[1] : "_", message: reason });
      });
    } else if (details && Array.isArray(details.fields)) {
      details.fields.forEach((f) => {
        const [path, kind] = String(f).split(": ");
        const field = path.split(".").filter((p) => !/^\d+$/.test(p)).join(".");
        out.push({ field, message: `含有个人信息（${(JSB.taxonomy.pii || {})[kind] || kind}），请删去后再保存` });
      });
    }
    return out;
  }

  function install() {
    for (const field of Object.keys(FIELDS)) {
      const control = $(FIELDS[field]);
      if (!control || !LIMITS[field]) continue;
      // The real limit is checked and shown; the browser must not cut a pasted text silently.
      control.removeAttribute("maxlength");
      control.addEventListener("input", () => measure(field));
    }
    measureAll();
  }

  return { install, measureAll, check, showErrors, clearErrors, fromServer, FIELDS };
})();
