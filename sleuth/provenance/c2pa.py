"""C2PA analyzer (``c2pa``): manifest presence, validation, trust, claims and ingredient chain.

Design
------
* c2pa-python (c2pa-rs) reads and validates the manifest store from the original bytes; we
  never re-implement COSE or JUMBF. One ``Context`` per trust-list path is cached per process.
* Remote manifests are **not fetched** by default (``remote_manifest_fetch=False``): a file
  that only references one gets verdict ``unresolved`` with the URL, so a scan never touches
  the network (option ``c2pa_fetch_remote=True`` turns fetching on).
* Verdicts (a contract): ``absent``; ``valid`` (signature, hashes and trust all good);
  ``valid-untrusted`` (signature and hashes good, signer not on the trust list, or no trust
  list configured: then ``details.trust`` says trust was *not evaluated*); ``invalid``
  (failing codes in ``details.failing_codes``; an unreadable/malformed store is ``invalid``
  with the reader's reason in ``error``); ``unresolved`` (remote manifest not fetched);
  ``unsupported-container`` (BMP, ICO, PCX, TGA, QOI, PPM...: formats C2PA defines no embedding
  for, or that c2pa-rs reports as NotSupported; not an error, strength ``none``).
  ``signingCredential.untrusted`` alone never makes a manifest invalid.
* Details: claim generator, signer (common name) and issuer, signing time, actions with their
  digitalSourceType, ``digital_source_type`` and ``ai_generated`` (trainedAlgorithmicMedia or
  compositeWithTrainedAlgorithmicMedia anywhere in the active claim), the ingredient chain
  (recursively, each with its own validation failures), CAWG assertion labels.

Reading a file without a manifest is cheap, so the analyzer always asks the reader rather than
pre-filtering bytes; agreement with the data set's labels is in docs/benchmarks.md (section
provenance). CAWG identity codes are kept apart from the claim's own codes (some data set files
carry identity assertions whose DID cannot be resolved offline). The reader's JSON is capped at
``MAX_STORE_JSON`` characters and parsed with recursion errors caught; the ingredient chain is
followed at most ``MAX_CHAIN_DEPTH`` levels.
"""
from __future__ import annotations

import io
import json
import threading
from pathlib import Path
from typing import Any

from ..analyzers import ScanContext, register
from ..errors import SleuthError
from ..imageio import LoadedImage
from ..report import Evidence

MIME = {"JPEG": "image/jpeg", "MPO": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp", "GIF": "image/gif",
        "TIFF": "image/tiff", "HEIF": "image/heif", "HEIC": "image/heic", "AVIF": "image/avif", "DNG": "image/dng"}

AI_SOURCE_TYPES = ("trainedAlgorithmicMedia", "compositeWithTrainedAlgorithmicMedia")
UNTRUSTED = "signingCredential.untrusted"
MAX_CHAIN_DEPTH = 12
#: a manifest store whose JSON is longer than this is refused (as invalid) before parsing
MAX_STORE_JSON = 16 * 1024 * 1024
#: CAWG identity codes that say "could not be verified here" rather than "is wrong"
CAWG_NOT_VERIFIABLE = {"cawg.x509.credential.untrusted", "cawg.ica.untrusted_issuer", "cawg.ica.did_unavailable"}

_CTX_LOCK = threading.Lock()
_CONTEXTS: dict[tuple[str | None, bool], Any] = {}


def _context(trust_list: str | None, fetch_remote: bool):
    import c2pa

    key = (trust_list, fetch_remote)
    with _CTX_LOCK:
        if key not in _CONTEXTS:
            settings: dict[str, Any] = {"verify": {"remote_manifest_fetch": bool(fetch_remote), "ocsp_fetch": False,
                                                   "verify_trust": True}}
            if trust_list:
                try:
                    pem = Path(trust_list).expanduser().read_text()
                except OSError as exc:
                    raise SleuthError(f"cannot read C2PA trust list ({exc.strerror or exc})", trust_list) from None
                if "BEGIN CERTIFICATE" not in pem:
                    raise SleuthError("C2PA trust list is not a PEM certificate bundle", trust_list)
                settings["trust"] = {"trust_anchors": pem}
            _CONTEXTS[key] = c2pa.Context.from_dict(settings)
        return _CONTEXTS[key]


