"""CommerceLayerHook authentication and connection handling: token cache, refresh, expiry
mid-listing, bad credentials/scope/host, and secrets kept out of errors and logs."""

from __future__ import annotations

import json
import logging
import threading
from typing import Any

import pytest

from airflow_provider_inventory.exceptions import (
    AuthenticationError,
    InventoryConfigError,
    NotFoundError,
    TokenExpiredError,
)
from airflow_provider_inventory.hooks.commercelayer import CommerceLayerHook, api_base_url
from airflow_provider_inventory.sandbox import Sandbox
from tests.conftest import FAST_CLIENT_EXTRA, GENEROUS_LIMITS


def set_cl_connection(
    sb: Sandbox,
    monkeypatch: pytest.MonkeyPatch,
    conn_id: str = "commercelayer_default",
    **fields: Any,
) -> None:
    """Export the sandbox's Commerce Layer connection with fields replaced (extra merged)."""
    connection = sb.commercelayer_connection()
    extra = {**connection["extra"], **FAST_CLIENT_EXTRA, **GENEROUS_LIMITS}
    extra.update(fields.pop("extra", {}))
    connection.update(fields, extra=extra)
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(connection))


def oauth_requests(sb: Sandbox) -> list[Any]:
    return [r for r in sb.requests if r.api == "oauth"]


def api_requests(sb: Sandbox) -> list[Any]:
    return [r for r in sb.requests if r.api == "commercelayer"]


def test_hook_metadata() -> None:
    assert CommerceLayerHook.conn_type == "commercelayer"
    assert CommerceLayerHook.hook_name == "Commerce Layer"
    assert CommerceLayerHook.conn_name_attr == "commercelayer_conn_id"
    assert CommerceLayerHook.default_conn_name == "commercelayer_default"
    assert CommerceLayerHook("other").commercelayer_conn_id == "other"


# ---------------------------------------------------------------------- token cache


def test_one_token_serves_many_pages_and_every_hook_of_the_connection(
    sandbox_env: Sandbox,
) -> None:
    with CommerceLayerHook() as first, CommerceLayerHook() as second:
        assert len(first.list_packages(page_size=10)) == 100
        assert second.count("packages") == 100
    assert sandbox_env.tokens_issued == 1
    (token_request,) = oauth_requests(sandbox_env)
    assert token_request.method == "POST"
    assert token_request.authorized is False  # the API token never goes to the token URL
    assert all(r.authorized and r.status == 200 for r in api_requests(sandbox_env))


