"""Danger now: is someone's life or body in danger, or does the writer wish to die? A detector of its own.

It is separate from the issue-type classifier and from urgency: a logistic regression over the message's
features (the same TF-IDF and e5 features triage computes once) plus context features from
``triage/data/danger.yaml``: cue words by kind, and the context that changes what they mean (死 as an
intensifier or in an idiom, negation, an event that is over, news or hearsay about others, quoted speech, a
threat to a job rather than to a body, "right now"), and how close the message is in meaning to the nearest
emergencies and non-emergencies it was trained on (NeighbourMemory, below). It is trained on the crisis corpus
written for it (triage/data/crisis/, ~1,140 emergencies and ~2,650 hard negatives) and the team corpus. Two operating points,
both from out-of-fold probabilities (models/train_danger.py): above the *danger* threshold the message is an
emergency; between the *check* threshold (set so that every training emergency reaches it) and the danger
threshold it is not an emergency, but the operator is prompted to ask one safety question ("check") and a
worker is shown where to find support. One threshold cannot do both: a threshold low enough to catch the
quietest passive suicidal thought flags about one everyday message in five as an emergency.
A second model names the kind of danger, and the kind decides the response: passive suicidal ideation gets
its own level ("passive": ask directly about suicide, 12356 first, never 110), every other kind is "now"
(110/120 first).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from triage.lexicon import load_yaml
from triage.normalize import has_words, is_greeting

KINDS = ("self_harm_passive", "self_harm_euphemistic", "self_harm_active", "child_at_risk", "violence_now",
         "threat_to_life", "acute_injury", "confinement", "other_danger")
LEVELS = ("none", "passive", "now")
# Which help comes first for each kind (hotline.assist turns it into contacts and guidance).
RESPONSE = {"self_harm_passive": "passive", "self_harm_euphemistic": "self_harm", "self_harm_active": "self_harm",
            "child_at_risk": "self_harm", "violence_now": "violence", "threat_to_life": "violence",
            "confinement": "violence", "acute_injury": "injury", "other_danger": "fire_or_danger"}
# A cue group -> the issue type to give a message the classifier could not place (the operator needs one).
CUE_ISSUE_TYPE = {"self_harm": "mental_crisis", "violence": "safety_conflict", "confinement": "safety_conflict",
                  "acute_injury": "injury", "fire_or_danger": "safety_conflict"}
# The kind a cue group stands for, in the order a check asks about them (self-harm first).
CUE_KIND = {"self_harm": "self_harm_active", "violence": "violence_now", "confinement": "confinement",
            "acute_injury": "acute_injury", "fire_or_danger": "other_danger"}
KIND_ISSUE_TYPE = {"self_harm_passive": "mental_crisis", "self_harm_euphemistic": "mental_crisis",
                   "self_harm_active": "mental_crisis", "child_at_risk": "mental_crisis",
                   "violence_now": "safety_conflict", "threat_to_life": "safety_conflict",
                   "confinement": "safety_conflict", "acute_injury": "injury", "other_danger": "safety_conflict"}


@dataclass(frozen=True, slots=True)
class DangerReason:
    code: str  # a cue group (self_harm, violence ...) or a context rule (intensifier, resolved ...)
    detail: str  # shown to the operator, in Chinese


@dataclass(frozen=True, slots=True)
class Danger:
    level: str  # none | passive | now
    kind: str | None  # one of KINDS when level is not none
    probability: float  # P(danger now), from the detector
    reasons: tuple[DangerReason, ...] = ()
    check: bool = False  # level none, but close enough that the operator should ask one safety question
    # With ``check``: which kind of danger the detector leans to, so the question fits it (an injury is asked
    # about differently from a suicidal thought).
    check_kind: str | None = None

    @property
    def response(self) -> str | None:
        return RESPONSE.get(self.kind or "") if self.level != "none" else None

    @property
    def check_response(self) -> str | None:
        return RESPONSE.get(self.check_kind or "") if self.check else None


def _alternation(patterns: list[str], flags: int = 0) -> re.Pattern[str]:
    """One regular expression matching any of a data file's patterns."""
    return re.compile("|".join(f"(?:{p})" for p in patterns), flags)


