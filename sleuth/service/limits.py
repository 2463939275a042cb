"""Request limits: bounded body reading, in-memory multipart parsing, names, rate limits.

The body of an upload is read from the ASGI stream into memory and counted as it arrives: a
declared ``Content-Length`` over the limit is refused before one byte is read, and a streamed
body is cut off as soon as it passes the limit. Nothing is spooled to a temporary file
(Starlette's form parser spools parts over 1 MiB to disk), so an oversize request never
reaches disk; memory is bounded because the server admits at most ``workers + queue_size``
requests at a time. Multipart is parsed with python-multipart's streaming parser.
"""
from __future__ import annotations

import math
import re
import threading
import time
import unicodedata
from dataclasses import dataclass, field

from python_multipart.multipart import MultipartParser, parse_options_header


class RequestError(Exception):
    """A request refused with an HTTP status and a readable reason (optionally per file)."""

    def __init__(self, status: int, reason: str, files: list[dict] | None = None,
                 headers: dict[str, str] | None = None):
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.files = files or []
        self.headers = headers or {}


@dataclass
class Part:
    """One multipart part: a form field or an uploaded file (bytes kept in memory)."""

    name: str
    filename: str | None
    content_type: str | None
    data: bytearray = field(default_factory=bytearray)


async def read_body(request, limit: int) -> bytes:
    """Read the request body, refusing it (413) as soon as it is over ``limit`` bytes.

    Parameters
    ----------
    request : starlette.requests.Request
    limit : int
        Maximum body size in bytes.

    Returns
    -------
    bytes
    """
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            n = int(declared)
        except ValueError:
            raise RequestError(400, "Content-Length is not a number") from None
        if n > limit:
            raise RequestError(413, f"request body is {n} bytes, over this server's {limit}-byte limit")
    buf = bytearray()
    async for chunk in request.stream():
        buf += chunk
        if len(buf) > limit:
            raise RequestError(413, f"request body is over this server's {limit}-byte limit")
    return bytes(buf)


def parse_multipart(content_type: str | None, body: bytes, max_parts: int) -> list[Part]:
    """Parse a ``multipart/form-data`` body held in memory.

    Parameters
    ----------
    content_type : str
        The request's Content-Type header (carries the boundary).
    body : bytes
        The whole body.
    max_parts : int
        Refuse (413) a body with more parts than this.

    Returns
    -------
    list of Part
    """
    ctype, params = parse_options_header(content_type or "")
    if ctype != b"multipart/form-data" or not params.get(b"boundary"):
        raise RequestError(415, "send the images as multipart/form-data in the field 'files'")
    parts: list[Part] = []
    hdr: dict[str, str] = {}
    cur: dict[str, bytearray] = {"field": bytearray(), "value": bytearray()}

    def on_header_field(data, start, end):
        cur["field"] += data[start:end]

    def on_header_value(data, start, end):
        cur["value"] += data[start:end]

    def on_header_end():
        hdr[cur["field"].decode("latin-1").lower()] = cur["value"].decode("utf-8", "replace")
        cur["field"], cur["value"] = bytearray(), bytearray()

    def on_headers_finished():
        if len(parts) >= max_parts:
            raise RequestError(413, f"more than {max_parts} parts in one request")
        _, disp = parse_options_header(hdr.get("content-disposition", ""))
        fname = disp.get(b"filename")
        parts.append(Part(name=disp.get(b"name", b"").decode("utf-8", "replace"),
                          filename=fname.decode("utf-8", "replace") if fname is not None else None,
                          content_type=hdr.get("content-type")))
        hdr.clear()

    def on_part_data(data, start, end):
        parts[-1].data += data[start:end]

    parser = MultipartParser(params[b"boundary"], {
        "on_header_field": on_header_field, "on_header_value": on_header_value, "on_header_end": on_header_end,
        "on_headers_finished": on_headers_finished, "on_part_data": on_part_data})
    try:
        parser.write(body)
        parser.finalize()
    except RequestError:
        raise
    except Exception as exc:
        raise RequestError(422, f"malformed multipart body ({type(exc).__name__}: {exc})"[:300]) from None
    return parts


_UNSAFE = re.compile(r"[\x00-\x1f\x7f/\\]")


def safe_name(name: str | None, fallback: str = "upload") -> str:
    """A display name for an uploaded file: its last path component, no control characters.

    Upload names are never used as paths; this only keeps reports and logs readable and
    free of ``../`` tricks.

    Parameters
    ----------
    name : str or None
        The client's file name.
    fallback : str
        Used when nothing is left.

    Returns
    -------
    str
    """
    name = unicodedata.normalize("NFC", name or "")
    name = re.split(r"[/\\]", name)[-1]
    name = _UNSAFE.sub("", name).strip().lstrip(".")
    return name[:200] or fallback


#: leading bytes of the formats the loader decodes (imageio registers HEIF/AVIF via pillow-heif)
_MAGIC = [
    (b"\xff\xd8\xff", "JPEG"), (b"\x89PNG\r\n\x1a\n", "PNG"), (b"GIF87a", "GIF"), (b"GIF89a", "GIF"),
    (b"II*\x00", "TIFF"), (b"MM\x00*", "TIFF"), (b"BM", "BMP"), (b"\x00\x00\x00\x0cjP  ", "JPEG 2000"),
    (b"\xff\x4f\xff\x51", "JPEG 2000"), (b"\xff\x0a", "JPEG XL"), (b"\x00\x00\x00\x0cJXL ", "JPEG XL"),
]


def sniff_image(data: bytes) -> str | None:
    """The image format the leading bytes announce, else None (not an image we decode).

    Parameters
    ----------
    data : bytes

    Returns
    -------
    str or None
    """
    head = bytes(data[:32])
    for magic, fmt in _MAGIC:
        if head.startswith(magic):
            return fmt
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WEBP"
    if head[4:8] == b"ftyp":
        return "HEIF/AVIF"
    return None


class RateLimiter:
    """Token bucket per key: ``rate`` requests per minute, bursts of ``burst``.

    Parameters
    ----------
    per_minute : float
        Sustained rate.
    burst : int
        Bucket size.
    """

    def __init__(self, per_minute: float, burst: int):
        self.rate = per_minute / 60.0
        self.burst = max(1, int(burst))
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, who: str) -> float:
        """Take one token for ``who``.

        Parameters
        ----------
        who : str
            The key id (or client address without auth).

        Returns
        -------
        float
            0 when allowed, else the seconds to wait before the next token (for Retry-After).
        """
        if self.rate <= 0:
            return 0.0
        now = time.monotonic()
        with self._lock:
            tokens, last = self._buckets.get(who, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - last) * self.rate)
            if tokens >= 1:
                self._buckets[who] = (tokens - 1, now)
                return 0.0
            self._buckets[who] = (tokens, now)
            return (1 - tokens) / self.rate


def retry_after(seconds: float) -> str:
    """Retry-After header value (whole seconds, at least 1).

    Parameters
    ----------
    seconds : float

    Returns
    -------
    str
    """
    return str(max(1, math.ceil(seconds)))
