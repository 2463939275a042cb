"""``sleuth mark`` and ``sleuth verify``: sleuth's own robust watermark (and the baselines).

``mark IN... --out DIR --key KEY [--message TEXT | --hex HEX] [--method NAME] [--bits 64|128] [--strength S]``
writes each marked image into DIR (same format, alpha and metadata kept) and prints PSNR/SSIM.
``verify IMG... --key KEY [--bits 64|128] [--format json]`` prints, per image, whether the key's mark is
present, its p-value, and the decoded message (only when detected). The key may come from
``SLEUTH_WATERMARK_KEY`` instead of the command line; it is never printed or written.
Exit codes: 0 all inputs processed, 1 some inputs failed, 2 usage errors (bad key, message
too long, unknown method).
"""
from __future__ import annotations

import functools
from pathlib import Path
from typing import Optional

import typer

from ..render.help import epilog
from ._common import (
    Batch,
    Format,
    emit,
    expand_inputs,
    format_option,
    out_option,
    parse_options_or_exit,
    progress_iter,
    usage_exit,
)
from ._common import err as _err
from ._common import run_or_exit as _run


def _method_or_exit(method: str, bits: int = 64):
    from ..errors import SleuthError
    from ..watermark.methods import get_method

    try:
        return get_method(method, bits)
    except SleuthError as exc:
        _err(exc)
        raise typer.Exit(2) from exc




def mark_cmd(
    paths: list[Path] = typer.Argument(..., help="Images (or folders) to mark."),
    out: Path = typer.Option(..., "--out", "-o", help="Folder for the marked images (created if needed)."),
    key: Optional[str] = typer.Option(None, "--key", help="Passphrase (>= 8 chars) or hex:<32+ hex digits> "
                                      "(default: $SLEUTH_WATERMARK_KEY)."),
    message: Optional[str] = typer.Option(None, "--message", "-m", help="Payload text (UTF-8, at most 8 bytes; 16 with --bits 128)."),
    hex_: Optional[str] = typer.Option(None, "--hex", help="Payload as hex (at most 16 hex digits; 32 with --bits 128)."),
    method: str = typer.Option("sleuth", "--method", help="sleuth, dwtDct, dwtDctSvd, rivaGan or trustmark."),
    bits: int = typer.Option(64, "--bits", help="Payload length of sleuth's mark: 64, or 128 (a weaker mark; "
                             "verify needs the same --bits)."),
    strength: float = typer.Option(1.0, "--strength", "-s", help="Amplitude factor (1.0 = PSNR about 40.5 dB)."),
    recursive: bool = typer.Option(False, "--recursive", "-r", help="Descend into sub-folders."),
    fmt: Format = format_option(),
) -> None:
    from ..errors import SleuthError, UsageError
    from ..results import MarkResult
    from ..settings import get_settings
    from ..watermark import ecc
    from ..watermark.api import mark_file
    from ..watermark.keys import parse_key

    m = _method_or_exit(method, bits)
    key = key or get_settings().watermark_key
    if not key:
        usage_exit("no key given: use --key KEY or set SLEUTH_WATERMARK_KEY")
    try:
        k = parse_key(key)
        payload = None
        if message is not None or hex_ is not None or m.carries_message:
            payload = ecc.message_to_bytes(message, hex_, bits) if (message is not None or hex_ is not None) else None
        if payload is not None and not m.carries_message:
            m.expected_bits(k, payload)  # raises the usage error
    except UsageError as exc:
        _err(exc)
        raise typer.Exit(2) from exc
    if not (0.05 <= strength <= 8):
        _err(f"--strength must be between 0.05 and 8, got {strength}")
        raise typer.Exit(2)
    files, problems = expand_inputs(paths, recursive)
    failed = len(problems)

    def rows():
        nonlocal failed
        for f in progress_iter(files, "marking", fmt != Format.jsonl):
            try:
                yield MarkResult(**mark_file(f, out, k, payload, method=method, strength=strength, bits=bits))
            except SleuthError as exc:
                failed += 1
                _err(exc)
                yield MarkResult(path=f, method=method, error=str(exc))

    def table(rs: list) -> None:
        for r in rs:
            if r.error is None:
                typer.echo(f"{r.path} -> {r.out}  PSNR {r.psnr:.2f} dB  SSIM {r.ssim:.4f}")

    emit(rows(), fmt, None, name="mark", table=table)
    raise typer.Exit(1 if failed else 0)


def verify_cmd(
    paths: list[Path] = typer.Argument(..., help="Images (or folders) to check."),
    key: Optional[list[str]] = typer.Option(None, "--key", help="Key(s) to look for (repeat for several; default: "
                                            "$SLEUTH_WATERMARK_KEY, one key, spaces allowed)."),
    method: str = typer.Option("sleuth", "--method", help="sleuth, dwtDct, dwtDctSvd, rivaGan or trustmark."),
    fpr: float = typer.Option(1e-6, "--fpr", help="False-positive rate of the 'detected' decision."),
    bits: int = typer.Option(64, "--bits", help="Payload length the images were marked with (64 or 128)."),
    recursive: bool = typer.Option(False, "--recursive", "-r", help="Descend into sub-folders."),
    fmt: Format = format_option(),
    out: Optional[Path] = out_option(),
    max_pixels: Optional[int] = typer.Option(None, "--max-pixels", help="Refuse images above this many pixels."),
    jobs: int = typer.Option(1, "--jobs", "-j", min=1, help="Worker processes."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    from ..results import VERIFY_ANALYZERS, verify_result
    from ..settings import get_settings
    from ..watermark.keys import parse_key

    _method_or_exit(method, bits)
    default_key = get_settings().watermark_key
    key = key or ([default_key] if default_key else None)
    if not key:
        usage_exit("no key given: use --key KEY or set SLEUTH_WATERMARK_KEY")
    if not (0 < fpr < 1):
        usage_exit(f"--fpr must be in (0, 1), got {fpr}")
    for k in key:
        _run(functools.partial(parse_key, k))
    options = parse_options_or_exit(watermark_keys=list(key), watermark_method=method, watermark_fpr=fpr,
                                    watermark_bits=bits, max_pixels=max_pixels)
    batch = Batch(paths, recursive, analyzers=VERIFY_ANALYZERS, options=options, jobs=jobs,
                  keep_maps=fmt == Format.html, quiet=quiet)
    emit(batch.rows(verify_result), fmt, out, name="verify", table=_verify_table, html=batch.html)
    batch.exit()


def register(app: typer.Typer) -> None:
    """Add these commands to the top-level app."""
    app.command("mark", help="Embed an invisible, key-protected watermark (64-bit payload, or 128 with --bits 128) and print PSNR/SSIM per image.",
                 epilog=epilog("mark"))(mark_cmd)
    app.command("verify", help="Is the key's mark present? p-value, decision at --fpr, and the message when detected.",
                 epilog=epilog("verify"))(verify_cmd)


def _verify_table(rows: list) -> None:
    for r in rows:
        if r.error:
            continue
        if r.detected:
            msg = (f"message {r.message!r}" if r.message is not None else
                   "message not decodable" if r.method == "sleuth" else "zero-bit mark (no payload)")
            fix = f", {r.bit_errors_corrected} bit errors corrected" if r.bit_errors_corrected is not None else ""
            typer.echo(f"{r.path}: detected (p = {r.p_value:.2g}), {msg}{fix}")
        else:
            typer.echo(f"{r.path}: not detected (p = {r.p_value:.2g})")
