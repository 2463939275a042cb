"""C2PA, EXIF/XMP/IPTC and generator-metadata analyzers on fixtures made here (no shared data)."""
from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from sleuth import examples as ex
from sleuth.pipeline import scan

from .conftest import encode, natural_image

FAST = ["c2pa", "generator-metadata", "exif", "known-watermark"]


@pytest.fixture(scope="module")
def chain():
    from sleuth.provenance.signing import make_test_chain

    return make_test_chain()


@pytest.fixture(scope="module")
def c2pa_files(chain):
    return ex.c2pa_examples(natural_image(384, 512, seed=4), chain)


def run(analyzer: str, data: bytes, **options):
    rep = scan(data, [analyzer], options=options, keep_maps=False)
    assert rep.error is None, rep.error
    ev = rep.get(analyzer)
    assert ev is not None
    return ev


# ----------------------------------------------------------------------------- C2PA

def test_c2pa_ai_claim_valid_untrusted_without_trust_list(c2pa_files):
    ev = run("c2pa", c2pa_files["ai"])
    assert ev.verdict == "valid-untrusted" and ev.error is None
    d = ev.details
    assert "not evaluated" in d["trust"]
    assert d["ai_generated"] is True and d["digital_source_type"] == "trainedAlgorithmicMedia"
    assert [a["action"] for a in d["actions"]] == ["c2pa.created"]
    assert d["signer"] == "sleuth test signer" and "sleuth tests" in d["issuer"]
    assert d["claim_generator"].startswith("sleuth-examples") and "signing_time" in d


def test_c2pa_trust_list_makes_it_valid_and_a_foreign_list_does_not(c2pa_files, chain, tmp_path):
    from sleuth.provenance.signing import make_test_chain

    ours = tmp_path / "ours.pem"
    ours.write_text(chain.ca_cert_pem)
    ev = run("c2pa", c2pa_files["ai"], trust_list=str(ours))
    assert ev.verdict == "valid" and ev.strength == "strong" and ev.details["trust"] == "trusted"
    other = tmp_path / "other.pem"
    other.write_text(make_test_chain(org="someone else").ca_cert_pem)
    ev = run("c2pa", c2pa_files["ai"], trust_list=str(other))
    assert ev.verdict == "valid-untrusted" and ev.details["trust"].startswith("untrusted")


def test_c2pa_missing_trust_list_is_a_clean_analyzer_error(c2pa_files, tmp_path):
    ev = run("c2pa", c2pa_files["ai"], trust_list=str(tmp_path / "nope.pem"))
    assert ev.error and "trust list" in ev.error and "\n" not in ev.error


def test_c2pa_edit_reports_actions_and_ingredient_chain(c2pa_files):
    ev = run("c2pa", c2pa_files["edited"])
    assert ev.verdict == "valid-untrusted"
    d = ev.details
    assert [a["action"] for a in d["actions"]] == ["c2pa.opened", "c2pa.edited"]
    assert len(d["ingredients"]) == 1
    ing = d["ingredients"][0]
    assert ing["relationship"] == "parentOf"
    assert ing["actions"][0]["action"] == "c2pa.created"  # the parent's own manifest, followed
    assert d["manifests_in_store"] == 2
    assert d["ai_generated"] is True  # inherited from the AI-generated parent


def test_c2pa_tampered_pixels_are_invalid(c2pa_files):
    ev = run("c2pa", c2pa_files["tampered"])
    assert ev.verdict == "invalid"
    assert "assertion.dataHash.mismatch" in ev.details["failing_codes"]
    assert "INVALID" in ev.summary


def test_c2pa_malformed_manifest_is_an_error_entry_and_others_still_run(c2pa_files):
    bad = ex.corrupt_jumbf(c2pa_files["ai"])
    rep = scan(bad, FAST, keep_maps=False)
    assert rep.error is None
    ev = rep.get("c2pa")
    assert ev.verdict == "invalid" and ev.error and "malformed C2PA manifest" in ev.error
    assert {e.analyzer for e in rep.evidence} == set(FAST)


def test_c2pa_absent_on_plain_and_png_signing_works(chain):
    from sleuth.provenance.signing import sign_image

    rgb = natural_image(256, 320, seed=5)
    assert run("c2pa", encode(rgb, "JPEG")).verdict == "no-evidence"
    png = sign_image(encode(rgb, "PNG"), "PNG", chain)
    ev = run("c2pa", png)
    assert ev.verdict == "valid-untrusted" and ev.details["digital_source_type"] == "digitalCreation"
    assert ev.details["ai_generated"] is False


