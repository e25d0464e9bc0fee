/* The console's workspace tabs: my open cases and the team queue (GET /v1/cases, most urgent first, with
 * filters: status, urgency, channel, 回访 due or overdue, not yet taken), and the case view beside the list.
 * Arrow keys move through the list and Enter opens a case. */
"use strict";

const CaseQueue = (() => {
  const { $, el, clear, setText, api, describe, fmtTime } = JSB;
  const T = JSB.taxonomy;
  const named = (map, key) => ((T[map] || {})[key]) || key;
  const REFRESH_MS = 20000;

  let scope = "mine";
  let view = null;
  let timer = null;
  let request = 0;

  function options(select, map) {
    for (const [value, label] of Object.entries(map || {})) select.appendChild(el("option", { value, text: label }));
  }
  options($("qf-status"), T.case_statuses);
  options($("qf-urgency"), T.urgency);
  options($("qf-channel"), T.channels);

  function params(which) {
    const p = new URLSearchParams({ sort: "priority", limit: "200" });
    if (which === "mine") p.set("mine", "true");
    const status = $("qf-status").value;
    if (status) p.set("status", status); else p.set("open", "true");
    for (const [k, id] of [["urgency", "qf-urgency"], ["channel", "qf-channel"], ["followup", "qf-followup"]]) {
      if ($(id).value) p.set(k, $(id).value);
    }
    if (which === "team" && $("qf-unassigned").checked) p.set("unassigned", "true");
    return p;
  }

  function followupCell(c) {
    if (!c.next_followup_on) return el("td", { class: "small muted", text: "—" });
    const cls = c.followup_overdue ? "overdue" : c.followup_due ? "due" : "";
    return el("td", { class: "nowrap small fu " + cls, text: c.next_followup_on + (c.followup_overdue ? " 已逾期" : c.followup_due ? " 今天" : "") });
  }

  function row(c) {
    const open = () => openCase(c.id);
    return el("tr", { class: "case-row" + (c.followup_overdue ? " overdue" : ""), tabindex: "0", dataset: { id: c.id, urgency: c.urgency },
      onclick: open, onkeydown: (e) => {
        if (e.key === "Enter") open();
        else if (e.key === "ArrowDown" && e.currentTarget.nextElementSibling) { e.preventDefault(); e.currentTarget.nextElementSibling.focus(); }
        else if (e.key === "ArrowUp" && e.currentTarget.previousElementSibling) { e.preventDefault(); e.currentTarget.previousElementSibling.focus(); }
      } },
    el("td", { class: "nowrap", text: c.reference || `#${c.id}` }),
    el("td", {}, el("span", { class: "badge", dataset: { level: c.urgency }, text: named("urgency", c.urgency) })),
    el("td", { class: "nowrap small", text: named("channels", c.channel) }),
    el("td", { class: "nowrap" }, el("span", { class: "status-pill", dataset: { status: c.status }, text: named("case_statuses", c.status) })),
    el("td", { class: "nowrap small", text: c.assignee || "未接手" }),
    followupCell(c),
    el("td", { class: "small snippet", text: (c.text_masked || "").slice(0, 80) }));
  }

  async function load() {
    const mine = ++request;
    const which = scope;
    try {
      const res = await api("GET", "/v1/cases?" + params(which));
      if (mine !== request) return;
      // A refresh must not take the keyboard focus away from the row the operator is on.
      const focused = document.activeElement && document.activeElement.classList.contains("case-row") ? document.activeElement.dataset.id : null;
      const tbody = clear($("queue-table").tBodies[0]);
      res.items.forEach((c) => tbody.appendChild(row(c)));
      if (focused) { const again = tbody.querySelector(`tr[data-id="${focused}"]`); if (again) again.focus(); }
      const overdue = res.items.filter((c) => c.followup_overdue).length;
      setText($("queue-summary"), res.total ? `共 ${res.total} 个` + (overdue ? `，其中 ${overdue} 个回访已逾期` : "") + `（${fmtTime(new Date().toISOString())} 更新）`
        : which === "mine" ? "你手上没有未结案的个案。" : "没有符合条件的个案。");
      if (view) tbody.querySelectorAll("tr").forEach((tr) => tr.classList.toggle("open", tr.dataset.id === String(view.id)));
    } catch (err) {
      setText($("queue-summary"), "个案载入失败：" + describe(err));
    }
  }

  /** The counts on the tabs: my open cases, and team cases nobody has taken yet. */
  async function counts() {
    try {
      const [mine, waiting] = await Promise.all([
        api("GET", "/v1/cases?mine=true&open=true&limit=1"),
        api("GET", "/v1/cases?unassigned=true&open=true&limit=1"),
      ]);
      setText($("mine-count"), mine.total ? String(mine.total) : "");
      setText($("team-count"), waiting.total ? String(waiting.total) : "");
    } catch (_) { /* the lists say what went wrong */ }
  }

  function openCase(id) {
    if (view && view.id === id) return;
    if (view) view.close();
    view = CaseView.mount($("queue-case"), id, { onChange: () => {} });
    document.querySelectorAll("#queue-table tr").forEach((tr) => tr.classList.toggle("open", tr.dataset.id === String(id)));
  }

  function show(which) {
    scope = which;
    setText($("queue-title"), which === "mine" ? "我的个案" : "团队待办");
    document.querySelectorAll(".team-only").forEach((n) => { n.hidden = which !== "team"; });
    load();
    clearInterval(timer);
    timer = setInterval(() => { load(); counts(); }, REFRESH_MS);
  }

  function hide() { clearInterval(timer); timer = null; }

  $("queue-filters").addEventListener("change", load);
  $("queue-filters").addEventListener("submit", (ev) => { ev.preventDefault(); load(); });
  $("queue-refresh").addEventListener("click", () => { load(); counts(); });

  return { show, hide, counts, openCase, focusList: () => { const r = document.querySelector("#queue-table tbody tr"); if (r) r.focus(); } };
})();
