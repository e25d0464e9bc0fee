"""One query path: the text every search sees, prepared by one function.

`/v1/suggest`, `/v1/faq/ask`, WeChat, live assist, `/v1/search`, the CLI, `jishibang eval search` and
the fitting of the reranker and the answer decision all search a :class:`PreparedQuery`: the text
checked, personal data masked, then normalised (full-width, traditional and Cantonese forms folded), and
segmented once. Evaluating on raw text while serving masked, normalised text would measure something
other than what is served.

The query also says when it is not a question at all (:func:`degenerate_reason`): one word repeated, a
keyboard mash, a pasted article, digits or a link only. Such input never gets a confident answer.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass

from triage.normalize import check_text, is_greeting, normalize
from triage.pii import mask
from triage.pipeline import TriageResult
from triage.segment import Segmenter

_SEGMENTER = Segmenter(assume_normalised=True)


@dataclass(frozen=True, slots=True)
class PreparedQuery:
    masked: str  # personal data masked, otherwise as written (what is stored and shown)
    text: str  # masked and normalised: what is searched and embedded
    tokens: tuple[str, ...]  # jieba words of ``text`` (domain dictionary, synonyms folded, no stop words)
    degenerate: str | None = None  # why this is not a question (see degenerate_reason), else None


def prepare_query(text: str, segmenter: Segmenter | None = None) -> PreparedQuery:
    """Check, mask, normalise and segment ``text`` (raises :class:`triage.errors.TextError` on bad input)."""
    masked = mask(check_text(text)).text
    return _prepared(masked, normalize(masked), segmenter)


def from_triage(result: TriageResult, segmenter: Segmenter | None = None) -> PreparedQuery:
    """The same preparation, reusing what triage already computed for this text."""
    return _prepared(result.text_masked, result.text_normalised, segmenter)


def _prepared(masked: str, text: str, segmenter: Segmenter | None) -> PreparedQuery:
    tokens = tuple((segmenter or _SEGMENTER).words(text))
    return PreparedQuery(masked, text, tokens, degenerate_reason(text, tokens))


# --- degenerate input -------------------------------------------------------------------------------

_CJK = re.compile(r"[\u3400-\u9fff]")
_URL = re.compile(r"(https?://|www\.)\S+", re.I)
# Words that make a long text a person's own question rather than a pasted article.
_FIRST_PERSON = re.compile(r"我|俺|本人|来电|咱|老公|老婆|儿子|女儿|我哋|我们")
_ASKING = re.compile(r"[?？]|吗|怎么|如何|能不能|可不可以|可以吗|有没有|请问|咨询|想问|点算|点办|点样|找谁|多少|哪里|哪个|几时|多久")


def _entropy(chars: str) -> float:
    counts = Counter(chars)
    n = len(chars)
    return -sum(c / n * math.log2(c / n) for c in counts.values()) if n else 0.0


def degenerate_reason(text: str, tokens: tuple[str, ...] | list[str]) -> str | None:
    """Why ``text`` (normalised) is not a question anyone could answer, or None.

    - ``repeated``: one word or a short unit repeated (押金押金押金..., 啊啊啊啊啊);
    - ``no_words``: digits, punctuation, emoji or a link only;
    - ``keyboard``: letters with no Chinese and no real words (asdfjkl, qwerqwer);
    - ``pasted_article``: a long text with no first person and no question (a news item, a statute);
    - ``greeting``: a greeting or pleasantry and nothing else (你好在吗, 谢谢, 转人工).
    """
    compact = re.sub(r"\s+", "", _URL.sub("", text))
    if is_greeting(compact):
        return "greeting"
    if not compact or not re.search(r"[\w\u3400-\u9fff]", compact) or compact.isdigit():
        return "no_words"
    cjk = _CJK.findall(compact)
    if len(compact) >= 6:
        # A short unit repeated: the text is (almost) a multiple of a prefix of 1-8 characters.
        for unit in range(1, 9):
            if len(compact) >= unit * 3 and compact == (compact[:unit] * (len(compact) // unit + 1))[: len(compact)]:
                return "repeated"
        if len(tokens) >= 6:
            word, n = Counter(tokens).most_common(1)[0]
            if n / len(tokens) >= 0.6:
                return "repeated"
        if len(compact) >= 12 and len(set(compact)) / len(compact) < 0.15:
            return "repeated"
    if not cjk:
        letters = re.sub(r"[^a-z]", "", compact.lower())
        vowels = sum(ch in "aeiou" for ch in letters)
        if len(letters) >= 5 and (vowels / len(letters) < 0.2 or _entropy(letters) < 2.0 or not tokens):
            return "keyboard"
    if len(compact) >= 250 and not _FIRST_PERSON.search(compact) and not _ASKING.search(compact[-120:]):
        return "pasted_article"
    return None
