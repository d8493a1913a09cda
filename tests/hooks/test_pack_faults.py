"""PackHook fault paths: every listing ends in the complete, exact record set or a clear error."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from email.utils import formatdate
from time import time
from typing import Any

import pytest

from airflow_provider_inventory.exceptions import (
    AuthenticationError,
    BadResponseError,
    InventoryApiError,
    NotFoundError,
    PaginationError,
    RateLimitedError,
    ServerError,
    TransportError,
)
from airflow_provider_inventory.hooks.pack import PackHook
from airflow_provider_inventory.sandbox import Sandbox
from tests.conftest import set_connections

pytestmark = pytest.mark.sandbox(seed=5, serial_numbers=120, packages=0, stock_locations=0)
PER_PAGE = 20  # six pages
LISTING = "/v1/"


def pack_requests(sb: Sandbox) -> list[Any]:
    """The requests the sandbox answered on the Pack API."""
    return [request for request in sb.requests if request.api == "pack"]


@pytest.fixture
def hook(sandbox_env: Sandbox) -> Iterator[PackHook]:
    with PackHook() as pack:
        yield pack


def consume(hook: PackHook) -> tuple[list[dict[str, Any]], BaseException | None]:
    """Iterate a whole listing; return what was yielded and the error that ended it, if any."""
    seen: list[dict[str, Any]] = []
    try:
        for record in hook.iter_serial_numbers(per_page=PER_PAGE):
            seen.append(record)
    except InventoryApiError as error:
        return seen, error
    return seen, None


# ---------------------------------------------------------------------- recovered faults


def test_429_with_retry_after_seconds_mid_listing_recovers_exactly(
    sandbox_env: Sandbox, hook: PackHook
) -> None:
    sandbox_env.inject("rate_limit", retry_after=0, times=2, after=2, match=LISTING)

    records = hook.list_serial_numbers(per_page=PER_PAGE)

    assert records == sandbox_env.serial_numbers()
    statuses = [r.status for r in pack_requests(sandbox_env)]
    assert statuses == [200, 200, 429, 429, 200, 200, 200, 200]
    assert hook.client.stats.retries == 2


def test_429_with_retry_after_http_date_is_honoured(sandbox_env: Sandbox, hook: PackHook) -> None:
    sandbox_env.inject(
        "rate_limit", retry_after=formatdate(time() + 1, usegmt=True), after=1, match=LISTING
    )

    records = hook.list_serial_numbers(per_page=PER_PAGE)

    assert records == sandbox_env.serial_numbers()
    requested = pack_requests(sandbox_env)
    assert [r.status for r in requested].count(429) == 1
    retried = requested[2]
    assert retried.query == requested[1].query  # the same page was asked for again


def test_429_with_rate_limit_headers_only_recovers(sandbox_env: Sandbox, hook: PackHook) -> None:
    sandbox_env.inject("rate_limit", ratelimit_headers=True, interval=0, after=3, match=LISTING)

    assert hook.list_serial_numbers(per_page=PER_PAGE) == sandbox_env.serial_numbers()


def test_burst_of_503_recovers_exactly(sandbox_env: Sandbox, hook: PackHook) -> None:
    sandbox_env.inject("status", status=503, times=4, after=1, match=LISTING)

    records = hook.list_serial_numbers(per_page=PER_PAGE)

    assert records == sandbox_env.serial_numbers()
    assert [r.status for r in pack_requests(sandbox_env)].count(503) == 4


@pytest.mark.sandbox(seed=5, serial_numbers=400, packages=0, stock_locations=0, error_rate=0.15)
def test_random_server_errors_still_give_the_exact_record_set(
    sandbox_env: Sandbox, hook: PackHook
) -> None:
    records = hook.list_serial_numbers(per_page=PER_PAGE)

    assert records == sandbox_env.serial_numbers()
    assert any(r.status >= 500 for r in pack_requests(sandbox_env))


def test_slow_page_past_the_read_timeout_is_retried(
    sandbox_env: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    set_connections(sandbox_env, monkeypatch, pack_extra={"read_timeout": 0.3})
    sandbox_env.inject("delay", seconds=1.5, after=2, match=LISTING)

    with PackHook() as hook:
        records = hook.list_serial_numbers(per_page=PER_PAGE)

    assert records == sandbox_env.serial_numbers()


def test_records_added_and_removed_mid_listing_are_seen_once(
    sandbox_env: Sandbox, hook: PackHook
) -> None:
    before = sandbox_env.serial_numbers()
    early, late = before[5], before[-5]
    # After page 2: delete a record already read, delete one not yet read, add a new one.
    added: list[dict[str, Any]] = []

    def mutate() -> None:
        sandbox_env.delete_serial_number(early["id"])
        sandbox_env.delete_serial_number(late["id"])
        added.append(sandbox_env.add_serial_number(code="NEW-000001-ZZZZZZ"))

    sandbox_env.schedule(2, mutate, match=LISTING)

    records = hook.list_serial_numbers(per_page=PER_PAGE)

    ids = [r["id"] for r in records]
    assert len(ids) == len(set(ids))
    assert early["id"] in ids  # read before it was deleted
    assert late["id"] not in ids
    assert added[0]["id"] in ids  # created now: sorts last, after the cursor


# ---------------------------------------------------------------------- clear errors


def test_wrong_token_is_an_authentication_error_without_retries(
    sandbox_env: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    connection = sandbox_env.pack_connection()
    connection["password"] = "not-the-token"
    monkeypatch.setenv("AIRFLOW_CONN_PACK_WRONG", json.dumps(connection))

    with PackHook("pack_wrong") as hook, pytest.raises(AuthenticationError) as caught:
        hook.list_serial_numbers()

    assert caught.value.status == 401
    assert "invalid API token" in str(caught.value)
    assert "not-the-token" not in str(caught.value)
    assert len(pack_requests(sandbox_env)) == 1


def test_unknown_organization_is_not_found(
    sandbox_env: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    set_connections(sandbox_env, monkeypatch, pack_extra={"organization_id": "org_missing"})

    with PackHook() as hook, pytest.raises(NotFoundError, match="org_missing"):
        hook.list_serial_numbers()
    assert len(pack_requests(sandbox_env)) == 1


def test_persistent_503_fails_the_listing_instead_of_returning_part(
    sandbox_env: Sandbox, hook: PackHook
) -> None:
    sandbox_env.inject("status", status=503, times=None, after=3, match=LISTING)

    seen, error = consume(hook)

    assert isinstance(error, ServerError)
    assert error.status == 503
    assert seen == sandbox_env.serial_numbers()[: 3 * PER_PAGE]
    with pytest.raises(ServerError):
        hook.list_serial_numbers(per_page=PER_PAGE)


def test_persistent_429_ends_in_a_rate_limited_error(sandbox_env: Sandbox, hook: PackHook) -> None:
    sandbox_env.inject("rate_limit", retry_after=0, times=None, match=LISTING)

    with pytest.raises(RateLimitedError) as caught:
        hook.list_serial_numbers()

    assert caught.value.status == 429
    assert len(pack_requests(sandbox_env)) == hook.http_settings.max_attempts


def test_malformed_page_in_the_middle_is_a_clear_error(
    sandbox_env: Sandbox, hook: PackHook
) -> None:
    sandbox_env.inject("malformed_json", after=2, match=LISTING)

    seen, error = consume(hook)

    assert isinstance(error, BadResponseError)
    assert "not valid JSON" in str(error)
    assert seen == sandbox_env.serial_numbers()[: 2 * PER_PAGE]


def test_html_page_is_a_clear_error(sandbox_env: Sandbox, hook: PackHook) -> None:
    sandbox_env.inject("non_json", after=1, match=LISTING)

    with pytest.raises(BadResponseError, match="text/html"):
        hook.list_serial_numbers(per_page=PER_PAGE)


def test_truncated_page_never_passes_as_complete(sandbox_env: Sandbox, hook: PackHook) -> None:
    sandbox_env.inject("truncated", after=2, match=LISTING)

    seen, error = consume(hook)

    assert isinstance(error, BadResponseError)
    assert seen == sandbox_env.serial_numbers()[: 2 * PER_PAGE]


def test_body_cut_off_in_transit_is_retried_or_a_clear_error(
    sandbox_env: Sandbox, hook: PackHook
) -> None:
    sandbox_env.inject("truncated", short_read=True, after=2, match=LISTING)

    seen, error = consume(hook)

    if error is None:
        assert seen == sandbox_env.serial_numbers()
    else:
        assert isinstance(error, TransportError)
        assert seen == sandbox_env.serial_numbers()[: 2 * PER_PAGE]


def test_repeating_next_link_is_a_pagination_loop_error(
    sandbox_env: Sandbox, hook: PackHook
) -> None:
    sandbox_env.inject("repeat_next", after=1, match=LISTING)

    seen, error = consume(hook)

    assert isinstance(error, PaginationError)
    assert "Pagination loop" in str(error)
    assert seen == sandbox_env.serial_numbers()[: 2 * PER_PAGE]
    assert len(pack_requests(sandbox_env)) == 2  # the repeated page was not requested again


@pytest.mark.parametrize("style", ["absolute", "path", "query"])
def test_repeating_next_is_caught_in_every_link_style(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch, style: str
) -> None:
    sandbox.set(pack_link_style=style)
    set_connections(sandbox, monkeypatch)
    sandbox.inject("repeat_next", after=2, match=LISTING)

    with PackHook() as hook, pytest.raises(PaginationError, match="Pagination loop"):
        hook.list_serial_numbers(per_page=PER_PAGE)
    assert len(pack_requests(sandbox)) == 3


def test_foreign_origin_next_is_refused_without_sending_credentials(
    sandbox_env: Sandbox, hook: PackHook, caplog: pytest.LogCaptureFixture
) -> None:
    sandbox_env.inject("foreign_next", url="https://evil.example/steal?page=2", after=1)

    with caplog.at_level(logging.DEBUG):
        seen, error = consume(hook)

    assert isinstance(error, PaginationError)
    assert "another origin" in str(error)
    assert "evil.example" in str(error)
    assert seen == sandbox_env.serial_numbers()[: 2 * PER_PAGE]
    assert len(pack_requests(sandbox_env)) == 2
    assert "evil.example:443" not in caplog.text  # no connection was opened to it


def test_max_pages_caps_a_runaway_listing(
    sandbox_env: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    set_connections(sandbox_env, monkeypatch, pack_extra={"max_pages": 3})

    with PackHook() as hook, pytest.raises(PaginationError, match="max_pages=3"):
        hook.list_serial_numbers(per_page=PER_PAGE)
    assert len(pack_requests(sandbox_env)) == 3


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ([{"id": "sn_1"}], "found a JSON list"),
        ({"items": [], "next": None}, r"found keys \['items', 'next'\]"),
        ({"data": {"id": "sn_1"}}, r"found keys \['data'\]"),
        ({"data": ["sn_1"]}, "'data' item 0 is str"),
        ({"data": [], "links": ["next"]}, "'links' is list"),
        ({"data": [], "next": 2}, "'next' is int"),
    ],
)
def test_unexpected_body_shape_is_a_clear_error(
    sandbox_env: Sandbox, hook: PackHook, body: Any, message: str
) -> None:
    sandbox_env.inject("status", status=200, body=body, after=1, match=LISTING)

    seen, error = consume(hook)

    assert isinstance(error, BadResponseError)
    assert re.search(message, str(error))
    assert seen == sandbox_env.serial_numbers()[:PER_PAGE]
