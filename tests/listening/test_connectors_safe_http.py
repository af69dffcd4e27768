"""safe_http: server-side request forgery (RELIABILITY 16, OWASP API7) and resource limits
(RELIABILITY 15, 17), against servers on 127.0.0.1 and a fake resolver."""

from __future__ import annotations

import contextlib
import socket
import time
import tracemalloc
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from listening.connectors import safe_http
from listening.connectors.safe_http import (
    FetchError,
    FetchTimeout,
    ResponseTooLarge,
    TLSError,
    TooManyRedirects,
    UnsafeURL,
)
from tests.listening.fixtures.httpd import Handler, Pki, fake_dns, make_pki, send, serve

UNREACHABLE = "the URL's host cannot be reached from Candor"
PUBLIC_IP = "93.184.215.14"  # a globally routable address (example.com's)


def ok(body: bytes = b"hello", headers: dict[str, str] | None = None) -> Any:
    return lambda handler: send(handler, 200, body, headers)


def redirect_to(location: str, status: int = 302) -> Any:
    return lambda handler: send(handler, status, b"", {"Location": location})


@pytest.fixture
def allow_local(settings: Any) -> Iterator[Any]:
    """Let the test servers through: 127.0.0.1 and any port (the servers' ports are random)."""
    settings.LISTENING_FETCH_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    settings.LISTENING_FETCH_ALLOWED_PORTS = list(range(1, 65536))
    yield settings


@pytest.fixture
def no_dns(monkeypatch: pytest.MonkeyPatch) -> Any:
    """Every name fails to resolve except localhost: the SSRF table must never query real DNS."""
    return fake_dns(monkeypatch, {"localhost": ["127.0.0.1", "::1"]})


# --- refused URLs ----------------------------------------------------------------------------------

BLOCKED_ADDRESSES = [
    "http://127.0.0.1/",
    "http://127.0.0.1:8080/admin",
    "https://127.0.0.1/",
    "http://127.0.0.1./",
    "http://localhost/",
    "http://LOCALHOST:80/",
    "http://[::1]/",
    "http://169.254.169.254/latest/meta-data/iam/security-credentials/",
    "http://0x7f000001/",
    "http://0X7F000001/",
    "http://2130706433/",
    "http://0177.0.0.1/",
    "http://127.1/",
    "http://0x7f.1/",
    "http://[::ffff:127.0.0.1]/",
    "http://[::ffff:7f00:1]/",
    "http://[::ffff:169.254.169.254]/",
    "http://[::127.0.0.1]/",  # IPv4-compatible
    "http://[64:ff9b::7f00:1]/",  # NAT64 of 127.0.0.1
    "http://[64:ff9b::a9fe:a9fe]/",  # NAT64 of 169.254.169.254
    "http://[2002:7f00:1::]/",  # 6to4 of 127.0.0.1
    "http://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/",  # Teredo
    "http://10.0.0.1/",
    "http://172.16.5.4/",
    "http://192.168.1.1/",
    "http://100.64.0.1/",  # shared address space
    "http://0.0.0.0/",
    "http://0/",
    "http://[::]/",
    "http://224.0.0.1/",
    "http://239.255.255.250/",
    "http://240.0.0.1/",
    "http://255.255.255.255/",
    "http://192.0.2.10/",
    "http://198.18.0.1/",
    "http://[fe80::1]/",
    "http://[fc00::1]/",
    "http://[fd12:3456::1]/",
    "http://[ff02::1]/",
    "http://[fec0::1]/",
]


@pytest.mark.parametrize("url", BLOCKED_ADDRESSES)
def test_internal_addresses_are_refused_with_a_generic_message(url: str, no_dns: Any) -> None:
    with pytest.raises(UnsafeURL) as caught:
        safe_http.fetch(url)
    assert str(caught.value) == UNREACHABLE  # never the address, never which rule


