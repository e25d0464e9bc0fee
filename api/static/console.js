/* /console: the operator's live assist and case workspace.
 *
 * As the operator types, the whole note goes over the WebSocket /v1/calls/{call_id}/live (debounced
 * ~150 ms); the server answers with only the sections that changed, and only those are redrawn.
 * Saving makes the note a case: the note is kept as saved, and what comes up afterwards is appended in the
 * case view below it (console-case.js). The tabs 我的个案 / 团队待办 are the workspace (console-queue.js).
 * Keyboard: Ctrl+Enter saves (or appends a note), Ctrl+Shift+Enter saves and starts the next call, Alt+N
 * starts a new call, Alt+1/2/3 switch tabs. */
"use strict";

(async () => {
  const { $, el, clear, show, setText, api, describe, token, clearSession, goLogin, copyText, targetName, fmtTime } = JSB;
  const T = JSB.taxonomy;
  const TIERS = { confident: "确定", likely: "可能", none: "仅供参考" };
  const DEBOUNCE_MS = 150;
  const MAX_WAIT_MS = 1000;
  const URGENCY = { emergency: "紧急", high: "较急", normal: "一般", low: "不急" };
  const ENTITY_NAMES = {
    platforms: "平台", roles: "身份", districts: "区县", money: "金额", dates: "日期", durations: "时长",
    vehicles: "车辆", injuries: "伤情", injury_severity: "伤情程度",
  };
  const SEVERITY = { severe: "重", moderate: "中", minor: "轻" };

  const who = await JSB.guard();
  if (!who) return;

  const note = $("note");
  let callId = newCallId();
  let ws = null;
  let ready = false;
  let seq = 0;
  let retries = 0;
  let retryTimer = null;
  let caseId = null;
  let cleared = true;  // the panels show nothing (empty note)
  let current = {};    // the latest value of each section, as the server sent it
  let picked = null;   // the referral target the operator picked (null: follow the top one)
  let caseView = null; // the saved case of this call (console-case.js)
  let crisis = { text: null, at: 0, danger: null };  // the last /v1/suggest asked for guidance

  function newCallId() {
    const rand = new Uint32Array(2);
    crypto.getRandomValues(rand);
    return "c" + Date.now().toString(36) + rand[0].toString(36) + rand[1].toString(36);
  }

  function setConn(state, text) {
    const c = $("conn-status");
    c.dataset.state = state;
    setText(c, text);
  }

  // --- the socket ------------------------------------------------------------------------------

  function connect() {
    clearTimeout(retryTimer);
    ready = false;
    setText($("call-id"), callId);
    setConn("connecting", "连接中…");
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const sock = new WebSocket(`${scheme}://${location.host}/v1/calls/${encodeURIComponent(callId)}/live`);
    ws = sock;
    sock.addEventListener("open", () => sock.send(JSON.stringify({ type: "auth", token: token() })));
    sock.addEventListener("message", (ev) => {
      if (sock !== ws) return;
      let msg;
      try { msg = JSON.parse(ev.data); } catch (_) { return; }
      onMessage(msg);
    });
    sock.addEventListener("close", (ev) => {
      if (sock !== ws) return;  // replaced by a new call's socket
      ready = false;
      if (ev.code === 4401) { clearSession(); goLogin(); return; }
      if (ev.code === 4403) { setConn("error", "你的角色无权使用实时辅助"); return; }
      const wait = Math.min(1000 * 2 ** retries, 15000);
      retries += 1;
      setConn("error", `连接已断开，${Math.round(wait / 1000)} 秒后重连…`);
      retryTimer = setTimeout(connect, wait);
    });
  }

  function onMessage(msg) {
    if (msg.type === "ready") {
      ready = true;
      retries = 0;
      setConn("ok", "实时辅助已连接");
      current = {};  // a new socket: the server sends every section again
      if (note.value.trim()) sendNote();
    } else if (msg.type === "update") {
      if (!note.value.trim()) return;
      for (const section of msg.changed || []) current[section] = msg[section];
      cleared = false;
      for (const section of msg.changed || []) render(section);
      setConn("ok", "实时辅助已连接");
    } else if (msg.type === "unchanged") {
      if (cleared && note.value.trim()) renderAll();
    } else if (msg.type === "error") {
      setConn(msg.code === "unauthorized" || msg.code === "forbidden" ? "error" : "warn", msg.message_zh || msg.message || "出错了");
    }
  }

  function sendNote() {
    const text = note.value;
    if (!text.trim()) { clearPanels(); return; }
    if (!ws || !ready || ws.readyState !== WebSocket.OPEN) return;  // sent on "ready"
    seq += 1;
    ws.send(JSON.stringify({ type: "note", seq, text }));
  }

  // Debounced, but a fast typist who never pauses still gets an update at least every MAX_WAIT_MS.
  let debounceTimer = null;
  let firstPending = 0;
  note.addEventListener("input", () => {
    const now = Date.now();
    if (!debounceTimer) firstPending = now;
    clearTimeout(debounceTimer);
    const wait = Math.max(0, Math.min(DEBOUNCE_MS, firstPending + MAX_WAIT_MS - now));
    debounceTimer = setTimeout(() => { debounceTimer = null; sendNote(); }, wait);
  });

  // --- drawing the sections --------------------------------------------------------------------

  function render(section) {
    const v = current[section];
    if (section === "triage") renderTriage(v);
    else if (section === "suggestions") renderSuggestions(v || []);
    else if (section === "banner") show($("no-good-answer"), !!v);
    else if (section === "no_good_answer") { if (!("banner" in current)) show($("no-good-answer"), !!v); }
    else if (section === "clarify") renderClarify(v);
    else if (section === "referrals") renderReferrals(v || []);
    else if (section === "deadlines") renderDeadlines(v || []);
    else if (section === "emergency_contacts") renderEmergency(v || []);
    if (section === "triage" || section === "emergency_contacts") dangerCheck();
  }

  function renderAll() {
    cleared = false;
    for (const s of Object.keys(current)) render(s);
  }

  function clearPanels() {
    cleared = true;
    renderTriage(null);
    renderSuggestions([]);
    show($("no-good-answer"), false);
    renderReferrals([]);
    renderDeadlines([]);
    renderEmergency([]);
    renderClarify(null);
    show($("guidance"), false);
    show($("danger-verdict"), false);
    setText($("verdict-status"), "");
    crisis = { text: null, at: 0, danger: null };
  }

  function renderTriage(t) {
    const badge = $("urgency");
    const reasons = clear($("urgency-reasons"));
    const types = clear($("issue-types"));
    const ents = clear($("entities"));
    const abstain = $("abstain");
    if (!t) { show(badge, false); show(abstain, false); return; }
    const level = (t.urgency || {}).level || "normal";
    badge.dataset.level = level;
    setText(badge, URGENCY[level] || level);
    show(badge, true);
    for (const r of (t.urgency || {}).reasons || []) reasons.appendChild(el("li", { text: r.detail || r.code }));
    setText(abstain, t.abstain ? "问题类型不确定：请向来电人多问几句" : "");
    show(abstain, !!t.abstain);
    const labels = new Set(t.labels || []);
    for (const s of t.issue_types || []) {
      const pct = Math.round((s.score || 0) * 100);
      const bar = el("span", { class: "bar" });
      bar.style.width = `${Math.max(2, Math.min(100, pct))}%`;
      types.appendChild(el("li", { class: labels.has(s.id) ? "scored on" : "scored", dataset: { id: s.id } },
        el("span", { class: "name", text: s.name || s.id }),
        el("span", { class: "meter" }, bar),
        el("span", { class: "pct", text: `${pct}%` })));
    }
    const e = t.entities || {};
    for (const [key, name] of Object.entries(ENTITY_NAMES)) {
      const v = e[key];
      if (v === null || v === undefined || (Array.isArray(v) && !v.length)) continue;
      const items = (Array.isArray(v) ? v : [v]).map((x) => entityText(key, x));
      ents.appendChild(el("dt", { text: name }));
      ents.appendChild(el("dd", { text: items.join("、") }));
    }
    if (t.pii && t.pii.length) {
      ents.appendChild(el("dt", { text: "已遮盖的个人信息" }));
      ents.appendChild(el("dd", { text: t.pii.map((k) => (T.pii || {})[k] || "个人信息").join("、") }));
    }
  }

  function entityText(key, x) {
    if (x === null || typeof x !== "object") return key === "injury_severity" ? SEVERITY[x] || String(x) : String(x);
    if (key === "money") return x.text ? `${x.text}（${x.value}${x.value_max ? "–" + x.value_max : ""} 元）` : `${x.value} 元`;
    if (key === "dates") return x.text ? `${x.text}（${x.start}${x.end && x.end !== x.start ? " 至 " + x.end : ""}）` : String(x.start);
    if (key === "durations") return x.text ? `${x.text}（约 ${x.days} 天）` : `${x.days} 天`;
    if (key === "injuries") return `${x.word}（${SEVERITY[x.severity] || x.severity}）`;
    return x.text || JSON.stringify(x);
  }

  function renderSuggestions(list) {
    const ol = clear($("suggestions"));
    // Crisis support pinned first (a note about self-harm), then in the order of the score shown (the server
    // sends them so; a missing score goes last).
    const key = (s) => (s.pinned ? 2 : 0) + (s.score === null || s.score === undefined ? -1 : s.score);
    const sorted = list.slice().sort((a, b) => key(b) - key(a));
    sorted.forEach((s, i) => ol.appendChild(suggestionCard(s, i)));
  }

  function suggestionCard(s, i) {
    const score = s.score === null || s.score === undefined ? null : Math.round(s.score * 100);
    const status = el("span", { class: "small muted fb" });
    const tier = s.tier || (s.good_enough ? "likely" : "none");
    const li = el("li", { class: "suggestion" + (tier === "confident" ? " best" : ""), dataset: { entryId: s.entry_id, version: s.version, tier, pinned: s.pinned || "", score: s.score === null || s.score === undefined ? "" : String(s.score) } },
      el("div", { class: "row spread" },
        el("h3", { class: "s-title", text: s.title }),
        el("span", { class: "row small" },
          el("span", { class: "tier", dataset: { tier }, text: TIERS[tier] || tier }),
          el("span", { class: "muted", text: [s.pinned === "safety" ? "安全优先" : null, tier === "confident" && i === 0 ? "推荐" : null, score !== null ? `可信度 ${score}%` : null].filter(Boolean).join(" · ") }))),
      el("p", { class: "reply", text: s.reply }),
      s.steps && s.steps.length ? el("div", {}, el("p", { class: "label", text: "步骤" }), el("ol", {}, s.steps.map((x) => el("li", { text: x })))) : null,
      s.evidence && s.evidence.length ? el("div", {}, el("p", { class: "label", text: "证据" }), el("ul", { class: "evidence" }, s.evidence.map((x) => el("li", { text: x })))) : null,
      s.legal_basis && s.legal_basis.length ? el("p", { class: "small basis" }, el("span", { class: "label", text: "法律依据 " }), s.legal_basis.join("；")) : null,
      s.unverified && s.unverified.length ? el("p", { class: "small warn", text: "待核实：" + s.unverified.join("；") }) : null,
      el("p", { class: "small muted asof", text: `截至 ${s.as_of}` + (s.review_by ? ` · 复核日期 ${s.review_by}` : "") }),
      el("div", { class: "row wrap" },
        el("button", { type: "button", class: "copy", onclick: () => copyReply(s, status), text: "复制答复" }),
        el("button", { type: "button", class: "helpful", onclick: () => feedback("helpful", s, status), text: "有用" }),
        el("button", { type: "button", class: "wrong", onclick: () => feedback("wrong", s, status), text: "不对" }),
        status));
    return li;
  }

  async function copyReply(s, status) {
    const ok = await copyText(s.reply);
    setText(status, ok ? "已复制" : "复制失败，请手动选择文字");
    await feedback("copied", s, status, ok ? "已复制" : null);
  }

  async function feedback(event, s, status, prefix) {
    const body = { event, entry_id: s.entry_id, entry_version: s.version };
    if (caseId) body.case_id = caseId;
    if (note.value.trim()) body.query = note.value.slice(0, 5000);
    try {
      await api("POST", "/v1/feedback", { body });
      const done = { copied: "已记录", helpful: "已记为有用", wrong: "已记为不对" }[event];
      setText(status, prefix ? `${prefix}，${done}` : done);
      status.dataset.state = "ok";
    } catch (err) {
      setText(status, "反馈未记录：" + describe(err));
      status.dataset.state = "error";
    }
  }

  function renderClarify(c) {
    show($("clarify"), !!(c && c.options && c.options.length));
    const ul = clear($("clarify-options"));
    if (!c) return;
    setText($("clarify-question"), "可以追问：" + (c.question || ""));
    for (const o of c.options || []) ul.appendChild(el("li", { text: "· " + o.label }));
  }

  // --- crisis: the guidance shown above everything, and the operator's verdict on the danger flag ------
  // The live frames carry urgency and emergency contacts; the guidance and the danger detector's level come
  // with POST /v1/suggest, asked once when a crisis shows up (not on every key).

  function dangerCheck() {
    const t = current.triage || {};
    const level = (t.urgency || {}).level;
    const contacts = current.emergency_contacts || [];
    // "check": not an emergency, but the operator is asked to put one safety question (guidance says how).
    const flagged = level === "emergency" || contacts.length > 0 || (t.danger && ((t.danger.level && t.danger.level !== "none") || t.danger.check));
    show($("danger-verdict"), !!flagged && !!note.value.trim());
    if (!flagged) { show($("guidance"), false); return; }
    const text = note.value;
    if (text === crisis.text || Date.now() - crisis.at < 3000) return;
    crisis = { text, at: Date.now(), danger: crisis.danger };
    api("POST", "/v1/suggest", { body: { text: text.slice(0, 5000) } }).then((res) => {
      if (note.value !== text) return;
      crisis.danger = (res.triage || {}).danger || null;
      setText($("guidance-text"), res.guidance || "");
      show($("guidance"), !!res.guidance);
      const passive = crisis.danger && crisis.danger.level === "passive";
      setText($("emergency").querySelector("h2"), passive ? "先确认安全：直接询问是否有轻生打算" : "紧急情况：先保安全");
      $("emergency").dataset.level = passive ? "passive" : "now";
    }).catch(() => { /* the live panels still show the contacts */ });
  }

  async function verdict(event) {
    const status = $("verdict-status");
    const body = { event };
    if (caseId) body.case_id = caseId;
    if (note.value.trim()) body.query = note.value.slice(0, 5000);
    try {
      await api("POST", "/v1/feedback", { body });
      setText(status, event === "emergency" ? "已记录：你判断这是紧急情况（用于改进识别）" : "已记录：你判断这不是紧急情况（用于改进识别）");
      status.dataset.state = "ok";
    } catch (err) {
      setText(status, "未记录：" + describe(err));
      status.dataset.state = "error";
    }
  }
  $("verdict-emergency").addEventListener("click", () => verdict("emergency"));
  $("verdict-not").addEventListener("click", () => verdict("not_emergency"));

  function renderReferrals(list) {
    const picker = clear($("referral-picker"));
    if (!list.length) picker.appendChild(el("option", { value: "", text: "（暂无）" }));
    for (const r of list) {
      picker.appendChild(el("option", { value: r.target, text: r.name }));
    }
    if (picked && !list.some((r) => r.target === picked)) {
      picker.appendChild(el("option", { value: picked, text: targetName(picked) + "（已选）" }));
    }
    picker.value = picked || (list[0] ? list[0].target : "");
    renderReferralCard();
  }

  function renderReferralCard() {
    const target = $("referral-picker").value;
    const list = current.referrals || [];
    const r = list.find((x) => x.target === target) || (target ? referralFromTaxonomy(target) : null);
    show($("referral-card"), !!r);
    if (!r) return;
    setText($("referral-name"), r.name);
    JSB.append(clear($("referral-contact")), JSB.phoneLinks(r.contact));
    setText($("referral-reason"), r.reason || "");
    const ev = clear($("referral-evidence"));
    for (const x of r.evidence || []) ev.appendChild(el("li", { text: x }));
  }

  function referralFromTaxonomy(target) {
    const t = (JSB.taxonomy.referral_targets || {})[target];
    return t ? { target, name: t.name, contact: t.contact, reason: "接线员选择", evidence: [] } : null;
  }

  $("referral-picker").addEventListener("change", async () => {
    picked = $("referral-picker").value || null;
    renderReferralCard();
    if (caseId && picked) {
      try {
        await api("PATCH", `/v1/cases/${caseId}`, { body: { referral: picked } });
        caseStatus(`个案 #${caseId} 的转介已改为：${targetName(picked)}`, "ok");
      } catch (err) {
        caseStatus("转介未更新：" + describe(err), "error");
      }
    }
  });

  function renderDeadlines(list) {
    const ul = clear($("deadlines"));
    show($("no-deadlines"), !list.length);
    for (const d of list) {
      const left = d.days_left === null || d.days_left === undefined ? null
        : d.days_left < 0 ? `已过 ${-d.days_left} 天` : `还剩 ${d.days_left} 天`;
      ul.appendChild(el("li", { class: "deadline" + (d.days_left !== null && d.days_left <= 7 ? " close" : "") },
        el("strong", { text: d.name }),
        d.due ? el("span", { text: ` 截止 ${d.due}` }) : null,
        left ? el("span", { class: "left", text: `（${left}）` }) : null,
        d.unverified ? el("span", { class: "warn small", text: "（待核实）" }) : null,
        d.note ? el("p", { class: "small", text: d.note }) : null,
        d.basis ? el("p", { class: "small muted", text: "依据：" + d.basis }) : null));
    }
  }

  function renderEmergency(list) {
    const ul = clear($("emergency-list"));
    show($("emergency"), list.length > 0);
    for (const c of list) {
      ul.appendChild(el("li", {},
        el("a", { class: "call", href: "tel:" + String(c.number).replace(/[^0-9+]/g, ""), text: `${c.name} ${c.number}` }),
        el("span", { class: "small", text: " " + (c.when || "") })));
    }
  }

  // --- saving the case -------------------------------------------------------------------------

  function caseStatus(text, state) {
    const p = $("case-status");
    setText(p, text);
    p.dataset.state = state;
    show(p, true);
  }

  async function saveCase() {
    if (caseId) return true;
    const text = note.value.trim();
    if (!text) { caseStatus("记录是空的，先写下来电内容", "error"); note.focus(); return false; }
    const button = $("save-case");
    button.disabled = true;
    const body = { text: text.slice(0, 5000), channel: $("channel").value, call_id: callId };
    const referral = $("referral-picker").value;
    if (referral) body.referral = referral;
    try {
      const c = await api("POST", "/v1/cases", { body });
      caseId = c.id;
      const cid = $("case-status");
      cid.dataset.caseId = String(c.id);
      caseStatus(`已保存个案 #${c.id}` + (c.referral ? `，转介建议：${targetName(c.referral)}` : "") + "。之后了解到的情况请写在下面的“补充记录”里。", "ok");
      setText(button, "已保存");
      note.readOnly = true;
      note.classList.add("saved");
      const box = $("call-case");
      show(box, true);
      caseView = CaseView.mount(box, c.id);
      caseView.focusNote();
      CaseQueue.counts();
      return true;
    } catch (err) {
      caseStatus("保存失败：" + describe(err), "error");
      button.disabled = false;
      return false;
    }
  }

  function newCall(ask = true) {
    if (ask && note.value.trim() && !caseId && !confirm("当前记录还没保存，确定开始新来电？")) return;
    note.value = "";
    note.readOnly = false;
    note.classList.remove("saved");
    caseId = null;
    picked = null;
    current = {};
    clearPanels();
    show($("case-status"), false);
    delete $("case-status").dataset.caseId;
    if (caseView) { caseView.close(); caseView = null; }
    clear($("call-case"));
    show($("call-case"), false);
    const button = $("save-case");
    button.disabled = false;
    setText(button, "保存个案");
    callId = newCallId();
    const old = ws;
    ws = null;
    if (old) old.close(1000);
    connect();
    counter();
    openTab("call");
    note.focus();
  }

  async function saveAndNext() {
    if (!note.value.trim() && !caseId) { newCall(false); return; }
    if (await saveCase()) newCall(false);
  }

  $("save-case").addEventListener("click", saveCase);
  $("save-next").addEventListener("click", saveAndNext);
  $("new-call").addEventListener("click", () => newCall());

  function counter() {
    const n = note.value.length;
    setText($("note-count"), n ? `${n} / 5000 字` : "");
  }
  note.addEventListener("input", counter);

  // --- tabs and keys ---------------------------------------------------------------------------

  function openTab(name) {
    document.querySelectorAll(".tabs .tab").forEach((t) => t.setAttribute("aria-selected", String(t.dataset.tab === name)));
    show($("tab-call"), name === "call");
    show($("tab-queue"), name !== "call");
    if (name === "call") CaseQueue.hide();
    else CaseQueue.show(name);
  }
  document.querySelectorAll(".tabs .tab").forEach((t) => t.addEventListener("click", () => openTab(t.dataset.tab)));

  document.addEventListener("keydown", (ev) => {
    const ctrl = ev.ctrlKey || ev.metaKey;
    if (ctrl && ev.key === "Enter" && ev.shiftKey) { ev.preventDefault(); saveAndNext(); return; }
    if (ctrl && ev.key === "Enter" && ev.target === note) {
      ev.preventDefault();
      if (caseId && caseView) caseView.focusNote(); else saveCase();
      return;
    }
    if (ev.altKey && !ctrl && (ev.key === "n" || ev.key === "N" || ev.code === "KeyN")) { ev.preventDefault(); newCall(); return; }
    if (ev.altKey && !ctrl && ["1", "2", "3"].includes(ev.key)) {
      ev.preventDefault();
      const tab = { 1: "call", 2: "mine", 3: "team" }[ev.key];
      openTab(tab);
      if (tab === "call") note.focus(); else setTimeout(CaseQueue.focusList, 300);
    }
  });

  // --- WeChat conversations --------------------------------------------------------------------
  // The workers' WeChat conversations, those waiting for a person first. Opening one shows its messages
  // (masked) and the case; a reply is queued on the server and sent through the customer-service API,
  // and each reply shows its delivery state (refreshed while one is still on its way).

  function wechatPanel() {
    const LIST_MS = 15000;
    const DELIVERY = { queued: ["待发送", "pending"], sending: ["发送中", "pending"], sent: ["已送达", "resolved"], failed: ["发送失败", "rejected"] };
    const AUTHOR = { worker: "工人", assistant: "自动回复" };
    let openId = null;
    let detailTimer = null;

    function wxStatus(id, text, state) {
      const p = $(id);
      setText(p, text);
      p.dataset.state = state;
      show(p, !!text);
    }

    async function loadList() {
      if (openId !== null) return;
      try {
        const data = await api("GET", "/v1/wechat/conversations?status=open&limit=50");
        renderList(data.items || []);
        wxStatus("wx-status", "", "ok");
      } catch (err) {
        wxStatus("wx-status", "微信会话加载失败：" + describe(err), "error");
      }
    }

    function renderList(items) {
      const ul = clear($("wx-list"));
      const waiting = items.filter((c) => c.needs_reply).length;
      setText($("wx-waiting"), waiting ? String(waiting) : "");
      show($("wx-empty"), !items.length);
      for (const c of items) {
        ul.appendChild(el("li", { class: "suggestion" + (c.needs_reply ? " best" : ""), dataset: { conversationId: c.id } },
          el("div", { class: "row spread" },
            el("strong", { text: c.worker }),
            el("span", { class: "row" },
              c.urgency === "emergency" ? el("span", { class: "badge", dataset: { level: "emergency" }, text: "紧急" }) : null,
              c.needs_reply ? el("span", { class: "status-pill", dataset: { status: "pending" }, text: "待回复" }) : null,
              el("span", { class: "small muted", text: fmtTime(c.last_message_at) }))),
          el("p", { class: "small", text: (c.last_author === "worker" ? "" : "（已回）") + (c.last_text || "") }),
          el("button", { type: "button", class: "small wx-open", onclick: () => openConversation(c.id),
            text: "查看并回复" + (c.case_id ? `（个案 #${c.case_id}）` : "") })));
      }
    }

    async function openConversation(id) {
      openId = id;
      clearTimeout(detailTimer);
      try {
        renderDetail(await api("GET", `/v1/wechat/conversations/${encodeURIComponent(id)}`));
      } catch (err) {
        wxStatus("wx-status", "打开会话失败：" + describe(err), "error");
        backToList();
      }
    }

    function renderDetail(c) {
      show($("wx-list"), false);
      show($("wx-empty"), false);
      show($("wx-detail"), true);
      setText($("wx-title"), c.worker + (c.case_id ? ` · 个案 #${c.case_id}` : ""));
      setText($("wx-meta"), `开始于 ${fmtTime(c.started_at)} · ${c.message_count} 条消息` +
        (c.urgency === "emergency" ? " · 紧急" : "") +
        (c.can_reply ? "" : " · 不能回复：用户最后留言已超过 48 小时，或未配置公众号发送"));
      const ol = clear($("wx-messages"));
      let pending = false;
      for (const m of c.messages || []) {
        const d = m.delivery;
        if (d && (d.state === "queued" || d.state === "sending")) pending = true;
        const who = AUTHOR[m.author] || m.author;
        ol.appendChild(el("li", { class: "suggestion", dataset: { direction: m.direction, messageId: m.id } },
          el("div", { class: "row spread" },
            el("span", { class: "label", text: `${who} · ${fmtTime(m.at)}` }),
            d ? el("span", { class: "status-pill wx-delivery", dataset: { status: (DELIVERY[d.state] || [d.state, ""])[1] },
              text: (DELIVERY[d.state] || [d.state])[0] + (d.attempts > 1 ? `（第 ${d.attempts} 次）` : "") }) : null),
          el("p", { class: "reply", text: m.text }),
          d && d.state === "failed" && d.last_error ? el("p", { class: "small error", text: d.last_error }) : null));
      }
      $("wx-send").disabled = !c.can_reply;
      if (pending) detailTimer = setTimeout(() => openConversation(c.id), 2000);
      const words = (c.messages || []).filter((m) => m.direction === "in").map((m) => m.text).join("\n");
      $("wx-analyse").onclick = () => {
        note.value = words.slice(0, 5000);
        note.dispatchEvent(new Event("input"));
        $("channel").value = "wechat";
      };
    }

    function backToList() {
      openId = null;
      clearTimeout(detailTimer);
      show($("wx-detail"), false);
      show($("wx-list"), true);
      setText($("wx-reply-status"), "");
      loadList();
    }

    $("wx-send").addEventListener("click", async () => {
      const box = $("wx-reply");
      const text = box.value.trim();
      if (!text || openId === null) { wxStatus("wx-reply-status", "先写好回复内容", "error"); return; }
      const button = $("wx-send");
      button.disabled = true;
      try {
        await api("POST", `/v1/wechat/conversations/${encodeURIComponent(openId)}/reply`, { body: { text } });
        box.value = "";
        wxStatus("wx-reply-status", "已排队发送", "ok");
        await openConversation(openId);
      } catch (err) {
        wxStatus("wx-reply-status", "发送失败：" + describe(err), "error");
        button.disabled = false;
      }
    });

    $("wx-close").addEventListener("click", async () => {
      if (openId === null || !confirm("结束这个会话？工人再发消息时会开始新的会话。")) return;
      try {
        await api("POST", `/v1/wechat/conversations/${encodeURIComponent(openId)}/close`);
        backToList();
      } catch (err) {
        wxStatus("wx-reply-status", "操作失败：" + describe(err), "error");
      }
    });

    $("wx-back").addEventListener("click", backToList);
    $("wx-refresh").addEventListener("click", () => (openId === null ? loadList() : openConversation(openId)));
    // Say so when the channel is off, rather than "no conversations".
    api("GET", "/v1/channels").then((ch) => {
      const off = $("wx-off");
      if (!ch.wechat_receiving) {
        setText(off, "微信公众号渠道未开启：服务器没有配置公众号（Token），不会收到工人的微信消息。需要开通时请联系管理员。");
        show(off, true);
        show($("wx-empty"), false);
        show($("wx-refresh"), false);
        return;
      }
      if (!ch.wechat_sending) {
        setText(off, "可以收到微信消息，但未配置公众号 AppID 和 AppSecret：回复暂时发不出去。");
        show(off, true);
      }
      loadList();
      setInterval(loadList, LIST_MS);
    }).catch((err) => wxStatus("wx-status", "微信渠道状态载入失败：" + describe(err), "error"));
  }

  clearPanels();
  connect();
  wechatPanel();
  CaseQueue.counts();
  const wanted = new URLSearchParams(location.search).get("case");
  if (wanted && /^\d+$/.test(wanted)) { openTab("team"); CaseQueue.openCase(parseInt(wanted, 10)); }
  else note.focus();
})();