@lru_cache(maxsize=1)
def _rules() -> tuple[list[tuple[str, str, re.Pattern[str]]], list[tuple[str, str, re.Pattern[str]]]]:
    data = load_yaml("danger.yaml")

    def compile_groups(groups: dict) -> list[tuple[str, str, re.Pattern[str]]]:
        return [(code, g["zh"], _alternation(g["patterns"], re.I)) for code, g in groups.items()]

    return compile_groups(data["cues"]), compile_groups(data["context"])


@lru_cache(maxsize=1)
def _imminent() -> tuple[str, re.Pattern[str]]:
    rule = load_yaml("danger.yaml")["imminent_self_harm"]
    return rule["zh"], _alternation(rule["patterns"])


@lru_cache(maxsize=1)
def _strong() -> tuple[str, re.Pattern[str]]:
    rule = load_yaml("danger.yaml")["strong_self_harm"]
    return rule["zh"], _alternation(rule["patterns"])


# Context that explains a cue word away, so a floor must not override what the model was right to discount: someone
# else's story or quoted speech before the words or in their sentence ("新闻说…。他说活着没意思"; not a "听说" that
# opens the practical question after them); a denial or an event that is over in the same sentence ("前年出了工伤。
# 最近觉得活着没什么意思": the injury is over, the thought is not); intensifiers and denials where the words stand.
EXPLAINING_BEFORE = ("third_party", "quoted")
EXPLAINING_NEARBY = ("negation", "resolved")
_SENTENCE_END = re.compile(r"[。!?;\n…]")


@lru_cache(maxsize=1)
def _explaining() -> tuple[list[re.Pattern[str]], list[re.Pattern[str]]]:
    """(the context rules read before the words, those read in their sentence)."""
    rules = _rules()[1]
    return ([rx for code, _, rx in rules if code in EXPLAINING_BEFORE],
            [rx for code, _, rx in rules if code in EXPLAINING_NEARBY])


def strong_self_harm(normalised: str) -> str | None:
    """The words of unmistakable suicidal thought in ``normalised`` (danger.yaml strong_self_harm), standing outside
    intensifier spans and denials, when no context explains them away; else None."""
    shadow, denied = _cue_spans(normalised)
    before, nearby = _explaining()
    for m in _strong()[1].finditer(normalised):
        if any(a <= m.start() and m.end() <= b for a, b in (*shadow, *denied)):
            continue
        start = max((e.end() for e in _SENTENCE_END.finditer(normalised, 0, m.start())), default=0)
        end = _SENTENCE_END.search(normalised, m.end())
        stop = end.start() if end else len(normalised)
        if any(rx.search(normalised, start, stop) for rx in nearby) or any(rx.search(normalised, 0, stop) for rx in before):
            continue
        return m.group(0)
    return None


@lru_cache(maxsize=1)
def _denial() -> tuple[str, re.Pattern[str]]:
    """The denied-cue rule: a negator ending right before a cue word (at most one linking word between)."""
    rule = load_yaml("danger.yaml")["denied_cue"]
    longest_first = lambda words: "|".join(map(re.escape, sorted(words, key=len, reverse=True)))  # noqa: E731
    return rule["zh"], re.compile(f"(?:{longest_first(rule['negators'])})(?:{longest_first(rule['linking'])})?$")


@lru_cache(maxsize=1024)  # a message is read twice per pass: its word features (neutralise) and its context
def _cue_spans(normalised: str) -> tuple[tuple[tuple[int, int], ...], tuple[tuple[int, int], ...]]:
    """(intensifier or idiom spans, denied-cue spans: the negator through the cue word)."""
    cues, rules = _rules()
    shadow = [m.span() for code, _, rx in rules if code == "intensifier" for m in rx.finditer(normalised)]
    denial = _denial()[1]
    denied = []
    for _, _, rx in cues:
        for m in rx.finditer(normalised):
            before = denial.search(normalised, max(0, m.start() - 8), m.start())
            if before is not None:
                denied.append((before.start(), m.end()))
    return tuple(shadow), tuple(denied)


def neutralise(normalised: str) -> str:
    """The text the detector's words are read from: 死 used as an intensifier or in an idiom (累死, 想死你们,
    跳楼价) replaced by a neutral word, so "想死" inside "想死你们了" never counts as the words "想死"; a cue word
    denied where it stands ("我不是想自杀") replaced by another, so its characters do not count either."""
    shadow, denied = _cue_spans(normalised)
    if not shadow and not denied:
        return normalised
    # Intensifier spans first: a cue inside one is not a cue, so it is not a denied cue either.
    spans = [(a, b, "夸张") for a, b in shadow] + [(a, b, "否认") for a, b in denied
                                                  if not any(x <= a and b <= y for x, y in shadow)]
    out, at = [], 0
    for a, b, word in sorted(spans):
        if a < at:
            continue
        out += [normalised[at:a], word]
        at = b
    return "".join(out) + normalised[at:]