def test_c2pa_remote_reference_is_unresolved_and_not_fetched(c2pa_files):
    ev = run("c2pa", c2pa_files["remote_reference"])
    assert ev.verdict == "unresolved" and ev.strength == "weak"
    assert ev.details["remote_url"] == "https://credentials.example.invalid/manifests/remote.c2pa"


def test_c2pa_in_memory_image_says_not_checked():
    rep = scan(Image.fromarray(natural_image(64, 64)), ["c2pa"], keep_maps=False)
    assert rep.get("c2pa").details["checked"] is False


# ----------------------------------------------------------------------------- generator metadata

def gen(data: bytes):
    return run("generator-metadata", data)


def test_a1111_png_and_jpeg_usercomment():
    rgb = natural_image(128, 160, seed=1)
    for data, src in ((ex.a1111_png(rgb), "parameters"), (ex.a1111_jpeg(rgb), "EXIF UserComment")):
        ev = gen(data)
        assert ev.verdict == "automatic1111" and ev.strength == "strong"
        d = ev.details
        assert d["source_fields"][0] == src
        assert d["prompt"].startswith("a lighthouse on a cliff") and d["negative_prompt"] == "blurry, lowres, watermark"
        assert (d["seed"], d["steps"], d["sampler"], d["cfg"]) == (1234567890, 28, "DPM++ 2M Karras", 6.5)
        assert d["model"] == "v1-5-pruned-emaonly" and d["size"] == "640x512"


def test_forge_variant_and_fooocus_version():
    rgb = natural_image(64, 64)
    ev = gen(ex.a1111_png(rgb, "cat\nSteps: 20, Sampler: Euler, Seed: 5, Version: f2.0.1v1.10.1-previous-313"))
    assert ev.verdict == "automatic1111" and ev.details["variant"] == "forge"
    ev = gen(ex.a1111_png(rgb, "cat\nNegative prompt: dog\nSteps: 30, Sampler: dpmpp_2m_sde_gpu, Seed: 7, Version: Fooocus v2.5.0"))
    assert ev.verdict == "fooocus" and ev.details["negative_prompt"] == "dog"


def test_comfyui_prompt_and_workflow():
    ev = gen(ex.comfyui_png(natural_image(96, 96), prompt="a red fox", negative="cartoon", seed=77))
    d = ev.details
    assert ev.verdict == "comfyui"
    assert (d["prompt"], d["negative_prompt"], d["seed"], d["steps"], d["sampler"]) == ("a red fox", "cartoon", 77, 25, "euler")
    assert d["model"] == "sd_xl_base_1.0.safetensors" and d["workflow_nodes"] == 7


def test_comfyui_malformed_json_keeps_tool_with_parse_error():
    data = ex.png_with_text(natural_image(64, 64), {"prompt": "{not json", "workflow": "{\"nodes\": []}"})
    ev = gen(data)
    assert ev.verdict == "comfyui" and ev.strength == "moderate" and "parse_error" in ev.details


def test_invokeai_three_generations():
    rgb = natural_image(64, 64)
    ev = gen(ex.invokeai_png(rgb))
    assert ev.verdict == "invokeai" and ev.details["seed"] == 987654321 and ev.details["model"] == "stable-diffusion-v1-5"
    sdm = {"model_weights": "stable-diffusion-1.5", "app_version": "2.3.0",
           "image": {"prompt": [{"prompt": "a castle", "weight": 1.0}], "seed": 11, "steps": 40, "sampler": "k_lms", "cfg_scale": 7.5}}
    ev = gen(ex.png_with_text(rgb, {"sd-metadata": json.dumps(sdm)}))
    assert ev.details["prompt"] == "a castle" and ev.details["steps"] == 40
    ev = gen(ex.png_with_text(rgb, {"Dream": '"a cozy cabin [ugly, blurry]" -s 50 -S 2980747362 -W 512 -H 512 -C 7.5 -A k_lms'}))
    assert ev.verdict == "invokeai"
    assert (ev.details["prompt"], ev.details["negative_prompt"], ev.details["seed"], ev.details["size"]) == \
        ("a cozy cabin", "ugly, blurry", 2980747362, "512x512")


def test_novelai_text_and_stealth_alpha():
    rgb = natural_image(160, 200, seed=2)
    for data, mode in ((ex.novelai_png(rgb), None), (ex.novelai_stealth_png(rgb), "stealth-alpha-gzip")):
        ev = gen(data)
        assert ev.verdict == "novelai"
        d = ev.details
        assert d["seed"] == 3141592653 and d["sampler"] == "k_euler_ancestral" and d["negative_prompt"].startswith("lowres")
        assert d.get("stealth") == mode


