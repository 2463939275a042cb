"""The execution-engine options shared by the batch commands, and the one dispatch point.

Every batch command (``scan``, ``index add``, ``detect``, ``dedup``) declares the same three
options by using the Option objects below as defaults, and calls :func:`expand` and
:func:`run_batch`; nothing else in a command knows which engine runs it.

* ``--engine local`` (default): the existing process pool / in-process code path.
* ``--engine ray``: Ray Data (:mod:`sleuth.engine`). ``--ray-address`` joins a cluster; without
  it a loopback-only local Ray is started for the run. ``--shards DIR`` keeps the result shards
  there (a rerun of a killed job resumes from them); ``--workers N`` sizes the actor pool.
"""
from __future__ import annotations

from collections.abc import Iterator
from enum import StrEnum
from pathlib import Path
from typing import Any, Optional

import typer

from ._common import err, expand_inputs


class Engine(StrEnum):
    local = "local"
    ray = "ray"


ENGINE = typer.Option(Engine.local, "--engine", help="local (process pool on this machine) or ray (Ray Data; docs/scaling.md).")
RAY_ADDRESS = typer.Option(None, "--ray-address", help="Ray cluster to join (auto, HOST:PORT, ray://HOST:PORT); default: a local loopback-only Ray for the run.")
SHARDS = typer.Option(None, "--shards", help="Ray: folder or URL for the result shards (kept; rerunning a killed job resumes from it).")
WORKERS = typer.Option(None, "--workers", min=1, help="Ray: actors in the model pool (default: one per CPU of the cluster).")


class EngineChoice:
    """The engine options of one command invocation (``--engine``, ``--ray-address``, ...)."""

    def __init__(self, engine: Engine = None, ray_address: Optional[str] = None,  # type: ignore[assignment]
                 shards: Optional[str] = None, workers: Optional[int] = None) -> None:
        self.engine = engine or Engine.local
        self.ray_address, self.shards, self.workers = ray_address, shards, workers

    @property
    def is_ray(self) -> bool:
        return self.engine == Engine.ray

    def check(self) -> None:
        """Usage errors: Ray options without ``--engine ray``, or Ray not installed."""
        _check(self.engine, self.ray_address, self.shards, self.workers)

    def expand(self, paths: list[Path], recursive: bool, require: bool = True) -> tuple[list[str], list[tuple[str, str]]]:
        return expand(self.engine, paths, recursive, require=require)


def engine_kw(address: Optional[str], shards: Optional[str], workers: Optional[int]) -> dict[str, Any]:
    """Keyword arguments of the :mod:`sleuth.engine` Ray functions."""
    import sys

    return {"address": address or None, "shards": str(shards) if shards else None, "workers": workers,
            "progress": sys.stderr.isatty()}


def expand(engine: Engine, paths: list[Path], recursive: bool, require: bool = True) -> tuple[list[str], list[tuple[str, str]]]:
    """Inputs of a batch command: local expansion, or with Ray also manifests, globs and URLs."""
    if engine != Engine.ray:
        return expand_inputs(list(paths), recursive, require=require)
    from ..engine.inputs import expand as expand_any

    files, problems = expand_any([str(p) for p in paths], recursive)
    for p, why in problems:
        err(f"{p}: {why}")
    if require and not files and not problems:
        err("no input files")
        raise typer.Exit(2)
    return files, problems


def _check(engine: Engine, address: Optional[str], shards: Optional[str], workers: Optional[int]) -> None:
    if engine != Engine.ray and (address or shards or workers):
        err("--ray-address, --shards and --workers need --engine ray")
        raise typer.Exit(2)
    if engine == Engine.ray:
        import importlib.util

        if importlib.util.find_spec("ray") is None:
            err("--engine ray needs Ray: pip install 'sleuth[ray]'")
            raise typer.Exit(2)


def run_batch(engine: Engine, kind: str, files: list[str], *, address: Optional[str] = None,
              shards: Optional[str] = None, workers: Optional[int] = None, **kw: Any) -> Any:
    """Run one batch job on the chosen engine; results in input order.

    Parameters
    ----------
    engine : Engine
        ``local`` or ``ray``.
    kind : str
        ``scan`` (yields Report objects; ``detect``, ``forensics``, ``verify`` and ``search`` are
        scans of their analyzers) or ``index-add`` (returns an AddResult; ``index``,
        ``role``, ``labels``, ``batch``, ``progress`` keywords).
    files : list of str
        The expanded inputs.
    address, shards, workers
        The Ray options (usage error with the local engine).
    **kw
        The command's own arguments, passed to the library function.

    Returns
    -------
    iterator or AddResult
    """
    _check(engine, address, shards, workers)
    ekw = engine_kw(address, shards, workers)
    if kind == "scan":
        return _scan(engine, files, ekw, **kw)
    if kind == "index-add":
        idx = kw.pop("index")
        if engine == Engine.ray:
            from ..engine import index_add_ray

            kw.pop("progress", None)
            return index_add_ray(idx, files, **kw, **ekw)
        return idx.add(files, **kw)
    raise ValueError(f"unknown batch kind {kind!r}")


def _scan(engine: Engine, files: list[str], ekw: dict[str, Any], *, jobs: int = 1, analyzers=None, tier: str = "full",
          options=None, keep_maps: bool = False, progress: bool = False) -> Iterator[Any]:
    if engine != Engine.ray:
        from ..pipeline import scan_many

        yield from scan_many(files, jobs=jobs, analyzers=analyzers, tier=tier, options=options,
                             keep_maps=keep_maps, progress=progress)
        return
    from ..engine import scan_ray
    from ..report import Report

    if keep_maps:
        err("--format html needs the local engine (the Ray engine keeps no thumbnails)")
        raise typer.Exit(2)
    for d in scan_ray(files, analyzers, tier=tier, options=options, **ekw):
        yield Report.model_validate(d)


def local_only(engine: Engine, command: str, address: Optional[str] = None, shards: Optional[str] = None,
               workers: Optional[int] = None) -> None:
    """Usage error (exit 2) for a command that has no Ray path yet."""
    _check(engine, address, shards, workers)
    if engine == Engine.ray:
        err(f"{command} --engine ray is not available yet: its pair verification needs every image in one "
            "process; describe on Ray with 'sleuth index add --engine ray' and search the index instead")
        raise typer.Exit(2)