def cue_groups() -> list[str]:
    return [code for code, _, _ in _rules()[0]]


def context_groups() -> list[str]:
    return [code for code, _, _ in _rules()[1]]


def context(normalised: str) -> tuple[np.ndarray, list[DangerReason]]:
    """The context features of one normalised text, and the reasons to show.

    Features: per cue group, 1 when it matches outside intensifier/idiom spans and is not denied where it stands;
    then "a cue matched only inside such spans"; then "a cue matched, but every one denied" ("我不是想自杀"); then
    per context rule, 1 when it matches; then a cue together with each of resolved, third-party, negation, quoted
    and recent (the interactions a linear model cannot make itself).
    """
    cues, rules = _rules()
    found_rules = {code: bool(rx.search(normalised)) for code, _, rx in rules}
    shadow, denied = _cue_spans(normalised)

    def outside(span: tuple[int, int]) -> bool:
        return not any(a <= span[0] and span[1] <= b for a, b in (*shadow, *denied))

    reasons: list[DangerReason] = []
    cue_hits, raw_hit = [], False
    for code, zh, rx in cues:
        matches = list(rx.finditer(normalised))
        raw_hit = raw_hit or bool(matches)
        real = [m for m in matches if outside(m.span())]
        cue_hits.append(1.0 if real else 0.0)
        if real:
            reasons.append(DangerReason(code, f"{zh}：“{real[0].group(0)}”"))
    any_cue = float(any(cue_hits))
    only_denied = float(bool(denied) and not any_cue)
    neutralised = float(raw_hit and not any_cue and not denied)
    zh_of = {code: zh for code, zh, _ in rules}
    for code in ("intensifier", "negation", "resolved", "third_party", "quoted", "job_threat"):
        if found_rules.get(code) and (raw_hit or code == "intensifier"):
            reasons.append(DangerReason(code, zh_of[code]))
    if denied:
        a, b = denied[0]
        reasons.append(DangerReason("denied_cue", f"{_denial()[0]}：“{normalised[a:b]}”"))
    rule_vec = [float(found_rules[c]) for c in context_groups()]
    inter = [any_cue * float(found_rules.get(c, False)) for c in ("resolved", "third_party", "negation", "quoted", "recent")]
    return np.asarray(cue_hits + [neutralised, only_denied] + rule_vec + inter, dtype=np.float64), reasons


def context_matrix(normalised: list[str]) -> np.ndarray:
    return np.vstack([context(t)[0] for t in normalised]) if normalised else np.zeros((0, context_width()))


def context_width() -> int:
    return len(cue_groups()) + 2 + len(context_groups()) + 5


def decide(probability: float, kind_probs: np.ndarray | None, threshold: float, reasons: list[DangerReason],
           normalised: str | None = None, check_threshold: float | None = None) -> Danger:
    """The detector's verdict for one message (``kind_probs`` over KINDS). A greeting, a pleasantry or emoji
    alone is never danger: the model has too little to read there, and a false alarm on "好的" helps nobody.
    ``check_threshold`` (below ``threshold``): from there up, a message that is not an emergency is a "check"."""
    if normalised is not None and (is_greeting(normalised) or not has_words(normalised)):
        probability = 0.0
    fired = {r.code for r in reasons}
    strong = strong_self_harm(normalised) if normalised is not None and probability < threshold else None
    if strong is not None:
        # A floor under the model: these words are passive ideation, however much practical text is around them
        # (12356 and a direct question; the imminent rule below raises it to danger now when a place, the means
        # or a time is at hand). The probability shown stays the model's.
        reasons = [*reasons, DangerReason("strong_self_harm", f"{_strong()[0]}：“{strong}”")]
        kind_probs = np.eye(len(KINDS))[KINDS.index("self_harm_passive")]
    elif probability < threshold:
        # No danger: keep only the context that explains why a cue word did not count (shown to the operator).
        cues = set(cue_groups())
        check = check_threshold is not None and probability >= check_threshold
        # The kind a check leans to comes from the cue words that fired, not from the kind model: below the line the
        # model's argmax over kinds means little ("累死了" would lean to a threat to life).
        leaning = _cue_kind(fired) if check else None
        return Danger("none", None, round(probability, 4), tuple(r for r in reasons if r.code not in cues), check, leaning)
    kind = KINDS[int(np.argmax(kind_probs))] if kind_probs is not None else "self_harm_active"
    if kind == "self_harm_passive" and "self_harm" not in fired:
        # The kind model read passive ideation, but no word of it is there and a danger-now cue is (clubs at a
        # roadside "toll"): answer the danger that is written, 110 first, not 12356.
        kind = _cue_kind(fired - {"self_harm"}) or kind
    if kind == "self_harm_passive" and normalised is not None and _imminent()[1].search(normalised):
        # A place, the means or a time at hand: danger now (danger.yaml imminent_self_harm), and the operator is told.
        kind, reasons = "self_harm_active", [*reasons, DangerReason("imminent_self_harm", _imminent()[0])]
    level = "passive" if RESPONSE[kind] == "passive" else "now"
    return Danger(level, kind, round(probability, 4), tuple(reasons))


