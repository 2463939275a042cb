"""Generator metadata (``generator-metadata``): what AI image tools write into their files.

Design
------
Each tool has a detector that looks at the PNG text chunks / EXIF / XMP the loader already
parsed and returns the tool name plus the generation parameters it can extract (prompt,
negative prompt, model, seed, sampler, steps, cfg, size). Detectors run most-specific first
(a Fooocus or SwarmUI ``parameters`` chunk is checked before the generic Automatic1111 one).

* Automatic1111 / Forge / SD.Next: ``parameters`` text chunk, or EXIF UserComment in JPEG/WebP,
  in the ``prompt\\nNegative prompt: ...\\nSteps: 20, Sampler: ...`` layout.
* ComfyUI: ``prompt`` (API graph) and ``workflow`` (UI graph) JSON; sampler nodes are followed
  to their text-encode and checkpoint nodes.
* InvokeAI: ``invokeai_metadata`` (v3+), ``sd-metadata`` (v2), ``Dream`` (v1 command line).
* NovelAI: ``Software: NovelAI`` + ``Comment`` JSON, and the alpha-channel LSB "stealth"
  format (``stealth_pnginfo`` / ``stealth_pngcomp`` magic, column-major bit order, 32-bit
  length, optional gzip), which A1111's stealth-pnginfo extension also writes. The RGB
  variant (``stealth_rgbinfo`` / ``stealth_rgbcomp``) is read too.
* Fooocus (``fooocus_scheme`` / JSON ``parameters`` with a Fooocus version), SwarmUI
  (``sui_image_params``), Draw Things (XMP CreatorTool + UserComment JSON), Easy Diffusion,
  Midjourney (``Job ID`` in the description / XMP), and services that name themselves in
  Software / CreatorTool (DALL-E, Firefly, Imagen, Leonardo, Ideogram, NovelAI...).

Accuracy on ../shared/data: docs/benchmarks.md, section provenance.

Verdict: ``absent`` or the tool's name. A chunk that names a tool but cannot be parsed keeps
the tool's verdict, strength ``moderate`` and ``details.parse_error``. The stealth probe reads
152 LSBs first and decodes further only on a magic match.

Hostile input: every parser here is linear in its input (``str.find`` scans, no backtracking
regular expression over untrusted text); each text field is cut at ``MAX_PARAMS`` characters
before parsing, JSON over ``meta.MAX_TEXT`` or nested past Python's recursion limit is treated
as unparseable, and every value kept in ``details`` is bounded (``_bounded``). Limits:
docs/limits.md.
"""
from __future__ import annotations

import json
import re
from typing import Any

import numpy as np

from ..analyzers import ScanContext, register
from ..imageio import LoadedImage
from ..report import Evidence
from . import meta

Params = dict[str, Any]
MAX_RAW = 4000
#: in the fast tier (pixels decoded on demand) the stealth probe decodes images up to this size
#: only; larger ones are probed when another analyzer has decoded them (always in the full tier)
MAX_STEALTH_PIXELS = 40_000_000

STEALTH_MAGICS = {b"stealth_pnginfo": ("alpha", False), b"stealth_pngcomp": ("alpha", True),
                  b"stealth_rgbinfo": ("rgb", False), b"stealth_rgbcomp": ("rgb", True)}

#: names that AI services write in Software / CreatorTool / Make fields
SERVICE_MARKERS = [
    ("novelai", "novelai"), ("midjourney", "midjourney"), ("dall-e", "dall-e"), ("dall·e", "dall-e"),
    ("firefly", "adobe-firefly"), ("imagen", "google-imagen"), ("leonardo.ai", "leonardo"), ("ideogram", "ideogram"),
    ("stable diffusion", "stable-diffusion"), ("stability ai", "stability-ai"), ("draw things", "draw-things"),
    ("invokeai", "invokeai"), ("comfyui", "comfyui"), ("fooocus", "fooocus"), ("swarmui", "swarmui"),
    ("bing image creator", "bing-image-creator"), ("microsoft designer", "microsoft-designer"),
    ("flux", "flux"), ("runway", "runway"), ("krea", "krea"), ("playground", "playground"),
]


