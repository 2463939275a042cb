"""What each engine stage runs on one batch of items. Every function here calls the library's
own per-image code (:func:`sleuth.pipeline.scan`, :mod:`sleuth.copydetect.descriptors`,
:func:`sleuth.copydetect.verify.extract`); only
the batching, the hand-over between stages and the error capture live here.

Stages (Ray Data ``map_batches`` over ``pyarrow`` batches):

* ``read_*`` (CPU tasks): fetch the bytes of remote URIs with fsspec; for ``describe`` also
  decode, hash (sha256, PDQ, other binary codes), extract SIFT features and prepare the SSCD
  input (short side 288), so the model stage receives only small arrays.
* ``*Actor`` (actor pool, one model load per actor): ``ScanActor`` runs the scan pipeline,
  ``EmbedActor`` the float descriptors (SSCD).

Error capture mirrors the local engine: a :class:`~sleuth.errors.SleuthError` becomes the
item's one-line reason; anything else becomes ``"<Type>: <message>"``; the job goes on.
"""
from __future__ import annotations

import json
import os
from typing import Any

import numpy as np


def _pa():
    import pyarrow as pa

    return pa


def report_schema():
    pa = _pa()
    return pa.schema([("pos", pa.int64()), ("shard", pa.int64()), ("path", pa.string()),
                      ("error", pa.string()), ("report", pa.string())])


def read_schema():
    pa = _pa()
    return pa.schema([("pos", pa.int64()), ("shard", pa.int64()), ("path", pa.string()),
                      ("data", pa.binary()), ("read_error", pa.string())])


def describe_schema(binary: list[str], floats: list[str], with_pre: bool):
    pa = _pa()
    fields = [("pos", pa.int64()), ("shard", pa.int64()), ("path", pa.string()), ("error", pa.string()),
              ("sha256", pa.string()), ("width", pa.int64()), ("height", pa.int64()), ("bytes", pa.int64()),
              ("pdq_quality", pa.int64()), ("local", pa.binary())]
    fields += [(f"code_{d}", pa.binary()) for d in binary]
    if with_pre:
        fields += [("pre", pa.binary()), ("pre_h", pa.int64()), ("pre_w", pa.int64())]
    fields += [(f"emb_{d}", pa.binary()) for d in floats]
    return pa.schema(fields)


def _reason(exc: BaseException) -> str:
    from ..errors import SleuthError

    return exc.reason if isinstance(exc, SleuthError) else f"{type(exc).__name__}: {exc}"


def _one_thread() -> None:
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    try:
        import cv2

        cv2.setNumThreads(1)
    except Exception:  # pragma: no cover
        pass


def _fetch(path: str) -> bytes:
    import fsspec

    with fsspec.open(path, "rb") as fh:
        return fh.read()


# ----------------------------------------------------------------------------- read stage
def read_bytes(batch) -> Any:
    """Read stage of ``scan``/``detect``: remote URIs are fetched here, local paths pass through
    (the pipeline reads them itself, exactly as the local engine does)."""
    from .inputs import is_uri

    rows = []
    for r in batch.to_pylist():
        data, err = None, None
        if is_uri(r["path"]):
            try:
                data = _fetch(r["path"])
            except Exception as exc:
                err = f"{r['path']}: cannot read ({type(exc).__name__}: {' '.join(str(exc).split())[:160]})"
        rows.append({"pos": r["pos"], "shard": r["shard"], "path": r["path"], "data": data, "read_error": err})
    return _pa().Table.from_pylist(rows, schema=read_schema())


# ----------------------------------------------------------------------------- scan
class ScanActor:
    """Runs :func:`sleuth.pipeline.scan` per item; models load once per actor (lazily, cached)."""

    def __init__(self, analyzers: list[str] | None, tier: str, options: dict[str, Any]):
        _one_thread()
        self.analyzers, self.tier, self.options = analyzers, tier, dict(options)

    def __call__(self, batch) -> Any:
        rows = [scan_row(r, self.analyzers, self.tier, self.options) for r in batch.to_pylist()]
        return _pa().Table.from_pylist(rows, schema=report_schema())


