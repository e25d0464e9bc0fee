/* /staff, the review tab: entries submitted for review, waiting to be approved (a row opens the entry). */
"use strict";

const StaffReview = (() => {
  const { $, el, clear, setText, api, describe, fmtTime, kindName } = JSB;
  let staff = null;

  async function loadReview() {
    try {
      const res = await api("GET", "/v1/entries?status=in_review&limit=200");
      const tbody = clear($("review-table").tBodies[0]);
      for (const v of res.items) {
        tbody.appendChild(el("tr", { class: "entry-row", dataset: { id: v.id }, tabindex: "0", onclick: () => staff.openEntry(v.id) },
          el("td", { text: v.id }), el("td", { text: v.title }), el("td", { text: kindName(v.kind) }),
          el("td", { text: v.author }), el("td", { text: v.version }), el("td", { class: "small", text: fmtTime(v.updated_at) })));
      }
      setText($("review-count"), res.total ? String(res.total) : "");
    } catch (err) {
      JSB.flash("审核队列载入失败：" + describe(err), "error");
    }
  }

  function install(s) {
    staff = s;
  }

  return { install, load: loadReview };
})();
