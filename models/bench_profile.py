"""`jishibang bench profile`: where the time of one request goes, in process, with a sampling profiler.

Runs the Assistant as the routes do (suggestions with the question log, the worker FAQ that /ask and the WeChat
auto-reply share, live assist's suggestions without the log) over call notes and worker questions, one at a time,
under pyinstrument; writes an HTML flame chart per path to the reports dir and returns the time per call split into
the encoder, triage without it, search, and the rest.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


def profile(assistant: Any, notes: list[str], questions: list[str], out_dir: Path, n: int = 80) -> dict[str, Any]:
    from pyinstrument import Profiler

    out_dir.mkdir(parents=True, exist_ok=True)
    paths: dict[str, tuple[Callable[[str], Any], list[str]]] = {
        "suggest": (lambda t: assistant.suggest(t, record=True), notes),
        "faq": (lambda t: assistant.faq(t), questions),
        "live": (lambda t: assistant.suggest(t, None, False), notes[n:]),
    }
    for fn, texts in paths.values():  # warm: models, caches of the index build
        for t in texts[:3]:
            fn(t)
    report: dict[str, Any] = {"calls_per_path": n}
    for name, (fn, texts) in paths.items():
        profiler = Profiler(interval=0.0005)
        times = []
        profiler.start()
        for t in texts[3:3 + n]:
            t0 = time.perf_counter()
            fn(t)
            times.append((time.perf_counter() - t0) * 1000)
        profiler.stop()
        html = out_dir / f"profile-{name}.html"
        html.write_text(profiler.output_html(), encoding="utf-8")
        session = profiler.last_session
        total = session.duration if session else 0.0
        frames = _self_time_by(profiler, ("onnxruntime", "OnnxEncoder._run"), ("kb/search.py",),
                               ("triage/",), ("sqlalchemy", "sqlite3", "psycopg"))
        report[name] = {"p50_ms": round(statistics.median(times), 1), "mean_ms": round(statistics.mean(times), 1),
                        "share_of_time": {k: round(v / total, 3) if total else None for k, v in frames.items()},
                        "flame_chart": str(html)}
    return report


def _self_time_by(profiler: Any, *groups: tuple[str, ...]) -> dict[str, float]:
    """Seconds of samples by the innermost group of file/function markers on their stack."""
    names = ["encoder", "search", "triage", "database"]
    out = {k: 0.0 for k in [*names, "other"]}
    root = profiler.last_session.root_frame() if profiler.last_session else None
    if root is None:
        return out

    def walk(frame: Any, owner: str | None) -> None:
        # The innermost group a frame belongs to wins: the encoder's run inside triage counts as the encoder.
        here = owner
        ident = f"{frame.file_path_short or ''}:{frame.function or ''}"
        for name, markers in zip(names, groups):
            if any(m in ident for m in markers):
                here = name
                break
        children = frame.children
        if not children:
            out[here or "other"] += frame.time
        for child in children:
            walk(child, here)
        own = frame.time - sum(c.time for c in children)
        if children and own > 0:
            out[here or "other"] += own

    walk(root, None)
    return out
