"""PackHook connection handling: fields, defaults, test_connection, pacing and secret hygiene."""

from __future__ import annotations

import json
import logging
import socket
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from airflow_provider_inventory.exceptions import (
    AuthenticationError,
    InventoryConfigError,
    RequestRejectedError,
)
from airflow_provider_inventory.hooks.pack import PackHook, normalize_base_url
from airflow_provider_inventory.sandbox import Sandbox
from tests.conftest import set_connections

pytestmark = pytest.mark.sandbox(seed=9, serial_numbers=60, packages=0, stock_locations=0)


def pack_requests(sb: Sandbox) -> list[Any]:
    """The requests the sandbox answered on the Pack API."""
    return [request for request in sb.requests if request.api == "pack"]


def export_pack_connection(
    monkeypatch: pytest.MonkeyPatch, conn_id: str, connection: dict[str, Any]
) -> None:
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(connection))


@pytest.fixture
def hook(sandbox_env: Sandbox) -> Iterator[PackHook]:
    with PackHook() as pack:
        yield pack


def closed_port() -> int:
    """A loopback port nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# ---------------------------------------------------------------------- identity and fields


def test_hook_identity() -> None:
    assert PackHook.conn_type == "pack"
    assert PackHook.hook_name == "Pack"
    assert PackHook.conn_name_attr == "pack_conn_id"
    assert PackHook.default_conn_name == "pack_default"
    assert PackHook().pack_conn_id == "pack_default"
    assert PackHook("other").conn_id == "other"


@pytest.mark.parametrize(
    ("host", "port", "expected"),
    [
        (None, None, "https://api.pack.cloud"),
        ("", None, "https://api.pack.cloud"),
        ("api.pack.cloud", None, "https://api.pack.cloud"),
        ("https://api.pack.cloud/", None, "https://api.pack.cloud"),
        ("https://api.pack.cloud/v1/", None, "https://api.pack.cloud"),
        ("https://gateway.example/pack/v1", None, "https://gateway.example/pack"),
        ("127.0.0.1", 8765, "https://127.0.0.1:8765"),
        ("http://127.0.0.1:8765", 9999, "http://127.0.0.1:8765"),
    ],
)
def test_base_url_defaults_and_normalisation(
    host: str | None, port: int | None, expected: str
) -> None:
    assert normalize_base_url(host, port) == expected


def test_missing_organization_names_the_connection_and_field(
    sandbox_env: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    connection = sandbox_env.pack_connection()
    connection["extra"] = {}
    export_pack_connection(monkeypatch, "pack_no_org", connection)
    hook = PackHook("pack_no_org")

    with pytest.raises(InventoryConfigError) as caught:
        hook.iter_serial_numbers()

    message = str(caught.value)
    assert "'pack_no_org'" in message
    assert "'organization_id'" in message
    assert "AIRFLOW_CONN_PACK_NO_ORG" in message
    assert pack_requests(sandbox_env) == []


def test_warehouse_listing_needs_no_organization(
    sandbox_env: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    connection = sandbox_env.pack_connection()
    connection["extra"] = {}
    export_pack_connection(monkeypatch, "pack_no_org", connection)
    warehouse_id, stocks = next(iter(sandbox_env.warehouses().items()))
    product = sandbox_env.serial_numbers()[0]["product_id"]

    with PackHook("pack_no_org") as hook:
        records = hook.list_serial_numbers(warehouse_id=warehouse_id, product_id=product)

    assert records == [
        r
        for r in sandbox_env.serial_numbers()
        if r["product_id"] == product and r["stock_id"] in stocks
    ]


def test_missing_token_is_a_clear_error(
    sandbox_env: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    connection = sandbox_env.pack_connection()
    del connection["password"]
    export_pack_connection(monkeypatch, "pack_no_token", connection)

    with PackHook("pack_no_token") as hook, pytest.raises(InventoryConfigError, match="API token"):
        hook.list_serial_numbers()
    assert pack_requests(sandbox_env) == []


def test_plain_http_to_a_remote_host_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    export_pack_connection(
        monkeypatch,
        "pack_http",
        {
            "conn_type": "pack",
            "host": "http://pack.example.com",
            "password": "tok-remote-1234",
            "extra": {"organization_id": "org_1"},
        },
    )

    with PackHook("pack_http") as hook, pytest.raises(InventoryConfigError) as caught:
        hook.list_serial_numbers()
    assert "allow_insecure_http" in str(caught.value)


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ({}, {"Authorization": "Bearer tok-1234"}),
        ({"auth_scheme": "Token"}, {"Authorization": "Token tok-1234"}),
        ({"auth_scheme": ""}, {"Authorization": "tok-1234"}),
        ({"auth_header": "X-Api-Key", "auth_scheme": ""}, {"X-Api-Key": "tok-1234"}),
    ],
)
def test_auth_header_is_configurable(
    monkeypatch: pytest.MonkeyPatch, extra: dict[str, Any], expected: dict[str, str]
) -> None:
    export_pack_connection(
        monkeypatch,
        "pack_auth",
        {
            "conn_type": "pack",
            "host": "https://api.pack.cloud",
            "password": "tok-1234",
            "extra": {"organization_id": "org_1", **extra},
        },
    )

    auth = PackHook("pack_auth")._auth("tok-1234")
    assert {auth.header: auth.value} == expected


def test_auth_scheme_of_the_wrong_type_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    export_pack_connection(
        monkeypatch,
        "pack_auth",
        {"conn_type": "pack", "password": "tok-1234", "extra": {"auth_scheme": 1}},
    )

    with pytest.raises(InventoryConfigError, match="'auth_scheme' must be a string"):
        PackHook("pack_auth")._auth("tok-1234")


# ---------------------------------------------------------------------- test_connection


def test_test_connection_succeeds_with_one_small_request(
    sandbox_env: Sandbox, hook: PackHook
) -> None:
    ok, message = hook.test_connection()

    assert ok is True
    assert sandbox_env.organization_id in message
    requested = pack_requests(sandbox_env)
    assert len(requested) == 1
    assert requested[0].query["per_page"] == ["1"]


def test_test_connection_reports_a_wrong_token(
    sandbox_env: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    connection = sandbox_env.pack_connection()
    connection["password"] = "wrong-token-5678"
    export_pack_connection(monkeypatch, "pack_wrong", connection)

    ok, message = PackHook("pack_wrong").test_connection()

    assert ok is False
    assert message.startswith("Authentication failed")
    assert "API token" in message
    assert "wrong-token-5678" not in message


def test_test_connection_reports_an_unknown_organization(
    sandbox_env: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    set_connections(sandbox_env, monkeypatch, pack_extra={"organization_id": "org_nope"})

    ok, message = PackHook().test_connection()

    assert ok is False
    assert message.startswith("Not found")
    assert "'organization_id'" in message
    assert "org_nope" in message


def test_test_connection_reports_a_missing_organization(
    sandbox_env: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    connection = sandbox_env.pack_connection()
    connection["extra"] = {}
    export_pack_connection(monkeypatch, "pack_no_org", connection)

    ok, message = PackHook("pack_no_org").test_connection()

    assert ok is False
    assert "'organization_id' is required" in message


def test_test_connection_reports_an_unreachable_host(monkeypatch: pytest.MonkeyPatch) -> None:
    export_pack_connection(
        monkeypatch,
        "pack_down",
        {
            "conn_type": "pack",
            "host": f"http://127.0.0.1:{closed_port()}",
            "password": "tok-down-1234",
            "extra": {"organization_id": "org_1", "max_attempts": 2, "backoff_factor": 0.01},
        },
    )

    ok, message = PackHook("pack_down").test_connection()

    assert ok is False
    assert message.startswith("Host unreachable")
    assert "tok-down-1234" not in message


# ---------------------------------------------------------------------- pacing


def test_no_client_side_pacing_unless_configured(hook: PackHook) -> None:
    assert hook.client.pacer is None


def test_configured_rate_limit_paces_and_is_shared_per_connection(
    sandbox_env: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    set_connections(
        sandbox_env,
        monkeypatch,
        pack_extra={"rate_limit_average": 3, "rate_limit_interval": 0.1, "rate_limit_burst": 50},
    )

    with PackHook() as first, PackHook() as second:
        records = first.list_serial_numbers(per_page=10)
        pacer = first.client.pacer
        assert pacer is not None
        assert pacer is second.client.pacer  # one budget for every hook on the connection
        assert [(w.limit, w.interval) for w in pacer.windows] == [(3, 0.1), (50, 10.0)]
        assert first.client.stats.paced_seconds > 0  # six pages at three per window had to wait
    assert records == sandbox_env.serial_numbers()


# ---------------------------------------------------------------------- secrets


def test_token_never_reaches_logs_or_errors(
    sandbox_env: Sandbox,
    hook: PackHook,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    token = sandbox_env.pack_token
    # A server that echoes the token back in an error message, after a retried 503.
    sandbox_env.inject("status", status=503, after=1, match="/v1/")
    sandbox_env.inject(
        "status",
        status=400,
        body={"error": {"status": 400, "message": f"bad request for token {token}"}},
        after=2,
        match="/v1/",
    )

    with caplog.at_level(logging.DEBUG), pytest.raises(RequestRejectedError) as caught:
        hook.list_serial_numbers(per_page=10)
    printed = capsys.readouterr()

    assert "***" in str(caught.value)
    assert token not in str(caught.value)
    assert token not in repr(caught.value.__dict__)
    assert "Retrying GET" in caplog.text
    assert token not in caplog.text
    assert token not in printed.out + printed.err


def test_token_is_registered_with_the_secrets_masker(monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow_provider_inventory._compat import redact

    token = f"tok-{uuid.uuid4().hex}"  # fresh, so no earlier test registered it
    export_pack_connection(
        monkeypatch,
        "pack_masked",
        {"conn_type": "pack", "password": token, "extra": {"organization_id": "org_1"}},
    )
    assert redact(f"echo {token}") == f"echo {token}"

    PackHook("pack_masked").client  # noqa: B018 - building the client registers the token

    assert redact(f"echo {token}") == "echo ***"


def test_wrong_token_error_does_not_carry_the_token(
    sandbox_env: Sandbox,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    connection = sandbox_env.pack_connection()
    connection["password"] = "wrong-token-9012"
    export_pack_connection(monkeypatch, "pack_wrong", connection)

    with (
        caplog.at_level(logging.DEBUG),
        PackHook("pack_wrong") as hook,
        pytest.raises(AuthenticationError) as caught,
    ):
        hook.list_serial_numbers()
    printed = capsys.readouterr()

    assert "wrong-token-9012" not in str(caught.value)
    assert "wrong-token-9012" not in caplog.text
    assert "wrong-token-9012" not in printed.out + printed.err