def _cue_kind(fired: set[str]) -> str | None:
    """The kind named by the first cue group (in CUE_KIND's order) among ``fired``, or None."""
    return next((CUE_KIND[c] for c in CUE_KIND if c in fired), None)


@dataclass
class NeighbourMemory:
    """The detector's nearest neighbours in meaning: the training messages' sentence vectors (the encoder's, unit
    length) and whether each was an emergency. For a new message, the mean
    similarity of its ``k`` nearest emergencies, of its ``k`` nearest non-emergencies, and their difference become
    three more features (times ``weight``). Words alone cannot tell "一个人过节好挂住屋企人" (homesick) from
    "一个人活着没意思" (passive ideation); their nearest written examples can. Measured (2026-12-05, at the same
    recall): false alarms out of fold on the crisis training rows 6.6% -> 4.2%; on four read blind crisis sets
    7.4% -> 5.3%, with 13 emergencies below the flag instead of 17 of 720 (models/train_danger.py)."""

    vectors: np.ndarray  # (n, d) float32, unit rows
    emergency: np.ndarray  # (n,) bool
    k: int = 5
    weight: float = 3.0

    def __post_init__(self) -> None:
        self.vectors = _column_major(self.vectors)

    def features(self, unit: np.ndarray, exclude_self: bool = False) -> np.ndarray:
        """(m, 3) for ``unit`` (m, d) unit vectors; ``exclude_self``: ``unit`` is the memory itself (training),
        and a message must not find itself."""
        if not self.vectors.flags.f_contiguous:  # a memory unpickled from an older model file
            self.vectors = _column_major(self.vectors)
        sims = np.asarray(unit, dtype=np.float32) @ self.vectors.T
        if exclude_self:
            np.fill_diagonal(sims, -1.0)
        return self.weight * neighbour_scores(sims, self.emergency, self.k)


def _column_major(vectors: np.ndarray) -> np.ndarray:
    """The memory column-major, so ``vectors.T`` is contiguous: one message's product with 18,000 rows took 1.2 ms
    on the row-major array and 0.6 ms on this one (the same memory; one copy when the model loads)."""
    return np.asfortranarray(vectors, dtype=np.float32)


def neighbour_scores(sims: np.ndarray, emergency: np.ndarray, k: int) -> np.ndarray:
    """Mean of the ``k`` highest similarities to emergencies, to non-emergencies, and the difference, per row."""
    k_pos, k_neg = min(k, int(emergency.sum())), min(k, int((~emergency).sum()))
    if not k_pos or not k_neg:
        return np.zeros((len(sims), 3))
    top_pos = np.partition(sims[:, emergency], -k_pos, axis=1)[:, -k_pos:].mean(axis=1)
    top_neg = np.partition(sims[:, ~emergency], -k_neg, axis=1)[:, -k_neg:].mean(axis=1)
    return np.column_stack([top_pos, top_neg, top_pos - top_neg]).astype(np.float64)


def unit_rows(embedded: np.ndarray) -> np.ndarray:
    v = np.asarray(embedded, dtype=np.float32)
    return v / (np.linalg.norm(v, axis=1, keepdims=True) + 1e-9)
