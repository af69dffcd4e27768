"""The only way connectors reach the outside world: HTTP(S) with server-side request forgery
protection and hard limits (RELIABILITY 16 and 17, OWASP API7:2023).

A URL comes from a tenant (a feed, an instance, a webhook target), so it is hostile until checked:

* only `http` and `https`, no credentials in the URL, only the allowed ports;
* the host is resolved ONCE and refused if ANY of its addresses is not globally routable (private,
  loopback, link-local such as 169.254.169.254, multicast, reserved, unspecified, shared 100.64/10),
  including IPv4 addresses hidden in IPv6 (mapped, compatible, NAT64, 6to4) and the legacy numeric
  spellings (`0x7f000001`, `2130706433`, `0177.0.0.1`, `127.1`);
* the socket is connected to the address that was checked (a second lookup could be answered
  differently: DNS rebinding), while the Host header, TLS SNI and certificate verification use the
  hostname; TLS is always verified;
* every redirect target goes through the same checks;
* a total deadline bounds the whole exchange (connect, TLS, headers, body, redirects), so a server
  dripping a byte per second cannot hold a worker; the body is capped while it streams (and up front
  when Content-Length announces too much), and gzip/deflate output is capped by the same limit, so a
  decompression bomb stops at the cap.

Errors are `ConnectorError` subclasses whose messages are generic: they never echo the addresses a
name resolved to, and "blocked" and "does not resolve" read the same, so the messages cannot be used
to map an internal network.

Settings (all optional): `LISTENING_FETCH_ALLOWED_NETWORKS` (CIDRs let through the address check, for
tests and on-premise installs; default none), `LISTENING_FETCH_ALLOWED_PORTS` (default 80, 443, 8080,
8443), `LISTENING_FETCH_CA_BUNDLE` (a PEM file of extra trusted CAs, e.g. an on-premise CA; default the
system store), `LISTENING_FETCH_MAX_BYTES` (default 10 MiB) and `LISTENING_FETCH_TIMEOUT_S` (total
deadline, default 30 s).
"""

from __future__ import annotations

import dataclasses
import functools
import http.client
import io
import ipaddress
import re
import socket
import ssl
import time
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urljoin, urlsplit

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from listening.connectors.base import ConnectorError

DEFAULT_ALLOWED_PORTS = (80, 443, 8080, 8443)
DEFAULT_MAX_BYTES = 10 * 1024 * 1024
DEFAULT_TIMEOUT_S = 30.0
# Per-step limits inside the total deadline: a dead host fails fast, a stalled read fails in time.
CONNECT_TIMEOUT_S = 5.0
READ_TIMEOUT_S = 10.0
MAX_URL_LENGTH = 4096
USER_AGENT = "Candor/1.0 (social listening; +https://candor.example/bot)"

_READ_CHUNK = 64 * 1024
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
# Headers that must not follow a redirect to another origin (they carry the caller's credentials).
_CREDENTIAL_HEADERS = frozenset({"authorization", "cookie", "proxy-authorization"})
_CONTROL_OR_SPACE = re.compile(r"[\x00-\x20\x7f]")
_HOST_LABEL = re.compile(r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?")
# WHATWG URL: a host whose last label is a number is an IPv4 address (possibly in a legacy form).
_NUMERIC_LABEL = re.compile(r"(?:0x[0-9a-f]*|[0-9]+)")
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_HEADER_VALUE_FORBIDDEN = re.compile(r"[\x00\r\n]")
# IPv6 ranges that embed an IPv4 address in their last 32 bits; the embedded address is what the
# packet finally reaches, so it is the one to check.
_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))
# Refused outright: Teredo hides its IPv4 destination (obfuscated), and IPv4-compatible addresses
# (::a.b.c.d) are deprecated and never routed on the Internet (RFC 4291 2.5.5.1).
_UNCHECKABLE = (ipaddress.ip_network("2001::/32"), ipaddress.ip_network("::/96"))

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class FetchError(ConnectorError):
    """The remote resource could not be fetched. `retryable` tells a task whether trying again
    later (with back-off, RELIABILITY 17) can help."""

    retryable = True


class UnsafeURL(FetchError):
    """The URL is refused by policy (scheme, credentials, port, or an address Candor must not
    reach). The same generic message covers a blocked address and a name that does not resolve."""

    retryable = False


class FetchTimeout(FetchError):
    """The connect, a read, or the total deadline ran out."""