REFUSED_URLS = [
    ("file:///etc/passwd", "only http and https"),
    ("gopher://127.0.0.1:70/_GET%20/", "only http and https"),
    ("ftp://example.com/", "only http and https"),
    ("dict://127.0.0.1:11211/stats", "only http and https"),
    ("javascript:alert(1)", "only http and https"),
    ("//example.com/", "only http and https"),
    ("http://user:pass@example.com/", "credentials"),
    ("http://user@example.com/", "credentials"),
    ("http://example.com@127.0.0.1/", "credentials"),
    ("http://example.com:22/", "port"),
    ("http://example.com:6379/", "port"),
    ("http://example.com:11211/", "port"),
    ("https://example.com:0/", "port"),
    ("http://example.com:99999/", "not valid"),
    ("http://[::1/", "not valid"),
    ("http://exa mple.com/", "not valid"),
    ("http://example.com/\r\nHost: evil", "not valid"),
    ("http:///path", "not valid"),
    ("http://%31%32%37.0.0.1/", "not valid"),
    ("http://1.2.3.4.5/", "not valid"),
    ("http://999.0.0.1/", "not valid"),
    ("http://[fe80::1%25eth0]/", "not valid"),
    ("http://a..b/", "not valid"),
    ("http://" + "a" * 64 + ".example/", "not valid"),
    ("http://example.com/" + "a" * 5000, "not valid"),
]


@pytest.mark.parametrize(("url", "reason"), REFUSED_URLS)
def test_refused_urls(url: str, reason: str, no_dns: Any) -> None:
    with pytest.raises(UnsafeURL, match=reason):
        safe_http.fetch(url)
    assert no_dns.lookups == []  # refused before any resolution


def test_unresolvable_host_reads_like_a_blocked_one(no_dns: Any) -> None:
    with pytest.raises(UnsafeURL) as caught:
        safe_http.fetch("http://does-not-exist.example/")
    assert str(caught.value) == UNREACHABLE
    assert no_dns.lookups == ["does-not-exist.example"]


def test_a_name_with_any_internal_address_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_dns(monkeypatch, {"dual.example": [PUBLIC_IP, "10.0.0.7"], "dual6.example": [PUBLIC_IP, "::1"]})
    connected: list[Any] = []
    monkeypatch.setattr(socket.socket, "connect", lambda self, address: connected.append(address))
    for host in ("dual.example", "dual6.example"):
        with pytest.raises(UnsafeURL, match="cannot be reached"):
            safe_http.fetch(f"http://{host}/")
    assert connected == []


def test_check_url(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_dns(monkeypatch, {"feeds.example": [PUBLIC_IP]})
    safe_http.check_url("https://feeds.example/rss.xml")
    # Public addresses stay reachable in their IPv6 wrappings (NAT64 networks, dual-stack).
    safe_http.check_url("http://[64:ff9b::5db8:d70e]/")
    safe_http.check_url("http://[::ffff:93.184.215.14]/")
    safe_http.check_url("http://1572394766/")  # 93.184.215.14 as one number
    with pytest.raises(UnsafeURL):
        safe_http.check_url("http://169.254.169.254/")


def test_local_server_refused_without_the_allowlist_and_reached_with_it(settings: Any) -> None:
    with serve({"/": ok()}) as server:
        settings.LISTENING_FETCH_ALLOWED_PORTS = [server.port]
        with pytest.raises(UnsafeURL):
            safe_http.fetch(server.url())
        assert server.seen == []
        settings.LISTENING_FETCH_ALLOWED_NETWORKS = ["127.0.0.1/32"]
        response = safe_http.fetch(server.url())
    assert (response.status, response.body) == (200, b"hello")


def test_odd_port_refused_even_on_an_allowed_network(settings: Any) -> None:
    settings.LISTENING_FETCH_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    with serve({"/": ok()}) as server:
        with pytest.raises(UnsafeURL, match="port"):
            safe_http.fetch(server.url())
        assert server.seen == []


# --- redirects ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "location",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://10.1.2.3/",
        "http://[::1]/",
        "http://0xa9fea9fe/",  # 169.254.169.254
        "file:///etc/passwd",
        "gopher://127.0.0.1:6379/_FLUSHALL",
        "http://user:pw@example.com/",
        "http://[::1/",
    ],
)
def test_redirect_to_an_internal_target_is_refused(location: str, allow_local: Any, no_dns: Any) -> None:
    with serve({"/start": redirect_to(location)}) as server:
        with pytest.raises(UnsafeURL):
            safe_http.fetch(server.url("/start"))
        assert [seen.path for seen in server.seen] == ["/start"]


def test_redirect_to_a_port_not_allowed_is_refused(settings: Any) -> None:
    settings.LISTENING_FETCH_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    with serve({}) as target, serve({"/start": redirect_to(target.url("/"))}) as server:
        settings.LISTENING_FETCH_ALLOWED_PORTS = [server.port]
        with pytest.raises(UnsafeURL, match="port"):
            safe_http.fetch(server.url("/start"))
        assert target.seen == []