# ----------------------------------------------------------------------------- Automatic1111

_KEY_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_ /-.()")
#: the settings line and each text field are cut at this many characters before parsing
MAX_PARAMS = 256 * 1024
MAX_SETTINGS = 200


def parse_settings(line: str) -> dict[str, str]:
    """``Key: value, Key2: "quoted, value", ...`` in one left-to-right pass (linear time).

    Replaces the backtracking regular expression A1111 itself uses, which is quadratic on a long
    run without a colon (``"Steps: 1, " + "a" * 200000`` took over a minute). A key is the text
    before the first colon of a comma-separated segment (letters, digits, ``_ /-.()``); a value
    is a JSON-style quoted string (commas allowed) or the text up to the next comma.
    """
    out: dict[str, str] = {}
    i, n = 0, len(line)
    while i < n and len(out) < MAX_SETTINGS:
        comma = line.find(",", i)
        seg_end = n if comma < 0 else comma
        colon = line.find(":", i, seg_end)
        if colon < 0:
            i = seg_end + 1
            continue
        key = line[i:colon].strip()
        k = colon + 1
        while k < n and line[k] in " \t":
            k += 1
        if k < n and line[k] == '"':
            q = k + 1
            while q < n and line[q] != '"':
                q += 2 if line[q] == "\\" else 1
            value = line[k:q + 1]
            nxt = line.find(",", q)
            i = n if nxt < 0 else nxt + 1
        else:
            value = line[k:seg_end]
            i = seg_end + 1
        if key and (key[0].isalnum() or key[0] == "_") and all(c in _KEY_CHARS or c.isalnum() for c in key):
            out.setdefault(key, value.strip())
    return out


def has_steps(text: str, starts: tuple[str, ...] = ("", ", ")) -> bool:
    """True when ``text`` holds ``Steps: <digit>`` at its start or after one of ``starts``
    (``str.find`` only: linear time)."""
    for sep in starts:
        needle = sep + "Steps: "
        if not sep:
            if text.startswith(needle) and text[7:8].isdigit():
                return True
            continue
        i = text.find(needle)
        while i >= 0:
            if text[i + len(needle): i + len(needle) + 1].isdigit():
                return True
            i = text.find(needle, i + 1)
    return False


def parse_a1111(text: str) -> Params:
    """Parse the A1111 'infotext': prompt, 'Negative prompt:' and the 'Steps: ...' settings line."""
    lines = text[:MAX_PARAMS].strip().split("\n")
    settings_line = ""
    if lines and has_steps(lines[-1]):
        settings_line = lines.pop()
    prompt_lines: list[str] = []
    neg_lines: list[str] = []
    in_neg = False
    for ln in lines:
        if ln.startswith("Negative prompt:"):
            in_neg = True
            ln = ln[len("Negative prompt:"):].strip()
        (neg_lines if in_neg else prompt_lines).append(ln)
    settings: dict[str, str] = {}
    for k, v in parse_settings(settings_line).items():
        if len(v) >= 2 and v.startswith('"') and v.endswith('"'):
            j = _json_loads(v)
            v = j if isinstance(j, str) else v[1:-1]
        settings[k] = v
    out: Params = {"prompt": "\n".join(prompt_lines).strip() or None,
                   "negative_prompt": "\n".join(neg_lines).strip() or None,
                   "steps": _int(settings.get("Steps")), "sampler": settings.get("Sampler"),
                   "cfg": _float(settings.get("CFG scale")), "seed": _int(settings.get("Seed")),
                   "size": settings.get("Size"), "model": settings.get("Model"),
                   "model_hash": settings.get("Model hash"), "version": settings.get("Version"),
                   "settings": {k: v[:MAX_RAW] for k, v in settings.items()}}
    if not settings_line:
        out["parse_error"] = "no 'Steps:' settings line"
    return out


