/* /ask: workers' self-service, opened inside WeChat on a phone. No sign-in.
 * question -> POST /v1/faq/ask; an answer (text, steps, evidence, where to go, legal basis, as-of date),
 * or a plain "no good answer" with the hotline; emergencies put the emergency numbers first. */
"use strict";

(() => {
  const { $, el, clear, show, setText, api, describe } = JSB;
  let answerId = null;
  let cooldown = null;

  function telOf(text) {
    const m = String(text || "").match(/\d[\d-]{2,}\d/);
    return m ? m[0].replace(/-/g, "") : null;
  }

  function error(text) {
    setText($("ask-error"), text);
    show($("ask-error"), !!text);
  }

  function waitThenEnable(seconds) {
    const button = $("ask-submit");
    let left = Math.max(1, seconds | 0);
    clearInterval(cooldown);
    button.disabled = true;
    const tick = () => {
      error(`提问太频繁，请 ${left} 秒后再试。`);
      if (left <= 0) {
        clearInterval(cooldown);
        button.disabled = false;
        error("");
      }
      left -= 1;
    };
    tick();
    cooldown = setInterval(tick, 1000);
  }

  function render(res) {
    answerId = res.answer_id;
    show($("result"), true);

    // Emergencies first.
    const emergency = res.emergency && (res.emergency_contacts || []).length > 0;
    show($("emergency"), emergency);
    const list = clear($("emergency-list"));
    if (emergency) {
      setText($("emergency-message"), res.message || "");
      for (const c of res.emergency_contacts) {
        const num = String(c.number).replace(/[^0-9+]/g, "");
        list.appendChild(el("li", {},
          el("a", { class: "call big", href: "tel:" + num, text: `${c.name} ${c.number}` }),
          el("p", { class: "small", text: c.when || "" })));
      }
    }

    const a = res.answer;
    show($("answer"), !!a);
    if (a) {
      setText($("answer-title"), a.title);
      setText($("answer-text"), a.text);
      const steps = clear($("answer-steps"));
      (a.steps || []).forEach((s) => steps.appendChild(el("li", { text: s })));
      show($("steps-box"), (a.steps || []).length > 0);
      const ev = clear($("answer-evidence"));
      (a.evidence || []).forEach((s) => ev.appendChild(el("li", { text: s })));
      show($("evidence-box"), (a.evidence || []).length > 0);
      const where = clear($("answer-where"));
      for (const w of a.where_to_go || []) {
        where.appendChild(el("li", {}, el("strong", { text: w.name }), " ", JSB.phoneLinks(w.contact, "call")));
      }
      show($("where-box"), (a.where_to_go || []).length > 0);
      setText($("answer-basis"), (a.legal_basis || []).join("；"));
      show($("basis-box"), (a.legal_basis || []).length > 0);
      setText($("answer-asof"), a.as_of);
    }

    show($("no-answer"), !a && !emergency);
    setText($("no-answer-message"), res.message || "这个问题我们暂时没有可靠的答案，请联系工会热线。");

    const hotline = (res.contact || {}).hotline || "";
    setText($("contact-hotline"), hotline);
    const tel = telOf(hotline);
    const link = $("contact-tel");
    if (tel) { link.setAttribute("href", "tel:" + tel); setText(link, "拨打 " + tel); }
    show(link, !!tel);
    setText($("contact-wechat"), (res.contact || {}).wechat || "");

    setText($("asked"), res.question_masked || "");
    show($("asked-box"), !!res.question_masked);

    $("helpful-yes").disabled = false;
    $("helpful-no").disabled = false;
    show($("helpful-status"), false);
    show($("helpful"), true);
  }

  $("ask-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const q = $("question").value.trim();
    if (!q) { error("请先写下你的问题。"); return; }
    error("");
    const button = $("ask-submit");
    button.disabled = true;
    show($("result"), false);
    show($("ask-wait"), true);
    try {
      const res = await api("POST", "/v1/faq/ask", { anonymous: true, body: { question: q } });
      render(res);
      button.disabled = false;
      $("result").scrollIntoView({ behavior: "smooth", block: "start" });
    } catch (err) {
      if (err.status === 429) {
        waitThenEnable(err.retryAfter || 60);
      } else {
        error(err.status === 0 ? "网络不太好，请稍后再试。" : describe(err));
        button.disabled = false;
      }
    } finally {
      show($("ask-wait"), false);
    }
  });

  async function helpful(yes) {
    if (!answerId) return;
    $("helpful-yes").disabled = true;
    $("helpful-no").disabled = true;
    const status = $("helpful-status");
    try {
      await api("POST", "/v1/faq/feedback", { anonymous: true, body: { answer_id: answerId, helpful: yes } });
      setText(status, yes ? "谢谢你的反馈！" : "谢谢，我们会改进这个回答。需要帮助请拨打上面的热线。");
    } catch (err) {
      setText(status, err.status === 429 ? `操作太频繁，请 ${err.retryAfter || 60} 秒后再试。` : describe(err));
      $("helpful-yes").disabled = false;
      $("helpful-no").disabled = false;
    }
    show(status, true);
  }

  $("helpful-yes").addEventListener("click", () => helpful(true));
  $("helpful-no").addEventListener("click", () => helpful(false));
})();