class ResponseTooLarge(FetchError):
    """The body (announced, streamed or decompressed) is larger than allowed."""

    retryable = False


class TooManyRedirects(FetchError):
    retryable = False


class TLSError(FetchError):
    """The TLS handshake failed or the certificate did not verify for the hostname."""

    retryable = False


class UpstreamStatusError(FetchError):
    """The server answered with an unexpected HTTP status (raised by connectors, not by `fetch`,
    which returns every final status)."""

    def __init__(self, status: int) -> None:
        super().__init__(f"the server answered HTTP {status}")
        self.status = status
        # Rate limits and server errors pass; client errors will not fix themselves.
        self.retryable = status in (408, 425, 429) or status >= 500


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    headers: Mapping[str, str]  # names lower-cased; repeated headers joined with ", "
    body: bytes  # decoded (gzip/deflate), at most max_bytes
    url: str  # the final URL, after redirects


@dataclass(frozen=True, slots=True)
class _Target:
    scheme: str
    host: str  # ASCII (IDNA) hostname or IP literal, lower-case, without brackets
    port: int
    request_target: str  # path and query, ASCII
    host_header: str
    addresses: tuple[IPAddress, ...]  # checked; the connection goes to one of these

    @property
    def origin(self) -> tuple[str, str, int]:
        return (self.scheme, self.host, self.port)


def fetch(
    url: str,
    *,
    headers: Mapping[str, str] | None = None,
    max_bytes: int | None = None,
    timeout: float | None = None,
    max_redirects: int = 3,
) -> Response:
    """GET `url` and return the final response, whatever its status (redirects are followed up to
    `max_redirects`). `timeout` is the total deadline in seconds for everything, redirects
    included. Raises `UnsafeURL`, `FetchTimeout`, `ResponseTooLarge`, `TooManyRedirects`,
    `TLSError` or `FetchError`."""
    return request(
        "GET", url, headers=headers, max_bytes=max_bytes, timeout=timeout, max_redirects=max_redirects
    )


def post(
    url: str,
    *,
    body: bytes,
    headers: Mapping[str, str] | None = None,
    max_bytes: int | None = None,
    timeout: float | None = None,
    max_redirects: int = 0,
) -> Response:
    """POST `body` (outbound webhooks). Redirects are refused by default: a webhook target that
    redirects is misconfigured, and following it would re-send the payload somewhere else."""
    return request(
        "POST",
        url,
        body=body,
        headers=headers,
        max_bytes=max_bytes,
        timeout=timeout,
        max_redirects=max_redirects,
    )


def request(
    method: str,
    url: str,
    *,
    body: bytes | None = None,
    headers: Mapping[str, str] | None = None,
    max_bytes: int | None = None,
    timeout: float | None = None,
    max_redirects: int = 3,
) -> Response:
    """The core shared by `fetch` and `post`: one exchange per hop, each hop checked."""
    limit = (
        max_bytes
        if max_bytes is not None
        else int(getattr(settings, "LISTENING_FETCH_MAX_BYTES", DEFAULT_MAX_BYTES))
    )
    total = (
        timeout
        if timeout is not None
        else float(getattr(settings, "LISTENING_FETCH_TIMEOUT_S", DEFAULT_TIMEOUT_S))
    )
    deadline = time.monotonic() + total
    policy = _Policy.from_settings()
    sent_headers = _base_headers(headers)
    redirects = 0
    while True:
        target = _resolve_target(url, policy)
        status, received, payload = _exchange(method, target, body, sent_headers, limit, deadline, policy)
        location = received.get("location")
        if status not in _REDIRECTS or not location:
            return Response(status, received, payload, url)
        if redirects >= max_redirects:
            raise TooManyRedirects("the server redirected too many times")
        redirects += 1
        try:
            next_url = urljoin(url, location)
        except ValueError as exc:  # e.g. an unclosed IPv6 bracket in the Location
            raise _invalid() from exc
        next_target = _parse_url(next_url)
        if target.scheme == "https" and next_target.scheme == "http":
            raise UnsafeURL("a redirect from https to plain http is not allowed")
        if next_target.origin != target.origin:
            sent_headers = {k: v for k, v in sent_headers.items() if k.lower() not in _CREDENTIAL_HEADERS}
        # RFC 9110 15.4: 303 always becomes a GET, and so do 301/302 after a POST in practice.
        if status == 303 or (status in (301, 302) and method == "POST"):
            method, body = "GET", None
            sent_headers = {k: v for k, v in sent_headers.items() if k.lower() != "content-type"}
        url = next_url


