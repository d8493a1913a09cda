"""Both hooks and the request loop against a hostile server on loopback.

One test (or parametrized family) per way a server, a proxy or an attacker can misbehave: links
whose authority two URL parsers read differently, user-info, malformed links, a gzip bomb, a
byte-at-a-time drip, NaN in a body, huge and garbled rate-limit headers, a token echoed into a
link, a token with a line break, credentials revoked while a token is cached. Each ends in the
exact result or a clear error, in bounded time and memory, with no secret in any output.
"""

from __future__ import annotations

import json
import logging
import pickle
import time
import tracemalloc
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import quote

import pytest

from airflow_provider_inventory.exceptions import (
    AuthenticationError,
    BadResponseError,
    InventoryApiError,
    InventoryConfigError,
    PaginationError,
    ServerError,
    TransportError,
)
from airflow_provider_inventory.hooks.commercelayer import CommerceLayerHook
from airflow_provider_inventory.hooks.pack import PackHook
from tests.http import (
    API_TOKEN,
    CLIENT_SECRET,
    FAST,
    ClientFactory,
    Reply,
    ScriptedServer,
    Seen,
    drip,
    gzip_bomb,
    logged_waits,
)

PACK_PAGE_PATH = "/v1/organizations/org_1/serial-numbers"
CLIENT_ID = "cid-hostile-4e5f6a7b"
ACCESS_TOKEN = "acc-1b2c3d4e5f6a7b8c"


def _export(monkeypatch: pytest.MonkeyPatch, conn_id: str, connection: dict[str, Any]) -> None:
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(connection))


def _pack_hook(
    monkeypatch: pytest.MonkeyPatch, server: ScriptedServer, token: str = API_TOKEN, **extra: Any
) -> PackHook:
    _export(
        monkeypatch,
        "pack_hostile",
        {
            "conn_type": "pack",
            "host": server.url,
            "password": token,
            "extra": {"organization_id": "org_1", **FAST, **extra},
        },
    )
    return PackHook("pack_hostile")


def _cl_hook(
    monkeypatch: pytest.MonkeyPatch, server: ScriptedServer, **extra: Any
) -> CommerceLayerHook:
    _export(
        monkeypatch,
        "cl_hostile",
        {
            "conn_type": "commercelayer",
            "host": server.url,
            "login": CLIENT_ID,
            "password": CLIENT_SECRET,
            "extra": {
                "auth_url": f"{server.url}/oauth/token",
                "rate_limit_average": 100_000,
                "rate_limit_burst": 100_000,
                **FAST,
                **extra,
            },
        },
    )
    return CommerceLayerHook("cl_hostile")


def _token_reply(token: str = ACCESS_TOKEN) -> Reply:
    return Reply(200, {"access_token": token, "token_type": "bearer", "expires_in": 7200})


def _routed(
    server: ScriptedServer,
    api: Callable[[Seen], Reply],
    token: Callable[[Seen], Reply] = lambda seen: _token_reply(),
) -> None:
    """Answer the token endpoint with ``token`` and everything else with ``api``."""
    server.default = lambda seen: token(seen) if seen.target.startswith("/oauth/") else api(seen)


def _pack_page(ids: list[str], next_link: str | None) -> dict[str, Any]:
    return {"data": [{"id": i, "code": f"SN-{i}"} for i in ids], "next": next_link}


def _cl_page(ids: list[str], next_link: str | None) -> dict[str, Any]:
    return {
        "data": [{"id": i, "type": "packages", "attributes": {"code": i}} for i in ids],
        "links": {"next": next_link} if next_link else {},
        "meta": {"record_count": len(ids), "page_count": 1},
    }


def _api(seen: Seen) -> bool:
    return not seen.target.startswith("/oauth/")


def _every_output(caplog: pytest.LogCaptureFixture, error: BaseException) -> str:
    """Everything a failure shows: the logs at every level, and the error in every form."""
    return " ".join(
        [
            caplog.text,
            str(error),
            repr(error),
            repr(error.args),
            repr(vars(error)),
            repr(pickle.dumps(error)),
            str(pickle.loads(pickle.dumps(error))),
        ]
    )


