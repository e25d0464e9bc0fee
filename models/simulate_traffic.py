"""`jishibang simulate traffic`: four weeks of scripted hotline traffic through the learning loops, with
before/after figures for each. It runs on the domain objects (store, index, assistant, feedback log,
standings, paraphrase proposals, alerts) in a fresh temporary data dir; no HTTP, nothing of the real
database is touched.

The knowledge base: the team's seed entries, published (kb/seed). Nothing is invented.

Queries: the on-topic queries of the search evaluation set (kb/eval, written apart from the entries, each
listing the entries that answer it, best first). The first listed entry is the "truly best" one. For
every best entry its queries are split alternately into traffic queries (asked during the simulation)
and held-out queries (never asked; they measure whether what was learned generalises).

Traffic: ``per_day`` questions a day (default 50) for ``days`` days (28), drawn at random from the traffic
queries, half from operators mid-call (/v1/suggest: three suggestions shown), half from workers
(/v1/faq/ask: one answer, or "no good answer").
- Operators: every suggestion shown is recorded as ``shown``; when the truly best entry is among the three
  the operator copies it (80%), else copies another relevant entry shown (50%); when the top suggestion
  answers nothing relevant the operator marks it ``wrong`` (40%).
- Workers: when answered, 35% vote: helpful with 85% chance when the answer is relevant, 10% when it is not.
Feedback is credited online: every search uses the standings as they are at that moment.

Paraphrases: proposals are read from the feedback log weekly. After the four weeks staff review them: a
proposal is accepted when the entry is the best answer to its question (the first listed), else rejected
(a question copied for a second-best entry would pull its best entry's askers away); accepted ones become
draft revisions, are submitted and approved, and the index is rebuilt.

Early warning: 28 days of case history before the simulation and 28 during it, ~``cases_per_day`` (25) a day
(Poisson), each with an issue type (weighted as the seed entries' types), a platform, a district and, for
half of them, a station; their text is a traffic query. In week 4 one station of one platform in one
district gets an extra 3 cases a day of one issue type (a collective dispute starting). Alerts are
checked at the end of each simulated week: the spike should be found in week 4, and every alert in weeks
1-3 (and any week-4 alert about another pair) counts as a false alert.

Figures:
- ranking: hit@1 and MRR of the truly best entry (top 10) on the traffic queries and on the held-out ones,
  before any feedback and after the four weeks (standing applied, paraphrases not yet accepted);
- paraphrases: proposed, accepted, rejected; hit@1 on the held-out queries before and after accepting
  them (standing off on both sides, to isolate the paraphrases);
- alerts: per week, true spike found, false alerts.
"""

from __future__ import annotations

import random
import shutil
import sys
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from typing import Any

from sqlalchemy import insert

from hotline import alerts
from hotline.feedback import FeedbackLog, QuestionLog
from hotline.paraphrases import ParaphraseProposals
from hotline.standing import Standings
from hotline.tables import Case
from kb.db import make_engine, migrate, session_factory
from kb.seeding import seed_text
from kb.service import IndexManager
from kb.store import EntryStore
from kb.transfer import import_entries
from models.case_history import poisson_draw
from models.answer_training import acceptable_slugs
from models.search_eval import load_queries
from kb.query import from_triage, prepare_query
from kb.search import TriageView
from triage.normalize import normalize
from triage.pii import mask

PLATFORMS = ("美团", "饿了么", "滴滴", "货拉拉", "顺丰同城", "闪送")
DISTRICTS = ("蓬江区", "江海区", "新会区", "台山市", "开平市", "鹤山市", "恩平市")
SPIKE = {"platform": "美团", "district": "蓬江区", "station": "蓬江-站点03", "issue_type": "pay_settlement", "per_day": 3}


@dataclass(frozen=True, slots=True)
class Query:
    text: str
    best: str  # slug of the truly best entry
    relevant: frozenset[str]


