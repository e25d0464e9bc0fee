"""Word segmentation with jieba, the domain dictionary and the synonym table.

:class:`Segmenter` is what the sklearn pipeline uses as its analyzer, so training and serving share
one path. It pickles without its jieba instance (rebuilt lazily), so a saved model stays small and
picks up the dictionary it was trained with (its hash is in the model manifest).
"""

from __future__ import annotations

import hashlib
import logging
import threading
from functools import lru_cache
from importlib import resources

from triage.normalize import _read_table, normalize

# Tokens that carry no meaning for classification or search.
_STOP = frozenset(
    "的 了 是 在 我 你 他 她 它 们 我们 你们 他们 这 那 就 都 也 还 又 和 跟 与 及 啊 呀 吧 呢 吗 嘛 哦 喔 噢 哈 嗯 "
    "么 个 一个 有 着 过 把 被 给 让 说 就是 然后 那个 这个 什么 怎么 一下 现在 已经 可以 还是 但是 因为 所以 "
    "如果 而且 或者 不过 请问 你好 您好 谢谢".split()
)
_PUNCT = frozenset(" \t\n,.!?;:()[]{}<>\"'`~@#$%^&*-_=+|\\/，。！？；：、（）【】《》“”‘’…—·～")


def resource_hash(*names: str) -> str:
    """sha256 over triage data files, for model manifests."""
    h = hashlib.sha256()
    for name in names:
        h.update(resources.files("triage.data").joinpath(name).read_bytes())
    return h.hexdigest()[:16]


_TOKENIZER_LOCK = threading.Lock()


@lru_cache(maxsize=1)
def _tokenizer():  # type: ignore[no-untyped-def]
    """One jieba tokenizer per process with the domain dictionary (each one holds the ~350,000-word frequency
    table: ~70 MB that every Segmenter used to load again)."""
    import jieba

    with _TOKENIZER_LOCK:
        jieba.setLogLevel(logging.WARNING)
        tk = jieba.Tokenizer()
        with resources.as_file(resources.files("triage.data").joinpath("dictionary.txt")) as path:
            tk.load_userdict(str(path))
        return tk


@lru_cache(maxsize=4096)
def _lcut(normalised: str) -> tuple[str, ...]:
    """jieba's words of a normalised text, cached: triage's TF-IDF, the query path and the reranker segment
    the same message; the first pays."""
    return tuple(_tokenizer().lcut(normalised, HMM=True))


@lru_cache(maxsize=1)
def _synonyms() -> dict[str, str]:
    return dict(_read_table("synonyms.tsv"))


class Segmenter:
    """Callable: raw or normalised text -> list of word tokens (normalised, synonyms folded).

    >>> Segmenter()("骑士被封号了，押金不退")  # doctest: +SKIP
    ['骑手', '封号', '押金', '不', '退']
    """

    def __init__(self, keep_stopwords: bool = False, assume_normalised: bool = False) -> None:
        self.keep_stopwords = keep_stopwords
        self.assume_normalised = assume_normalised

    def __getstate__(self) -> dict[str, object]:
        return {"keep_stopwords": self.keep_stopwords, "assume_normalised": self.assume_normalised}

    def __setstate__(self, state: dict[str, object]) -> None:
        self.__init__(**state)  # type: ignore[misc]

    def words(self, normalised: str) -> list[str]:
        syn = _synonyms()
        out = []
        for tok in _lcut(normalised):
            tok = tok.strip()
            if not tok or tok in _PUNCT or all(ch in _PUNCT for ch in tok):
                continue
            tok = syn.get(tok, tok)
            if not self.keep_stopwords and tok in _STOP:
                continue
            out.append(tok)
        return out

    def __call__(self, text: str) -> list[str]:
        return self.words(text if self.assume_normalised else normalize(text))