def test_parallel_first_requests_fetch_one_token(sandbox_env: Sandbox) -> None:
    sandbox_env.inject("delay", seconds=0.3, match="/oauth/token")
    hooks = [CommerceLayerHook() for _ in range(6)]
    tokens: list[str] = []
    threads = [
        threading.Thread(target=lambda h=h: tokens.append(h.get_access_token())) for h in hooks
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(tokens) == 6
    assert len(set(tokens)) == 1
    assert sandbox_env.tokens_issued == 1


def test_different_credentials_get_different_tokens(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    set_cl_connection(sandbox, monkeypatch)
    set_cl_connection(sandbox, monkeypatch, "cl_scoped", extra={"scope": "market:id:abc"})
    default_token = CommerceLayerHook().get_access_token()
    scoped_token = CommerceLayerHook("cl_scoped").get_access_token()
    assert default_token != scoped_token
    assert sandbox.tokens_issued == 2


# ---------------------------------------------------------------------- expiry mid-listing


@pytest.mark.sandbox(packages=2000)
@pytest.mark.parametrize("max_workers", [1, 4])
def test_token_expiring_mid_listing_loses_nothing_and_fetches_one_token(
    sandbox_env: Sandbox, max_workers: int
) -> None:
    sandbox_env.inject("expire_token", after=30)

    with CommerceLayerHook() as hook:
        records = hook.list_packages(max_workers=max_workers)

    ids = [r["id"] for r in records]
    assert len(ids) == len(set(ids)) == 2000
    assert set(ids) == {p["id"] for p in sandbox_env.packages()}
    assert sandbox_env.tokens_issued == 2
    statuses = [r.status for r in api_requests(sandbox_env)]
    assert 401 in statuses
    assert all(status in (200, 401) for status in statuses)


def test_expired_token_twice_is_a_clear_permission_error(sandbox_env: Sandbox) -> None:
    sandbox_env.inject("expire_token", times=2)
    with CommerceLayerHook() as hook, pytest.raises(AuthenticationError) as raised:
        hook.list_packages()
    assert not isinstance(raised.value, TokenExpiredError)
    assert "again with a freshly fetched access token" in str(raised.value)
    assert "'auth_url'" in str(raised.value)
    assert sandbox_env.tokens_issued == 2


def test_unauthorized_is_not_retried_with_a_new_token(sandbox_env: Sandbox) -> None:
    body = {"errors": [{"code": "UNAUTHORIZED", "title": "Unauthorized", "status": "401"}]}
    sandbox_env.inject("status", status=401, body=body)
    with CommerceLayerHook() as hook, pytest.raises(AuthenticationError) as raised:
        hook.list_packages()
    assert raised.value.code == "UNAUTHORIZED"
    assert "may not read 'packages'" in str(raised.value)
    assert sandbox_env.tokens_issued == 1
    assert len(api_requests(sandbox_env)) == 1


# ---------------------------------------------------------------------- bad connections


def test_bad_client_secret(sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    set_cl_connection(sandbox, monkeypatch, password="wrong-secret-value")
    with CommerceLayerHook() as hook:
        with pytest.raises(AuthenticationError) as raised:
            hook.list_packages()
        ok, message = hook.test_connection()
    assert "Could not get a Commerce Layer access token" in str(raised.value)
    assert "Client ID" in str(raised.value)
    assert raised.value.status == 401
    assert ok is False
    assert message.startswith("Authentication failed: ")
    assert "wrong-secret-value" not in str(raised.value) + message
    assert api_requests(sandbox) == []


def test_bad_scope(sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    set_cl_connection(sandbox, monkeypatch, extra={"scope": "everything"})
    ok, message = CommerceLayerHook().test_connection()
    assert ok is False
    assert "The scope 'everything' was refused" in message
    assert "'scope'" in message


def test_unknown_slug_reads_as_not_found(sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    set_cl_connection(sandbox, monkeypatch, host=f"{sandbox.url}/unknown-org")
    with CommerceLayerHook() as hook:
        with pytest.raises(NotFoundError):
            hook.count("packages")
        ok, message = hook.test_connection()
    assert ok is False
    assert "Check the resource name 'packages' and the organization slug" in message


def test_unreachable_host(sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    set_cl_connection(sandbox, monkeypatch, host="http://127.0.0.1:9", extra={"max_attempts": 2})
    ok, message = CommerceLayerHook().test_connection()
    assert ok is False
    assert message.startswith("Host unreachable: ")


def test_test_connection_ok(sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    set_cl_connection(sandbox, monkeypatch, extra={"scope": "market:id:xYZkjABcde"})
    ok, message = CommerceLayerHook().test_connection()
    assert ok is True
    assert "token obtained for scope 'market:id:xYZkjABcde', 100 packages visible" in message


def test_missing_client_id(sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    set_cl_connection(sandbox, monkeypatch, login=None)
    with pytest.raises(InventoryConfigError, match="login field"):
        CommerceLayerHook().list_packages()
    ok, message = CommerceLayerHook().test_connection()
    assert ok is False
    assert "has no client ID" in message


def test_plain_http_token_url_is_refused(sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    set_cl_connection(sandbox, monkeypatch, extra={"auth_url": "http://auth.example.com/token"})
    with pytest.raises(InventoryConfigError, match="extra field 'auth_url' uses plain http://"):
        CommerceLayerHook().list_packages()
    assert sandbox.requests == []


@pytest.mark.parametrize(
    ("host", "port", "expected"),
    [
        ("acme", None, "https://acme.commercelayer.io/api"),
        ("acme.commercelayer.io", None, "https://acme.commercelayer.io/api"),
        ("https://acme.commercelayer.io/", None, "https://acme.commercelayer.io/api"),
        ("https://acme.commercelayer.io/api", None, "https://acme.commercelayer.io/api"),
        ("http://127.0.0.1", 8765, "http://127.0.0.1:8765/api"),
        ("http://127.0.0.1:8000/prefix", 9, "http://127.0.0.1:8000/prefix/api"),
    ],
)
def test_api_base_url(host: str, port: int | None, expected: str) -> None:
    assert api_base_url(host, port, "cl") == expected


@pytest.mark.parametrize("host", [None, "", "https://"])
def test_api_base_url_rejects_missing_hosts(host: str | None) -> None:
    with pytest.raises(InventoryConfigError, match="Connection 'cl'"):
        api_base_url(host, None, "cl")


# ---------------------------------------------------------------------- secrets


@pytest.mark.sandbox(packages=60)
def test_no_secret_in_logs_or_errors(
    sandbox_env: Sandbox, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    sandbox_env.inject("expire_token", after=1)
    sandbox_env.inject("status", status=503, after=2, times=2)
    with CommerceLayerHook() as hook:
        assert len(hook.list_packages(page_size=10, include="stock_location")) == 60
        sandbox_env.inject("expire_token", times=2)
        with pytest.raises(AuthenticationError) as raised:
            hook.count("packages")
        token = hook.get_access_token()
    text = caplog.text + str(raised.value) + repr(raised.value)
    assert "Fetched a Commerce Layer access token" in caplog.text
    for secret in (sandbox_env.client_secret, token):
        assert secret not in text


# ---------------------------------------------------------------------- token endpoint


@pytest.mark.parametrize(
    ("kind", "params"),
    [("status", {"status": 503}), ("rate_limit", {"retry_after": "0"})],
    ids=["503", "429"],
)
def test_a_failing_token_endpoint_is_retried_like_the_api(
    sandbox_env: Sandbox, kind: str, params: dict[str, Any]
) -> None:
    sandbox_env.inject(kind, match="/oauth/token", **params)

    with CommerceLayerHook() as hook:
        assert hook.count("packages") == 100
        assert hook.stats.retries == 1

    assert [r.status for r in oauth_requests(sandbox_env)] == [params.get("status", 429), 200]
    assert sandbox_env.tokens_issued == 1


def test_the_connection_test_fetches_a_fresh_token_each_time(sandbox_env: Sandbox) -> None:
    with CommerceLayerHook() as hook:
        hook.count("packages")
        assert hook.test_connection()[0] is True
        assert hook.test_connection()[0] is True

    assert sandbox_env.tokens_issued == 3
