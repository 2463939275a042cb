"""The summary reads declarations, not analyzer names; verdict words; honest C2PA wording; audit trail."""
from __future__ import annotations

import json
import re

import numpy as np
import pytest

from sleuth.analyzers import register
from sleuth.report import (
    LABELS,
    NOTHING,
    VERDICTS,
    Evidence,
    Report,
    audit,
    file_sha256,
    normalise_verdict,
    redact_options,
    summarise,
    verdict_label,
)

from .conftest import encode, natural_image


def rep(*ev):
    r = Report(path="x.jpg", width=10, height=10, format="JPEG", evidence=list(ev))
    r.summary = summarise(r)
    return r


def ai_item(p, thr=0.8, verdict=None, **d):
    v = verdict or ("ai-generated" if p >= thr else "real")
    return Evidence(analyzer="ai-generated", kind="ai-generated", verdict=v, score=p, strength="moderate",
                    details={"threshold": thr, "fpr_target": 0.01, **d})


# ---------------------------------------------------------------- vocabulary

def test_one_spelling_for_nothing_found():
    for kind, words in VERDICTS.items():
        assert NOTHING in words, kind
    assert normalise_verdict("provenance", "absent") == NOTHING
    assert normalise_verdict("copy", "no-copy") == NOTHING
    assert normalise_verdict("ai-generated", "real") == NOTHING
    assert normalise_verdict("watermark", "absent") == NOTHING
    assert normalise_verdict("ai-generated", "ai-generated") == "likely-ai"
    assert normalise_verdict("watermark", "sdxl", "ai") == "detected"
    assert normalise_verdict("manipulation", "test-word") == "test-word"  # plug-ins pass through
    assert verdict_label("ai-generated", "real") == "no AI signal" == LABELS[("ai-generated", NOTHING)]


def test_ai_words_follow_the_threshold():
    below = rep(ai_item(0.43)).summary.ai
    assert below.verdict == NOTHING and below.label == "no AI signal" and below.threshold == 0.8 and below.fpr == 0.01
    above = rep(ai_item(0.91)).summary
    assert above.ai.verdict == "likely-ai" and above.headline == "AI-generated" and above.basis == ["signal"]
    banded = rep(ai_item(0.7, band="uncertain")).summary
    assert banded.ai.verdict == "uncertain" and banded.headline == "no evidence"


def test_drawing_gets_probability_and_reliability_note():
    s = rep(ai_item(0.95, verdict="uncertain", reliability={"level": "low", "flags": ["flat"]})).summary
    assert s.ai.probability == 0.95 and "calibrated on photographs" in s.ai.note and "flat" in s.ai.note
    assert s.ai.verdict == "not-enough-signal" and s.ai.label == "not enough signal" and s.headline == "no evidence"
    s2 = rep(ai_item(0.95, reliability=["not-a-photo"])).summary
    assert "not-a-photo" in s2.ai.note


# ---------------------------------------------------------------- declarations, not names

@register("test-claims-ai", kind="provenance", tier="test", origin_effect="ai")
def _tool(img, ctx):  # pragma: no cover - only its declaration is read
    return None


@register("test-own-mark", kind="watermark", tier="test")
def _own(img, ctx):  # pragma: no cover
    return None


def test_summary_reads_declarations():
    r = rep(Evidence(analyzer="test-claims-ai", kind="provenance", verdict="my-generator", strength="strong",
                     summary="my generator wrote this"))
    assert r.summary.origin == "ai-generated (claimed)" and r.summary.basis == ["claim"]
    # a watermark analyzer declared without an origin effect is an own mark, not an AI signal
    r2 = rep(Evidence(analyzer="test-own-mark", kind="watermark", verdict="present", strength="strong"))
    assert r2.summary.own_mark == "detected" and r2.summary.origin == "unknown" and not r2.summary.marks


def test_summary_source_names_no_analyzer():
    import inspect

    import sleuth.summary as s

    src = inspect.getsource(s)
    for name in ("\"c2pa\"", "\"exif\"", "generator-metadata", "known-watermark", "\"copy-move\"", "\"ela\""):
        assert name not in src, name


# ---------------------------------------------------------------- honest provenance wording

def c2pa(codes, **d):
    return Evidence(analyzer="c2pa", kind="provenance", verdict="invalid", strength="moderate",
                    summary=f"C2PA manifest is INVALID ({', '.join(codes)})",
                    details={"failing_codes": codes, "ai_generated": True,
                             "digital_source_type": "trainedAlgorithmicMedia", **d})


def test_bad_credential_is_not_tampering_and_claims_stay_unverified():
    s = rep(c2pa(["signingCredential.invalid"])).summary
    assert s.origin == "ai-generated (unverified claim)"
    assert any("AI generation" in u for u in s.unverified_claims)
    assert "tamper" not in s.text.lower() and "signingCredential.invalid" in s.text
    assert s.c2pa_problems and s.c2pa_problems[0].startswith("C2PA signature or credential problem")
    assert not s.conflicts


