/* /staff, the entries tab: the entry list with its filters and pages (a row opens the entry in the editor). */
"use strict";

const StaffEntries = (() => {
  const { $, el, clear, setText, api, describe, fmtTime, issueName, statusName, kindName, taxonomy } = JSB;
  const PAGE = 50;
  let staff = null;
  let offset = 0;

  function entryRow(v) {
    return el("tr", { class: "entry-row", dataset: { id: v.id, slug: v.slug }, tabindex: "0", onclick: () => staff.openEntry(v.id),
      onkeydown: (e) => { if (e.key === "Enter") staff.openEntry(v.id); } },
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

  function install(s) {
    staff = s;
    // the filters' pickers from the taxonomy
    staff.options($("f-status"), taxonomy.statuses || {});
    staff.options($("f-kind"), taxonomy.kinds || {});
    staff.options($("f-issue"), taxonomy.issue_types || {});

    $("filters").addEventListener("submit", (ev) => { ev.preventDefault(); offset = 0; loadEntries(); });
    $("page-prev").addEventListener("click", () => { offset = Math.max(0, offset - PAGE); loadEntries(); });
    $("page-next").addEventListener("click", () => { offset += PAGE; loadEntries(); });
  }

  return { install, load: loadEntries };
})();