def check_url(url: str) -> None:
    """Validate a URL a tenant types in (a feed, a webhook target) without fetching it: the same
    checks `fetch` makes, resolution included. Raises `UnsafeURL`."""
    _resolve_target(url, _Policy.from_settings())


# --- policy -----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Policy:
    allowed_networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]
    allowed_ports: frozenset[int]
    ca_bundle: str | None

    @classmethod
    def from_settings(cls) -> _Policy:
        # Read per call (a few CIDRs): settings may change between calls in tests.
        try:
            networks = tuple(
                ipaddress.ip_network(cidr, strict=False)
                for cidr in getattr(settings, "LISTENING_FETCH_ALLOWED_NETWORKS", [])
            )
            ports = frozenset(
                int(p) for p in getattr(settings, "LISTENING_FETCH_ALLOWED_PORTS", DEFAULT_ALLOWED_PORTS)
            )
        except (TypeError, ValueError) as exc:
            raise ImproperlyConfigured(f"LISTENING_FETCH_ALLOWED_NETWORKS / _PORTS: {exc}") from exc
        return cls(networks, ports, getattr(settings, "LISTENING_FETCH_CA_BUNDLE", None))

    def address_allowed(self, ip: IPAddress) -> bool:
        embedded = _embedded_ipv4(ip)
        candidates = (ip,) if embedded is None else (ip, embedded)
        if any(c in net for c in candidates for net in self.allowed_networks if c.version == net.version):
            return True
        if embedded is not None:
            return _globally_routable(embedded)
        if any(ip in net for net in _UNCHECKABLE):
            return False
        return _globally_routable(ip)


def _embedded_ipv4(ip: IPAddress) -> ipaddress.IPv4Address | None:
    if not isinstance(ip, ipaddress.IPv6Address):
        return None
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if any(ip in net for net in _NAT64):
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def _globally_routable(ip: IPAddress) -> bool:
    # `is_global` alone lets multicast through (224.0.0.0/4 is "global" in Python 3.11), and
    # excludes 100.64/10 (shared address space, carrier NAT); the other flags are belt and braces.
    return ip.is_global and not (
        ip.is_multicast
        or ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_reserved
        or ip.is_unspecified
        or (isinstance(ip, ipaddress.IPv6Address) and ip.is_site_local)
    )


# --- URL parsing and resolution ------------------------------------------------------------------


def _invalid() -> UnsafeURL:
    return UnsafeURL("the URL is not valid")


def _unreachable() -> UnsafeURL:
    return UnsafeURL("the URL's host cannot be reached from Candor")


def _parse_url(url: str) -> _Target:
    """Syntax and scheme checks, and the host as an IP literal or an ASCII name (not resolved)."""
    if not isinstance(url, str) or len(url) > MAX_URL_LENGTH or _CONTROL_OR_SPACE.search(url):
        raise _invalid()
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:  # bad brackets, a port that is not a number or out of range
        raise _invalid() from exc
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise UnsafeURL("only http and https URLs are allowed")
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise UnsafeURL("URLs with credentials are not allowed")
    host = parts.hostname or ""
    if not host or "%" in host:  # "%" also rules out IPv6 zone ids (fe80::1%eth0)
        raise _invalid()
    if port is None:
        port = 443 if scheme == "https" else 80
    literal = _ip_literal(host, bracketed="[" in parts.netloc)
    if literal is not None:
        host = str(literal)
        shown = f"[{host}]" if literal.version == 6 else host
    else:
        host = _ascii_hostname(host)
        shown = host
    default_port = 443 if scheme == "https" else 80
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    # Non-ASCII in path or query is percent-encoded (http.client writes the request line in ASCII).
    target = quote(target, safe="".join(chr(c) for c in range(0x21, 0x7F)))
    host_header = shown if port == default_port else f"{shown}:{port}"
    return _Target(scheme, host, port, target, host_header, (literal,) if literal is not None else ())


def _ip_literal(host: str, *, bracketed: bool) -> IPAddress | None:
    if bracketed:
        try:
            return ipaddress.IPv6Address(host)
        except ValueError as exc:
            raise _invalid() from exc
    labels = host.rstrip(".").split(".")
    if not _NUMERIC_LABEL.fullmatch(labels[-1]):
        return None
    # The resolver would read `0x7f000001`, `2130706433`, `0177.0.0.1` and `127.1` as 127.0.0.1
    # (inet_aton): read them the same way here, so the check sees what the socket would reach.
    try:
        return ipaddress.IPv4Address(socket.inet_aton(host.rstrip(".")))
    except OSError as exc:
        raise _invalid() from exc