# ---------------------------------------------------------------------- links


HOSTILE_LINKS = {
    "backslash-authority": "http://127.0.0.1:{foreign}\\@127.0.0.1:{home}/next",
    "backslash-reversed": "http://127.0.0.1:{home}\\@127.0.0.1:{foreign}/next",
    "at-sign-to-foreign": "http://127.0.0.1:{home}@127.0.0.1:{foreign}/next",
    "user-info-to-home": "http://user:pw@127.0.0.1:{home}/next",
    "encoded-backslash": "http://127.0.0.1:{foreign}%5C@127.0.0.1:{home}/next",
    "tab-in-authority": "http://127.0.0.1:{foreign}\t@127.0.0.1:{home}/next",
    "bad-port": "http://127.0.0.1:{home}99999/next",
    "letters-in-port": "http://127.0.0.1:{home}x/next",
    "broken-ipv6": "http://[::1:{home}/next",
    "percent-in-host": "http://127.0.0.%31:{home}/next",
}


def _listing_with_link(
    hook_kind: str, monkeypatch: pytest.MonkeyPatch, server: ScriptedServer, link: str
) -> Callable[[], list[Any]]:
    if hook_kind == "pack":
        hook = _pack_hook(monkeypatch, server)
        server.default = Reply(200, _pack_page(["s1"], link))
        return hook.list_serial_numbers
    cl_hook = _cl_hook(monkeypatch, server)
    _routed(server, lambda seen: Reply(200, _cl_page(["p1"], link)))
    return lambda: cl_hook.list_resources("packages", sort="-created_at")


@pytest.mark.parametrize("hook_kind", ["pack", "commercelayer"])
@pytest.mark.parametrize("shape", list(HOSTILE_LINKS), ids=list(HOSTILE_LINKS))
def test_a_link_two_parsers_could_read_differently_is_refused_before_anything_is_sent(
    monkeypatch: pytest.MonkeyPatch,
    server: ScriptedServer,
    foreign: ScriptedServer,
    hook_kind: str,
    shape: str,
) -> None:
    home_port, foreign_port = server.url.rsplit(":", 1)[1], foreign.url.rsplit(":", 1)[1]
    link = HOSTILE_LINKS[shape].format(home=home_port, foreign=foreign_port)
    listing = _listing_with_link(hook_kind, monkeypatch, server, link)

    with pytest.raises(PaginationError) as caught:
        listing()

    assert foreign.count == 0
    assert [seen.target.split("?")[0] for seen in server.requests if _api(seen)] == [
        PACK_PAGE_PATH if hook_kind == "pack" else "/api/packages"
    ]
    assert not any(
        seen.headers.get("authorization", "").startswith("Basic") for seen in server.requests
    )
    assert "nothing was requested" in str(caught.value).lower()
    assert "pw@" not in str(caught.value)


# ---------------------------------------------------------------------- bodies


@pytest.mark.parametrize("framing", ["close", "length", "chunked"])
def test_a_gzip_bomb_stops_at_the_cap_in_bounded_memory_and_time(
    server: ScriptedServer, client_for: ClientFactory, framing: str
) -> None:
    server.default = gzip_bomb(1024**3, framing)  # about 1 MB on the wire, 1 GiB inflated
    client = client_for(server.url, max_response_bytes=1024**2)

    tracemalloc.start()
    started = time.monotonic()
    try:
        with pytest.raises(BadResponseError) as caught:
            client.get_json("items")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert time.monotonic() - started < 10
    assert peak < 16 * 1024**2
    assert "max_response_bytes=1048576" in str(caught.value)
    assert "'max_response_bytes'" in str(caught.value)
    assert server.count == 1  # the same bytes would come again: not retried


