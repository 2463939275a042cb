"""Top-level summary keeps metadata claims apart from pixel signals."""
from __future__ import annotations

from sleuth.report import Evidence, Report, render_html, summarise


def rep(*ev):
    r = Report(path="x.jpg", width=10, height=10, format="JPEG", evidence=list(ev))
    r.summary = summarise(r)
    return r


def test_claim_only():
    r = rep(Evidence(analyzer="generator-metadata", kind="provenance", verdict="comfyui", strength="strong", summary="ComfyUI workflow"))
    assert r.summary.origin == "ai-generated (claimed)" and r.summary.claims and not r.summary.signals


def test_signal_only():
    r = rep(Evidence(analyzer="known-watermark", kind="watermark", verdict="sdxl", strength="strong", summary="SDXL mark"))
    assert r.summary.origin == "ai-generated (signal)" and r.summary.signals and not r.summary.claims


def test_camera_claim_vs_ai_signal_is_a_conflict():
    r = rep(Evidence(analyzer="exif", kind="provenance", verdict="camera", strength="weak", details={"make": "Canon"}),
            Evidence(analyzer="known-watermark", kind="watermark", verdict="stable-diffusion", strength="strong"))
    assert r.summary.conflicts and "camera" in r.summary.conflicts[0]


def test_invalid_c2pa_not_counted():
    r = rep(Evidence(analyzer="c2pa", kind="provenance", verdict="invalid", strength="moderate",
                     details={"ai_generated": True, "digital_source_type": "trainedAlgorithmicMedia"}))
    assert r.summary.origin == "unknown" and "invalid" in r.summary.conflicts[0]


def test_errors_and_absent_ignored():
    r = rep(Evidence(analyzer="c2pa", kind="provenance", verdict="absent"),
            Evidence(analyzer="exif", kind="provenance", error="bad", strength="moderate"))
    assert r.summary.origin == "unknown" and not r.summary.claims


def test_html_escapes_hostile_text():
    r = rep(Evidence(analyzer="exif", kind="provenance", verdict="camera", strength="weak",
                     summary="<script>alert(1)</script>"))
    page = render_html([r])
    assert "<script>alert(1)" not in page and "&lt;script&gt;" in page