def _ascii_hostname(host: str) -> str:
    try:
        # Without its final dot: one spelling for the Host header, SNI and certificate matching.
        ascii_host = host.encode("idna").decode("ascii").lower().removesuffix(".")
    except UnicodeError as exc:
        raise _invalid() from exc
    labels = ascii_host.split(".")
    if len(ascii_host) > 253 or not all(_HOST_LABEL.fullmatch(label) for label in labels):
        raise _invalid()
    return ascii_host


def _resolve_target(url: str, policy: _Policy) -> _Target:
    target = _parse_url(url)
    if target.port not in policy.allowed_ports:
        raise UnsafeURL("the URL's port is not allowed")
    addresses = target.addresses or _resolve(target.host, target.port)
    # ANY refused address refuses the host: a name answering with one public and one internal
    # address would otherwise reach the internal one whenever the public one fails to connect.
    if not addresses or not all(policy.address_allowed(ip) for ip in addresses):
        raise _unreachable()
    return dataclasses.replace(target, addresses=addresses)


def _resolve(host: str, port: int) -> tuple[IPAddress, ...]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError) as exc:  # socket.gaierror is an OSError
        raise _unreachable() from exc
    found: list[IPAddress] = []
    for family, _type, _proto, _name, sockaddr in infos:
        if family not in (socket.AF_INET, socket.AF_INET6):
            raise _unreachable()
        try:
            ip = ipaddress.ip_address(str(sockaddr[0]))
        except ValueError as exc:  # e.g. a scoped link-local address: never allowed anyway
            raise _unreachable() from exc
        if ip not in found:
            found.append(ip)
    return tuple(found)


# --- one exchange ----------------------------------------------------------------------------------


def _base_headers(headers: Mapping[str, str] | None) -> dict[str, str]:
    sent = {
        "User-Agent": USER_AGENT,
        "Accept": "*/*",
        "Accept-Encoding": "gzip, deflate",
        "Connection": "close",
    }
    for name, value in (headers or {}).items():
        if not _HEADER_NAME.fullmatch(name) or _HEADER_VALUE_FORBIDDEN.search(value):
            raise FetchError("a request header is not valid")
        if name.lower() in ("host", "connection", "content-length", "transfer-encoding"):
            continue  # these are ours to set: the Host must match the checked hostname
        for existing in [k for k in sent if k.lower() == name.lower()]:
            del sent[existing]
        sent[name] = value
    return sent


class _DeadlineReader(io.RawIOBase):
    """The socket as a raw stream whose every read is bounded by the total deadline: http.client
    reads status line, headers and body through it, so none of them can outlast the deadline."""

    def __init__(self, sock: socket.socket, deadline: float) -> None:
        super().__init__()
        self._sock = sock
        self._deadline = deadline

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        self._sock.settimeout(_remaining(self._deadline, READ_TIMEOUT_S))
        return self._sock.recv_into(buffer)


class _DeadlineSocket:
    """What http.client needs of a socket (`sendall`, `makefile`, `close`), deadline-bound."""

    def __init__(self, sock: socket.socket, deadline: float) -> None:
        self._sock = sock
        self._deadline = deadline

    def sendall(self, data: bytes) -> None:
        self._sock.settimeout(_remaining(self._deadline, READ_TIMEOUT_S))
        self._sock.sendall(data)

    def makefile(self, mode: str = "rb") -> io.BufferedReader:
        return io.BufferedReader(_DeadlineReader(self._sock, self._deadline), _READ_CHUNK)

    def close(self) -> None:
        # http.client closes its connection as soon as it has the headers of a "Connection: close"
        # response, before the body is read (a real socket outlives that through makefile's
        # reference count); `_exchange` closes the socket itself when the body is in.
        pass


