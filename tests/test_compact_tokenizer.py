"""The compact tokenizer gives the full tokenizer's ids for every text (the served encoder's vectors do not change),
loading the full one only for a text with a character it does not cover."""

from __future__ import annotations

import json
import random
import shutil
from importlib import resources
from pathlib import Path

import pytest

from triage.compact_tokenizer import COMPACT_NAME, CompactTokenizer, covered, write_compact
from triage.onnx_encoder import load_tokenizer


@pytest.fixture(scope="module")
def tokenizer_dir(local_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("compact")
    shutil.copy2(local_model_dir / "tokenizer.json", out / "tokenizer.json")
    assert write_compact(out) is True
    assert write_compact(out) is False  # already there for this tokenizer
    return out


def _corpus_texts() -> list[str]:
    texts = []
    for folder in ("corpus", "crisis"):
        for p in resources.files("triage.data").joinpath(folder).iterdir():
            if p.name.endswith(".jsonl"):
                texts += [json.loads(line)["text"] for line in p.read_text(encoding="utf-8").splitlines() if line]
    return texts


def test_the_same_ids_as_the_full_tokenizer(tokenizer_dir: Path) -> None:
    compact = CompactTokenizer.load(tokenizer_dir, 512)
    full = load_tokenizer(tokenizer_dir / "tokenizer.json", 512)
    assert compact is not None
    rng = random.Random(7)
    # every script the hotline sees, and some it does not (Cyrillic, kana, Thai, accented Latin, flags)
    pool = ("押金不退怎么办骑手站长扣钱工伤仲裁冇佢咗唔嘅喺揾攰點解𠮶"
            "abcXYZ 0123456789.,!?%-:/()【】「」，。！？、；：～·°×😭😂🙏🏻🇨🇳‼️❤️ÅéüЖжあカタไทย\u3000\t\n")
    texts = _corpus_texts()
    texts += ["".join(rng.choice(pool) for _ in range(rng.randint(1, 120))) for _ in range(3000)]
    texts += ["押金" * 400, "", " ", "ＡＢＣ１２３", "ﬁ café", "Привет，押金"]
    # a special token's text: the full tokenizer's added-token handling (raw "<s>"), or a piece once normalised ("＜ｓ＞")
    texts += ["<s>押金", "押金</s>", "＜ｓ＞押金＜／ｓ＞", "<unk><pad>", "<mask>", "<<s>>"]
    texts = ["query: " + t for t in texts]  # as the encoder sends them
    assert compact.encode_batch(texts) == [e.ids for e in full.encode_batch(texts)]
    assert 0 < compact.fallbacks < 3000  # only the texts with an uncovered character went to the full tokenizer


def test_hotline_messages_never_need_the_full_tokenizer(tokenizer_dir: Path) -> None:
    compact = CompactTokenizer.load(tokenizer_dir, 512)
    assert compact is not None
    compact.encode_batch(["query: " + t for t in _corpus_texts()])
    assert compact.fallbacks == 0 and compact._full is None
    assert covered("攰到死😭，站长话扣我200蚊") and covered("‼️ 被狗咬了❤️") and covered("ありがとう 是啥意思")
    assert not covered("Привет") and not covered("สวัสดี")


def test_a_changed_tokenizer_is_not_served_a_stale_compact_one(tokenizer_dir: Path, tmp_path: Path) -> None:
    shutil.copytree(tokenizer_dir, tmp_path / "t")
    source = tmp_path / "t" / "tokenizer.json"
    source.write_text(source.read_text(encoding="utf-8") + " ", encoding="utf-8")
    assert CompactTokenizer.load(tmp_path / "t", 512) is None  # falls back to the full tokenizer
    assert write_compact(tmp_path / "t") is True  # and `models build` writes it again
    assert CompactTokenizer.load(tmp_path / "t", 512) is not None
    (tmp_path / "t" / COMPACT_NAME).write_text("{}", encoding="utf-8")
    assert CompactTokenizer.load(tmp_path / "t", 512) is None
