/* /staff, import and export on the entries tab: every entry as JSONL or CSV; a file imported as drafts or
 * published in one transaction (a refused file names its lines). */
"use strict";

const StaffImport = (() => {
  const { $, el, clear, api, describe } = JSB;

  async function exportAs(format) {
    try {
      const text = await api("GET", `/v1/entries/export?format=${format}`, { as: "text" });
      JSB.download(`entries.${format}`, text, format === "csv" ? "text/csv;charset=utf-8" : "application/x-ndjson;charset=utf-8");
    } catch (err) {
      JSB.flash("导出失败：" + describe(err), "error");
    }
  }

  async function importFile(ev) {
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
      StaffEntries.load();
    } catch (err) {
      out.appendChild(el("p", { class: "error", text: "导入失败：" + describe(err) }));
      if (Array.isArray(err.details)) {
        out.appendChild(el("ul", {}, err.details.slice(0, 50).map((d) =>
          el("li", { text: d.line !== undefined ? `第 ${d.line} 行：${d.message}` : JSON.stringify(d) }))));
      }
    }
  }

  function install() {
    $("export-jsonl").addEventListener("click", () => exportAs("jsonl"));
    $("export-csv").addEventListener("click", () => exportAs("csv"));
    $("import-form").addEventListener("submit", importFile);
  }

  return { install };
})();
