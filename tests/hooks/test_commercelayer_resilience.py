"""CommerceLayerHook under faults and rate limits: each run ends in the exact record set or a
clear error, and pacing keeps a listing under the server's limits."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from airflow_provider_inventory._http.settings import RateLimit
from airflow_provider_inventory.exceptions import (
    BadResponseError,
    InventoryApiError,
    NotFoundError,
    PaginationError,
    RateLimitedError,
    RequestRejectedError,
    ServerError,
)
from airflow_provider_inventory.hooks.commercelayer import CommerceLayerHook, rate_class
from airflow_provider_inventory.sandbox import Sandbox
from tests.conftest import set_connections

pytestmark = pytest.mark.sandbox(packages=120)


@pytest.fixture
def hook(sandbox_env: Sandbox) -> Iterator[CommerceLayerHook]:
    with CommerceLayerHook() as cl_hook:
        yield cl_hook


def statuses(sb: Sandbox) -> list[int]:
    return [r.status for r in sb.requests if r.api == "commercelayer"]


def assert_exact(records: list[dict[str, Any]], sb: Sandbox, *, in_id_order: bool = True) -> None:
    ids = [r["id"] for r in records]
    assert len(ids) == len(set(ids))
    expected = sorted(p["id"] for p in sb.packages())
    assert (ids if in_id_order else sorted(ids)) == expected


# ---------------------------------------------------------------------- recoverable faults


@pytest.mark.parametrize(
    "fault",
    [
        pytest.param({"retry_after": 0.2}, id="retry-after-seconds"),
        pytest.param({"ratelimit_headers": True, "interval": 1}, id="x-ratelimit-headers"),
        pytest.param({}, id="no-headers"),
    ],
)
def test_429_is_waited_out_and_the_listing_completes(
    hook: CommerceLayerHook, sandbox_env: Sandbox, fault: dict[str, Any]
) -> None:
    sandbox_env.inject("rate_limit", after=2, times=2, **fault)

    assert_exact(hook.list_packages(page_size=20), sandbox_env)

    assert statuses(sandbox_env).count(429) == 2
    assert hook.stats.retries == 2


def test_connection_cut_mid_body_is_retried(hook: CommerceLayerHook, sandbox_env: Sandbox) -> None:
    sandbox_env.inject("truncated", after=2, short_read=True)
    assert_exact(hook.list_packages(page_size=10), sandbox_env)
    assert hook.stats.retries == 1


def test_5xx_burst_is_retried(hook: CommerceLayerHook, sandbox_env: Sandbox) -> None:
    for status in (500, 502, 503):
        sandbox_env.inject("status", status=status, after=1)
    assert_exact(hook.list_packages(page_size=10), sandbox_env)
    assert sorted(s for s in statuses(sandbox_env) if s >= 500) == [500, 502, 503]


@pytest.mark.sandbox(packages=120, error_rate=0.3, seed=3)
def test_random_server_errors_still_give_the_exact_set(
    hook: CommerceLayerHook, sandbox_env: Sandbox
) -> None:
    assert_exact(hook.list_packages(page_size=10, max_workers=3), sandbox_env, in_id_order=False)
    assert any(s >= 500 for s in statuses(sandbox_env))


# ---------------------------------------------------------------------- clear errors


def test_persistent_429_is_a_clear_rate_limit_error(
    hook: CommerceLayerHook, sandbox_env: Sandbox
) -> None:
    sandbox_env.inject("rate_limit", times=None)
    with pytest.raises(RateLimitedError, match="HTTP 429 TOO_MANY_REQUESTS"):
        hook.list_packages()
    assert statuses(sandbox_env) == [429] * 6  # max_attempts, then it stops


def test_persistent_5xx_is_a_clear_server_error(
    hook: CommerceLayerHook, sandbox_env: Sandbox
) -> None:
    sandbox_env.inject("status", status=503, times=None, after=1)
    with pytest.raises(ServerError, match="HTTP 503"):
        hook.list_packages(page_size=50 // 2)


def test_406_is_rejected_with_the_server_reason(
    hook: CommerceLayerHook, sandbox_env: Sandbox
) -> None:
    body = {
        "errors": [
            {
                "code": "NOT_ACCEPTABLE",
                "title": "Not acceptable",
                "detail": "All requests must use the 'application/vnd.api+json' Accept.",
                "status": "406",
            }
        ]
    }
    sandbox_env.inject("status", status=406, body=body)
    with pytest.raises(RequestRejectedError) as raised:
        hook.list_packages()
    assert raised.value.status == 406
    assert "HTTP 406 NOT_ACCEPTABLE" in str(raised.value)
    assert "application/vnd.api+json" in str(raised.value)


def test_requests_send_the_json_api_accept_header(
    hook: CommerceLayerHook, sandbox_env: Sandbox
) -> None:
    # the sandbox answers 406 to any other Accept header
    assert hook.count("packages") == 120
    assert statuses(sandbox_env) == [200]


@pytest.mark.parametrize(
    ("kind", "params", "error"),
    [
        ("malformed_json", {}, BadResponseError),
        ("non_json", {}, BadResponseError),
        ("truncated", {}, BadResponseError),
    ],
)
def test_broken_bodies_stop_the_listing_with_a_clear_error(
    hook: CommerceLayerHook,
    sandbox_env: Sandbox,
    kind: str,
    params: dict[str, Any],
    error: type[InventoryApiError],
) -> None:
    sandbox_env.inject(kind, after=1, **params)
    with pytest.raises(error) as raised:
        hook.list_packages(page_size=25)
    assert "/api/packages" in str(raised.value)


def test_server_side_filter_errors_are_explained(sandbox_env: Sandbox) -> None:
    # schema_checks=False sends the names as given: the (strict) server refuses them.
    with CommerceLayerHook(schema_checks=False) as unchecked:
        with pytest.raises(RequestRejectedError, match="colour") as raised:
            unchecked.list_packages(filters={"colour_eq": "red"})
        assert raised.value.status == 400
        with pytest.raises(RequestRejectedError, match="INVALID_SORT_CRITERIA"):
            unchecked.list_packages(sort="metadata")


def test_unknown_resource_is_not_found_with_a_hint(sandbox_env: Sandbox) -> None:
    with (
        CommerceLayerHook(schema_checks=False) as unchecked,
        pytest.raises(NotFoundError, match="Check the resource name 'pakages'"),
    ):
        unchecked.list_resources("pakages")


@pytest.mark.parametrize("kind", ["repeat_next", "foreign_next"])
def test_page_number_links_that_loop_or_leave_the_origin_are_refused(
    hook: CommerceLayerHook, sandbox_env: Sandbox, kind: str
) -> None:
    sandbox_env.inject(kind, after=1)
    with pytest.raises(PaginationError):
        hook.list_packages(sort="code")
    assert len(statuses(sandbox_env)) == 2  # nothing requested past the bad link


def test_keyset_paging_ignores_next_links(hook: CommerceLayerHook, sandbox_env: Sandbox) -> None:
    sandbox_env.inject("foreign_next", after=1)
    assert_exact(hook.list_packages(), sandbox_env)


# ---------------------------------------------------------------------- pacing


def test_rate_classes() -> None:
    assert rate_class("packages") == "uncacheable"
    assert rate_class("shipments") == "uncacheable"
    assert rate_class("stock_locations") == "cacheable"
    assert rate_class("skus") == "cacheable"
    assert rate_class("buy_x_pay_y_promotions") == "cacheable"


def test_default_pacers_start_at_the_documented_limits(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    set_connections(
        sandbox, monkeypatch, commercelayer_extra={"rate_limit_average": "", "rate_limit_burst": ""}
    )
    hook = CommerceLayerHook()
    assert list(hook.pacer("uncacheable").windows) == [RateLimit(200, 60), RateLimit(50, 10)]
    assert list(hook.pacer("cacheable").windows) == [RateLimit(1000, 60), RateLimit(250, 10)]
    # one pacer per host and class, shared by every hook (and thread) in the process
    assert CommerceLayerHook().pacer("uncacheable") is hook.pacer("uncacheable")
    assert hook.pacer("cacheable") is not hook.pacer("uncacheable")
    # the token endpoint's own X-Ratelimit headers (30/min) must not slow the API down
    hook.get_access_token()
    assert list(hook.pacer("uncacheable").windows) == [RateLimit(200, 60), RateLimit(50, 10)]


def test_connection_extras_pin_the_limits(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    set_connections(
        sandbox,
        monkeypatch,
        commercelayer_extra={"rate_limit_average": 100, "rate_limit_burst": ""},
    )
    pacer = CommerceLayerHook().pacer("uncacheable")
    assert list(pacer.windows) == [RateLimit(100, 60), RateLimit(25, 10)]
    pacer.observe(200, {"X-Ratelimit-Limit": "500", "X-Ratelimit-Interval": "60"})
    assert list(pacer.windows) == [RateLimit(100, 60), RateLimit(25, 10)]


@pytest.mark.sandbox(packages=425, rate_limits={"uncacheable": (60, 15)})
def test_listing_paces_to_the_advertised_limit_without_429(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No explicit limits: the hook starts at the documented 200/min and adopts the server's
    # X-Ratelimit-Limit (60/min, burst scaled to 15 per 10 s) from the first answer on.
    set_connections(
        sandbox, monkeypatch, commercelayer_extra={"rate_limit_average": "", "rate_limit_burst": ""}
    )
    with CommerceLayerHook() as hook:
        records = hook.list_packages(max_workers=2)
        paced = hook.stats.paced_seconds

    assert_exact(records, sandbox, in_id_order=False)
    assert list(hook.pacer("uncacheable").windows) == [RateLimit(60, 60), RateLimit(15, 10)]
    assert statuses(sandbox).count(429) == 0
    assert len(statuses(sandbox)) > 15  # more than one burst window's worth
    assert paced > 0