def test_a_declared_length_over_the_cap_is_refused_before_reading(
    server: ScriptedServer, client_for: ClientFactory
) -> None:
    server.default = Reply(200, {"data": ["x" * 5000]})

    with pytest.raises(BadResponseError, match="larger than max_response_bytes=2048"):
        client_for(server.url, max_response_bytes=2048).get_json("items")


@pytest.mark.parametrize("headers_too", [False, True], ids=["body", "headers-and-body"])
def test_a_server_dripping_a_byte_at_a_time_fails_within_the_request_timeout(
    server: ScriptedServer,
    client_for: ClientFactory,
    caplog: pytest.LogCaptureFixture,
    headers_too: bool,
) -> None:
    caplog.set_level(logging.INFO, logger="airflow_provider_inventory")
    body = json.dumps({"data": [{"id": str(n)} for n in range(40)]}).encode()
    headers = {"Content-Type": "application/json", "Content-Length": str(len(body))}
    server.default = drip(b"HTTP/1.1 200 OK\r\n", headers, body, headers_too=headers_too)
    client = client_for(server.url, request_timeout=1.0, read_timeout=5.0, max_attempts=2)

    started = time.monotonic()
    with pytest.raises(TransportError) as caught:
        client.get_json("items")

    assert time.monotonic() - started < 2 * 1.0 + 2.0
    assert server.count == 2  # a timeout is retried
    assert "request_timeout=1 s" in str(caught.value)
    assert "'request_timeout'" in str(caught.value)
    assert "after request_timeout" in caplog.text


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_nan_and_infinity_are_not_json(
    server: ScriptedServer, client_for: ClientFactory, constant: str
) -> None:
    server.default = Reply(200, f'{{"data": [{{"id": "a", "weight": {constant}}}]}}')

    with pytest.raises(BadResponseError) as caught:
        client_for(server.url).get_json("items")

    assert f"it contains {constant}, which JSON does not allow" in str(caught.value)
    assert server.count == 1


def test_a_deeply_nested_body_is_a_bad_response_not_a_recursion_error(
    server: ScriptedServer, client_for: ClientFactory
) -> None:
    server.default = Reply(200, "[" * 100_000 + "]" * 100_000)

    with pytest.raises(BadResponseError, match="not valid JSON"):
        client_for(server.url).get_json("items")


# ---------------------------------------------------------------------- rate headers


@pytest.mark.parametrize(
    "value", ["soon", "nan", "inf", "-5", "1e999", "Wed, 99 Foo 2026 25:61:00 GMT", ""]
)
def test_a_garbled_retry_after_is_ignored_and_logged_at_debug(
    server: ScriptedServer, client_for: ClientFactory, caplog: pytest.LogCaptureFixture, value: str
) -> None:
    caplog.set_level(logging.DEBUG, logger="airflow_provider_inventory")
    server.script(Reply(503, headers={"Retry-After": value}), Reply(200, {"data": []}))

    assert client_for(server.url).get_json("items").body == {"data": []}

    [wait] = logged_waits(caplog)
    assert wait <= FAST["backoff_max"]
    assert "Ignoring unreadable Retry-After header" in caplog.text


@pytest.mark.parametrize(
    "headers",
    [
        {"X-Ratelimit-Interval": "999999999", "X-Ratelimit-Limit": "1"},
        {"Retry-After": "86400000"},
        {"Retry-After": "Fri, 31 Dec 9999 23:59:59 GMT"},
        {"X-Ratelimit-Interval": "garbage"},
    ],
    ids=["huge-interval", "huge-retry-after", "far-date", "garbage-interval"],
)
def test_a_429_with_huge_or_garbled_hints_waits_at_most_max_retry_wait(
    server: ScriptedServer,
    client_for: ClientFactory,
    caplog: pytest.LogCaptureFixture,
    headers: dict[str, str],
) -> None:
    caplog.set_level(logging.INFO, logger="airflow_provider_inventory")
    server.script(Reply(429, headers=headers), Reply(200, {"data": ["ok"]}))

    started = time.monotonic()
    assert client_for(server.url, max_retry_wait=0.2).get_json("items").body == {"data": ["ok"]}

    assert time.monotonic() - started < 2
    [wait] = logged_waits(caplog)
    assert wait <= 0.2