def _short(url: str | None) -> str:
    return (url or "").rsplit("/", 1)[-1]


def _dst_name(uri: str | None) -> str | None:
    """``http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia`` -> the last word."""
    if not uri:
        return None
    return str(uri).rstrip("/").rsplit("/", 1)[-1]


def _codes(results: dict | None, key: str, part: str = "activeManifest") -> list[str]:
    section = (results or {}).get(part) or {}
    return [str(c.get("code")) for c in section.get(key) or [] if c.get("code")]


def _ingredient_failures(results: dict | None) -> list[str]:
    out: list[str] = []
    for ing in (results or {}).get("ingredientDeltas") or []:
        out += [str(c.get("code")) for c in ((ing.get("validationDeltas") or {}).get("failure") or [])]
    return out


def _actions(manifest: dict) -> list[dict[str, Any]]:
    out = []
    for a in manifest.get("assertions") or []:
        label = str(a.get("label", ""))
        if not label.startswith("c2pa.actions"):
            continue
        for act in (a.get("data") or {}).get("actions") or []:
            if not isinstance(act, dict):
                continue
            agent = act.get("softwareAgent")
            if isinstance(agent, dict):
                agent = " ".join(str(v) for v in (agent.get("name"), agent.get("version")) if v)
            item = {"action": act.get("action"), "digital_source_type": _dst_name(act.get("digitalSourceType")),
                    "software_agent": agent, "when": act.get("when")}
            out.append({k: v for k, v in item.items() if v})
    return out


def _generator(manifest: dict) -> str | None:
    if manifest.get("claim_generator"):
        return str(manifest["claim_generator"])
    info = manifest.get("claim_generator_info") or []
    parts = [" ".join(str(x) for x in (i.get("name"), i.get("version")) if x) for i in info if isinstance(i, dict)]
    return " ".join(p for p in parts if p) or None


def _manifest_summary(manifest: dict) -> dict[str, Any]:
    sig = manifest.get("signature_info") or {}
    acts = _actions(manifest)
    return {k: v for k, v in {
        "claim_generator": _generator(manifest),
        "title": manifest.get("title"),
        "signer": sig.get("common_name") or sig.get("issuer"),
        "issuer": sig.get("issuer"),
        "signing_time": sig.get("time"),
        "signature_alg": sig.get("alg"),
        "claim_version": manifest.get("claim_version"),
        "actions": acts,
    }.items() if v not in (None, [], "")}


def _chain(store: dict, manifest: dict, depth: int = 0, seen: set[str] | None = None) -> list[dict[str, Any]]:
    """The ingredient tree of ``manifest``, following each ingredient's own manifest."""
    seen = seen if seen is not None else set()
    out = []
    for ing in manifest.get("ingredients") or []:
        if not isinstance(ing, dict):
            continue
        item: dict[str, Any] = {k: v for k, v in {
            "title": ing.get("title"), "format": ing.get("format"), "relationship": ing.get("relationship"),
            "manifest": ing.get("active_manifest"),
        }.items() if v}
        vres = ing.get("validation_results")
        fails = _codes(vres, "failure") if vres else [str(s.get("code")) for s in ing.get("validation_status") or []]
        if fails:
            item["failing_codes"] = fails
        label = ing.get("active_manifest")
        sub = (store.get("manifests") or {}).get(label) if label else None
        if isinstance(sub, dict):
            item.update({k: v for k, v in _manifest_summary(sub).items() if k in ("claim_generator", "signer", "actions")})
            if label and depth + 1 < MAX_CHAIN_DEPTH and label not in seen:
                seen.add(label)
                sub_chain = _chain(store, sub, depth + 1, seen)
                if sub_chain:
                    item["ingredients"] = sub_chain
        out.append(item)
    return out