def test_a1111_stealth_uncompressed_pnginfo():
    rgba = np.dstack([natural_image(128, 128), np.full((128, 128), 255, np.uint8)])
    marked = ex.stealth_embed(rgba, b"a circle\nNegative prompt: a square\nSteps: 20, Sampler: Euler, Seed: 9", compressed=False)
    ev = gen(encode(marked, "PNG"))
    assert ev.verdict == "automatic1111" and ev.details["stealth"] == "stealth-alpha" and ev.details["seed"] == 9


def test_stealth_with_absurd_length_is_reported_not_raised():
    rgba = np.dstack([natural_image(64, 64), np.full((64, 64), 255, np.uint8)])
    marked = ex.stealth_embed(rgba, b"x" * 10, compressed=False)
    a = marked[..., 3].T.copy().reshape(-1)
    a[120:152] = (a[120:152] & 0xFE) | 1  # declared length: 2^32 - 1 bits
    marked[..., 3] = a.reshape(64, 64).T
    ev = gen(encode(marked, "PNG"))
    assert ev.error is None and "parse_error" in ev.details


def test_fooocus_and_swarmui_json_and_absent():
    rgb = natural_image(64, 64)
    fo = {"Prompt": "a smiling goldfish", "Negative Prompt": "", "Base Model": "juggernautXL_v8", "Seed": "695",
          "Steps": 30, "Sampler": "dpmpp_2m_sde_gpu", "Version": "Fooocus v2.4.3"}
    ev = gen(ex.png_with_text(rgb, {"parameters": json.dumps(fo), "fooocus_scheme": "fooocus"}))
    assert ev.verdict == "fooocus" and ev.details["seed"] == 695 and ev.details["model"] == "juggernautXL_v8"
    sw = {"sui_image_params": {"prompt": "a boat", "model": "flux1-dev", "seed": 3, "steps": 20}}
    ev = gen(ex.png_with_text(rgb, {"parameters": json.dumps(sw)}))
    assert ev.verdict == "swarmui" and ev.details["model"] == "flux1-dev"
    assert gen(encode(rgb, "PNG")).verdict == "no-evidence"
    # an alpha channel with random LSBs is not stealth metadata
    rgba = np.dstack([rgb, np.random.default_rng(0).integers(0, 256, (64, 64), dtype=np.uint8)])
    assert gen(encode(rgba, "PNG")).verdict == "no-evidence"


def test_service_marker_in_software_field():
    ev = gen(ex.png_with_text(natural_image(64, 64), {"Software": "Adobe Firefly"}))
    assert ev.verdict == "adobe-firefly" and ev.strength == "moderate"


# ----------------------------------------------------------------------------- EXIF / XMP / IPTC

def exif_ev(data: bytes):
    return run("exif", data)


def test_camera_jpeg_fields_gps_and_consistent_thumbnail():
    ev = exif_ev(ex.camera_jpeg(natural_image(480, 640, seed=3)))
    d = ev.details
    assert ev.verdict == "camera"
    assert (d["make"], d["model"], d["datetime_original"]) == ("Canon", "Canon EOS R6", "2024:05:17 14:03:22")
    assert d["gps"]["present"] and abs(d["gps"]["latitude"] - 48.858222) < 1e-3 and abs(d["gps"]["longitude"] - 2.2945) < 1e-3
    assert d["software"] == "Firmware Version 1.8.1" and d["lens_model"].startswith("RF24")
    assert d["thumbnail"]["thumbnail_differs"] is False and d["inconsistencies"] == []


def test_thumbnail_and_dimension_inconsistencies():
    rgb = natural_image(480, 640, seed=3)
    other = natural_image(480, 640, seed=9)
    ev = exif_ev(ex.camera_jpeg(rgb, thumb_from=other))
    assert ev.verdict == "edited" and any("thumbnail differs" in i for i in ev.details["inconsistencies"])
    ev = exif_ev(ex.camera_jpeg(rgb, exif_size=(4000, 3000)))
    assert any("dimensions 4000x3000" in i for i in ev.details["inconsistencies"])