# ---------------------------------------------------------------------- secrets


@pytest.mark.parametrize("token", [API_TOKEN, "tok+/=9f8e7d6c5b"], ids=["plain", "url-encoded"])
def test_a_token_echoed_into_a_next_link_never_reaches_a_log_or_an_error(
    monkeypatch: pytest.MonkeyPatch,
    server: ScriptedServer,
    caplog: pytest.LogCaptureFixture,
    token: str,
) -> None:
    caplog.set_level(logging.DEBUG)
    echoed = f"{PACK_PAGE_PATH}?page=2&echo={quote(token, safe='')}&raw={token}"
    server.script(Reply(200, _pack_page(["s1"], echoed)))
    server.default = Reply(503, {"errors": [{"code": "BUSY", "detail": f"busy for {token}"}]})
    hook = _pack_hook(monkeypatch, server, token=token, max_attempts=2)

    with pytest.raises(ServerError) as caught:
        hook.list_serial_numbers()

    assert token in server.requests[1].target or quote(token, safe="") in server.requests[1].target
    assert "Retrying GET" in caplog.text  # the retry line was written, with the link masked
    output = _every_output(caplog, caught.value)
    for form in (token, quote(token, safe=""), quote(token)):
        assert form not in output
    assert "echo=***" in str(caught.value)