def scan_row(r: dict[str, Any], analyzers, tier: str, options: dict[str, Any]) -> dict[str, Any]:
    """One item of a scan job: the report exactly as :func:`sleuth.pipeline.scan_many` makes it."""
    from ..pipeline import scan
    from ..report import Report, summarise

    path = r["path"]
    if r.get("read_error"):
        rep = Report(path=path, error=r["read_error"])
        rep.summary = summarise(rep)
    else:
        try:
            if r.get("data") is not None:
                rep = scan(r["data"], analyzers, tier=tier, options=options, keep_maps=False)
                rep.path = path
                if rep.error:
                    rep.error = rep.error.replace("<bytes>", path, 1)
            else:
                rep = scan(path, analyzers, tier=tier, options=options, keep_maps=False)
        except Exception as exc:  # the same last resort as the local engine's worker
            rep = Report(path=path, error=f"{path}: internal error ({type(exc).__name__}: {exc})")
    d = rep.to_dict()
    return {"pos": r["pos"], "shard": r["shard"], "path": path, "error": rep.error,
            "report": json.dumps(d, ensure_ascii=False)}


def split_descriptors(descriptors: list[str]) -> tuple[list[str], list[str]]:
    """(binary, float) descriptor names, each in the index's order."""
    from ..copydetect import descriptors as D

    binary = [d for d in descriptors if D.get(d).kind == "binary"]
    return binary, [d for d in descriptors if d not in binary]


def describe_decode(batch, descriptors: list[str], local_features: bool) -> Any:
    """Decode stage of ``index add``: everything :meth:`CopyIndex.add` computes per image except
    the float (model) descriptors, plus the prepared model input."""
    _one_thread()
    binary, floats = split_descriptors(descriptors)
    rows = [_describe_one(r, binary, floats, local_features) for r in batch.to_pylist()]
    return _pa().Table.from_pylist(rows, schema=describe_schema(binary, [], bool(floats)))


def _describe_one(r: dict[str, Any], binary: list[str], floats: list[str], local_features: bool) -> dict[str, Any]:
    from ..copydetect import descriptors as D
    from ..copydetect.verify import extract
    from ..imageio import load_image
    from .inputs import is_uri

    out: dict[str, Any] = {"pos": r["pos"], "shard": r["shard"], "path": r["path"], "error": None}
    try:
        src = _fetch(r["path"]) if is_uri(r["path"]) else r["path"]
        img = load_image(src, name=r["path"])
        out.update(sha256=img.sha256, width=img.width, height=img.height, bytes=len(img.data))
        for d in binary:
            if d == "pdq":
                code, out["pdq_quality"] = D.pdq_with_quality(img.rgb)
            else:
                code = D.get(d).compute(img.rgb)
            out[f"code_{d}"] = np.ascontiguousarray(code).tobytes()
        if floats:
            pre = D.sscd_input(img.rgb)
            # hand over the small resized array only when preparing it again is a no-op
            # (cv2.resize to the same size copies), so the model sees exactly what compute() would
            if D.sscd_input(pre).shape != pre.shape:
                pre = img.rgb
            out.update(pre=np.ascontiguousarray(pre).tobytes(), pre_h=pre.shape[0], pre_w=pre.shape[1])
        if local_features:
            out["local"] = extract(img.rgb).to_bytes()
    except Exception as exc:  # one broken file never stops the job
        out = {"pos": r["pos"], "shard": r["shard"], "path": r["path"], "error": _reason(exc)}
    return out


class EmbedActor:
    """Model stage of ``index add``: the float descriptors (SSCD) of the prepared inputs, with the
    descriptor's own ``compute``; the ONNX session loads once per actor."""

    def __init__(self, descriptors: list[str]):
        _one_thread()
        self.binary, self.floats = split_descriptors(descriptors)

    def __call__(self, batch) -> Any:
        from ..copydetect import descriptors as D

        rows = []
        for r in batch.to_pylist():
            pre = r.pop("pre", None)
            h, w = r.pop("pre_h", None), r.pop("pre_w", None)
            if r["error"] is None and pre is not None:
                rgb = np.frombuffer(pre, np.uint8).reshape(h, w, 3)
                try:
                    for d in self.floats:
                        r[f"emb_{d}"] = np.asarray(D.get(d).compute(rgb), np.float32).tobytes()
                except Exception as exc:
                    r = {"pos": r["pos"], "shard": r["shard"], "path": r["path"], "error": _reason(exc)}
            rows.append(r)
        return _pa().Table.from_pylist(rows, schema=describe_schema(self.binary, self.floats, False))
