"""``sleuth mark`` and ``sleuth verify``: sleuth's own robust watermark (and the baselines).

``mark IN... --out DIR --key KEY [--message TEXT | --hex HEX] [--method NAME] [--strength S]``
writes each marked image into DIR (same format, alpha and metadata kept) and prints PSNR/SSIM.
``verify IMG... --key KEY [--format json]`` prints, per image, whether the key's mark is
present, its p-value, and the decoded message (only when detected). The key may come from
``SLEUTH_WATERMARK_KEY`` instead of the command line; it is never printed or written.
Exit codes: 0 all inputs processed, 1 some inputs failed, 2 usage errors (bad key, message
too long, unknown method).
"""
from __future__ import annotations

import json
import os
import sys
from enum import Enum
from pathlib import Path
from typing import Optional

import typer


from ._common import err as _err
from ._common import expand_inputs


class WFmt(str, Enum):
    table = "table"
    json = "json"


def _method_or_exit(method: str):
    from ..errors import SleuthError
    from ..watermark.methods import get_method

    try:
        return get_method(method)
    except SleuthError as exc:
        _err(exc)
        raise typer.Exit(2)


def register(app: typer.Typer) -> None:
    @app.command("mark")
    def mark_cmd(
        paths: list[Path] = typer.Argument(..., help="Images (or folders) to mark."),
        out: Path = typer.Option(..., "--out", "-o", help="Folder for the marked images (created if needed)."),
        key: str = typer.Option(..., "--key", envvar="SLEUTH_WATERMARK_KEY", show_envvar=True,
                                help="Passphrase (>= 8 chars) or hex:<32+ hex digits>."),
        message: Optional[str] = typer.Option(None, "--message", "-m", help="Payload text (UTF-8, at most 8 bytes)."),
        hex_: Optional[str] = typer.Option(None, "--hex", help="Payload as hex (at most 16 hex digits)."),
        method: str = typer.Option("sleuth", "--method", help="sleuth, dwtDct, dwtDctSvd, rivaGan or trustmark."),
        strength: float = typer.Option(1.0, "--strength", "-s", help="Amplitude factor (1.0 = PSNR about 40.5 dB)."),
        recursive: bool = typer.Option(False, "--recursive", "-r"),
        fmt: WFmt = typer.Option(WFmt.table, "--format", "-f", help="table or json"),
    ) -> None:
        """Embed an invisible, key-protected watermark (64-bit payload) and print PSNR/SSIM per image."""
        from ..errors import SleuthError, UsageError
        from ..watermark import ecc
        from ..watermark.api import mark_file
        from ..watermark.keys import parse_key

        m = _method_or_exit(method)
        try:
            k = parse_key(key)
            payload = None
            if message is not None or hex_ is not None or m.carries_message:
                payload = ecc.message_to_bytes(message, hex_) if (message is not None or hex_ is not None) else None
            if payload is not None and not m.carries_message:
                m.expected_bits(k, payload)  # raises the usage error
        except UsageError as exc:
            _err(exc)
            raise typer.Exit(2)
        if not (0.05 <= strength <= 8):
            _err(f"--strength must be between 0.05 and 8, got {strength}")
            raise typer.Exit(2)
        files, problems = expand_inputs(paths, recursive)
        rows, failed = [], len(problems)
        for f in files:
            try:
                rows.append(mark_file(f, out, k, payload, method=method, strength=strength))
            except SleuthError as exc:
                failed += 1
                _err(exc)
                rows.append({"path": f, "out": None, "method": method, "psnr": None, "ssim": None, "error": str(exc)})
        if fmt == WFmt.json:
            sys.stdout.write(json.dumps(rows, indent=2) + "\n")
        else:
            for r in rows:
                if r["error"] is None:
                    typer.echo(f"{r['path']} -> {r['out']}  PSNR {r['psnr']:.2f} dB  SSIM {r['ssim']:.4f}")
        raise typer.Exit(1 if failed else 0)

    @app.command("verify")
    def verify_cmd(
        paths: list[Path] = typer.Argument(..., help="Images (or folders) to check."),
        key: Optional[list[str]] = typer.Option(None, "--key", help="Key(s) to look for (repeat for several; default: "
                                                "$SLEUTH_WATERMARK_KEY, one key, spaces allowed)."),
        method: str = typer.Option("sleuth", "--method"),
        fpr: float = typer.Option(1e-6, "--fpr", help="False-positive rate of the 'detected' decision."),
        recursive: bool = typer.Option(False, "--recursive", "-r"),
        fmt: WFmt = typer.Option(WFmt.table, "--format", "-f", help="table or json"),
        max_pixels: Optional[int] = typer.Option(None, "--max-pixels"),
    ) -> None:
        """Is the key's mark present? p-value, decision at --fpr, and the message when detected."""
        from ..errors import SleuthError, UsageError
        from ..watermark.api import verify_file
        from ..watermark.keys import parse_key

        _method_or_exit(method)
        if not key and os.environ.get("SLEUTH_WATERMARK_KEY"):
            key = [os.environ["SLEUTH_WATERMARK_KEY"]]
        if not key:
            _err("no key given: use --key KEY or set SLEUTH_WATERMARK_KEY")
            raise typer.Exit(2)
        if not (0 < fpr < 1):
            _err(f"--fpr must be in (0, 1), got {fpr}")
            raise typer.Exit(2)
        try:
            keys = [parse_key(k) for k in key]
        except UsageError as exc:
            _err(exc)
            raise typer.Exit(2)
        files, problems = expand_inputs(paths, recursive)
        rows, failed = [], len(problems)
        for f in files:
            try:
                rows.append(verify_file(f, keys, method=method, fpr=fpr, max_pixels=max_pixels))
            except Exception as exc:  # one file never stops the batch (a decoder bug included)
                failed += 1
                msg = str(exc) if isinstance(exc, SleuthError) else f"{f}: verify failed ({type(exc).__name__}: {exc})"
                _err(msg)
                rows.append({"path": f, "error": " ".join(msg.split()), "detected": False, "p_value": None, "message": None,
                             "method": method})
        if fmt == WFmt.json:
            sys.stdout.write(json.dumps(rows, indent=2) + "\n")
        else:
            for r in rows:
                if r.get("error"):
                    continue
                if r["detected"]:
                    msg = (f"message {r['message']!r}" if r["message"] is not None else
                           "message not decodable" if r["method"] == "sleuth" else "zero-bit mark (no payload)")
                    fix = f", {r['bit_errors_corrected']} bit errors corrected" if r.get("bit_errors_corrected") is not None else ""
                    typer.echo(f"{r['path']}: detected (p = {r['p_value']:.2g}), {msg}{fix}")
                else:
                    typer.echo(f"{r['path']}: not detected (p = {r['p_value']:.2g})")
        raise typer.Exit(1 if failed else 0)