def _json_loads(s: str | None) -> Any:
    """``json.loads`` that returns None for invalid, over-long or too deeply nested JSON."""
    if not s or len(s) > meta.MAX_TEXT:
        return None
    try:
        return json.loads(s)
    except (ValueError, RecursionError):
        return None


def _int(v: Any) -> int | None:
    try:
        return int(str(v).strip())
    except (TypeError, ValueError):
        return None


def _float(v: Any) -> float | None:
    try:
        return float(str(v).strip())
    except (TypeError, ValueError):
        return None


def _a1111_tool(p: Params) -> str:
    ver = str(p.get("version") or "")
    if "fooocus" in ver.lower():
        return "fooocus"
    return "automatic1111"


def _a1111_variant(p: Params) -> str | None:
    ver = str(p.get("version") or "")
    if re.match(r"f\d", ver) or "forge" in ver.lower():
        return "forge"
    if "neo" in ver.lower():
        return "forge-neo"
    return None


# ----------------------------------------------------------------------------- ComfyUI

def _node_text(graph: dict, ref: Any, depth: int = 0) -> str | None:
    """Follow a ComfyUI input link [node_id, slot] to the text of a text-encode node."""
    if depth > 8:
        return None
    if isinstance(ref, str):
        return ref
    if not (isinstance(ref, list) and ref and str(ref[0]) in graph):
        return None
    node = graph[str(ref[0])]
    if not isinstance(node, dict):
        return None
    inputs = node.get("inputs") or {}
    for key in ("text", "text_g", "prompt", "positive", "conditioning", "conditioning_1", "string", "value"):
        if key in inputs:
            t = _node_text(graph, inputs[key], depth + 1)
            if t:
                return t
    return None


def parse_comfyui(prompt_json: str | None, workflow_json: str | None) -> Params:
    out: Params = {}
    graph: Any = None
    if prompt_json:
        try:
            graph = json.loads(prompt_json)
        except (ValueError, RecursionError) as exc:
            out["parse_error"] = f"'prompt' chunk is not JSON ({exc})"
    if workflow_json:
        try:
            wf = json.loads(workflow_json)
            if isinstance(wf, dict):
                out["workflow_nodes"] = len(wf.get("nodes") or [])
        except (ValueError, RecursionError) as exc:
            out.setdefault("parse_error", f"'workflow' chunk is not JSON ({exc})")
    if not isinstance(graph, dict):
        return out
    classes = []
    models, loras = [], []
    for _nid, node in graph.items():
        if not isinstance(node, dict):
            continue
        ct = str(node.get("class_type", ""))
        classes.append(ct)
        inputs = node.get("inputs") or {}
        for key in ("ckpt_name", "unet_name", "model_name"):
            if isinstance(inputs.get(key), str):
                models.append(inputs[key])
        if isinstance(inputs.get("lora_name"), str):
            loras.append(inputs["lora_name"])
        if "sampler" in ct.lower() and not out.get("sampler_node"):
            out["sampler_node"] = ct
            seed = inputs.get("seed", inputs.get("noise_seed"))
            out.update(seed=seed if isinstance(seed, int) else None, steps=inputs.get("steps"),
                       cfg=inputs.get("cfg"), sampler=inputs.get("sampler_name"), scheduler=inputs.get("scheduler"))
            out["prompt"] = _node_text(graph, inputs.get("positive"))
            out["negative_prompt"] = _node_text(graph, inputs.get("negative"))
    if not out.get("prompt"):
        texts = [n["inputs"]["text"] for n in graph.values() if isinstance(n, dict) and isinstance((n.get("inputs") or {}).get("text"), str)]
        if texts:
            out["prompt"] = texts[0]
    out["model"] = models[0] if models else None
    if loras:
        out["loras"] = loras
    out["nodes"] = len(graph)
    return out


# ----------------------------------------------------------------------------- InvokeAI

