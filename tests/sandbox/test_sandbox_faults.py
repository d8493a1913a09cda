"""Injected faults, schedules, latency, random errors, rate limits and the request log."""

from __future__ import annotations

import time
from email.utils import formatdate
from urllib.parse import urljoin

import pytest
import requests

from airflow_provider_inventory.sandbox import LoggedRequest, Sandbox
from airflow_provider_inventory.sandbox.ratelimit import SlidingWindowLimiter

from .conftest import JSONAPI, cl_session, fetch_token, pack_session, pack_url


def statuses(session: requests.Session, url: str, count: int) -> list[int]:
    return [session.get(url, timeout=5).status_code for _ in range(count)]


def test_status_fault_after_and_times(sb: Sandbox) -> None:
    sb.inject("status", status=503, headers={"Retry-After": "2"}, after=1, times=2)
    session = pack_session(sb)
    responses = [session.get(pack_url(sb), timeout=5) for _ in range(4)]
    assert [r.status_code for r in responses] == [200, 503, 503, 200]
    assert responses[1].headers["Retry-After"] == "2"
    assert responses[1].json()["error"]["status"] == 503


def test_forever_until_cleared_and_match(sb: Sandbox) -> None:
    sb.inject("status", status=500, times=None, match="/api/packages")
    pack = pack_session(sb)
    cl = cl_session(sb)  # /oauth/token is not affected
    assert statuses(cl, f"{sb.url}/api/packages", 3) == [500, 500, 500]
    assert statuses(cl, f"{sb.url}/api/stock_locations", 1) == [200]
    assert statuses(pack, pack_url(sb), 1) == [200]
    error = cl.get(f"{sb.url}/api/packages", timeout=5).json()["errors"][0]
    assert error["status"] == "500"
    sb.clear_faults()
    assert statuses(cl, f"{sb.url}/api/packages", 1) == [200]


def test_token_endpoint_only_when_matched(sb: Sandbox) -> None:
    sb.inject("status", status=502)
    fetch_token(sb)  # match=None leaves /oauth/token alone ...
    assert statuses(pack_session(sb), pack_url(sb), 2) == [502, 200]
    sb.inject("status", status=503, match="/oauth/token")
    body = {"grant_type": "client_credentials", "client_id": sb.client_id}
    body["client_secret"] = sb.client_secret
    assert requests.post(f"{sb.url}/oauth/token", json=body, timeout=5).status_code == 503
    assert requests.post(f"{sb.url}/oauth/token", json=body, timeout=5).status_code == 200


@pytest.mark.parametrize(
    ("retry_after", "expected"),
    [(None, None), ("2", "2"), (formatdate(0, usegmt=True), "Thu, 01 Jan 1970 00:00:00 GMT")],
)
def test_rate_limit_fault(sb: Sandbox, retry_after: str | None, expected: str | None) -> None:
    sb.inject("rate_limit", retry_after=retry_after)
    response = cl_session(sb).get(f"{sb.url}/api/packages", timeout=5)
    assert response.status_code == 429
    error = response.json()["errors"][0]
    assert (error["code"], error["status"]) == ("TOO_MANY_REQUESTS", "429")
    assert response.headers.get("Retry-After") == expected
    assert "X-Ratelimit-Limit" not in response.headers


def test_rate_limit_fault_with_headers(sb: Sandbox) -> None:
    sb.inject("rate_limit", ratelimit_headers=True, match="/v1/")
    response = pack_session(sb).get(pack_url(sb), timeout=5)
    assert response.status_code == 429
    assert "Retry-After" not in response.headers
    assert response.headers["X-Ratelimit-Interval"] == "1"
    assert response.headers["X-Ratelimit-Remaining"] == "0"
    assert response.headers["X-Ratelimit-Limit"] == "100"


def test_malformed_json(sb: Sandbox) -> None:
    sb.inject("malformed_json")
    response = pack_session(sb).get(pack_url(sb), timeout=5)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    with pytest.raises(requests.JSONDecodeError):
        response.json()


