/* /staff, the editor's history: one entry's revisions, the diff of two of them, rollback to an old one (a new
 * draft revision: history is never rewritten), and the second-approver rule shown beside the approve button. */
"use strict";

const StaffHistory = (() => {
  const { $, el, clear, show, setText, api, describe, fmtTime, statusName, taxonomy } = JSB;
  const SECOND_APPROVER = !!(taxonomy.rules || {}).second_approver;
  const CONTENT_ACTIONS = new Set(["create", "edit", "rollback", "import"]);
  let staff = null;
  const editing = () => StaffEditor.current();  // {id, version, view} of the entry in the editor, or null

  async function loadHistory() {
    if (!editing()) return;
    const id = editing().id;
    try {
      const revs = await api("GET", `/v1/entries/${id}/history`);
      if (!editing() || editing().id !== id) return;
      const tbody = clear($("history-table").tBodies[0]);
      const n = revs.length;
      revs.forEach((r, i) => {
        tbody.appendChild(el("tr", { dataset: { version: r.version } },
          el("td", {}, el("input", { type: "radio", name: "diff-a", value: r.version, checked: i === n - 2, "aria-label": `A 第 ${r.version} 版` })),
          el("td", {}, el("input", { type: "radio", name: "diff-b", value: r.version, checked: i === n - 1, "aria-label": `B 第 ${r.version} 版` })),
          el("td", { text: r.version }),
          el("td", { text: staff.ACTION_NAMES[r.action] || r.action }),
          el("td", { text: statusName(r.status) }),
          el("td", { text: r.author }),
          el("td", { text: r.comment || "" }),
          el("td", { text: fmtTime(r.created_at) }),
          el("td", {}, r.version !== editing().version
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
    const blocked = SECOND_APPROVER && editing() && editing().view.status === "in_review" && writers.has(staff.who.name);
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

  async function showDiff() {
    const a = picked("diff-a");
    const b = picked("diff-b");
    const box = clear($("diff"));
    if (!a || !b || a === b) { box.appendChild(el("p", { class: "muted", text: "请选择两个不同的版本。" })); return; }
    try {
      const d = await api("GET", `/v1/entries/${editing().id}/diff?a=${a}&b=${b}`);
      const keys = Object.keys(d.changes || {});
      box.appendChild(el("p", { class: "small", text: `第 ${d.from} 版 → 第 ${d.to} 版：${keys.length ? keys.length + " 处不同" : "没有不同"}` }));
      for (const k of keys) {
        const ch = d.changes[k];
        const section = el("div", { class: "diff-field" }, el("h4", { text: staff.FIELD_NAMES[k] || k }));
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
  }

  async function rollback(toVersion) {
    if (StaffEditor.isDirty() && !confirm("表单里有未保存的修改，回滚会替换它们。继续？")) return;
    StaffEditor.clearMessages();
    try {
      const view = await api("POST", `/v1/entries/${editing().id}/rollback`, {
        body: { to_version: toVersion }, headers: { "If-Match": `"${editing().version}"` } });
      StaffEditor.load(view);
      setText($("ed-action-status"), `已回滚到第 ${toVersion} 版的内容（新的第 ${view.version} 版，草稿）`);
      show($("ed-action-status"), true);
      staff.refreshLists();
    } catch (err) {
      if (err.status === 409 && err.code === "stale_version" || err.status === 412) StaffEditor.conflict(err);
      else StaffEditor.showError(err, "回滚失败：");
    }
  }

  function install(s) {
    staff = s;
    $("diff-button").addEventListener("click", showDiff);
  }

  return { install, load: loadHistory };
})();