def parse_invokeai(text: dict[str, str]) -> Params:
    if "invokeai_metadata" in text:
        try:
            d = json.loads(text["invokeai_metadata"])
        except (ValueError, RecursionError) as exc:
            return {"parse_error": f"invokeai_metadata is not JSON ({exc})", "format": "invokeai_metadata"}
        model = d.get("model")
        if isinstance(model, dict):
            model = model.get("name") or model.get("model_name")
        return {"format": "invokeai_metadata", "prompt": d.get("positive_prompt"), "negative_prompt": d.get("negative_prompt"),
                "model": model, "seed": d.get("seed"), "steps": d.get("steps"), "sampler": d.get("scheduler"),
                "cfg": d.get("cfg_scale"), "size": _size(d.get("width"), d.get("height")), "version": d.get("app_version")}
    if "sd-metadata" in text:
        try:
            d = json.loads(text["sd-metadata"])
        except (ValueError, RecursionError) as exc:
            return {"parse_error": f"sd-metadata is not JSON ({exc})", "format": "sd-metadata"}
        image = d.get("image") or {}
        prompt = image.get("prompt")
        if isinstance(prompt, list):
            prompt = " ".join(str(p.get("prompt", "")) if isinstance(p, dict) else str(p) for p in prompt)
        return {"format": "sd-metadata", "prompt": prompt, "model": d.get("model_weights"), "seed": image.get("seed"),
                "steps": image.get("steps"), "sampler": image.get("sampler"), "cfg": image.get("cfg_scale"),
                "size": _size(image.get("width"), image.get("height")), "version": d.get("app_version")}
    dream = text.get("Dream", "")[:MAX_PARAMS]
    out: Params = {"format": "Dream"}
    m = re.match(r'\s*"(.*?)"\s*(.*)$', dream, re.S)
    prompt, rest = (m.group(1), m.group(2)) if m else (dream, "")
    lo = prompt.find("[")
    hi = prompt.find("]", lo + 1) if lo >= 0 else -1
    if hi >= 0:
        out["negative_prompt"] = prompt[lo + 1:hi]
        prompt = (prompt[:lo] + prompt[hi + 1:]).strip()
    out["prompt"] = prompt.strip() or None
    for flag, key, conv in (("-s", "steps", _int), ("-S", "seed", _int), ("-C", "cfg", _float), ("-A", "sampler", str)):
        mm = re.search(rf"(?:^|\s){flag}\s*(\S+)", rest)
        if mm:
            out[key] = conv(mm.group(1))
    w, h = re.search(r"-W\s*(\d+)", rest), re.search(r"-H\s*(\d+)", rest)
    if w and h:
        out["size"] = f"{w.group(1)}x{h.group(1)}"
    return out


def _size(w: Any, h: Any) -> str | None:
    return f"{w}x{h}" if w and h else None


# ----------------------------------------------------------------------------- NovelAI

def parse_novelai(text: dict[str, str]) -> Params:
    out: Params = {"prompt": text.get("Description"), "source": text.get("Source")}
    comment = text.get("Comment")
    if comment:
        try:
            c = json.loads(comment)
            out.update(prompt=c.get("prompt", out["prompt"]), negative_prompt=c.get("uc"), seed=c.get("seed"),
                       steps=c.get("steps"), sampler=c.get("sampler"), cfg=c.get("scale"),
                       size=_size(c.get("width"), c.get("height")))
        except (ValueError, RecursionError) as exc:
            out["parse_error"] = f"Comment is not JSON ({exc})"
    src = str(text.get("Source") or "")
    out["model"] = src or None
    return out


# ----------------------------------------------------------------------------- stealth (alpha / RGB LSB)

def _bits_to_bytes(bits: np.ndarray) -> bytes:
    n = bits.size // 8 * 8
    return np.packbits(bits[:n].astype(np.uint8)).tobytes()


