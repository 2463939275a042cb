"""Fetch an image by URL without letting the server be used against its own network (SSRF).

Rules, checked on the first request and again on every redirect:

* only ``http`` and ``https`` URLs, no user:password part;
* the host name is resolved once, and *every* address it resolves to must be a public unicast
  address (private, loopback, link-local incl. 169.254.169.254, multicast, reserved,
  unspecified, shared CGNAT and IPv4-mapped forms of those are refused);
* the connection goes to the address that was checked (the URL's host is replaced by it and
  the name travels in ``Host`` / TLS SNI), so a second DNS answer cannot swap in another one;
* at most ``max_redirects`` redirects, the body is streamed and cut off past ``max_bytes``.
"""
from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from urllib.parse import urljoin, urlsplit, urlunsplit

import httpx

from .limits import RequestError

Resolver = Callable[[str, int], list[str]]


def system_resolver(host: str, port: int) -> list[str]:
    """All addresses ``host`` resolves to (getaddrinfo).

    Parameters
    ----------
    host : str
    port : int

    Returns
    -------
    list of str
    """
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return sorted({str(info[4][0]) for info in infos})


def is_public(ip: str) -> bool:
    """True when ``ip`` is a globally routable unicast address.

    Parameters
    ----------
    ip : str

    Returns
    -------
    bool
    """
    addr = ipaddress.ip_address(ip.split("%")[0])
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped
    return bool(addr.is_global and not (addr.is_multicast or addr.is_reserved or addr.is_loopback
                                        or addr.is_link_local or addr.is_private or addr.is_unspecified))


def _checked_target(url: str, resolver: Resolver, allow: Callable[[str, int], bool]) -> tuple[str, str, str]:
    """(url to connect to, Host header, host name) after the scheme and address checks."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise RequestError(422, f"{url}: only http and https URLs are fetched")
    if parts.username or parts.password:
        raise RequestError(422, f"{url}: URLs with a user name or password are refused")
    host = parts.hostname
    if not host:
        raise RequestError(422, f"{url}: no host name")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        addrs = resolver(host, port)
    except (socket.gaierror, UnicodeError, OSError) as exc:
        raise RequestError(422, f"{url}: cannot resolve {host} ({exc})") from None
    if not addrs:
        raise RequestError(422, f"{url}: {host} has no address")
    bad = [a for a in addrs if not (is_public(a) or allow(a, port))]
    if bad:
        raise RequestError(422, f"{url}: {host} resolves to {bad[0]}, a private, loopback or link-local "
                                "address; this server fetches public addresses only")
    ip = addrs[0]
    netloc = f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"
    host_header = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, "")), host_header, host


def fetch_url(url: str, *, max_bytes: int, timeout: float = 10.0, max_redirects: int = 3,
              resolver: Resolver = system_resolver, allow: Callable[[str, int], bool] = lambda ip, port: False
              ) -> bytes:
    """Download ``url`` under the rules above.

    Parameters
    ----------
    url : str
        http(s) URL.
    max_bytes : int
        Body size limit.
    timeout : float
        Seconds per network operation.
    max_redirects : int
        Redirects followed (each one checked again).
    resolver : callable
        ``(host, port) -> [ip, ...]`` (tests inject one).
    allow : callable
        ``(ip, port) -> bool`` exceptions to the public-address rule (tests only).

    Returns
    -------
    bytes
        The body.

    Raises
    ------
    RequestError
        422 for a refused or failed fetch, 413 for an oversized body.
    """
    with httpx.Client(timeout=timeout, follow_redirects=False, trust_env=False) as client:
        for _ in range(max_redirects + 1):
            target, host_header, host = _checked_target(url, resolver, allow)
            ext = {"sni_hostname": host} if url.startswith("https") else {}
            try:
                with client.stream("GET", target, headers={"Host": host_header, "Accept": "image/*"},
                                   extensions=ext) as resp:
                    if resp.is_redirect:
                        loc = resp.headers.get("location", "")
                        url = urljoin(url, loc)
                        continue
                    if resp.status_code != 200:
                        raise RequestError(422, f"{url}: the server answered {resp.status_code}")
                    declared = resp.headers.get("content-length")
                    if declared and declared.isdigit() and int(declared) > max_bytes:
                        raise RequestError(413, f"{url}: {declared} bytes is over the {max_bytes}-byte limit")
                    buf = bytearray()
                    for chunk in resp.iter_bytes():
                        buf += chunk
                        if len(buf) > max_bytes:
                            raise RequestError(413, f"{url}: body is over the {max_bytes}-byte limit")
                    return bytes(buf)
            except httpx.HTTPError as exc:
                raise RequestError(422, f"{url}: fetch failed ({type(exc).__name__})") from None
    raise RequestError(422, f"{url}: more than {max_redirects} redirects")
