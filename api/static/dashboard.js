/* /dashboard: the workspace (GET /v1/dashboard: open cases, 回访 due and overdue, dispatches past their SLA,
 * the worker channel week by week, early-warning alerts; an operator sees their own) and, for staff, the case
 * history from GET /v1/stats. Charts are inline SVG (no chart library) with "nice" axis ticks (1, 2, 5 x 10^n). */
"use strict";

(async () => {
  const { $, el, clear, setText, api, describe, issueName, targetName, fmtTime } = JSB;
  const T = JSB.taxonomy;
  const named = (map, key) => ((T[map] || {})[key]) || key;
  const COLORS = ["#2f6fdf", "#e8772e", "#2e9e5b", "#c8393b", "#8a5cc2", "#8c6d3f", "#d95fa8", "#6b7b8c", "#b5b82c", "#1fb3c4"];
  const W = 640;
  const H = 240;
  const PAD = { l: 36, r: 8, t: 10, b: 44 };
  const NAMES = {
    issue_type: (k) => (k === "(none)" ? "（未分类）" : issueName(k)),
    urgency: (k) => ({ emergency: "紧急", high: "较急", normal: "一般", low: "不急" }[k] || k),
    channel: (k) => ({ phone: "电话", wechat: "微信", web: "网页" }[k] || k),
    district: (k) => (k === "(unknown)" ? "（不详）" : k),
  };
  const FEEDBACK = {
    "operator:shown": "接线员：展示", "operator:copied": "接线员：复制", "operator:helpful": "接线员：有用",
    "operator:wrong": "接线员：不对", "operator:corrected": "接线员：更正类型", "worker:helpful": "劳动者：有帮助",
    "worker:unhelpful": "劳动者：没帮助", "operator:emergency": "接线员：确认紧急", "operator:not_emergency": "接线员：不是紧急",
  };

  const who = await JSB.guard();
  if (!who) return;
  const staff = who.role === "staff" || who.role === "admin";
  document.querySelectorAll(".staff-only").forEach((n) => { n.hidden = !staff; });

  /** Axis ticks for counts from 0 to at least ``max``: whole numbers, evenly spaced by 1, 2 or 5 x 10^n, about
   * ``want`` of them (0, 1, 2, 3 / 0, 2, 4, 6 / 0, 5, 10 ...), never 0, 3, 5. */
  function niceTicks(max, want = 4) {
    const top = Math.max(1, Math.ceil(max));
    const raw = top / want;
    const mag = 10 ** Math.floor(Math.log10(raw));
    const step = Math.max(1, [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) || 10 * mag);
    const ticks = [];
    for (let v = 0; v < top + step; v += step) { ticks.push(v); if (v >= top) break; }
    return ticks;
  }

  function svg(tag, attrs, ...children) { return el("svg:" + tag, attrs, ...children); }

  function legend(ul, keys, label) {
    clear(ul);
    keys.forEach((k, i) => {
      const sw = el("span", { class: "swatch" });
      sw.style.background = COLORS[i % COLORS.length];
      ul.appendChild(el("li", {}, sw, label(k)));
    });
  }

  function empty(box, text) {
    clear(box).appendChild(el("p", { class: "muted small", text: text || "这段时间没有数据。" }));
  }

  /** Stacked bars over time: one bar per bucket, one colour per value (top 8, the rest as 其他). */
  function stacked(section, series, totals, label) {
    const box = section.querySelector(".svg-box");
    const ul = section.querySelector(".legend");
    if (!series.length) { empty(box); clear(ul); return; }
    let keys = Object.keys(totals || {});
    const other = keys.length > 8;
    if (other) keys = keys.slice(0, 8);
    const rows = series.map((s) => {
      const counts = Object.assign({}, s.counts);
      if (other) {
        let rest = 0;
        for (const [k, n] of Object.entries(counts)) if (!keys.includes(k)) rest += n;
        counts["(other)"] = rest;
      }
      return { bucket: s.bucket, counts };
    });
    const allKeys = other ? [...keys, "(other)"] : keys;
    const ticks = niceTicks(Math.max(1, ...rows.map((r) => Object.values(r.counts).reduce((a, b) => a + b, 0))));
    const max = ticks[ticks.length - 1];
    const plotW = W - PAD.l - PAD.r;
    const plotH = H - PAD.t - PAD.b;
    const bw = plotW / rows.length;
    const chart = svg("svg", { viewBox: `0 0 ${W} ${H}`, class: "chart-svg", role: "img", "aria-label": section.querySelector("h2").textContent });
    for (const v of ticks) {
      const y = PAD.t + plotH * (1 - v / max);
      chart.appendChild(svg("line", { x1: PAD.l, x2: W - PAD.r, y1: y, y2: y, class: "gridline" }));
      chart.appendChild(svg("text", { x: PAD.l - 4, y: y + 4, class: "axis tick", "text-anchor": "end", text: String(v) }));
    }
    const every = Math.ceil(rows.length / 8);
    rows.forEach((r, i) => {
      let y = PAD.t + plotH;
      const barW = Math.max(1, Math.min(bw * 0.76, 56));
      const x = PAD.l + i * bw + (bw - barW) / 2;
      allKeys.forEach((k, ki) => {
        const n = r.counts[k] || 0;
        if (!n) return;
        const h = (n / max) * plotH;
        y -= h;
        chart.appendChild(svg("rect", { x, y, width: barW, height: h, fill: COLORS[ki % COLORS.length], class: "bar" },
          svg("title", { text: `${r.bucket} ${k === "(other)" ? "其他" : label(k)}：${n}` })));
      });
      if (i % every === 0) {
        chart.appendChild(svg("text", { x: x + barW / 2, y: H - PAD.b + 16, class: "axis", "text-anchor": "middle", text: r.bucket.slice(5) }));
      }
    });
    clear(box).appendChild(chart);
    legend(ul, allKeys, (k) => (k === "(other)" ? "其他" : `${label(k)}（${(totals || {})[k] || ""}）`));
  }

  /** Horizontal grouped bars: one group per row, one bar per measure. */
  function hbars(section, rows, measures, label) {
    const box = section.querySelector(".svg-box");
    const ul = section.querySelector(".legend");
    if (!rows.length) { empty(box); clear(ul); return; }
    const bh = 12;
    const gap = 10;
    const groupH = measures.length * bh + gap;
    const left = 150;
    const h = rows.length * groupH + 10;
    const max = niceTicks(Math.max(1, ...rows.flatMap((r) => measures.map((m) => r[m.key] || 0))))
      .slice(-1)[0];
    const chart = svg("svg", { viewBox: `0 0 ${W} ${h}`, class: "chart-svg", role: "img", "aria-label": section.querySelector("h2").textContent });
    rows.forEach((r, i) => {
      const y0 = 5 + i * groupH;
      chart.appendChild(svg("text", { x: left - 6, y: y0 + (measures.length * bh) / 2 + 4, class: "axis", "text-anchor": "end", text: label(r) }));
      measures.forEach((m, mi) => {
        const v = r[m.key] || 0;
        const w = (v / max) * (W - left - 50);
        chart.appendChild(svg("rect", { x: left, y: y0 + mi * bh, width: Math.max(v ? 1 : 0, w), height: bh - 2, fill: COLORS[mi % COLORS.length], class: "bar" },
          svg("title", { text: `${label(r)} ${m.name}：${v}` })));
        chart.appendChild(svg("text", { x: left + w + 4, y: y0 + mi * bh + bh - 3, class: "axis", text: String(v) }));
      });
    });
    clear(box).appendChild(chart);
    legend(ul, measures.map((m) => m.name), (k) => k);
  }

  // --- the workspace -------------------------------------------------------------------------------

  function figure(id, n, alert) {
    const box = $(id);
    setText(box.querySelector(".n"), n === null || n === undefined ? "–" : String(n));
    box.dataset.alert = String(!!alert && n > 0);
  }

  async function loadWorkspace() {
    const params = new URLSearchParams();
    if (staff) params.set("scope", $("ws-scope").value);
    try {
      const d = await api("GET", "/v1/dashboard?" + params);
      const o = d.open_cases;
      setText($("ws-summary"), (d.scope === "mine" ? `${who.name} 的个案与转办` : "全体接线员") + ` · 截至 ${d.today}`);
      figure("fig-open", o.total);
      figure("fig-emergency", (o.by_urgency.emergency || 0) + (o.by_urgency.high || 0), true);
      figure("fig-unassigned", d.scope === "mine" ? null : o.unassigned, true);
      $("fig-unassigned").hidden = d.scope === "mine";
      figure("fig-due", d.followups.due, false);
      figure("fig-overdue", d.followups.overdue, true);
      figure("fig-awaiting", d.dispatches.awaiting, false);
      figure("fig-late", d.dispatches.beyond_sla, true);
      hbars($("chart-open"), Object.entries(o.by_urgency).map(([k, n]) => ({ key: k, n })), [{ key: "n", name: "个案" }],
        (r) => named("urgency", r.key));
      workerChart(d.worker_weeks || []);
      const late = clear($("late-list"));
      for (const x of d.dispatches.late) {
        late.appendChild(el("li", { class: "late-dispatch" }, el("a", { href: `/console?case=${x.case_id}`, text: `转办 #${x.id}（个案 #${x.case_id}）→ ${x.platform}` }),
          el("span", { class: "small error", text: ` 已超时 ${x.hours_over} 小时（时限 ${fmtTime(x.due_at)}）` })));
      }
      if (!d.dispatches.late.length) late.appendChild(el("li", { class: "muted small", text: "没有超过答复时限的转办。" }));
      const due = clear($("due-list"));
      for (const c of d.followups.cases) {
        const overdue = c.next_followup_on && c.next_followup_on < d.today;
        due.appendChild(el("li", {}, el("a", { href: `/console?case=${c.id}`, text: `${c.reference || "个案 #" + c.id}` }),
          el("span", { class: "small " + (overdue ? "error" : "warn"), text: ` 回访 ${c.next_followup_on}${overdue ? "（已逾期）" : "（今天）"} · ${named("urgency", c.urgency)} · ${c.assignee || "未接手"}` })));
      }
      if (!d.followups.cases.length) due.appendChild(el("li", { class: "muted small", text: "没有到期的回访。" }));
      setText($("alerts-window"), d.alerts_window ? `${d.alerts_window[0]} 至 ${d.alerts_window[1]}` : "");
      const al = clear($("alert-list"));
      const DIM = { platform: "平台", district: "区县", station: "站点" };
      for (const a of d.alerts) {
        al.appendChild(el("li", { class: "alert-item" }, el("strong", { text: `${DIM[a.dimension] || a.dimension}「${a.value}」· ${issueName(a.issue_type)}` }),
          el("span", { class: "small warn", text: ` 近 7 天 ${a.count} 件，按此前水平约 ${a.expected} 件（${a.ratio} 倍）` })));
      }
      if (!d.alerts.length) al.appendChild(el("li", { class: "muted small", text: "没有预警。" }));
    } catch (err) {
      JSB.flash("工作台载入失败：" + describe(err), "error", 0);
    }
  }

  /** Worker questions per week: answered and not answered stacked, hand-offs beside them; the answer rate below. */
  function workerChart(weeks) {
    const series = weeks.map((w) => ({ bucket: w.week, counts: { answered: w.answered, unanswered: w.asked - w.answered } }));
    const totals = { answered: 0, unanswered: 0 };
    weeks.forEach((w) => { totals.answered += w.answered; totals.unanswered += w.asked - w.answered; });
    stacked($("chart-worker"), series.some((s) => s.counts.answered + s.counts.unanswered) ? series : [], totals,
      (k) => ({ answered: "答上", unanswered: "没答上" }[k] || k));
    const asked = weeks.filter((w) => w.asked || w.handoffs);
    if (!asked.length) { empty($("chart-worker").querySelector(".svg-box"), "这段时间工人没有提问，也没有转人工。"); setText($("worker-rate"), ""); return; }
    setText($("worker-rate"), "每周（周一起）答上率与转人工：" + asked.slice(-8).map((w) =>
      `${w.week.slice(5)} ${w.answer_rate === null ? "—" : Math.round(w.answer_rate * 100) + "%"}，转人工 ${w.handoffs}`).join(" · "));
  }

  if (staff) $("ws-scope").addEventListener("change", loadWorkspace);
  loadWorkspace();
  setInterval(loadWorkspace, 60000);
  if (!staff) return;

  // --- the case history (staff) --------------------------------------------------------------------

  async function load() {
    const days = $("s-days").value || "90";
    const interval = $("s-interval").value;
    try {
      const s = await api("GET", `/v1/stats?days=${encodeURIComponent(days)}&interval=${interval}`);
      const q = s.questions || {};
      setText($("stats-summary"), `自 ${s.since} 起共 ${s.cases} 个个案；劳动者提问 ${q.asked || 0} 次，答上 ${q.answered || 0} 次，` +
        `觉得有帮助 ${q.helpful || 0} 次、没帮助 ${q.unhelpful || 0} 次。`);
      for (const dim of ["issue_type", "urgency", "channel", "district"]) {
        stacked($("chart-" + dim), (s.series || {})[dim] || [], (s.totals || {})[dim] || {}, NAMES[dim]);
      }
      hbars($("chart-referrals"), s.referral_outcomes || [], [
        { key: "cases", name: "个案" }, { key: "followed_up", name: "已回访" }, { key: "accepted", name: "已受理" }, { key: "resolved", name: "已解决" },
      ], (r) => (r.referral === "(none)" ? "（未转介）" : targetName(r.referral)));
      const fb = Object.entries(s.feedback || {}).map(([k, n]) => ({ key: k, n }));
      hbars($("chart-feedback"), fb, [{ key: "n", name: "次数" }], (r) => FEEDBACK[r.key] || r.key);
      const tbody = clear($("top-entries").querySelector("tbody"));
      for (const e of s.top_entries || []) {
        tbody.appendChild(el("tr", {},
          el("td", {}, el("a", { href: `/staff?entry=${encodeURIComponent(e.entry_id)}`, text: e.title })),
          el("td", { text: e.helped || 0 }), el("td", { text: e.copied || 0 }), el("td", { text: e.helpful || 0 }), el("td", { text: e.wrong || 0 })));
      }
      if (!(s.top_entries || []).length) tbody.appendChild(el("tr", {}, el("td", { colspan: "5", class: "muted", text: "还没有反馈。" })));
    } catch (err) {
      JSB.flash("统计载入失败：" + describe(err), "error", 0);
    }
  }

  $("stats-filters").addEventListener("submit", (ev) => { ev.preventDefault(); load(); });
  load();
})();
