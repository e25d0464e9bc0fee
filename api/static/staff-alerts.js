/* /staff, the alerts tab: early warnings (a platform, district or station with more cases of one issue type
 * in the last 7 days than its past weeks predict), each with its daily counts and cases. */
"use strict";

const StaffAlerts = (() => {
  const { $, el, clear, setText, api, describe, fmtTime, issueName } = JSB;

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

  function install() {
    $("alert-filters").addEventListener("submit", (ev) => { ev.preventDefault(); loadAlerts(); });
  }

  return { install, load: loadAlerts };
})();