def test_an_access_token_echoed_by_commerce_layer_is_masked_too(
    monkeypatch: pytest.MonkeyPatch, server: ScriptedServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    pages = iter([Reply(200, _cl_page(["p1"], f"/api/packages?page[number]=2&t={ACCESS_TOKEN}"))])
    _routed(server, lambda seen: next(pages, Reply(502, f"bad gateway for {ACCESS_TOKEN}")))
    hook = _cl_hook(monkeypatch, server, max_attempts=2)

    with pytest.raises(ServerError) as caught:
        hook.list_resources("packages", sort="-created_at")

    output = _every_output(caplog, caught.value)
    for secret in (ACCESS_TOKEN, CLIENT_SECRET, CLIENT_ID):
        assert secret not in output


@pytest.mark.parametrize("token", [f"{API_TOKEN}\n", f" {API_TOKEN}", "tok 123456", "tok\r\nX: 1"])
def test_a_token_with_whitespace_or_a_line_break_is_a_config_error_naming_the_field(
    monkeypatch: pytest.MonkeyPatch, server: ScriptedServer, token: str
) -> None:
    hook = _pack_hook(monkeypatch, server, token=token)

    with pytest.raises(InventoryConfigError) as caught:
        hook.list_serial_numbers()
    ok, message = hook.test_connection()

    assert "password (API token)" in str(caught.value)
    assert "Nothing was sent" in str(caught.value)
    assert "attempt" not in str(caught.value)
    assert token.strip() not in str(caught.value)
    assert ok is False
    assert "password (API token)" in message
    assert server.count == 0


def test_an_access_token_with_a_line_break_is_the_servers_fault(
    monkeypatch: pytest.MonkeyPatch, server: ScriptedServer
) -> None:
    _routed(server, lambda seen: Reply(200, _cl_page([], None)), lambda seen: _token_reply("a\nb"))

    with pytest.raises(BadResponseError, match="'access_token' contains a line break"):
        _cl_hook(monkeypatch, server).count("packages")

    assert [seen for seen in server.requests if _api(seen)] == []


# ---------------------------------------------------------------------- tokens


def test_revoked_credentials_fail_the_connection_test_even_with_a_token_cached(
    monkeypatch: pytest.MonkeyPatch, server: ScriptedServer
) -> None:
    revoked = {"error": "invalid_client", "error_description": "Client authentication failed"}
    tokens: Iterator[Reply] = iter([_token_reply()])
    _routed(
        server,
        lambda seen: Reply(200, {"data": [], "meta": {"record_count": 7}}),
        lambda seen: next(tokens, Reply(401, revoked)),
    )
    with _cl_hook(monkeypatch, server) as first:
        assert first.count("packages") == 7  # a token is cached now
    api_before = sum(_api(seen) for seen in server.requests)

    with _cl_hook(monkeypatch, server) as second:
        ok, message = second.test_connection()

    assert ok is False
    assert message.startswith("Authentication failed: Could not get a Commerce Layer access token")
    assert "Client ID" in message
    assert sum(_api(seen) for seen in server.requests) == api_before  # no API call after it
    assert CLIENT_SECRET not in message


def test_a_connection_test_stores_the_fresh_token_for_later_requests(
    monkeypatch: pytest.MonkeyPatch, server: ScriptedServer
) -> None:
    tokens = iter([_token_reply("acc-old-111111"), _token_reply("acc-new-222222")])
    _routed(
        server,
        lambda seen: Reply(200, {"data": [], "meta": {"record_count": 0}}),
        lambda seen: next(tokens),
    )
    with _cl_hook(monkeypatch, server) as hook:
        hook.count("packages")
        assert hook.test_connection()[0] is True
        hook.count("packages")

    sent = [seen.headers["authorization"] for seen in server.requests if _api(seen)]
    assert sent == ["Bearer acc-old-111111", "Bearer acc-new-222222", "Bearer acc-new-222222"]


def test_a_rate_limited_token_endpoint_waits_and_retries(
    monkeypatch: pytest.MonkeyPatch, server: ScriptedServer
) -> None:
    tokens = iter([Reply(429, {"error": "too_many_requests"}, headers={"Retry-After": "0.2"})])
    _routed(
        server,
        lambda seen: Reply(200, {"data": [], "meta": {"record_count": 3}}),
        lambda seen: next(tokens, _token_reply()),
    )

    assert _cl_hook(monkeypatch, server).count("packages") == 3

    posts = [seen for seen in server.requests if not _api(seen)]
    assert len(posts) == 2
    assert posts[1].time - posts[0].time >= 0.15


def test_an_expired_token_is_retired_and_the_request_retried_once_with_a_new_one(
    monkeypatch: pytest.MonkeyPatch, server: ScriptedServer
) -> None:
    expired = {"errors": [{"code": "INVALID_TOKEN", "title": "Invalid token", "status": "401"}]}
    answers = iter([Reply(401, expired)])
    tokens = iter([_token_reply("acc-first-333333"), _token_reply("acc-second-44444")])
    _routed(
        server,
        lambda seen: next(answers, Reply(200, {"data": [], "meta": {"record_count": 1}})),
        lambda seen: next(tokens),
    )

    assert _cl_hook(monkeypatch, server).count("packages") == 1

    sent = [seen.headers["authorization"] for seen in server.requests if _api(seen)]
    assert sent == ["Bearer acc-first-333333", "Bearer acc-second-44444"]


def test_errors_from_a_hostile_link_are_inventory_errors_not_value_errors(
    monkeypatch: pytest.MonkeyPatch, server: ScriptedServer
) -> None:
    server.default = Reply(200, _pack_page(["s1"], "http://[::1/next"))

    with pytest.raises(InventoryApiError) as caught:
        _pack_hook(monkeypatch, server).list_serial_numbers()

    assert isinstance(caught.value, PaginationError)
    assert "http://[::1/next" in str(caught.value)


def test_a_revoked_token_is_not_retried_as_expired(
    monkeypatch: pytest.MonkeyPatch, server: ScriptedServer
) -> None:
    unauthorized = {"errors": [{"code": "UNAUTHORIZED", "title": "Unauthorized"}]}
    _routed(server, lambda seen: Reply(401, unauthorized))

    with pytest.raises(AuthenticationError):
        _cl_hook(monkeypatch, server).count("packages")

    assert sum(_api(seen) for seen in server.requests) == 1
