/* The case view of the console: one saved case as operators work it, shown under the current call once it is
 * saved and in the workspace tabs. The masked note and every addition (append-only notes, each timestamped),
 * taking the case, the triage, "referred to X" in one click and its outcome, the 回访 plan (due dates from the
 * referral's typical duration; overdue ones in red) and the 回访 form, dispatch to a platform that has a
 * sub-line and the platform's replies as they arrive, multi-agency consultation notes.
 *
 * The view follows GET /v1/cases/{id} over the WebSocket /v1/cases/{id}/live: every change (a platform's reply,
 * a colleague's note) is pushed and redrawn. Forms are built once per case and never redrawn, so a live update
 * never wipes what the operator is typing. */
"use strict";

const CaseView = (() => {
  const { el, clear, show, setText, api, describe, token, fmtTime, targetName, issueName, lines, phoneLinks } = JSB;
  const T = JSB.taxonomy;
  const named = (map, key) => ((T[map] || {})[key]) || key;
  const DAY = 86400000;
  let platformsCache = null;  // GET /v1/platforms, once per page

  function platforms() {
    if (!platformsCache) {
      platformsCache = api("GET", "/v1/platforms").then((r) => r.items || []).catch((err) => {
        platformsCache = null;
        throw err;
      });
    }
    return platformsCache;
  }

  /** "还剩 5 小时" / "已超时 3 小时" for a due time. */
  function clock(dueIso, now = Date.now()) {
    const due = new Date(dueIso).getTime();
    if (Number.isNaN(due)) return { text: "", late: false };
    const diff = due - now;
    const abs = Math.abs(diff);
    const span = abs >= DAY ? `${Math.floor(abs / DAY)} 天 ${Math.floor((abs % DAY) / 3600000)} 小时`
      : abs >= 3600000 ? `${Math.floor(abs / 3600000)} 小时 ${Math.floor((abs % 3600000) / 60000)} 分`
        : `${Math.max(1, Math.floor(abs / 60000))} 分钟`;
    return diff >= 0 ? { text: `还剩 ${span}`, late: false } : { text: `已超时 ${span}`, late: true };
  }

  function todayInChina() {
    return new Date(Date.now() + 8 * 3600000).toISOString().slice(0, 10);
  }

  function dayDiff(isoDay, today) {
    return Math.round((Date.parse(isoDay + "T00:00:00Z") - Date.parse(today + "T00:00:00Z")) / DAY);
  }

  /** Redraw a list item by item: an item whose data did not change keeps its node (and any input in it). */
  function keyed(list, items, key, render) {
    const old = new Map(Array.from(list.children).map((n) => [n.dataset.key, n]));
    const nodes = items.map((item) => {
      const k = String(key(item));
      const sig = JSON.stringify(item);
      const prev = old.get(k);
      if (prev && prev.dataset.sig === sig) return prev;
      const node = render(item);
      node.dataset.key = k;
      node.dataset.sig = sig;
      return node;
    });
    clear(list);
    nodes.forEach((n) => list.appendChild(n));
  }

  function status(node, text, state) {
    setText(node, text);
    node.dataset.state = state || "";
  }

  /** Call fn(button) with the button disabled meanwhile; errors go to the status line. */
  async function busy(button, statusNode, fn) {
    button.disabled = true;
    try {
      await fn();
    } catch (err) {
      status(statusNode, describe(err), "error");
    } finally {
      button.disabled = false;
    }
  }

  function section(title, ...children) {
    return el("section", { class: "cv-section" }, el("h3", { text: title }), ...children);
  }

  /** Show case ``caseId`` in ``container``. Returns {id, close(), reload(), data()}. Options: onChange(case). */
  function mount(container, caseId, options = {}) {
    const me = (JSB.me() || {}).name;
    const st = { data: null, ws: null, closed: false, retries: 0, timer: null, replies: null, tick: null };
    clear(container);
    container.dataset.caseId = String(caseId);

    // --- the parts that are redrawn -------------------------------------------------------------
    const header = el("div", { class: "cv-header" });
    const original = el("p", { class: "case-text cv-text" });
    const notes = el("ol", { class: "plain timeline cv-notes", "aria-label": "补充记录" });
    const triage = el("p", { class: "small cv-triage" });
    const referrals = el("ol", { class: "plain cv-referrals" });
    const plan = el("ol", { class: "plain cv-plan", "aria-label": "回访安排" });
    const followups = el("ol", { class: "plain timeline cv-followups", "aria-label": "回访记录" });
    const dispatches = el("ol", { class: "plain cv-dispatches" });
    const consultations = el("ol", { class: "plain cv-consultations" });
    const live = el("span", { class: "conn cv-live", dataset: { state: "connecting" }, text: "连接中…" });

    // --- forms, built once ----------------------------------------------------------------------
    const noteInput = el("textarea", { rows: "2", class: "cv-note-input", maxlength: "4000", "aria-label": "补充记录",
      placeholder: "补充：保存后又了解到的情况（追加，带时间，不会覆盖原记录）" });
    const noteButton = el("button", { type: "button", class: "primary cv-note-add", text: "追加记录", title: "Ctrl+Enter" });
    const noteStatus = el("span", { class: "small status", role: "status" });
    const addNote = () => busy(noteButton, noteStatus, async () => {
      const text = noteInput.value.trim();
      if (!text) { status(noteStatus, "先写下要补充的内容", "error"); noteInput.focus(); return; }
      draw(await api("POST", `/v1/cases/${caseId}/notes`, { body: { text } }));
      noteInput.value = "";
      status(noteStatus, `已追加（${fmtTime(new Date().toISOString())}）`, "ok");
    });
    noteButton.addEventListener("click", addNote);
    noteInput.addEventListener("keydown", (ev) => {
      if (ev.key === "Enter" && (ev.ctrlKey || ev.metaKey) && !ev.shiftKey) { ev.preventDefault(); ev.stopPropagation(); addNote(); }
    });

    const referTarget = el("select", { class: "cv-refer-target", "aria-label": "转介对象" },
      Object.entries(T.referral_targets || {}).map(([k, v]) => el("option", { value: k, text: v.name })));
    const referNote = el("input", { class: "grow cv-refer-note", maxlength: "4000", placeholder: "备注（可选）：如已告知电话、约好的时间", "aria-label": "转介备注" });
    const referButton = el("button", { type: "button", class: "primary cv-refer", text: "记录已转介" });
    const referStatus = el("span", { class: "small status", role: "status" });
    referButton.addEventListener("click", () => busy(referButton, referStatus, async () => {
      const target = referTarget.value;
      const c = await api("POST", `/v1/cases/${caseId}/referrals`, { body: { target, note: referNote.value.trim() } });
      draw(c);
      referNote.value = "";
      const p = (c.followup_plan || []).filter((x) => !x.done_at).slice(-1)[0];
      status(referStatus, `已记录：已转介到${targetName(target)}` + (p ? `，${p.due_on} 回访` : ""), "ok");
    }));

    const fuAccepted = el("select", { class: "cv-fu-accepted", "aria-label": "是否受理" },
      el("option", { value: "", text: "受理情况：不清楚" }), el("option", { value: "true", text: "已受理" }), el("option", { value: "false", text: "未受理" }));
    const fuResolved = el("select", { class: "cv-fu-resolved", "aria-label": "是否解决" },
      el("option", { value: "false", text: "问题未解决" }), el("option", { value: "true", text: "问题已解决（结案）" }));
    const fuAmount = el("input", { type: "number", min: "0", max: "1000000000", step: "0.01", class: "cv-fu-amount", placeholder: "挽回金额（元）", "aria-label": "挽回金额" });
    const fuNotes = el("textarea", { rows: "2", maxlength: "4000", class: "cv-fu-notes", placeholder: "回访情况：工人怎么说、对方处理到哪一步", "aria-label": "回访情况" });
    const fuNext = el("input", { type: "date", class: "cv-fu-next", "aria-label": "下次回访日期" });
    const fuButton = el("button", { type: "button", class: "primary cv-fu-save", text: "记录回访" });
    const fuStatus = el("span", { class: "small status", role: "status" });
    fuButton.addEventListener("click", () => busy(fuButton, fuStatus, async () => {
      const body = { notes: fuNotes.value.trim(), resolved: fuResolved.value === "true" };
      if (fuAccepted.value) body.accepted = fuAccepted.value === "true";
      if (fuAmount.value !== "") {
        const amount = Number(fuAmount.value);
        if (!Number.isFinite(amount) || amount < 0) { status(fuStatus, "挽回金额应为不小于 0 的数字", "error"); fuAmount.focus(); return; }
        body.amount_recovered = amount;
      }
      if (fuNext.value && !body.resolved) body.next_due = fuNext.value;
      const c = await api("POST", `/v1/cases/${caseId}/followups`, { body });
      draw(c);
      fuNotes.value = ""; fuAmount.value = ""; fuNext.value = ""; fuAccepted.value = ""; fuResolved.value = "false";
      status(fuStatus, body.resolved ? "已记录回访，个案已结案" : "已记录回访" + (body.next_due ? `，下次回访 ${body.next_due}` : ""), "ok");
    }));

    const planDay = el("input", { type: "date", class: "cv-plan-day", "aria-label": "回访日期" });
    const planReason = el("input", { class: "grow cv-plan-reason", maxlength: "300", placeholder: "原因（可选）", "aria-label": "回访原因" });
    const planButton = el("button", { type: "button", class: "cv-plan-add", text: "另约回访" });
    const planStatus = el("span", { class: "small status", role: "status" });
    planButton.addEventListener("click", () => busy(planButton, planStatus, async () => {
      if (!planDay.value) { status(planStatus, "请选择回访日期", "error"); planDay.focus(); return; }
      draw(await api("POST", `/v1/cases/${caseId}/followup-plan`, { body: { due_on: planDay.value, reason: planReason.value.trim() } }));
      status(planStatus, `已安排 ${planDay.value} 回访`, "ok");
      planDay.value = ""; planReason.value = "";
    }));

    const dPlatform = el("select", { class: "cv-dispatch-platform", "aria-label": "平台" }, el("option", { value: "", text: "载入中…" }));
    const dNote = el("textarea", { rows: "2", maxlength: "4000", class: "cv-dispatch-note", placeholder: "给平台的说明：请核实什么、工人诉求", "aria-label": "转办说明" });
    const dButton = el("button", { type: "button", class: "primary cv-dispatch", text: "转办到平台分线" });
    const dStatus = el("span", { class: "small status", role: "status" });
    dButton.addEventListener("click", () => busy(dButton, dStatus, async () => {
      const platform = dPlatform.value;
      if (!platform) { status(dStatus, "请选择平台（只列出开通了企业分线的平台）", "error"); return; }
      const open = ((st.data || {}).dispatches || []).find((d) => d.platform === platform && !["resolved", "rejected"].includes(d.status));
      if (open && !confirm(`已有转办 #${open.id} 在等${platform}处理，仍要再转办一次？`)) return;
      const d = await api("POST", `/v1/cases/${caseId}/dispatch`, { body: { platform, note: dNote.value.trim() } });
      dNote.value = "";
      status(dStatus, `已转办到${platform}（转办 #${d.id}），请在 ${fmtTime(d.due_at)} 前等平台答复`, "ok");
      await reload();
    }));
    platforms().then((items) => {
      clear(dPlatform);
      if (!items.length) {
        dPlatform.appendChild(el("option", { value: "", text: "暂无开通企业分线的平台" }));
        dButton.disabled = true;
        return;
      }
      dPlatform.appendChild(el("option", { value: "", text: "选择平台…" }));
      items.forEach((p) => dPlatform.appendChild(el("option", { value: p.platform, text: p.platform })));
      const guess = st.data && st.data.platform;
      if (guess && items.some((p) => p.platform === guess)) dPlatform.value = guess;
    }).catch((err) => { clear(dPlatform).appendChild(el("option", { value: "", text: "平台列表载入失败" })); status(dStatus, describe(err), "error"); });

    const kBodies = el("textarea", { rows: "2", class: "cv-consult-bodies", placeholder: "参加的部门，一行一个：如 人社局、市场监管局", "aria-label": "参加部门" });
    const kActions = el("textarea", { rows: "2", class: "cv-consult-actions", placeholder: "商定的措施，一行一条", "aria-label": "商定措施" });
    const kBy = el("input", { class: "cv-consult-by", maxlength: "200", placeholder: "谁跟进、何时", "aria-label": "跟进人" });
    const kNotes = el("textarea", { rows: "2", maxlength: "4000", class: "cv-consult-notes", placeholder: "会商记录", "aria-label": "会商记录" });
    const kButton = el("button", { type: "button", class: "cv-consult", text: "记录会商" });
    const kStatus = el("span", { class: "small status", role: "status" });
    kButton.addEventListener("click", () => busy(kButton, kStatus, async () => {
      const bodies = lines(kBodies.value);
      if (!bodies.length) { status(kStatus, "请写明参加会商的部门", "error"); kBodies.focus(); return; }
      if (!kBy.value.trim()) { status(kStatus, "请写明谁跟进", "error"); kBy.focus(); return; }
      draw(await api("POST", `/v1/cases/${caseId}/consultations`, {
        body: { bodies, actions: lines(kActions.value), follow_up_by: kBy.value.trim(), notes: kNotes.value.trim() } }));
      kBodies.value = ""; kActions.value = ""; kBy.value = ""; kNotes.value = "";
      status(kStatus, "已记录会商", "ok");
    }));

    JSB.append(container, [
      el("div", { class: "row spread" }, header, live),
      original,
      section("补充记录", notes, el("div", { class: "stack" }, noteInput, el("div", { class: "row wrap" }, noteButton, noteStatus))),
      section("研判", triage),
      section("转介", referrals, el("div", { class: "row wrap" }, referTarget, referNote, referButton), referStatus),
      section("回访", plan, followups,
        el("details", { class: "cv-fu-form", open: true }, el("summary", { text: "记录这次回访" }),
          el("div", { class: "stack" }, el("div", { class: "row wrap" }, fuAccepted, fuResolved, fuAmount), fuNotes,
            el("div", { class: "row wrap" }, el("label", {}, "下次回访 ", fuNext), fuButton, fuStatus))),
        el("div", { class: "row wrap" }, planDay, planReason, planButton, planStatus)),
      section("转办平台分线", dispatches, el("div", { class: "stack" }, el("div", { class: "row wrap" }, dPlatform), dNote,
        el("div", { class: "row wrap" }, dButton, dStatus))),
      section("多部门会商", consultations,
        el("details", {}, el("summary", { text: "记录一次会商" }),
          el("div", { class: "stack" }, kBodies, kActions, kBy, kNotes, el("div", { class: "row wrap" }, kButton, kStatus)))),
    ]);

    // --- drawing --------------------------------------------------------------------------------

    function draw(c) {
      if (st.closed || !c) return;
      const first = st.data === null;
      const before = st.replies;
      st.data = c;
      container.dataset.status = c.status;
      const replies = (c.dispatches || []).reduce((n, d) => n + (d.events || []).filter((e) => e.kind === "reply").length, 0);
      st.replies = replies;
      if (before !== null && replies > before) JSB.flash(`个案 #${c.id}：平台分线有新答复`, "info");

      clear(header).appendChild(el("div", { class: "stack tight" },
        el("h2", { class: "cv-title" }, `个案 #${c.id} `,
          el("span", { class: "status-pill cv-status", dataset: { status: c.status }, text: named("case_statuses", c.status) }), " ",
          el("span", { class: "badge", dataset: { level: c.urgency }, text: named("urgency", c.urgency) })),
        el("p", { class: "small muted" }, [
          `${named("channels", c.channel)} · ${fmtTime(c.created_at)} 保存 · `,
          c.assignee ? `由 ${c.assignee} 跟进` : "未接手",
          c.assignee !== me ? el("button", { type: "button", class: "small cv-claim", text: c.assignee ? "转由我跟进" : "接手",
            onclick: (ev) => busy(ev.currentTarget, noteStatus, async () => draw(await api("POST", `/v1/cases/${caseId}/claim`))) }) : null,
        ]),
        c.reference ? el("p", { class: "small cv-reference" }, `工人求助编号 ${c.reference}`,
          c.has_callback ? el("span", {}, " · 回电号码 ", c.callback ? el("a", { class: "tel cv-callback", href: "tel:" + c.callback.replace(/[^0-9+]/g, ""), text: c.callback }) : "（已留，仅在此显示）")
            : " · 未留回电号码") : null));
      setText(original, c.text_masked);

      keyed(notes, c.notes || [], (n) => n.id, (n) => el("li", { class: "note" },
        el("span", { class: "small muted", text: `${fmtTime(n.at)} · ${n.by}` }), el("p", { class: "note-text", text: n.text })));
      if (!(c.notes || []).length) notes.appendChild(el("li", { class: "small muted empty", text: "还没有补充记录。" }));

      setText(triage, [`问题类型：${(c.issue_types || []).map(issueName).join("、") || "未分类"}`,
        `转介建议：${c.referral ? targetName(c.referral) : "无"}`, c.platform ? `平台：${c.platform}` : null,
        c.district ? `区县：${c.district}` : null].filter(Boolean).join(" · "));
      if (first && c.referral) referTarget.value = c.referral;

      keyed(referrals, c.referrals || [], (r) => r.id, referralItem);
      keyed(plan, c.followup_plan || [], (p) => p.id, planItem);
      keyed(followups, c.followups || [], (f) => f.id, (f) => el("li", { class: "note" },
        el("span", { class: "small muted", text: `${fmtTime(f.at)} · ${f.by} 回访` }),
        el("p", { text: [f.accepted === true ? "已受理" : f.accepted === false ? "未受理" : null, f.resolved ? "已解决" : "未解决",
          f.amount_recovered ? `挽回 ${f.amount_recovered} 元` : null].filter(Boolean).join(" · ") + (f.notes ? `：${f.notes}` : "") })));
      keyed(dispatches, c.dispatches || [], (d) => d.id, dispatchItem);
      if (!(c.dispatches || []).length) dispatches.appendChild(el("li", { class: "small muted empty", text: "还没有转办。" }));
      keyed(consultations, c.consultations || [], (k) => k.id, (k) => el("li", { class: "note" },
        el("span", { class: "small muted", text: `${fmtTime(k.created_at)} · ${k.created_by}` }),
        el("p", { text: `参加：${(k.bodies || []).join("、")}；跟进：${k.follow_up_by}` }),
        (k.actions || []).length ? el("ul", {}, k.actions.map((a) => el("li", { text: a }))) : null,
        k.notes ? el("p", { class: "small", text: k.notes }) : null));
      if (first && c.platform) {
        const opt = Array.from(dPlatform.options).find((o) => o.value === c.platform);
        if (opt) dPlatform.value = c.platform;
      }
      tickClocks();
      if (options.onChange) options.onChange(c);
    }

    function referralItem(r) {
      const box = el("li", { class: "referral-item", dataset: { target: r.target } },
        el("p", {}, el("strong", { text: `已转介：${targetName(r.target)}` }),
          el("span", { class: "small muted", text: ` ${fmtTime(r.at)} · ${r.by}` + (r.note ? ` · ${r.note}` : "") })));
      if (r.outcome) {
        box.appendChild(el("p", { class: "small" }, el("span", { class: "status-pill", dataset: { status: r.outcome === "resolved" || r.outcome === "accepted" ? "resolved" : "rejected" }, text: named("referral_outcomes", r.outcome) }),
          ` ${fmtTime(r.outcome_at)} · ${r.outcome_by || ""}` + (r.outcome_note ? `：${r.outcome_note}` : "")));
        return box;
      }
      const select = el("select", { class: "cv-outcome", "aria-label": "转介结果" },
        Object.entries(T.referral_outcomes || {}).map(([k, v]) => el("option", { value: k, text: v })));
      const note = el("input", { class: "grow cv-outcome-note", maxlength: "4000", placeholder: "结果说明（可选）", "aria-label": "结果说明" });
      const button = el("button", { type: "button", class: "small cv-outcome-save", text: "记录结果" });
      const s = el("span", { class: "small status", role: "status" });
      button.addEventListener("click", () => busy(button, s, async () => {
        draw(await api("POST", `/v1/cases/${caseId}/referrals/${r.id}/outcome`, { body: { outcome: select.value, note: note.value.trim() } }));
      }));
      box.appendChild(el("div", { class: "row wrap" }, select, note, button, s));
      return box;
    }

    function planItem(p) {
      const today = todayInChina();
      const days = dayDiff(p.due_on, today);
      let when;
      let cls = "plan-item";
      if (p.done_at) { when = `已回访（${p.done_by || ""} ${fmtTime(p.done_at)}）`; cls += " done"; }
      else if (days < 0) { when = `已逾期 ${-days} 天`; cls += " overdue"; }
      else if (days === 0) { when = "今天到期"; cls += " due"; }
      else when = `还有 ${days} 天`;
      return el("li", { class: cls, dataset: { due: p.due_on } },
        el("strong", { text: `回访 ${p.due_on}` }), el("span", { class: "plan-when", text: ` · ${when}` }),
        el("p", { class: "small muted", text: p.reason || `${p.created_by} 安排的回访` }));
    }

    function dispatchItem(d) {
      const closed = d.status === "resolved" || d.status === "rejected";
      const sla = el("span", { class: "sla small", dataset: { due: d.due_at || "", awaiting: String(!!d.awaiting_reply) } });
      const item = el("li", { class: "dispatch-item card", dataset: { id: d.id, status: d.status } },
        el("div", { class: "row spread wrap" },
          el("strong", { text: `转办 #${d.id} → ${d.platform}` }),
          el("span", { class: "row" }, el("span", { class: "status-pill", dataset: { status: d.status }, text: named("dispatch_statuses", d.status) }), sla)),
        el("p", { class: "small muted", text: `${fmtTime(d.created_at)} · ${d.created_by}` + (d.note ? ` · 说明：${d.note}` : "") }),
        el("ol", { class: "plain timeline events" }, (d.events || []).map((e) => el("li", { class: "event", dataset: { kind: e.kind } },
          el("span", { class: "small muted", text: `${fmtTime(e.at)} · ${e.by}（${named("roles", e.role)}）` + (e.kind === "reopen" ? " 重新打开" : ` 答复：${named("dispatch_statuses", e.status)}`) }),
          el("p", { class: e.kind === "reply" ? "reply-text" : "small", text: e.kind === "reopen" ? `理由：${e.text}` : e.text })))));
      if (!(d.events || []).length) item.appendChild(el("p", { class: "small muted", text: "平台尚未答复。" }));
      if (closed) {
        const reason = el("input", { class: "grow cv-reopen-reason", maxlength: "1000", placeholder: "重新打开的理由（必填）", "aria-label": "重新打开的理由" });
        const button = el("button", { type: "button", class: "small cv-reopen", text: "重新打开" });
        const s = el("span", { class: "small status", role: "status" });
        button.addEventListener("click", () => busy(button, s, async () => {
          if (!reason.value.trim()) { status(s, "请写明重新打开的理由", "error"); reason.focus(); return; }
          await api("POST", `/v1/dispatches/${d.id}/reopen`, { body: { reason: reason.value.trim() } });
          await reload();
        }));
        item.appendChild(el("details", { class: "reopen" }, el("summary", { class: "small", text: "平台答复后工人仍有问题？重新打开" }),
          el("div", { class: "row wrap" }, reason, button, s)));
      }
      return item;
    }

    function tickClocks() {
      container.querySelectorAll(".sla").forEach((n) => {
        if (n.dataset.awaiting !== "true" || !n.dataset.due) { setText(n, ""); return; }
        const c = clock(n.dataset.due);
        setText(n, `等待答复：${c.text}`);
        n.dataset.late = String(c.late);
      });
    }

    // --- loading and the live socket ---------------------------------------------------------------

    async function reload() {
      try {
        draw(await api("GET", `/v1/cases/${caseId}`));
      } catch (err) {
        JSB.flash("个案载入失败：" + describe(err), "error");
      }
    }

    function setLive(state, text) { live.dataset.state = state; setText(live, text); }

    function connect() {
      if (st.closed) return;
      const scheme = location.protocol === "https:" ? "wss" : "ws";
      const ws = new WebSocket(`${scheme}://${location.host}/v1/cases/${caseId}/live`);
      st.ws = ws;
      ws.addEventListener("open", () => ws.send(JSON.stringify({ type: "auth", token: token() })));
      ws.addEventListener("message", (ev) => {
        let msg;
        try { msg = JSON.parse(ev.data); } catch (_) { return; }
        if (msg.type === "case") { st.retries = 0; setLive("ok", "实时更新"); draw(msg.case); }
        else if (msg.type === "error") setLive("error", msg.message_zh || "出错了");
      });
      ws.addEventListener("close", (ev) => {
        if (st.closed || ws !== st.ws) return;
        if (ev.code === 4401) { JSB.clearSession(); JSB.goLogin(); return; }
        if (ev.code === 4404 || ev.code === 4403 || ev.code === 4400) { setLive("error", "无法实时更新"); return; }
        const wait = Math.min(1000 * 2 ** st.retries, 15000);
        st.retries += 1;
        setLive("warn", `已断开，${Math.round(wait / 1000)} 秒后重连`);
        st.timer = setTimeout(connect, wait);
      });
    }

    reload();
    connect();
    st.tick = setInterval(tickClocks, 30000);

    return {
      id: caseId,
      data: () => st.data,
      reload,
      focusNote: () => noteInput.focus(),
      addNote,
      close() {
        st.closed = true;
        clearTimeout(st.timer);
        clearInterval(st.tick);
        if (st.ws) st.ws.close(1000);
      },
    };
  }

  return { mount, clock, platforms };
})();
