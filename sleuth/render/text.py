"""Text that is safe to show: file names that are not valid UTF-8, markup in names.

A path decoded by Python with ``surrogateescape`` (a Linux file name that is not UTF-8) holds
lone surrogates that no UTF-8 writer accepts. For people (table, HTML) they become U+FFFD;
JSON keeps them as ``\\udcXX`` escapes, which ``json.loads`` turns back into the same string
(``os.fsencode`` then gives the original bytes).
"""
from __future__ import annotations

import json
from typing import Any


def display(text: Any) -> str:
    """``text`` with undecodable bytes shown as U+FFFD (never raises on any str)."""
    s = "" if text is None else str(text)
    try:
        s.encode("utf-8")
        return s
    except UnicodeEncodeError:
        return s.encode("utf-8", "surrogateescape").decode("utf-8", "replace").encode(
            "utf-8", "replace").decode("utf-8")


def json_line(obj: Any, indent: int | None = None) -> str:
    """JSON text that any UTF-8 writer accepts (lone surrogates escaped as ``\\udcXX``)."""
    text = json.dumps(obj, ensure_ascii=False, indent=indent)
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return json.dumps(obj, ensure_ascii=True, indent=indent)