def test_editor_software_and_xmp_history():
    rgb = natural_image(240, 320)
    ev = exif_ev(ex.camera_jpeg(rgb, software="Adobe Photoshop 25.0 (Windows)"))
    assert ev.verdict == "edited" and "photoshop" in ev.details["editors"]
    xmp = ex.xmp_packet("digitalCapture", creator_tool="GIMP 2.10",
                        history=[{"action": "saved", "softwareAgent": "Adobe Photoshop Lightroom Classic 13.0"}])
    ev = exif_ev(ex.jpeg_with_xmp(rgb, xmp))
    d = ev.details
    assert d["digital_source_type"] == "digitalCapture" and d["creator_tool"] == "GIMP 2.10"
    assert d["xmp_history"][0]["softwareAgent"].startswith("Adobe Photoshop Lightroom")
    assert set(d["editors"]) >= {"gimp", "lightroom"}


@pytest.mark.parametrize("dst", ["trainedAlgorithmicMedia", "compositeWithTrainedAlgorithmicMedia", "algorithmicMedia", "compositeSynthetic"])
def test_iptc_digital_source_type_ai(dst):
    ev = exif_ev(ex.jpeg_with_xmp(natural_image(120, 160), ex.xmp_packet(dst)))
    assert ev.verdict == "ai-generated" and ev.details["digital_source_type"] == dst
    assert ev.details["digital_source_type_uri"].startswith("http://cv.iptc.org/newscodes/digitalsourcetype/")


def test_exif_absent_and_malformed_exif_does_not_crash():
    rgb = natural_image(64, 64)
    assert exif_ev(encode(rgb, "PNG")).verdict == "no-evidence"
    good = ex.camera_jpeg(natural_image(120, 160))
    i = good.find(b"Exif\x00\x00") + 6
    bad = good[: i + 8] + b"\xff" * 40 + good[i + 48:]  # smash the first IFD
    rep = scan(bad, FAST, keep_maps=False)
    assert rep.error is None or "\n" not in rep.error
    for e in rep.evidence:
        assert e.error is None or "\n" not in e.error


# ----------------------------------------------------------------------------- the JSON contract

def test_scan_json_contract_on_the_example_folder(tmp_path):
    from typer.testing import CliRunner

    from sleuth.cli import app

    ex.make_examples(tmp_path)
    res = CliRunner().invoke(app, ["scan", str(tmp_path), "--fast", "--format", "json"])
    assert res.exit_code == 0, res.output
    reports = {r["path"].rsplit("/", 1)[-1]: r for r in json.loads(res.stdout)}
    for r in reports.values():
        assert set(r) >= {"path", "sha256", "format", "width", "height", "error", "evidence", "summary"}
        for e in r["evidence"]:
            assert set(e) >= {"analyzer", "kind", "verdict", "score", "p_value", "strength", "summary", "details"}

    def verdict(name, analyzer):
        return next(e["verdict"] for e in reports[name]["evidence"] if e["analyzer"] == analyzer)

    assert verdict("c2pa_ai.jpg", "c2pa") == "valid-untrusted"
    assert verdict("c2pa_edited.jpg", "c2pa") == "valid-untrusted"
    assert verdict("c2pa_tampered.jpg", "c2pa") == "invalid"
    assert verdict("c2pa_remote_reference.jpg", "c2pa") == "unresolved"
    assert verdict("a1111_parameters.png", "generator-metadata") == "automatic1111"
    assert verdict("comfyui_prompt_workflow.png", "generator-metadata") == "comfyui"
    assert verdict("invokeai_metadata.png", "generator-metadata") == "invokeai"
    assert verdict("novelai_stealth_alpha.png", "generator-metadata") == "novelai"
    assert verdict("sd_v1_watermarked.png", "known-watermark") == "stable-diffusion"
    assert verdict("sdxl_watermarked.png", "known-watermark") == "sdxl"
    assert verdict("plain_photo.jpg", "known-watermark") == "no-evidence"
    cam = next(e for e in reports["camera_exif_gps.jpg"]["evidence"] if e["analyzer"] == "exif")
    assert cam["details"]["make"] == "Canon" and cam["details"]["model"] == "Canon EOS R6"
    iptc = next(e for e in reports["iptc_trained_algorithmic_media.jpg"]["evidence"] if e["analyzer"] == "exif")
    assert iptc["details"]["digital_source_type"] == "trainedAlgorithmicMedia"
    # recursive: the broken/ files are error entries, exit code 1, the rest still reported
    res = CliRunner().invoke(app, ["scan", str(tmp_path), "-r", "--fast", "--format", "json"])
    assert res.exit_code == 1
    reps = json.loads(res.stdout)
    errs = [r for r in reps if r["error"]]
    assert len(errs) == 3 and all(r["path"] in r["error"] and "\n" not in r["error"] for r in errs)
    assert len(reps) == len(reports) + 4