def test_truncated(sb: Sandbox) -> None:
    session = pack_session(sb)
    full = session.get(pack_url(sb), timeout=5).content
    sb.inject("truncated")
    response = session.get(pack_url(sb), timeout=5)
    assert response.status_code == 200
    assert response.content == full[: len(full) // 2]
    with pytest.raises(requests.JSONDecodeError):
        response.json()


def test_truncated_short_read_drops_the_connection(sb: Sandbox) -> None:
    sb.inject("truncated", short_read=True)
    session = pack_session(sb)
    with pytest.raises((requests.exceptions.ChunkedEncodingError, requests.ConnectionError)):
        session.get(pack_url(sb), timeout=5)
    assert session.get(pack_url(sb), timeout=5).status_code == 200


def test_non_json(sb: Sandbox) -> None:
    sb.inject("non_json", match="/api/")
    response = cl_session(sb).get(f"{sb.url}/api/packages", timeout=5)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/html")
    assert response.text.startswith("<!DOCTYPE html>")


@pytest.mark.parametrize("style", ["absolute", "path", "query"])
def test_repeat_next_pack(style: str) -> None:
    with Sandbox(seed=0, pack_link_style=style) as sb:
        session = pack_session(sb)
        first = session.get(pack_url(sb), params={"per_page": 5}, timeout=5)
        second_url = urljoin(first.url, first.json()["next"])
        sb.inject("repeat_next")
        second = session.get(second_url, timeout=5)
        assert urljoin(second.url, second.json()["next"]) == second.url


def test_repeat_and_foreign_next_commercelayer(sb: Sandbox) -> None:
    session = cl_session(sb)
    url = f"{sb.url}/api/packages?page[number]=2&page[size]=5"
    sb.inject("repeat_next")
    response = session.get(url, timeout=5)
    assert response.json()["links"]["next"] == response.url  # as sent, brackets %-encoded
    sb.inject("foreign_next")
    assert session.get(url, timeout=5).json()["links"]["next"] == "http://127.0.0.2:9/x"
    assert session.get(url, timeout=5).json()["links"]["next"].startswith(sb.url)


def test_foreign_next_pack(sb: Sandbox) -> None:
    sb.inject("foreign_next", url="https://evil.example/steal")
    body = pack_session(sb).get(pack_url(sb), timeout=5).json()
    assert body["next"] == "https://evil.example/steal"


def test_delay_provokes_a_client_timeout(sb: Sandbox) -> None:
    sb.inject("delay", seconds=0.5)
    session = pack_session(sb)
    with pytest.raises(requests.Timeout):
        session.get(pack_url(sb), timeout=0.1)
    assert session.get(pack_url(sb), timeout=5).status_code == 200


def test_expire_token(sb: Sandbox) -> None:
    session = cl_session(sb)
    sb.inject("expire_token")
    assert statuses(pack_session(sb), pack_url(sb), 1) == [200]  # only /api/ by default
    response = session.get(f"{sb.url}/api/packages", timeout=5)
    assert response.status_code == 401
    assert response.json()["errors"][0]["code"] == "INVALID_TOKEN"
    # the token stays expired; a fresh one works
    assert statuses(session, f"{sb.url}/api/packages", 1) == [401]
    session.headers["Authorization"] = f"Bearer {fetch_token(sb)}"
    assert statuses(session, f"{sb.url}/api/packages", 1) == [200]


def test_bad_fault_arguments(sb: Sandbox) -> None:
    with pytest.raises(ValueError, match="unknown fault kind"):
        sb.inject("explode")
    with pytest.raises(ValueError, match="no parameter"):
        sb.inject("delay", status=500)
    with pytest.raises(ValueError, match="times"):
        sb.inject("status", times=0)


def test_schedule_shows_offset_drift_in_commercelayer(sb: Sandbox) -> None:
    session = cl_session(sb)
    ordered = [p["id"] for p in sb.packages()]
    sb.schedule(1, lambda: sb.delete_package(ordered[0]), match="/api/packages")
    page1 = session.get(f"{sb.url}/api/packages", params={"page[size]": "10"}, timeout=5).json()
    page2 = session.get(page1["links"]["next"], timeout=5).json()
    assert [o["id"] for o in page1["data"]] == ordered[:10]  # answered before the delete
    assert [o["id"] for o in page2["data"]] == ordered[11:21]  # ordered[10] was skipped
    assert sb.action_errors == []


def test_schedule_counts_matching_requests_and_keeps_pack_cursor_stable(sb: Sandbox) -> None:
    session = pack_session(sb)
    before = sb.serial_numbers()
    sb.schedule(2, lambda: sb.delete_serial_number(before[0]["id"]))
    sb.schedule(1, lambda: sb.add_serial_number(created_at=before[1]["created_at"]), match="/v1/")
    cl_session(sb)  # /oauth/token does not count
    url, got = pack_url(sb) + "?per_page=20", []
    while url:
        body = session.get(url, timeout=5).json()
        got.extend(body["data"])
        url = body["next"]
    assert got == before
    assert len(sb.serial_numbers()) == len(before)  # one deleted, one added


def test_schedule_action_errors_are_recorded(sb: Sandbox) -> None:
    sb.schedule(1, lambda: sb.delete_package("missing"))
    assert statuses(pack_session(sb), pack_url(sb), 1) == [200]
    assert isinstance(sb.action_errors[0], KeyError)


def test_latency_applies_to_api_requests_only(sb: Sandbox) -> None:
    sb.set(latency=0.15, latency_jitter=0.05)
    started = time.monotonic()
    fetch_token(sb)
    assert time.monotonic() - started < 0.1
    session = pack_session(sb)
    started = time.monotonic()
    session.get(pack_url(sb), timeout=5)
    assert 0.15 <= time.monotonic() - started < 0.5
    sb.set(latency=0.0, latency_jitter=0.0)
    started = time.monotonic()
    session.get(pack_url(sb), timeout=5)
    assert time.monotonic() - started < 0.1


def test_error_rate_is_random_but_seeded() -> None:
    runs = []
    for _ in range(2):
        with Sandbox(seed=5, error_rate=0.5) as sb:
            fetch_token(sb)  # never affected
            runs.append(statuses(pack_session(sb), pack_url(sb), 30))
    assert runs[0] == runs[1]
    assert set(runs[0]) <= {200, 500, 502, 503}
    assert 200 in runs[0]
    assert len(set(runs[0])) > 2
    with Sandbox(error_rate=1.0) as sb:
        session = cl_session(sb)
        response = session.get(f"{sb.url}/api/packages", timeout=5)
        assert response.status_code in (500, 502, 503)
        assert response.json()["errors"][0]["status"] == str(response.status_code)


def test_rate_limits_with_headers_and_no_retry_after() -> None:
    with Sandbox(rate_limits={"uncacheable": (5, 3)}) as sb:
        session = cl_session(sb)
        url = f"{sb.url}/api/packages"
        responses = [session.get(url, timeout=5) for _ in range(4)]
        assert [r.status_code for r in responses] == [200, 200, 200, 429]  # burst of 3 per 10 s
        assert [r.headers["X-Ratelimit-Remaining"] for r in responses] == ["4", "3", "2", "1"]
        for response in responses:
            assert response.headers["X-Ratelimit-Limit"] == "5"
            assert response.headers["X-Ratelimit-Interval"] == "60"
            assert "Retry-After" not in response.headers
        error = responses[-1].json()["errors"][0]
        assert (error["title"], error["code"], error["status"]) == (
            "Too many requests",
            "TOO_MANY_REQUESTS",
            "429",
        )
        # the other class and Pack are unaffected; the token endpoint is separate
        stock = session.get(f"{sb.url}/api/stock_locations", timeout=5)
        assert stock.status_code == 200
        assert "X-Ratelimit-Limit" not in stock.headers
        assert statuses(pack_session(sb), pack_url(sb), 6) == [200] * 6
        fetch_token(sb)
        sb.set(rate_limits=None)
        assert statuses(session, url, 1) == [200]


def test_sliding_window_average_and_hammering() -> None:
    now = [0.0]
    limiter = SlidingWindowLimiter(5, 3, clock=lambda: now[0])
    decisions = []
    for _ in range(6):
        decisions.append(limiter.hit().allowed)
        now[0] += 4.0  # under the burst limit, the average limit decides
    assert decisions == [True] * 5 + [False]
    # hits at 0, 4, ..., 20 (the rejected one too) count; at 65 s two have left the window
    now[0] = 61.0
    assert limiter.hit().allowed is False
    now[0] = 69.0
    assert limiter.hit().allowed is True
    # hammering keeps the client blocked: every rejected hit also counts
    now[0] = 200.0
    blocked = SlidingWindowLimiter(2, 10, clock=lambda: now[0])
    assert [blocked.hit().allowed for _ in range(3)] == [True, True, False]
    for _ in range(10):
        now[0] += 20.0  # 3 per minute against a limit of 2: never gets through
        assert blocked.hit().allowed is False
    now[0] += 61.0
    assert blocked.hit().allowed is True


def test_request_log(sb: Sandbox) -> None:
    fetch_token(sb)
    params = {"per_page": "3", "filter[code]": "x"}
    pack_session(sb).get(pack_url(sb), params=params, timeout=5)
    requests.get(f"{sb.url}/api/packages", headers={"Accept": JSONAPI}, timeout=5)
    requests.get(f"{sb.url}/favicon.ico", timeout=5)
    log = sb.requests
    assert all(isinstance(entry, LoggedRequest) for entry in log)
    assert [(e.method, e.path, e.status, e.authorized, e.api) for e in log] == [
        ("POST", "/oauth/token", 200, False, "oauth"),
        ("GET", "/v1/organizations/org_sandbox/serial-numbers", 200, True, "pack"),
        ("GET", "/api/packages", 401, False, "commercelayer"),
        ("GET", "/favicon.ico", 404, False, "other"),
    ]
    assert log[1].query == {"per_page": ["3"], "filter[code]": ["x"]}
    assert all(abs(e.time - time.time()) < 5 for e in log)
    assert log == sorted(log, key=lambda e: e.time)
    sb.clear_requests()
    assert sb.requests == []