def test_redirects_are_followed_within_the_limit(allow_local: Any) -> None:
    routes = {"/a": redirect_to("/b", 301), "/b": redirect_to("/c", 307), "/c": ok(b"done")}
    with serve(routes) as server:
        response = safe_http.fetch(server.url("/a"))
        assert (response.status, response.body, response.url) == (200, b"done", server.url("/c"))
        with pytest.raises(TooManyRedirects):
            safe_http.fetch(server.url("/a"), max_redirects=1)


def test_redirect_loop_stops(allow_local: Any) -> None:
    with serve({"/loop": redirect_to("/loop")}) as server:
        with pytest.raises(TooManyRedirects):
            safe_http.fetch(server.url("/loop"))
        assert len(server.seen) == 4  # the first request and three redirects


def test_credentials_do_not_follow_a_redirect_to_another_origin(
    allow_local: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_dns(monkeypatch, {"other.example": ["127.0.0.1"]})
    with serve({"/": ok()}) as other:
        with serve({"/start": redirect_to(other.url("/", host="other.example"))}) as first:
            safe_http.fetch(first.url("/start"), headers={"Authorization": "Bearer s3cret", "X-Trace": "1"})
        assert first.seen[0].headers["authorization"] == "Bearer s3cret"
    assert "authorization" not in other.seen[0].headers
    assert other.seen[0].headers["x-trace"] == "1"
    assert other.seen[0].headers["host"] == f"other.example:{other.port}"


# --- DNS rebinding -----------------------------------------------------------------------------------


def test_connection_goes_to_the_checked_address(monkeypatch: pytest.MonkeyPatch) -> None:
    """The name first resolves to a public address, then (rebinding) to 127.0.0.1: the check sees
    the public one, so the connection must go there, never to a second answer."""
    dns = fake_dns(monkeypatch, {"rebind.example": lambda n: [PUBLIC_IP] if n == 1 else ["127.0.0.1"]})
    connected: list[str] = []
    guarded_connect = socket.socket.connect
    with serve({"/feed": ok(b"public content")}) as server:

        def route_public_ip_to_the_test_server(sock: socket.socket, address: Any) -> Any:
            connected.append(address[0])
            if address[0] == PUBLIC_IP:  # stands in for the public host
                address = ("127.0.0.1", server.port)
            return guarded_connect(sock, address)

        monkeypatch.setattr(socket.socket, "connect", route_public_ip_to_the_test_server)
        response = safe_http.fetch("http://rebind.example/feed", headers={"host": "169.254.169.254"})
        assert response.body == b"public content"
        assert server.seen[0].headers["host"] == "rebind.example"  # the original Host header
    assert connected == [PUBLIC_IP]
    assert dns.lookups == ["rebind.example"]  # resolved once


# --- size, time and encoding limits --------------------------------------------------------------


def _announce_10_gb(handler: Handler) -> None:
    """Announces 10 GB, sends a little, then holds the connection: a client that starts reading
    the body waits into its deadline instead of refusing at once."""
    handler.send_response(200)
    handler.send_header("Content-Length", str(10 * 1024**3))
    handler.end_headers()
    with contextlib.suppress(OSError):
        handler.wfile.write(b"x" * 1024)
        time.sleep(10)


def _endless(chunked: bool) -> Any:
    def route(handler: Handler) -> None:
        handler.send_response(200)
        if chunked:
            handler.send_header("Transfer-Encoding", "chunked")
        handler.send_header("Connection", "close")
        handler.end_headers()
        block = b"y" * 65536
        frame = b"%x\r\n%s\r\n" % (len(block), block) if chunked else block
        try:
            while True:
                handler.wfile.write(frame)
        except OSError:
            pass

    return route


def test_announced_10_gb_is_refused_before_reading(allow_local: Any) -> None:
    with serve({"/big": _announce_10_gb}) as server:
        started = time.monotonic()
        with pytest.raises(ResponseTooLarge):
            safe_http.fetch(server.url("/big"), max_bytes=1024 * 1024, timeout=5)
        assert time.monotonic() - started < 2


@pytest.mark.parametrize("chunked", [False, True])
def test_endless_body_is_cut_at_the_limit(chunked: bool, allow_local: Any) -> None:
    with serve({"/endless": _endless(chunked)}) as server:
        started = time.monotonic()
        with pytest.raises(ResponseTooLarge):
            safe_http.fetch(server.url("/endless"), max_bytes=1024 * 1024, timeout=20)
        assert time.monotonic() - started < 5


def test_body_of_exactly_the_limit_passes(allow_local: Any) -> None:
    with serve({"/exact": ok(b"z" * 1000), "/over": ok(b"z" * 1001)}) as server:
        assert len(safe_http.fetch(server.url("/exact"), max_bytes=1000).body) == 1000
        with pytest.raises(ResponseTooLarge):
            safe_http.fetch(server.url("/over"), max_bytes=1000)


def test_max_bytes_default_comes_from_settings(allow_local: Any) -> None:
    allow_local.LISTENING_FETCH_MAX_BYTES = 10
    with serve({"/": ok(b"eleven byte")}) as server, pytest.raises(ResponseTooLarge):
        safe_http.fetch(server.url())


def _drip_body(handler: Handler) -> None:
    handler.send_response(200)
    handler.send_header("Content-Length", "100")
    handler.end_headers()
    _drip(handler, b"a" * 100)


def _drip_headers(handler: Handler) -> None:
    _drip(handler, b"HTTP/1.1 200 OK\r\nX-Slow: " + b"s" * 100)


def _drip(handler: Handler, data: bytes) -> None:
    try:
        for byte in data:
            handler.wfile.write(bytes([byte]))
            time.sleep(1)  # well inside the per-read timeout: only the total deadline can stop it
    except OSError:
        pass


@pytest.mark.parametrize("path", ["/body", "/headers"])
def test_slow_drip_hits_the_total_deadline(path: str, allow_local: Any) -> None:
    with serve({"/body": _drip_body, "/headers": _drip_headers}) as server:
        started = time.monotonic()
        with pytest.raises(FetchTimeout):
            safe_http.fetch(server.url(path), timeout=2.5)
        assert 2 < time.monotonic() - started < 4.5


def test_total_deadline_default_comes_from_settings(allow_local: Any) -> None:
    allow_local.LISTENING_FETCH_TIMEOUT_S = 1
    with serve({"/body": _drip_body}) as server:
        started = time.monotonic()
        with pytest.raises(FetchTimeout):
            safe_http.fetch(server.url("/body"))
        assert time.monotonic() - started < 3


def _bomb(wbits: int) -> bytes:
    compressor = zlib.compressobj(9, zlib.DEFLATED, wbits)
    zeros = bytes(1024 * 1024)
    return b"".join(compressor.compress(zeros) for _ in range(64)) + compressor.flush()


@pytest.mark.parametrize(("encoding", "wbits"), [("gzip", 31), ("deflate", 15)])
def test_decompression_bomb_stops_at_the_limit(encoding: str, wbits: int, allow_local: Any) -> None:
    bomb = _bomb(wbits)  # 64 MiB of zeros in about 64 KiB
    assert len(bomb) < 200_000
    with serve({"/bomb": ok(bomb, {"Content-Encoding": encoding})}) as server:
        tracemalloc.start()
        try:
            with pytest.raises(ResponseTooLarge):
                safe_http.fetch(server.url("/bomb"), max_bytes=1024 * 1024)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert peak < 8 * 1024 * 1024  # inflated a little past the limit, never the whole 64 MiB


@pytest.mark.parametrize(("encoding", "wbits"), [("gzip", 31), ("x-gzip", 31), ("deflate", 15)])
def test_compressed_bodies_are_decoded(encoding: str, wbits: int, allow_local: Any) -> None:
    compressor = zlib.compressobj(6, zlib.DEFLATED, wbits)
    body = compressor.compress(b"<rss>" * 1000) + compressor.flush()
    with serve({"/": ok(body, {"Content-Encoding": encoding})}) as server:
        response = safe_http.fetch(server.url())
        assert server.seen[0].headers["accept-encoding"] == "gzip, deflate"
    assert response.body == b"<rss>" * 1000


def test_corrupt_or_unknown_encodings_fail(allow_local: Any) -> None:
    routes = {
        "/corrupt": ok(b"not gzip at all", {"Content-Encoding": "gzip"}),
        "/br": ok(b"\x0b\x02\x80hello\x03", {"Content-Encoding": "br"}),
    }
    with serve(routes) as server:
        for path in routes:
            with pytest.raises(FetchError):
                safe_http.fetch(server.url(path))


def test_truncated_body_fails(allow_local: Any) -> None:
    def cut_short(handler: Handler) -> None:
        send(handler, 200, b"only ten b", {"Content-Length": "100"})

    with serve({"/": cut_short}) as server, pytest.raises(FetchError, match="incomplete"):
        safe_http.fetch(server.url())


def test_garbage_instead_of_http_fails(allow_local: Any) -> None:
    def garbage(handler: Handler) -> None:
        handler.wfile.write(b"SSH-2.0-OpenSSH_9.2\r\n")

    with serve({"/": garbage}) as server, pytest.raises(FetchError):
        safe_http.fetch(server.url())


def test_refused_connection_is_a_retryable_fetch_error(allow_local: Any) -> None:
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()  # nothing listens there now
    with pytest.raises(FetchError) as caught:
        safe_http.fetch(f"http://127.0.0.1:{port}/")
    assert caught.value.retryable
    assert "127.0.0.1" not in str(caught.value)


def test_invalid_request_header_is_refused(allow_local: Any) -> None:
    with pytest.raises(FetchError, match="header"):
        safe_http.fetch("http://127.0.0.1:1/", headers={"X-Bad": "a\r\nInjected: 1"})


# --- POST (outbound webhooks) ---------------------------------------------------------------------


def test_post_sends_the_body_and_refuses_redirects_by_default(allow_local: Any) -> None:
    routes = {
        "/hook": ok(b"thanks"),
        "/moved": redirect_to("/hook", 307),
        "/see-other": redirect_to("/hook", 303),
    }
    with serve(routes) as server:
        response = safe_http.post(
            server.url("/hook"), body=b'{"a": 1}', headers={"Content-Type": "application/json"}
        )
        assert (response.status, response.body) == (200, b"thanks")
        assert (server.seen[0].method, server.seen[0].body) == ("POST", b'{"a": 1}')
        with pytest.raises(TooManyRedirects):
            safe_http.post(server.url("/moved"), body=b"x")
        safe_http.post(server.url("/moved"), body=b"again", max_redirects=1)
        assert (server.seen[-1].method, server.seen[-1].body) == ("POST", b"again")  # 307 keeps them
        safe_http.post(server.url("/see-other"), body=b"x", max_redirects=1)
        assert (server.seen[-1].method, server.seen[-1].body) == ("GET", b"")  # 303 becomes a GET


# --- TLS ------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(Path(tmp_path_factory.mktemp("pki")))


@pytest.fixture
def tls_names(allow_local: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    return fake_dns(monkeypatch, {"feed.example": ["127.0.0.1"], "other.example": ["127.0.0.1"]})


def test_tls_is_verified_against_the_system_store(pki: Pki, tls_names: Any) -> None:
    with serve({"/": ok()}, tls=pki.server_context(("feed.example",))) as server:
        with pytest.raises(TLSError):
            safe_http.fetch(server.url(host="feed.example"))
        assert server.seen == []


def test_tls_uses_sni_and_verifies_the_hostname_not_the_address(
    pki: Pki, tls_names: Any, allow_local: Any
) -> None:
    allow_local.LISTENING_FETCH_CA_BUNDLE = str(pki.ca_file)
    with serve({"/": ok(b"secure")}, tls=pki.server_context(("feed.example",))) as server:
        response = safe_http.fetch(server.url(host="feed.example"))
        assert response.body == b"secure"
        assert server.sni == ["feed.example"]
        assert server.seen[0].headers["host"] == f"feed.example:{server.port}"
        safe_http.fetch(server.url(host="feed.example."))  # the absolute spelling is the same host
        assert server.sni[-1] == "feed.example"
        # Same address, another name the certificate does not carry: refused.
        with pytest.raises(TLSError):
            safe_http.fetch(server.url(host="other.example"))
        with pytest.raises(TLSError):
            safe_http.fetch(server.url(host="127.0.0.1"))


def test_https_to_http_redirect_is_refused(pki: Pki, tls_names: Any, allow_local: Any) -> None:
    allow_local.LISTENING_FETCH_CA_BUNDLE = str(pki.ca_file)
    with serve({"/": ok()}) as plain:
        target = plain.url("/", host="other.example")
        secure_context = pki.server_context(("feed.example",))
        with (
            serve({"/": redirect_to(target)}, tls=secure_context) as secure,
            pytest.raises(UnsafeURL, match="plain"),
        ):
            safe_http.fetch(secure.url(host="feed.example"))
        assert plain.seen == []


def test_a_plain_http_server_on_a_tls_url_fails_cleanly(tls_names: Any) -> None:
    with serve({"/": ok()}) as server, pytest.raises(TLSError):
        safe_http.fetch(server.url(host="feed.example").replace("http://", "https://"))