def split_queries(known_slugs: set[str]) -> tuple[list[Query], list[Query]]:
    """(traffic, held-out): each best entry's queries, alternately."""
    by_best: dict[str, list[Query]] = defaultdict(list)
    for q in sorted(load_queries(), key=lambda q: q["id"]):
        acceptable, preferred = acceptable_slugs(q)
        if preferred and preferred in known_slugs:
            by_best[preferred].append(Query(q["query"], preferred, frozenset(acceptable)))
    traffic, heldout = [], []
    for qs in by_best.values():
        traffic += qs[0::2]
        heldout += qs[1::2]
    return traffic, heldout


class Desk:
    """How the simulated people reach the knowledge base: the assistant (triage + search, as /v1/suggest and
    /v1/faq/ask do) or, without the triage model, the same search on the masked, normalised text."""

    def __init__(self, index: IndexManager, questions: QuestionLog, standings: Standings,
                 assistant: Any | None = None) -> None:
        self.index, self.questions, self.standings, self.assistant = index, questions, standings, assistant
        self.mode = "hybrid" if "hybrid" in index.load_or_build().modes else "bm25"
        self._triaged: dict[str, Any] = {}

    def _result(self, text: str) -> Any:
        if text not in self._triaged:
            self._triaged[text] = self.assistant.triage(text)
        return self._triaged[text]

    def rank(self, text: str, k: int = 10, standing: bool = True) -> list[int]:
        if self.assistant is not None:
            result = self._result(text)
            found = self.index.search(from_triage(result), k=k, triage=TriageView.of(result),
                                      standing=self.standings.multipliers() if standing else None)
        else:
            found = self.index.search(prepare_query(text), k=k, mode=self.mode,
                                      standing=self.standings.multipliers() if standing else None)
        return [h.entry_id for h in found.hits]

    def suggest(self, text: str) -> list[tuple[int, int]]:
        """(entry id, version) of the suggestions an operator sees."""
        if self.assistant is not None:
            return [(s.entry.entry_id, s.entry.version) for s in self.assistant.suggest(text).suggestions]
        found = self.index.search(prepare_query(text), k=3, mode=self.mode, standing=self.standings.multipliers())
        self._log("operator", text, found, not found.abstain)
        return [(h.entry_id, h.version) for h in found.hits]

    def ask(self, text: str) -> tuple[int, int | None]:
        """(answer id, entry id answered with or None)."""
        if self.assistant is not None:
            out = self.assistant.faq(text)
            return out.answer_id, out.answers[0].entry.entry_id if out.answers else None
        found = self.index.search(prepare_query(text), k=3, mode=self.mode, standing=self.standings.multipliers())
        best = found.hits[0].entry_id if found.hits and not found.abstain else None
        return self._log("worker", text, found, best is not None), best

    def _log(self, source: str, text: str, found: Any, answered: bool) -> int:
        top = found.hits[0] if found.hits else None
        score = top.score if top is not None and top.score == top.score else None
        return self.questions.record(source=source, text=text, answered=answered,
                                     best_entry_id=top.entry_id if top else None, best_score=score,
                                     issue_types=[], urgency=None)


def _ranking(desk: Desk, queries: list[Query], ids: dict[str, int], standing: bool = True) -> dict[str, float]:
    hit1 = rr = 0.0
    for q in queries:
        ranked = desk.rank(q.text, standing=standing)
        best = ids[q.best]
        rank = ranked.index(best) if best in ranked else None
        hit1 += rank == 0
        rr += 1.0 / (rank + 1) if rank is not None else 0.0
    n = max(len(queries), 1)
    return {"hit@1": round(hit1 / n, 4), "mrr": round(rr / n, 4), "queries": len(queries)}


def _case_rows(rng: random.Random, day: date, per_day: float, texts_by_type: dict[str, list[str]],
               type_weights: dict[str, float], stations: dict[str, list[str]]) -> list[dict[str, Any]]:
    rows = []
    types, weights = list(type_weights), list(type_weights.values())
    n = poisson_draw(rng, per_day)
    for _ in range(n):
        t = rng.choices(types, weights)[0]
        district = rng.choice(DISTRICTS)
        rows.append(_case(rng, day, t, rng.choice(PLATFORMS), district,
                          rng.choice(stations[district]) if rng.random() < 0.5 else None, texts_by_type))
    return rows


