/* /ask: workers' self-service, opened inside WeChat on a phone. No sign-in.
 * question -> POST /v1/faq/ask. Three tiers: a confident answer; a likely one ("可能对你有帮助", one or two
 * entries, or one clarifying question whose choices ask again with that need); or nothing good: a hand-off
 * ("请工作人员联系我", POST /v1/faq/handoff, optional call-back number) that becomes a case with a reference.
 * Danger now puts the emergency numbers first; suicidal thoughts get a warm message with 12356, not 110. */
"use strict";

(() => {
  const { $, el, clear, show, setText, api, describe } = JSB;
  let answerId = null;
  let lastQuestion = "";
  let cooldown = null;
  const inWeChat = /MicroMessenger/i.test(navigator.userAgent);

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

  function fill(list, items, make) {
    clear(list);
    (items || []).forEach((x) => list.appendChild(make(x)));
    return (items || []).length > 0;
  }

  function answerCard(a) {
    const card = $("answer-template").content.firstElementChild.cloneNode(true);
    card.dataset.entry = a.entry_id;
    card.dataset.tier = a.tier;
    if (a.pinned) card.dataset.pinned = a.pinned; // crisis support shown before the answer to the question asked
    setText(card.querySelector(".answer-title"), a.title);
    setText(card.querySelector(".answer-text"), a.text);
    show(card.querySelector(".steps-box"), fill(card.querySelector(".answer-steps"), a.steps, (s) => el("li", { text: s })));
    show(card.querySelector(".evidence-box"), fill(card.querySelector(".answer-evidence"), a.evidence, (s) => el("li", { text: s })));
    show(card.querySelector(".where-box"), fill(card.querySelector(".answer-where"), a.where_to_go,
      (w) => el("li", {}, el("strong", { text: w.name }), " ", JSB.phoneLinks(w.contact, "call"))));
    setText(card.querySelector(".answer-basis"), (a.legal_basis || []).join("；"));
    show(card.querySelector(".basis-box"), (a.legal_basis || []).length > 0);
    setText(card.querySelector(".answer-asof"), a.as_of);
    return card;
  }

  function render(res) {
    answerId = res.answer_id;
    show($("result"), true);
    const hotline = (res.contact || {}).hotline || "";
    const hotlineTel = telOf(hotline);

    // Danger now first; suicidal thoughts without danger now get a warm message with 12356 and the hotline.
    const passive = res.crisis === "passive";
    const emergency = res.emergency && !passive && (res.emergency_contacts || []).length > 0;
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
    show($("crisis"), passive);
    if (passive) {
      setText($("crisis-message"), res.message || "");
      const link = $("crisis-hotline");
      if (hotlineTel) { link.setAttribute("href", "tel:" + hotlineTel); setText(link, "拨打工会热线 " + hotline); }
      show(link, !!hotlineTel);
    }

    // The answers: one when confident; one or two, with a hedge or a clarifying question, when likely.
    const answers = res.answers || (res.answer ? [res.answer] : []);
    const box = clear($("answers"));
    answers.forEach((a) => box.appendChild(answerCard(a)));
    const hedged = res.tier === "likely" && answers.length > 0;
    show($("hedge"), hedged);
    const clarify = clear($("clarify"));
    if (hedged) {
      setText($("hedge-message"), (!emergency && !passive && res.message) || "这些内容可能对你有帮助：");
      for (const option of (res.clarify || {}).options || []) {
        clarify.appendChild(el("button", { type: "button", class: "big", "data-need": option.need, text: option.label }));
      }
    }
    show(clarify, hedged && !!res.clarify);

    show($("support"), !!res.support);
    setText($("support-message"), res.support || "");

    const nothing = answers.length === 0 && !emergency && !passive;
    show($("no-answer"), nothing);
    setText($("no-answer-message"), res.message || "这个问题我们暂时没有可靠的答案，请联系工会热线。");

    // A person: offered whenever the answer is not confident.
    show($("handoff"), !!res.handoff && !emergency);
    show($("handoff-form"), true);
    show($("handoff-status"), false);
    $("handoff-submit").disabled = false;

    setText($("contact-hotline"), hotline);
    const link = $("contact-tel");
    if (hotlineTel) { link.setAttribute("href", "tel:" + hotlineTel); setText(link, "拨打 " + hotlineTel); }
    show(link, !!hotlineTel);
    // "在本公众号直接留言" only makes sense inside WeChat.
    setText($("contact-wechat"), (res.contact || {}).wechat || "");
    show($("contact-wechat"), inWeChat && !!(res.contact || {}).wechat);

    setText($("asked"), res.question_masked || "");
    show($("asked-box"), !!res.question_masked);

    // "Was this helpful?" only under an answer.
    $("helpful-yes").disabled = false;
    $("helpful-no").disabled = false;
    show($("helpful-status"), false);
    show($("helpful"), answers.length > 0);
  }

  async function ask(question, need) {
    error("");
    const button = $("ask-submit");
    button.disabled = true;
    show($("result"), false);
    show($("ask-wait"), true);
    try {
      const body = need ? { question, need } : { question };
      const res = await api("POST", "/v1/faq/ask", { anonymous: true, body });
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
  }

  $("ask-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const q = $("question").value.trim();
    if (!q) { error("请先写下你的问题。"); return; }
    lastQuestion = q;
    ask(q, null);
  });

  $("clarify").addEventListener("click", (ev) => {
    const button = ev.target.closest("button[data-need]");
    if (button && lastQuestion) ask(lastQuestion, button.dataset.need);
  });

  $("handoff-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    if (!answerId) return;
    const status = $("handoff-status");
    const phone = $("handoff-phone").value.trim();
    const note = $("handoff-note").value.trim();
    if (phone && !/^[0-9+\-\s()]{7,30}$/.test(phone)) {
      setText(status, "电话号码格式不对，请只填数字（可以不填）。");
      show(status, true);
      return;
    }
    $("handoff-submit").disabled = true;
    try {
      const body = { answer_id: answerId };
      if (phone) body.callback = phone;
      if (note) body.note = note;
      const res = await api("POST", "/v1/faq/handoff", { anonymous: true, body });
      setText(status, res.message);
      status.dataset.reference = res.reference;
      show($("handoff-form"), false);
      $("handoff-phone").value = "";
    } catch (err) {
      setText(status, err.status === 429 ? `操作太频繁，请 ${err.retryAfter || 60} 秒后再试。` : describe(err));
      $("handoff-submit").disabled = false;
    }
    show(status, true);
  });

  async function helpful(yes) {
    if (!answerId) return;
    $("helpful-yes").disabled = true;
    $("helpful-no").disabled = true;
    const status = $("helpful-status");
    try {
      await api("POST", "/v1/faq/feedback", { anonymous: true, body: { answer_id: answerId, helpful: yes } });
      setText(status, yes ? "谢谢你的反馈！" : "谢谢，我们会改进这个回答。需要帮助请拨打上面的热线，或请工作人员联系你。");
      if (!yes) show($("handoff"), true);
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