def _remaining(deadline: float, step_limit: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise FetchTimeout("the server took too long to answer")
    return min(step_limit, left)


def _connect(target: _Target, deadline: float, policy: _Policy) -> socket.socket:
    """Connect to one of the CHECKED addresses (never a fresh lookup: DNS rebinding), then TLS with
    SNI and certificate verification for the hostname."""
    sock: socket.socket | None = None
    for ip in target.addresses:
        family = socket.AF_INET6 if ip.version == 6 else socket.AF_INET
        candidate = socket.socket(family, socket.SOCK_STREAM)
        try:
            candidate.settimeout(_remaining(deadline, CONNECT_TIMEOUT_S))
            candidate.connect((str(ip), target.port))
        except FetchTimeout:
            candidate.close()
            raise
        except OSError:
            candidate.close()
            continue
        sock = candidate
        break
    if sock is None:
        if time.monotonic() >= deadline:
            raise FetchTimeout("the server took too long to answer")
        raise FetchError("could not connect to the server")
    if target.scheme == "http":
        return sock
    try:
        sock.settimeout(_remaining(deadline, CONNECT_TIMEOUT_S))
        return _tls_context(policy.ca_bundle).wrap_socket(sock, server_hostname=target.host)
    except ssl.SSLCertVerificationError as exc:
        sock.close()
        raise TLSError("the server's TLS certificate could not be verified") from exc
    except (ssl.SSLError, ConnectionError) as exc:
        sock.close()
        raise TLSError("the TLS handshake with the server failed") from exc
    except BaseException:
        sock.close()
        raise


@functools.lru_cache(maxsize=4)  # loading the system CA store takes milliseconds: once per bundle
def _tls_context(ca_bundle: str | None) -> ssl.SSLContext:
    context = ssl.create_default_context()  # CERT_REQUIRED and check_hostname: always verified
    if ca_bundle:
        context.load_verify_locations(cafile=ca_bundle)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


def _exchange(
    method: str,
    target: _Target,
    body: bytes | None,
    headers: Mapping[str, str],
    max_bytes: int,
    deadline: float,
    policy: _Policy,
) -> tuple[int, dict[str, str], bytes]:
    """One request on a fresh connection: (status, lower-cased headers, decoded body)."""
    sock = _connect(target, deadline, policy)
    connection = http.client.HTTPConnection(target.host, target.port)
    connection.sock = _DeadlineSocket(sock, deadline)  # already connected: no lookup of its own
    try:
        connection.request(
            method, target.request_target, body=body, headers={**headers, "Host": target.host_header}
        )
        response = connection.getresponse()
        received: dict[str, str] = {}
        for name, value in response.getheaders():
            key = name.lower()
            received[key] = f"{received[key]}, {value}" if key in received else value
        if response.status in _REDIRECTS and received.get("location"):
            return response.status, received, b""  # the body of a redirect is not read
        return (
            response.status,
            received,
            _read_body(response, received.get("content-encoding", ""), max_bytes),
        )
    except (TimeoutError, FetchTimeout) as exc:  # socket.timeout is TimeoutError
        raise FetchTimeout("the server took too long to answer") from exc
    except ssl.SSLError as exc:
        raise TLSError("the TLS connection with the server failed") from exc
    except (http.client.HTTPException, ValueError, OSError) as exc:
        raise FetchError("the server sent an invalid or incomplete HTTP response") from exc
    finally:
        connection.close()
        sock.close()


def _read_body(response: http.client.HTTPResponse, encoding: str, max_bytes: int) -> bytes:
    if response.length is not None and response.length > max_bytes:
        raise ResponseTooLarge("the response is larger than allowed")  # announced: refuse unread
    encoding = encoding.strip().lower()
    decoder: Any = None
    if encoding in ("gzip", "x-gzip"):
        decoder = zlib.decompressobj(16 + zlib.MAX_WBITS)
    elif encoding == "deflate":
        decoder = zlib.decompressobj(zlib.MAX_WBITS)
    elif encoding not in ("", "identity"):
        raise FetchError("the server used an unsupported content encoding")
    out = bytearray()
    received = 0
    while chunk := response.read(_READ_CHUNK):
        received += len(chunk)
        if received > max_bytes:
            raise ResponseTooLarge("the response is larger than allowed")
        if decoder is None:
            out += chunk
            continue
        try:
            # At most one byte past the limit is inflated: a bomb stops here, not in memory.
            out += decoder.decompress(chunk, max_bytes - len(out) + 1)
        except zlib.error as exc:
            raise FetchError("the response's compressed body is corrupt") from exc
        if len(out) > max_bytes:
            raise ResponseTooLarge("the response is larger than allowed")
    if response.length:  # Content-Length promised more than arrived
        raise FetchError("the server sent an invalid or incomplete HTTP response")
    return bytes(out)