def read_stealth(img: LoadedImage, max_bytes: int = 1 << 20) -> tuple[str, str] | None:
    """Decode stealth pnginfo; returns (mode, text) or None. Bits run column by column."""
    candidates = []
    if img.alpha is not None:
        candidates.append(("alpha", img.alpha))
    candidates.append(("rgb", img.rgb))
    for kind, arr in candidates:
        per_px = 1 if kind == "alpha" else 3
        h, w = arr.shape[:2]
        if h * w * per_px < 120 + 32:
            continue
        # first 152 bits (magic + length): they lie in the first ceil(152 / per_px / h) columns
        ncol = min(w, -(-152 // (per_px * h)) + 1)
        head = _lsb(arr, ncol)[:152]
        magic = _bits_to_bytes(head[:120])
        if magic not in STEALTH_MAGICS or STEALTH_MAGICS[magic][0] != kind:
            continue
        compressed = STEALTH_MAGICS[magic][1]
        nbits = int("".join(str(int(b)) for b in head[120:152]), 2)
        if nbits <= 0 or nbits > max_bytes * 8 or 152 + nbits > h * w * per_px:
            raise ValueError(f"stealth {kind} header declares {nbits} bits, more than the image holds")
        need_cols = min(w, -(-(152 + nbits) // (per_px * h)))
        payload = _bits_to_bytes(_lsb(arr, need_cols)[152:152 + nbits])
        if compressed:
            payload = meta.inflate(payload)
        return f"stealth-{kind}{'-gzip' if compressed else ''}", payload.decode("utf-8", errors="replace")
    return None


def _lsb(arr: np.ndarray, ncol: int) -> np.ndarray:
    """LSBs of the first ``ncol`` columns, column-major (x outer, y inner; RGB interleaved per pixel)."""
    sub = arr[:, :ncol]
    if sub.ndim == 2:
        return (sub.T & 1).reshape(-1)
    return (sub.transpose(1, 0, 2) & 1).reshape(-1)


# ----------------------------------------------------------------------------- detection

def _json_or_none(s: str | None) -> Any:
    if not s or not s.lstrip().startswith("{"):
        return None
    try:
        return json.loads(s) if len(s) <= meta.MAX_TEXT else None
    except (ValueError, RecursionError):
        return None


def _from_parameters(params: str, text: dict[str, str]) -> tuple[str, Params]:
    """A 'parameters' text: A1111 infotext, or JSON from Fooocus / SwarmUI."""
    j = _json_or_none(params)
    if isinstance(j, dict):
        if "sui_image_params" in j:
            p = j["sui_image_params"] or {}
            return "swarmui", {"prompt": p.get("prompt"), "negative_prompt": p.get("negativeprompt"), "model": p.get("model"),
                               "seed": p.get("seed"), "steps": p.get("steps"), "cfg": p.get("cfgscale"),
                               "sampler": p.get("sampler"), "size": _size(p.get("width"), p.get("height"))}
        ver = str(j.get("version") or j.get("Version") or "")
        if "fooocus" in ver.lower() or text.get("fooocus_scheme") or "Fooocus" in params:
            g = {k.lower().replace(" ", "_"): v for k, v in j.items()}
            return "fooocus", {"prompt": g.get("prompt"), "negative_prompt": g.get("negative_prompt"),
                               "model": g.get("base_model"), "seed": _int(g.get("seed")), "steps": _int(g.get("steps")),
                               "sampler": g.get("sampler"), "cfg": _float(g.get("guidance_scale")),
                               "scheduler": g.get("scheduler"), "size": g.get("resolution"), "version": ver or None}
        return "unknown-json", {"parse_error": "JSON 'parameters' of an unknown tool", "keys": sorted(j)[:30]}
    p = parse_a1111(params)
    tool = "fooocus" if text.get("fooocus_scheme") else _a1111_tool(p)
    var = _a1111_variant(p)
    if var:
        p["variant"] = var
    return tool, p


def detect(img: LoadedImage, text: dict[str, str] | None = None, xmp: str | None = None,
           exif: dict[str, Any] | None = None) -> tuple[str, Params, list[str]] | None:
    """Return (tool, params, source fields) or None."""
    text = meta.png_text(img) if text is None else text
    exif = meta.exif_fields(img) if exif is None else exif
    comment = meta.decode_user_comment(exif.get("_user_comment_raw")) if exif.get("_user_comment_raw") is not None else None
    # 1. PNG text chunks, most specific first
    if "prompt" in text and ("workflow" in text or _json_or_none(text["prompt"]) is not None):
        return "comfyui", parse_comfyui(text.get("prompt"), text.get("workflow")), [k for k in ("prompt", "workflow") if k in text]
    if "workflow" in text and _json_or_none(text["workflow"]) is not None:
        return "comfyui", parse_comfyui(None, text.get("workflow")), ["workflow"]
    for key in ("invokeai_metadata", "sd-metadata", "Dream"):
        if key in text:
            return "invokeai", parse_invokeai(text), [key]
    if "parameters" in text:
        tool, p = _from_parameters(text["parameters"], text)
        return tool, p, ["parameters"] + (["fooocus_scheme"] if "fooocus_scheme" in text else [])
    if str(text.get("Software", "")).strip().lower().startswith("novelai") or (
            "Comment" in text and '"uc"' in text.get("Comment", "") and "Description" in text):
        return "novelai", parse_novelai(text), [k for k in ("Software", "Comment", "Description", "Source") if k in text]
    if "use_stable_diffusion_model" in text or "negative_prompt" in text and "seed" in text and "prompt" in text:
        return "easy-diffusion", {"prompt": text.get("prompt"), "negative_prompt": text.get("negative_prompt"),
                                  "model": text.get("use_stable_diffusion_model"), "seed": _int(text.get("seed")),
                                  "steps": _int(text.get("num_inference_steps")), "sampler": text.get("sampler_name")}, ["prompt"]
    # 2. EXIF UserComment (A1111 / Forge JPEG and WebP, Draw Things, SwarmUI JPEG)
    if comment:
        j = _json_or_none(comment)
        if isinstance(j, dict) and ("c" in j or "sui_image_params" in j):
            if "sui_image_params" in j:
                return _from_parameters(comment, {})[0], _from_parameters(comment, {})[1], ["EXIF UserComment"]
            return "draw-things", {"prompt": j.get("c"), "negative_prompt": j.get("uc"), "seed": j.get("seed"),
                                   "steps": j.get("steps"), "sampler": j.get("sampler"), "model": j.get("model"),
                                   "cfg": j.get("scale"), "size": j.get("size")}, ["EXIF UserComment"]
        if has_steps(comment, ("", "\n", ", ")):
            tool, p = _from_parameters(comment, {})
            return tool, p, ["EXIF UserComment"]
    # 3. stealth pnginfo in the alpha (or RGB) LSBs
    if (img.decoded or img.width * img.height <= MAX_STEALTH_PIXELS) and (
            img.format in ("PNG", "WEBP", "TIFF") or img.alpha is not None):
        try:
            st = read_stealth(img)
        except Exception as exc:
            return "unknown", {"parse_error": f"stealth pnginfo header found but unreadable ({exc})"}, ["alpha LSB"]
        if st:
            mode, payload = st
            j = _json_or_none(payload)
            if isinstance(j, dict) and (str(j.get("Software", "")).lower().startswith("novelai") or "Comment" in j):
                inner = {k: (json.dumps(v) if isinstance(v, dict) else str(v)) for k, v in j.items()}
                p = parse_novelai(inner)
                p["stealth"] = mode
                return "novelai", p, [mode]
            tool, p = _from_parameters(payload, {})
            p["stealth"] = mode
            return tool, p, [mode]
    # 4. XMP / EXIF markers of services (Midjourney, Draw Things, DALL-E, Firefly...)
    creator = meta.xmp_get(xmp, "xmp:CreatorTool") if xmp else None
    desc = text.get("Description") or (meta.xmp_get(xmp, "dc:description") if xmp else None) or exif.get("image_description")
    desc = str(desc)[:MAX_PARAMS] if desc else None
    at = desc.find("Job ID:") if desc else -1
    m = re.match(r"\s*([0-9a-f-]{8,})", desc[at + 7: at + 200]) if desc and at >= 0 else None
    if m and desc:
        return "midjourney", {"prompt": desc[:at].strip() or None, "job_id": m.group(1)}, ["Description"]
    if creator and "draw things" in creator.lower():
        j = _json_or_none(meta.xmp_get(xmp, "exif:UserComment"))
        p = {"prompt": j.get("c"), "negative_prompt": j.get("uc"), "seed": j.get("seed"), "steps": j.get("steps"),
             "sampler": j.get("sampler"), "model": j.get("model")} if isinstance(j, dict) else {}
        return "draw-things", p, ["XMP CreatorTool"]
    for field, value in (("Software", text.get("Software")), ("EXIF Software", exif.get("software")),
                         ("XMP CreatorTool", creator), ("EXIF Make", exif.get("make")), ("Author", text.get("Author"))):
        if not value:
            continue
        low = str(value).lower()
        for needle, tool in SERVICE_MARKERS:
            if needle in low:
                return tool, {"marker": str(value)[:200], "marker_only": True}, [field]
    return None


def _empty(v: Any) -> bool:
    return v is None or (isinstance(v, (str, list, dict)) and not v)


def _bounded(v: Any, depth: int = 0) -> Any:
    """A JSON-safe copy of a parsed value: strings cut at MAX_RAW, containers at 64 items and
    4 levels (values come from untrusted JSON that can nest 200,000 deep)."""
    if isinstance(v, str):
        return v[:MAX_RAW] + ("..." if len(v) > MAX_RAW else "")
    if isinstance(v, bool) or v is None or isinstance(v, (int, float)):
        return v if not isinstance(v, int) or abs(v) < 1 << 63 else str(v)[:40]
    if depth >= 4:
        return "..."
    if isinstance(v, dict):
        return {str(k)[:200]: _bounded(x, depth + 1) for k, x in list(v.items())[:64]}
    if isinstance(v, (list, tuple)):
        return [_bounded(x, depth + 1) for x in list(v)[:64]]
    return str(type(v).__name__)


@register("generator-metadata", kind="provenance", tier="fast", order=20, origin_effect="ai")
def analyze(img: LoadedImage, ctx: ScanContext) -> Evidence:
    """AI generator parameters written by A1111/Forge, ComfyUI, InvokeAI, NovelAI, Fooocus, SwarmUI..."""
    problems: list[str] = []
    text = meta.png_text(img)
    exif = meta.exif_fields(img, problems)
    xmp = meta.xmp_packet(img)
    found = detect(img, text, xmp, exif)
    if not found:
        return Evidence(analyzer="generator-metadata", kind="provenance", verdict="no-evidence", strength="none",
                        summary="No AI generator metadata.", details={"text_keys": sorted(text)[:40]})
    tool, params, sources = found
    params = {k: _bounded(v) for k, v in params.items() if not _empty(v)}
    details: dict[str, Any] = {"tool": tool, "source_fields": sources, **params}
    err = params.get("parse_error")
    strength = "moderate" if err or params.get("marker_only") or tool in ("unknown", "unknown-json") else "strong"
    bits = [f"{k} {params[k]}" for k in ("model", "seed", "sampler", "steps") if params.get(k) not in (None, "")]
    prompt = params.get("prompt")
    text_sum = f"{tool} metadata in {', '.join(sources)}"
    if prompt:
        p = " ".join(str(prompt).split())
        text_sum += f': prompt "{p[:80]}{"..." if len(p) > 80 else ""}"'
    if bits:
        text_sum += "; " + ", ".join(str(b)[:60] for b in bits)
    if err:
        text_sum += f" (malformed: {err})"
    return Evidence(analyzer="generator-metadata", kind="provenance", verdict=tool, strength=strength,
                    summary=text_sum + ".", details=details)
