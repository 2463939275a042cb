"""Small shared helpers: atomic writes, hashing, JSON encoding."""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

_S = TypeVar("_S")


@contextlib.contextmanager
def atomic_path(dest: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to ``dest``; on success fsync and rename it over ``dest``.

    A crash (even kill -9) leaves either the old file or the new one, never half of either.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        with open(tmp_path, "rb+") as fh:
            fh.flush()
            os.fsync(fh.fileno())
        # mkstemp creates 0600; give the file the permissions a plain open() would
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp_path, 0o666 & ~umask)
        os.replace(tmp_path, dest)
        with contextlib.suppress(OSError):  # make the rename durable
            dfd = os.open(dest.parent, os.O_RDONLY)
            try:
                os.fsync(dfd)
            finally:
                os.close(dfd)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def atomic_write_bytes(dest: str | os.PathLike, data: bytes) -> None:
    with atomic_path(dest) as tmp:
        tmp.write_bytes(data)


def atomic_write_text(dest: str | os.PathLike, text: str) -> None:
    atomic_write_bytes(dest, text.encode("utf-8"))


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file, read in chunks (model files are hundreds of MB)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


def to_jsonable(obj: Any) -> Any:
    """Convert numpy scalars/arrays, paths and bytes to plain JSON types."""
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, bytes):
        return obj.hex()
    if isinstance(obj, float) and (obj != obj or obj in (float("inf"), float("-inf"))):
        return None
    return obj


def dumps(obj: Any, **kw: Any) -> str:
    return json.dumps(to_jsonable(obj), ensure_ascii=False, **kw)


def cpu_session(model: str | os.PathLike | bytes, threads: int) -> Any:
    """An onnxruntime CPU session with quiet logging.

    Parameters
    ----------
    model : str, path or bytes
        The ONNX file, or the serialised model itself.
    threads : int
        Intra-op threads (the caller's setting: one per worker, or the configured count).

    Returns
    -------
    onnxruntime.InferenceSession
    """
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = int(threads)
    so.log_severity_level = 3
    src = model if isinstance(model, bytes) else str(model)
    return ort.InferenceSession(src, so, providers=["CPUExecutionProvider"])


class SharedInstance:
    """Mixin: ``cls.shared()`` builds one default instance per class and process, thread-safely.

    Model wrappers load their weights once per process this way; an instance built with other
    arguments is the caller's own.
    """

    _instances: dict[type, Any] = {}
    _instances_lock = threading.Lock()

    @classmethod
    def shared(cls: type[_S]) -> _S:
        with SharedInstance._instances_lock:
            if cls not in SharedInstance._instances:
                SharedInstance._instances[cls] = cls()
            return SharedInstance._instances[cls]
