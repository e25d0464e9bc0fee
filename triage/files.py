"""Writing artifacts so that a reader never sees half a file: the few file operations every model, index and
cache shares (the triage model, the search index and its vector cache, the ranking model, the encoder)."""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path

import numpy as np

CURRENT = "CURRENT"  # the pointer file naming the served version or build


def writer_id() -> str:
    """Unique per process and thread: concurrent writers never share a temporary file."""
    return f"{os.getpid()}-{threading.get_ident()}"


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def write_text_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and a rename (atomic on one file system)."""
    tmp = path.with_name(f".{path.name}.{writer_id()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


def save_vectors(path: Path, keys: np.ndarray, vectors: np.ndarray) -> None:
    """An ``.npz`` of text keys and their vectors, written atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.stem}.{writer_id()}.tmp.npz")
    np.savez(tmp, keys=keys, vectors=vectors)
    tmp.replace(path)


def save_array(path: Path, array: np.ndarray) -> None:
    """An ``.npy`` file, written atomically."""
    tmp = path.with_name(f".{path.stem}.{writer_id()}.tmp.npy")
    np.save(tmp, array)
    tmp.replace(path)


def point_current(root: Path, name: str) -> None:
    """Point ``root/CURRENT`` at the version or build ``name``."""
    write_text_atomic(root / CURRENT, name + "\n")