def _case(rng: random.Random, day: date, issue_type: str, platform: str, district: str, station: str | None,
          texts_by_type: dict[str, list[str]]) -> dict[str, Any]:
    at = datetime.combine(day, time(9), alerts.CHINA) + timedelta(minutes=rng.randrange(0, 11 * 60))
    text = rng.choice(texts_by_type[issue_type])
    return {"channel": "phone", "operator": "sim", "text_masked": mask(text).text, "issue_types": [issue_type],
            "urgency": "normal", "referral": None, "district": district, "platform": platform, "station": station,
            "status": "open", "created_at": at.astimezone(timezone.utc), "updated_at": at.astimezone(timezone.utc)}



def simulate(data_dir: Path, *, days: int = 28, per_day: int = 50, cases_per_day: float = 25.0, seed: int = 7,
             dense: bool = True, triage: bool = True, embedding_model: str | None = None,
             embedder_options: dict[str, Any] | None = None, model_dir: Path | None = None,
             ranking_path: Path | None = None, cached_vectors: Path | None = None,
             progress: bool = True) -> dict[str, Any]:
    """Run the simulation in ``data_dir`` (created; must not hold an earlier run) and return the figures."""
    say: Callable[[str], None] = (lambda m: print(m, file=sys.stderr, flush=True)) if progress else (lambda m: None)
    if triage and not dense:
        raise ValueError("the assistant searches the hybrid index: triage needs dense=True")
    rng = random.Random(seed)
    data_dir.mkdir(parents=True, exist_ok=True)
    url = f"sqlite:///{data_dir / 'simulation.db'}"
    migrate(url)
    factory = session_factory(make_engine(url))
    store = EntryStore(factory)
    import_entries(store, seed_text(), "jsonl", "seed", default_status="published")
    embedder = None
    model_id = None
    if dense or triage:
        from triage.embedder import Embedder

        if not embedding_model:
            raise ValueError("the dense index and triage need the embedding model (embedding_model)")
        embedder = Embedder(embedding_model, **(embedder_options or {}))
        model_id = embedder.identity
    index_dir = data_dir / "index"
    if dense and cached_vectors is not None and cached_vectors.exists():
        index_dir.mkdir(parents=True, exist_ok=True)
        shutil.copy(cached_vectors, index_dir / "vectors.npz")  # the entries' vectors: no re-encoding
    say("building the index of the seed entries ...")
    index = IndexManager(store, index_dir, embedder if dense else None, model_id if dense else None,
                         ranking_path=ranking_path)
    index.rebuild()
    standings = Standings(factory, refresh_seconds=0.0)
    feedback, questions = FeedbackLog(factory), QuestionLog(factory)
    proposals = ParaphraseProposals(factory, store, embedder.encode_queries if embedder is not None else None)
    assistant = None
    if triage:
        from hotline.assist import Assistant, Contacts
        from models.registry import load_triager

        assert embedder is not None and model_dir is not None
        triager = load_triager(model_dir, embedder)
        assistant = Assistant(lambda: triager, index, store, questions, Contacts("12351", "wechat"),
                              standing=standings.multipliers)
    desk = Desk(index, questions, standings, assistant)

    views = store.list(limit=10**6)[0]
    ids = {v.slug: v.id for v in views}
    slug_of = {v.id: v.slug for v in views}
    traffic, heldout = split_queries(set(ids))
    say(f"{len(traffic)} traffic queries, {len(heldout)} held-out; {days} days x {per_day} questions")

    report: dict[str, Any] = {
        "setup": {"entries": len(views), "traffic_queries": len(traffic), "heldout_queries": len(heldout),
                  "days": days, "questions_per_day": per_day, "cases_per_day": cases_per_day, "seed": seed,
                  "search": "hybrid" if dense else "bm25", "triage": triage,
                  "standing_bound": standings.bound, "prior_strength": standings.prior_strength}}
    say("measuring the ranking before any feedback ...")
    before_traffic = _ranking(desk, traffic, ids)
    before_heldout = _ranking(desk, heldout, ids)

    # --- case history for the alerts: 28 days before the simulation, then the simulated days ------------
    end = alerts.today()
    start = end - timedelta(days=days - 1)
    texts_by_type: dict[str, list[str]] = defaultdict(list)
    type_weights: dict[str, float] = defaultdict(float)
    for q in traffic:
        for t in store.get(ids[q.best]).issue_types:
            texts_by_type[t].append(q.text)
    for v in views:
        for t in v.issue_types:
            if t in texts_by_type:
                type_weights[t] += 1.0
    stations = {d: [f"{d[:2]}-站点{i:02d}" for i in range(1, 4)] for d in DISTRICTS}
    with factory() as s, s.begin():
        for i in range(28, 0, -1):
            rows = _case_rows(rng, start - timedelta(days=i), cases_per_day, texts_by_type, type_weights, stations)
            if rows:
                s.execute(insert(Case), rows)

    # --- four weeks of traffic ----------------------------------------------------------------------------
    counts = {"operator_asks": 0, "worker_asks": 0, "positive": 0, "negative": 0, "shown": 0}
    weekly: list[dict[str, Any]] = []
    for d in range(days):
        day = start + timedelta(days=d)
        for _ in range(per_day):
            q = rng.choice(traffic)
            if rng.random() < 0.5:
                counts["operator_asks"] += 1
                shown = desk.suggest(q.text)
                for eid, version in shown:
                    feedback.record(source="operator", actor="sim-op", event="shown", entry_id=eid, entry_version=version)
                    counts["shown"] += 1
                slugs = [slug_of[eid] for eid, _v in shown]
                pick = None
                if q.best in slugs and rng.random() < 0.8:
                    pick = shown[slugs.index(q.best)]
                elif q.best not in slugs:
                    others = [s for s in shown if slug_of[s[0]] in q.relevant]
                    if others and rng.random() < 0.5:
                        pick = others[0]
                if pick is not None:
                    feedback.record(source="operator", actor="sim-op", event="copied", entry_id=pick[0],
                                    entry_version=pick[1], query=q.text)
                    counts["positive"] += 1
                if shown and slugs[0] not in q.relevant and rng.random() < 0.4:
                    feedback.record(source="operator", actor="sim-op", event="wrong", entry_id=shown[0][0],
                                    entry_version=shown[0][1], query=q.text)
                    counts["negative"] += 1
            else:
                counts["worker_asks"] += 1
                answer_id, eid = desk.ask(q.text)
                if eid is not None and rng.random() < 0.35:
                    helpful = rng.random() < (0.85 if slug_of[eid] in q.relevant else 0.10)
                    feedback.record(source="worker", actor="anonymous", event="helpful" if helpful else "unhelpful",
                                    question_id=answer_id, entry_id=eid)
                    counts["positive" if helpful else "negative"] += 1
        # Cases of the day (and the spike in the last week).
        rows = _case_rows(rng, day, cases_per_day, texts_by_type, type_weights, stations)
        if d >= days - 7:
            rows += [_case(rng, day, SPIKE["issue_type"], SPIKE["platform"], SPIKE["district"], SPIKE["station"],
                           texts_by_type) for _ in range(int(SPIKE["per_day"]))]
        with factory() as s, s.begin():
            if rows:
                s.execute(insert(Case), rows)
        if (d + 1) % 7 == 0 or d == days - 1:
            week = (d + 1 + 6) // 7
            synced = proposals.sync()
            found = alerts.detect(factory, day)["alerts"]
            spike = [a for a in found if a["issue_type"] == SPIKE["issue_type"]
                     and a["value"] in (SPIKE["platform"], SPIKE["district"], SPIKE["station"])]
            spike_days = d >= days - 7
            weekly.append({"week": week, "as_of": day.isoformat(), "alerts": len(found),
                           "spike_alerts": [f"{a['dimension']}={a['value']} n={a['count']} p={a['p_value']:.2g}"
                                            for a in spike] if spike_days else [],
                           "false_alerts": [f"{a['dimension']}={a['value']} x {a['issue_type']} n={a['count']} "
                                            f"expected={a['expected']} p={a['p_value']:.2g}"
                                            for a in found if not (spike_days and a in spike)],
                           "proposals": synced})
            say(f"week {week}: {counts['operator_asks'] + counts['worker_asks']} questions so far, "
                f"{counts['positive']} positive / {counts['negative']} negative votes, "
                f"{len(found)} alerts, proposals {synced}")

    # --- ranking after feedback -----------------------------------------------------------------------
    say("measuring the ranking after four weeks of feedback ...")
    standings.refresh(force=True)
    after_traffic = _ranking(desk, traffic, ids)
    after_heldout = _ranking(desk, heldout, ids)
    flagged = standings.flagged()
    report["ranking"] = {
        "metric": "hit@1 and MRR (top 10) of the truly best entry",
        "traffic_queries": {"before": before_traffic, "after_feedback": after_traffic},
        "heldout_queries": {"before": before_heldout, "after_feedback": after_heldout},
        "votes": {"positive": counts["positive"], "negative": counts["negative"], "shown": counts["shown"]},
        "asks": {"operator": counts["operator_asks"], "worker": counts["worker_asks"]},
        "global_helpful_rate": round(standings.global_rate, 4),
        "entries_with_votes": len(standings.multipliers()),
        "flagged_for_review": [slug_of.get(s.entry_id, s.entry_id) for s in flagged],
    }

    # --- paraphrases: staff review, publish, re-measure --------------------------------------------------
    say("staff review the paraphrase proposals ...")
    proposals.sync()
    heldout_before = _ranking(desk, heldout, ids, standing=False)
    best_of = {normalize(mask(q.text).text): ids[q.best] for q in traffic}
    pending, _n = proposals.list("proposed", limit=10**6)
    accepted, rejected, edited = 0, 0, set()
    for p in pending:
        if best_of.get(normalize(p["text"])) == p["entry_id"]:
            try:
                _prop, view = proposals.accept(p["id"], "sim-staff")
            except Exception as exc:  # e.g. the entry already holds 40 paraphrases
                say(f"  not accepted: {exc}")
                continue
            accepted += 1
            edited.add(view.id)
        else:
            proposals.reject(p["id"], "sim-staff", "another entry answers this question better")
            rejected += 1
    for eid in sorted(edited):
        v = store.get(eid)
        v = store.transition(eid, v.version, "submit", "sim-staff")
        store.transition(eid, v.version, "approve", "sim-reviewer")
    index.wait_idle(600)
    index.rebuild()
    heldout_after = _ranking(desk, heldout, ids, standing=False)
    traffic_after = _ranking(desk, traffic, ids, standing=False)
    report["paraphrases"] = {
        "proposed": len(pending), "accepted": accepted, "rejected": rejected, "entries_edited": len(edited),
        "heldout_hit@1_before": heldout_before["hit@1"], "heldout_hit@1_after": heldout_after["hit@1"],
        "heldout_mrr_before": heldout_before["mrr"], "heldout_mrr_after": heldout_after["mrr"],
        "traffic_hit@1_after": traffic_after["hit@1"],
        "note": "standing off on both sides; the traffic figure is not held out (those questions became paraphrases)",
        "combined_heldout_after": _ranking(desk, heldout, ids, standing=True),
    }

    # --- alerts ---------------------------------------------------------------------------------------
    steady = [w for w in weekly if w["week"] < weekly[-1]["week"]]
    last = weekly[-1]
    report["alerts"] = {
        "rule": alerts.Rule().describe()["text"],
        "spike": {k: v for k, v in SPIKE.items()},
        "spike_found": bool(last["spike_alerts"]),
        "spike_alerts": last["spike_alerts"],
        "false_alerts_steady_weeks": sum(len(w["false_alerts"]) for w in steady),
        "false_alerts_spike_week": len(last["false_alerts"]),
        "weeks_checked": len(weekly),
        "weekly": weekly,
    }
    return report
