/* /staff, the gaps tab: questions nobody answered well, clustered by meaning (largest first), each with the
 * existing entries nearest to it; its questions become a new draft, or paraphrases of an existing entry. */
"use strict";

const StaffGaps = (() => {
  const { $, el, clear, setText, api, describe, issueName } = JSB;
  let staff = null;

  let gapRequest = 0;
  async function loadGaps() {
    const mine = ++gapRequest;
    const params = new URLSearchParams({ days: $("g-days").value || "90" });
    if ($("g-source").value) params.set("source", $("g-source").value);
    const list = clear($("gap-list"));
    setText($("gap-summary"), "载入中…");
    try {
      const res = await api("GET", "/v1/gaps?" + params);
      if (mine !== gapRequest) return;
      setText($("gap-summary"), `${res.questions} 个没答好的问题，分成 ${res.clusters.length} 组（大的在前）。`);
      for (const c of res.clusters) {
        const status = el("span", { class: "small" });
        list.appendChild(el("li", { class: "gap card", dataset: { key: c.key } },
          el("div", { class: "row spread" },
            el("div", {}, (c.terms || []).map((t) => el("span", { class: "chip", text: t }))),
            el("strong", { class: "gap-count", text: `${c.count} 问` })),
          el("p", { class: "small muted", text: [(c.issue_types || []).map(issueName).join("、"),
            Object.entries(c.sources || {}).map(([s, n]) => `${s === "worker" ? "劳动者" : "接线员"} ${n}`).join("，")].filter(Boolean).join(" · ") }),
          el("ul", { class: "examples" }, (c.examples || []).map((x) => el("li", { text: x }))),
          nearestBox(c, status),
          el("div", { class: "row" },
            el("button", { type: "button", class: "draft", text: "都不合适：新建草稿", onclick: (e) => draftFromGap(c, e.currentTarget, status) }),
            status)));
      }
    } catch (err) {
      setText($("gap-summary"), "知识缺口载入失败：" + describe(err));
    }
  }

  /** The existing entries nearest to a gap: check them first; the questions can become one's paraphrases
   * (a new draft revision, reviewed and approved like any edit) instead of a duplicate entry. */
  function nearestBox(c, status) {
    const box = el("div", { class: "near" });
    const draw = (near) => {
      clear(box);
      const entries = (near && near.entries) || [];
      if (!entries.length) { box.appendChild(el("p", { class: "small muted", text: "没有找到相近的已发布条目。" })); return; }
      box.appendChild(el("p", { class: "small", text: "已有的相近条目（先看看能不能用，避免重复）：" }));
      box.appendChild(el("ul", { class: "plain" }, entries.map((e) => el("li", { class: "near-entry", dataset: { entryId: e.entry_id } },
        staff.entryLink(e.entry_id, e.title),
        el("span", { class: "small muted", text: ` ${{ confident: "很相近", likely: "可能相近", none: "不太相近" }[e.tier] || ""}` +
          (e.score === null || e.score === undefined ? "" : ` · ${Math.round(e.score * 100)}%`) + " " }),
        el("button", { type: "button", class: "small add-paraphrases", text: "把这些问题加为该条目的同义问法",
          onclick: (ev) => addParaphrases(c, e, ev.currentTarget, status) })))));
    };
    if (c.nearest !== undefined) draw(c.nearest);
    else {
      box.appendChild(el("button", { type: "button", class: "small find-near", text: "查找相近条目", onclick: async (ev) => {
        ev.currentTarget.disabled = true;
        try { draw(await api("POST", "/v1/gaps/nearest", { body: { question_ids: c.question_ids } })); }
        catch (err) { setText(status, "查找失败：" + describe(err)); ev.currentTarget.disabled = false; }
      } }));
    }
    return box;
  }

  async function addParaphrases(c, e, button, status) {
    button.disabled = true;
    try {
      const res = await api("POST", "/v1/gaps/paraphrases", { body: { question_ids: c.question_ids, entry_id: e.entry_id } });
      status.dataset.state = "ok";
      if (!res.added.length) {
        setText(status, "这些问法条目里都已经有了，没有改动。");
        button.disabled = false;
        return;
      }
      setText(status, `已把 ${res.added.length} 个问题加为「${res.entry.title}」的同义问法：生成草稿第 ${res.entry.version} 版，` +
        "请提交审核，由另一位工作人员批准后生效。" + (res.skipped.length ? `（${res.skipped.length} 个已有或超出 40 个上限，未加）` : ""));
      staff.openTab("entries");
      staff.showEntry(res.entry);
    } catch (err) {
      setText(status, "加入失败：" + describe(err));
      status.dataset.state = "error";
      button.disabled = false;
    }
  }

  async function draftFromGap(c, button, status) {
    button.disabled = true;
    try {
      const view = await api("POST", "/v1/gaps/draft", { body: { question_ids: c.question_ids } });
      setText(status, `已生成草稿 #${view.id}`);
      staff.openTab("entries");
      staff.showEntry(view);
    } catch (err) {
      setText(status, "生成失败：" + describe(err));
      button.disabled = false;
    }
  }

  function install(s) {
    staff = s;
    $("gap-filters").addEventListener("submit", (ev) => { ev.preventDefault(); loadGaps(); });
  }

  return { install, load: loadGaps };
})();
