/* /staff, the feedback tab: each entry's standing from feedback (helpful rate with its 95% interval and the
 * ranking multiplier it earns), and the entries flagged for review. */
"use strict";

const StaffStanding = (() => {
  const { $, el, clear, setText, api, describe } = JSB;
  let staff = null;

  function pct(x) { return (100 * x).toFixed(0) + "%"; }
  function standingRow(s) {
    return el("tr", { dataset: { id: s.entry_id } },
      el("td", { text: s.entry_id }),
      el("td", {}, staff.entryLink(s.entry_id, s.title), s.flagged ? el("span", { class: "warn small", text: " 需复核" }) : null),
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

  function install(s) {
    staff = s;
  }

  return { install, load: loadStanding };
})();