def _chain_source_types(chain: list[dict[str, Any]]) -> list[str]:
    out: list[str] = []
    for item in chain:
        out += [a["digital_source_type"] for a in item.get("actions", []) if a.get("digital_source_type")]
        out += _chain_source_types(item.get("ingredients", []))
    return out


def read_store(data: bytes, fmt: str | None, trust_list: str | None = None,
               fetch_remote: bool = False) -> tuple[str, dict | None, str | None]:
    """Return (status, store, message): status is 'absent', 'unsupported', 'remote', 'error' or 'ok'."""
    import c2pa

    ctx = _context(trust_list, fetch_remote)
    mime = MIME.get((fmt or "").upper())
    if mime is None:
        return "unsupported", None, f"C2PA defines no embedding for {fmt or 'this'} files"
    try:
        reader = c2pa.Reader.try_create(mime, io.BytesIO(data), context=ctx)
        if reader is None:
            return "absent", None, None
        with reader:
            text = reader.json()
        if len(text) > MAX_STORE_JSON:
            return "error", None, f"manifest store JSON is {len(text)} characters, over the {MAX_STORE_JSON} limit"
        store = json.loads(text)
    except RecursionError:
        return "error", None, "manifest store JSON nested too deeply"
    except ValueError as exc:
        return "error", None, f"manifest store is not JSON ({' '.join(str(exc).split())[:120]})"
    except c2pa.C2paError as exc:
        msg = " ".join(str(exc).split())[:500]
        if msg.startswith("Remote:"):
            return "remote", None, msg
        if "ManifestNotFound" in type(exc).__name__ or "no JUMBF" in msg:
            return "absent", None, None
        if "NotSupported" in type(exc).__name__ or "NotSupported" in msg:
            return "unsupported", None, msg
        return "error", None, msg
    return "ok", store, None