def test_content_hash_mismatch_is_worded_as_changed_pixels():
    s = rep(c2pa(["assertion.dataHash.mismatch"])).summary
    assert s.origin == "unknown" and "content-hash mismatch" in s.conflicts[0]
    assert "assertion.dataHash.mismatch" in s.conflicts[0] and "changed after" in s.conflicts[0]


def test_unreadable_manifest():
    e = c2pa(["manifest.unreadable"])
    e.error = "x.jpg: malformed C2PA manifest (bad box)"
    s = rep(e).summary
    assert s.c2pa_problems[0].startswith("C2PA manifest unreadable") and "manifest.unreadable" in s.text


def test_edit_history_feeds_the_summary():
    exif = Evidence(analyzer="exif", kind="provenance", verdict="edited", strength="moderate",
                    details={"make": "Canon", "editors": ["photoshop"],
                             "xmp_history": [{"action": "saved", "softwareAgent": "Adobe Photoshop 25.0"}]})
    s = rep(exif).summary
    assert s.headline == "edited" and s.basis == ["claim"]
    assert any("photoshop" in x for x in s.edits) and any("XMP history: saved by Adobe" in x for x in s.edits)
    act = Evidence(analyzer="c2pa", kind="provenance", verdict="valid-untrusted", strength="moderate",
                   details={"actions": [{"action": "c2pa.opened"}, {"action": "c2pa.placed", "software_agent": "Ed 5"},
                                        {"action": "c2pa.created"}]})
    s2 = rep(act).summary
    assert "C2PA action c2pa.opened" in s2.edits and "C2PA action c2pa.placed by Ed 5" in s2.edits
    assert not any("created" in x for x in s2.edits)


def test_metadata_and_pixels_disagree_in_one_sentence():
    cam = Evidence(analyzer="exif", kind="provenance", verdict="camera", strength="weak", details={"make": "Canon"})
    heat = np.zeros((40, 40), np.float32)
    heat[:10, :10] = 1.0
    man = Evidence(analyzer="manipulation", kind="manipulation", verdict="manipulated", score=0.93, strength="strong",
                   details={"integrity_score": 0.93, "analyzers": {"copy-move": {"p": 0.97}}}).with_maps({"fused": heat})
    s = rep(cam, man).summary
    assert s.headline == "edited" and s.basis == ["signal"]
    assert s.manipulation.where.startswith("top left") and s.manipulation.analyzers == ["copy-move"]
    assert len(s.conflicts) == 1 and "camera" in s.conflicts[0] and "no editing" in s.conflicts[0]
    assert s.conflicts[0].count(". ") == 0  # one sentence


def test_ai_claim_with_quiet_detector_is_named():
    gen = Evidence(analyzer="generator-metadata", kind="provenance", verdict="comfyui", strength="strong")
    s = rep(gen, ai_item(0.2)).summary
    assert s.origin == "ai-generated (claimed)" and "0.20" in s.conflicts[0] and "0.80" in s.conflicts[0]


def test_failed_file_never_reads_no_evidence():
    r = Report(path="x.jpg", error="x.jpg: truncated")
    assert r.summary.headline == "not analysed" and r.summary.tone == "error"


# ---------------------------------------------------------------- audit trail

def test_audit_records_versions_models_options_and_utc_time(tmp_path):
    from sleuth import __version__
    from sleuth.analyzers import select
    from sleuth.models import resolve

    specs = select(["exif", "ai-generated"])
    a = audit(specs, {"watermark_keys": ["secret key"], "trust_list": None, "index": "refs.idx"},
              [ai_item(0.3)])
    assert a.sleuth_version == __version__ and a.python.split()[1].count(".") == 2
    assert "numpy" in a.libraries and "pillow" in a.libraries
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", a.timestamp)
    assert a.options == {"index": "refs.idx", "watermark_keys": [a.options["watermark_keys"][0]]}
    assert "secret" not in json.dumps(a.model_dump())
    assert a.analyzers["ai-generated"].operating_point == {"threshold": 0.8, "fpr_target": 0.01}
    assert a.analyzers["exif"].role == "claim" and a.analyzers["ai-generated"].role == "signal"
    clip = next(m for m in a.models if m.name == "clip-vit-b16")
    if clip.sha256:  # installed here: the hash is the file's
        assert clip.sha256 == file_sha256(resolve("clip-vit-b16", download=False))
    assert any(m.name == "data/heads/aigen.json" and len(m.sha256) == 64 for m in a.models)
    assert redact_options({"key": "k"})["key"][0].startswith("sha256:")


@pytest.mark.slow
def test_two_scans_identical_apart_from_timestamp(tmp_path):
    import sleuth

    f = tmp_path / "a.jpg"
    f.write_bytes(encode(natural_image(160, 200, 7), "JPEG", quality=88))
    one, two = (sleuth.scan(f).to_dict() for _ in range(2))
    assert one["audit"]["timestamp"] and one["audit"]["models"]
    one["audit"].pop("timestamp")
    two["audit"].pop("timestamp")
    assert json.dumps(one, sort_keys=True) == json.dumps(two, sort_keys=True)