@register("c2pa", kind="provenance", tier="fast", order=10)
def analyze(img: LoadedImage, ctx: ScanContext) -> Evidence:
    """C2PA manifest: validation state, trust, signer, actions and ingredient chain."""
    if not img.data:
        return Evidence(analyzer="c2pa", kind="provenance", verdict="no-evidence", strength="none",
                        summary="No file bytes (in-memory image): C2PA not checked.", details={"checked": False})
    trust_list = ctx.get("trust_list")
    status, store, msg = read_store(img.data, img.format, trust_list, bool(ctx.get("c2pa_fetch_remote")))
    if status == "absent":
        return Evidence(analyzer="c2pa", kind="provenance", verdict="no-evidence", strength="none",
                        summary="No C2PA manifest.", details={"manifest_present": False})
    if status == "unsupported":
        return Evidence(analyzer="c2pa", kind="provenance", verdict="unsupported-container", strength="none",
                        summary=f"C2PA not checked: {img.format} is not a container C2PA manifests can be embedded in.",
                        details={"manifest_present": None, "checked": False, "container": img.format,
                                 "reader_message": msg})
    if status == "remote":
        url = msg.split("url", 1)[-1].strip() if msg and "url" in msg else None
        return Evidence(analyzer="c2pa", kind="provenance", verdict="unresolved", strength="weak",
                        summary="The file points to a remote C2PA manifest that was not fetched.",
                        details={"manifest_present": False, "remote_url": url, "reader_message": msg})
    if status == "error":
        reason = msg or "unreadable manifest store"
        return Evidence(analyzer="c2pa", kind="provenance", verdict="invalid", strength="moderate",
                        summary=f"C2PA data present but unreadable: {reason}",
                        details={"manifest_present": True, "failing_codes": ["manifest.unreadable"], "reader_error": reason},
                        error=f"{img.path}: malformed C2PA manifest ({reason})")
    assert store is not None
    label = store.get("active_manifest")
    manifests = store.get("manifests") or {}
    active = manifests.get(label) or {}
    results = store.get("validation_results")
    state = str(store.get("validation_state") or "")
    failures = _codes(results, "failure") if results else [str(s.get("code")) for s in store.get("validation_status") or []]
    informational = _codes(results, "informational")
    # CAWG identity codes are kept apart: those that only say "cannot be verified here" (untrusted
    # credential, DID not resolvable offline) never make the claim invalid; the others do
    cawg_fail = [c for c in failures if c.startswith("cawg.")]
    hard_failures = [c for c in failures if c != UNTRUSTED and not c.startswith("cawg.")]
    untrusted = UNTRUSTED in failures
    if trust_list:
        trust = "trusted" if state.lower() == "trusted" else ("untrusted: signer not in the trust list" if untrusted else "not established")
    else:
        trust = "trusted (built-in anchors)" if state.lower() == "trusted" else "not evaluated: no trust list configured"
    cawg_hard = [c for c in cawg_fail if c not in CAWG_NOT_VERIFIABLE]
    if hard_failures or cawg_hard or (state.lower() == "invalid" and not cawg_fail):
        verdict, strength = "invalid", "moderate"
        hard_failures = hard_failures + cawg_hard
    elif state.lower() == "trusted":
        verdict, strength = "valid", "strong"
    else:
        verdict, strength = "valid-untrusted", "moderate"
    info = _manifest_summary(active)
    acts = info.get("actions", [])
    dsts = [a["digital_source_type"] for a in acts if a.get("digital_source_type")]
    created = next((a["digital_source_type"] for a in acts if a.get("action") == "c2pa.created" and a.get("digital_source_type")), None)
    dst = created or (dsts[0] if dsts else None)
    chain = _chain(store, active, seen={label} if label else set())
    chain_dsts = _chain_source_types(chain)
    ai = any(d in AI_SOURCE_TYPES for d in dsts + chain_dsts)
    if not dst and chain_dsts:
        dst = next((d for d in chain_dsts if d in AI_SOURCE_TYPES), chain_dsts[0])
    ing_fail = _ingredient_failures(results)
    cawg = sorted({str(a.get("label")) for a in active.get("assertions") or [] if str(a.get("label", "")).startswith("cawg.")})
    details: dict[str, Any] = {
        "manifest_present": True, "validation_state": state, "failing_codes": hard_failures,
        "informational_codes": informational, "trust": trust, "trust_list": trust_list,
        **info, "digital_source_type": dst, "ai_generated": ai, "ingredients": chain,
        "ingredient_failing_codes": sorted({c for c in ing_fail if c != UNTRUSTED}),
        "manifests_in_store": len(manifests), "active_manifest": label, "cawg_assertions": cawg,
    }
    details.setdefault("signing_time", None)  # only a time-stamped signature carries one
    if cawg:
        offline = all(c in CAWG_NOT_VERIFIABLE for c in cawg_fail)
        details["cawg_identity"] = "invalid" if not offline else ("unverified (no trust/offline)" if cawg_fail else "valid")
        details["cawg_failing_codes"] = cawg_fail
    who = info.get("signer") or "an unknown signer"
    if verdict == "invalid":
        text = f"C2PA manifest by {who} is INVALID ({', '.join(hard_failures) or state})"
    elif verdict == "valid":
        text = f"Valid, trusted C2PA manifest signed by {who}"
    else:
        text = f"Valid C2PA manifest signed by {who}; trust {'not evaluated (no trust list)' if not trust_list else 'not established'}"
    act_names = [a["action"] for a in acts if a.get("action")]
    if act_names:
        text += f"; actions {', '.join(dict.fromkeys(act_names))}"
    if dst:
        text += f" ({dst}{', AI-generated' if ai else ''})"
    if chain:
        text += f"; {len(chain)} ingredient(s)"
    if cawg:
        text += f"; identity assertion {details['cawg_identity']}"
    if details["ingredient_failing_codes"]:
        text += f", ingredient failures {', '.join(details['ingredient_failing_codes'])}"
    return Evidence(analyzer="c2pa", kind="provenance", verdict=verdict, strength=strength, summary=text + ".",
                    details=details)
