"""The retry policy, over real loopback HTTP: what is retried, how often, how long it waits."""

from __future__ import annotations

import email.utils
import logging
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor

import pytest

from airflow_provider_inventory.exceptions import (
    AuthenticationError,
    BadResponseError,
    InventoryApiError,
    NotFoundError,
    RateLimitedError,
    RequestRejectedError,
    ServerError,
    TokenExpiredError,
    TransportError,
)
from tests.http import (
    ClientFactory,
    Reply,
    ScriptedServer,
    Seen,
    logged_waits,
    refused_port,
    retry_messages,
)

OK = Reply(200, {"data": ["done"]})


def _error_body(code: str, title: str = "failed") -> dict[str, object]:
    return {"errors": [{"code": code, "title": title, "detail": f"{title} ({code})"}]}


@pytest.fixture(autouse=True)
def _capture_retry_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="airflow_provider_inventory")


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504])
def test_each_retryable_status_is_retried_then_succeeds(
    server: ScriptedServer, client_for: ClientFactory, caplog: pytest.LogCaptureFixture, status: int
) -> None:
    server.script(Reply(status, _error_body("BUSY")), OK)
    client = client_for(server.url)

    response = client.get_json("items")

    assert response.body == {"data": ["done"]}
    assert server.count == 2
    assert client.stats.retries == 1
    [message] = retry_messages(caplog)
    assert f"after {status}" in message


@pytest.mark.parametrize(
    ("status", "error_class"),
    [
        (408, ServerError),
        (429, RateLimitedError),
        (500, ServerError),
        (502, ServerError),
        (503, ServerError),
        (504, ServerError),
    ],
)
def test_a_status_that_persists_raises_its_error_after_every_attempt(
    server: ScriptedServer,
    client_for: ClientFactory,
    status: int,
    error_class: type[InventoryApiError],
) -> None:
    server.default = Reply(status, _error_body("STILL_FAILING", "try later"))

    with pytest.raises(error_class) as caught:
        client_for(server.url, max_attempts=3).get_json("items")

    assert server.count == 3
    assert caught.value.status == status
    assert caught.value.code == "STILL_FAILING"
    assert f"HTTP {status}" in str(caught.value)


@pytest.mark.parametrize("attempts", [1, 2, 5])
def test_max_attempts_counts_every_request_including_the_first(
    server: ScriptedServer,
    client_for: ClientFactory,
    caplog: pytest.LogCaptureFixture,
    attempts: int,
) -> None:
    server.default = Reply(503)

    with pytest.raises(ServerError):
        client_for(server.url, max_attempts=attempts).get_json("items")

    assert server.count == attempts
    assert len(retry_messages(caplog)) == attempts - 1


@pytest.mark.parametrize(
    ("status", "code", "error_class"),
    [
        (400, "BAD_REQUEST", RequestRejectedError),
        (401, "UNAUTHORIZED", AuthenticationError),
        (401, "INVALID_TOKEN", TokenExpiredError),
        (403, "FORBIDDEN", AuthenticationError),
        (404, "RECORD_NOT_FOUND", NotFoundError),
        (409, "CONFLICT", RequestRejectedError),
        (422, "VALIDATION_ERROR", RequestRejectedError),
    ],
)
def test_client_errors_are_not_retried(
    server: ScriptedServer,
    client_for: ClientFactory,
    caplog: pytest.LogCaptureFixture,
    status: int,
    code: str,
    error_class: type[InventoryApiError],
) -> None:
    server.default = Reply(status, _error_body(code, "rejected"))

    with pytest.raises(error_class) as caught:
        client_for(server.url, max_attempts=5).get_json("items")

    assert server.count == 1
    assert retry_messages(caplog) == []
    assert (caught.value.status, caught.value.code) == (status, code)
    assert caught.value.title == "rejected"
    assert caught.value.detail == f"rejected ({code})"


def test_an_expired_token_is_reported_as_its_own_authentication_error(
    server: ScriptedServer, client_for: ClientFactory
) -> None:
    server.default = Reply(401, _error_body("INVALID_TOKEN", "Invalid token"))

    with pytest.raises(AuthenticationError) as caught:
        client_for(server.url).get_json("items")

    assert type(caught.value) is TokenExpiredError


def test_refused_connections_are_retried_then_reported(
    client_for: ClientFactory, caplog: pytest.LogCaptureFixture
) -> None:
    with refused_port() as url:
        client = client_for(url, max_attempts=3)
        with pytest.raises(TransportError) as caught:
            client.get_json("items")

    assert client.stats.retries == 2
    messages = retry_messages(caplog)
    assert len(messages) == 2
    assert all("NewConnectionError" in message for message in messages)
    assert caught.value.status is None
    assert "after 3 attempt(s)" in str(caught.value)
    assert "max_attempts" in str(caught.value)


def test_a_dropped_connection_is_retried(server: ScriptedServer, client_for: ClientFactory) -> None:
    server.script(Reply(drop=True), Reply(drop=True), OK)

    response = client_for(server.url, max_attempts=3).get_json("items")

    assert response.body == {"data": ["done"]}
    assert server.count == 3


def test_connections_dropped_on_every_attempt_raise_a_transport_error(
    server: ScriptedServer, client_for: ClientFactory
) -> None:
    server.default = Reply(drop=True)

    with pytest.raises(TransportError):
        client_for(server.url, max_attempts=4).get_json("items")

    assert server.count == 4


def test_a_read_timeout_is_retried(server: ScriptedServer, client_for: ClientFactory) -> None:
    server.script(Reply(delay=1.0), OK)

    response = client_for(server.url, read_timeout=0.2).get_json("items")

    assert response.body == {"data": ["done"]}
    assert server.count == 2


def test_read_timeouts_on_every_attempt_name_the_setting_to_raise(
    server: ScriptedServer, client_for: ClientFactory, caplog: pytest.LogCaptureFixture
) -> None:
    server.default = Reply(delay=1.0)

    with pytest.raises(TransportError) as caught:
        client_for(server.url, read_timeout=0.2, max_attempts=2).get_json("items")

    assert server.count == 2
    assert "ReadTimeoutError" in str(caught.value)
    assert "read_timeout" in str(caught.value)
    assert "ReadTimeoutError" in retry_messages(caplog)[0]


def test_retry_after_in_seconds_is_honoured(
    server: ScriptedServer, client_for: ClientFactory, caplog: pytest.LogCaptureFixture
) -> None:
    server.script(Reply(429, headers={"Retry-After": "1"}), OK)

    client_for(server.url).get_json("items")

    assert logged_waits(caplog) == [1.0]
    [gap] = server.gaps()
    assert 0.9 <= gap < 10


def test_retry_after_as_an_http_date_is_honoured(
    server: ScriptedServer, client_for: ClientFactory, caplog: pytest.LogCaptureFixture
) -> None:
    def two_seconds_from_now(seen: Seen) -> Reply:
        date = email.utils.formatdate(time.time() + 2, usegmt=True)
        return Reply(503, headers={"Retry-After": date})

    server.script(two_seconds_from_now, OK)

    client_for(server.url).get_json("items")

    # An HTTP date has whole seconds: "2 s from now" is at least 1 s after the server wrote it,
    # so the retry arrives at least 1 s after the first request, whatever the client's delays.
    [wait] = logged_waits(caplog)
    assert 0 < wait <= 2.0
    [gap] = server.gaps()
    assert 0.95 <= gap < 10


def test_a_429_without_retry_after_waits_the_rate_limit_interval(
    server: ScriptedServer, client_for: ClientFactory, caplog: pytest.LogCaptureFixture
) -> None:
    limited = {"X-Ratelimit-Limit": "100", "X-Ratelimit-Interval": "0.3"}
    server.script(Reply(429, headers=limited), OK)

    client_for(server.url).get_json("items")

    assert logged_waits(caplog) == [0.3]
    [gap] = server.gaps()
    assert gap >= 0.25


def test_retry_after_takes_precedence_over_the_rate_limit_interval(
    server: ScriptedServer, client_for: ClientFactory, caplog: pytest.LogCaptureFixture
) -> None:
    server.script(Reply(429, headers={"Retry-After": "0", "X-Ratelimit-Interval": "60"}), OK)

    client_for(server.url).get_json("items")

    assert logged_waits(caplog) == [0.0]


def test_an_unreadable_retry_after_falls_back_to_backoff(
    server: ScriptedServer, client_for: ClientFactory, caplog: pytest.LogCaptureFixture
) -> None:
    server.script(Reply(503, headers={"Retry-After": "in a little while"}), OK)

    response = client_for(server.url, backoff_factor=0.01).get_json("items")

    assert response.body == {"data": ["done"]}
    assert server.count == 2
    [wait] = logged_waits(caplog)
    assert wait <= 0.01


@pytest.mark.parametrize(
    "headers", [{"Retry-After": "3600"}, {"X-Ratelimit-Interval": "3600"}], ids=["date", "interval"]
)
def test_server_requested_waits_are_capped_by_max_retry_wait(
    server: ScriptedServer,
    client_for: ClientFactory,
    caplog: pytest.LogCaptureFixture,
    headers: dict[str, str],
) -> None:
    server.script(Reply(429, headers=headers), OK)

    client_for(server.url, max_retry_wait=0.05).get_json("items")

    assert logged_waits(caplog) == [0.05]
    assert server.count == 2


def test_backoff_waits_are_capped_by_backoff_max(
    server: ScriptedServer, client_for: ClientFactory, caplog: pytest.LogCaptureFixture
) -> None:
    server.default = Reply(500)

    with pytest.raises(ServerError):
        client_for(server.url, backoff_factor=50, backoff_max=0.03, max_attempts=4).get_json("x")

    waits = logged_waits(caplog)
    assert len(waits) == 3
    assert all(0.01 <= wait <= 0.03 for wait in waits)


def test_backoff_doubles_per_retry_with_jitter_in_the_upper_half(
    server: ScriptedServer, client_for: ClientFactory, caplog: pytest.LogCaptureFixture
) -> None:
    server.default = Reply(502)

    with pytest.raises(ServerError):
        client_for(server.url, backoff_factor=0.04, backoff_max=10, max_attempts=4).get_json("x")

    # Retry n waits between half and all of factor * 2**(n-1); the log rounds to 0.01 s.
    ceilings = [0.04, 0.08, 0.16]
    waits = logged_waits(caplog)
    assert len(waits) == 3
    for wait, ceiling in zip(waits, ceilings, strict=True):
        assert ceiling / 2 - 0.005 <= wait <= ceiling + 0.005


def test_every_retry_is_logged_at_info_with_request_status_and_wait(
    server: ScriptedServer, client_for: ClientFactory, caplog: pytest.LogCaptureFixture
) -> None:
    server.script(Reply(503), Reply(429, headers={"Retry-After": "0"}), OK)

    client_for(server.url, max_attempts=3).get_json("items", params={"page": 2})

    messages = retry_messages(caplog)
    assert len(messages) == 2
    url = f"{server.url}/items?page=2"
    assert messages[0].startswith(f"Retrying GET {url} after 503 (attempt 1 of 3), waiting ")
    assert messages[1] == f"Retrying GET {url} after 429 (attempt 2 of 3), waiting 0.00 s"


def test_a_body_cut_off_mid_transfer_is_retried(
    server: ScriptedServer, client_for: ClientFactory, caplog: pytest.LogCaptureFixture
) -> None:
    server.script(Reply(200, {"data": list(range(50))}, cut_to=20), OK)

    response = client_for(server.url).get_json("items")

    assert response.body == {"data": ["done"]}
    assert server.count == 2
    assert len(retry_messages(caplog)) == 1


def test_a_body_cut_off_on_every_attempt_is_a_bad_response_with_status_and_type(
    server: ScriptedServer, client_for: ClientFactory
) -> None:
    server.default = Reply(200, {"data": list(range(50))}, cut_to=20)

    with pytest.raises(BadResponseError) as caught:
        client_for(server.url, max_attempts=3).get_json("items")

    assert server.count == 3
    assert caught.value.status == 200
    assert "Content-Type 'application/json'" in str(caught.value)
    assert "broke off mid-transfer on the last of max_attempts=3 attempts" in str(caught.value)


def test_body_cut_offs_and_error_statuses_share_one_attempt_budget(
    server: ScriptedServer, client_for: ClientFactory
) -> None:
    cut = Reply(200, {"data": list(range(50))}, cut_to=20)
    server.script(Reply(503), cut, Reply(503), cut, OK)

    with pytest.raises(InventoryApiError):
        client_for(server.url, max_attempts=4).get_json("items")

    assert server.count == 4


def test_a_body_that_stalls_past_the_read_timeout_is_retried(
    server: ScriptedServer, client_for: ClientFactory
) -> None:
    server.script(Reply(200, {"data": ["late"]}, stall=1.0), OK)

    response = client_for(server.url, read_timeout=0.2).get_json("items")

    assert response.body == {"data": ["done"]}
    assert server.count == 2


def test_a_body_that_cannot_be_decoded_is_not_retried(
    server: ScriptedServer, client_for: ClientFactory
) -> None:
    server.default = Reply(200, b"not gzip at all", headers={"Content-Encoding": "gzip"})

    with pytest.raises(BadResponseError) as caught:
        client_for(server.url, max_attempts=3).get_json("items")

    assert server.count == 1
    assert "could not be decoded (Content-Encoding 'gzip')" in str(caught.value)
    assert caught.value.status == 200


def test_parallel_calls_keep_their_own_retry_budgets(
    server: ScriptedServer, client_for: ClientFactory
) -> None:
    cut = Reply(200, {"data": list(range(50))}, cut_to=20)
    server.script(cut, cut)
    client = client_for(server.url, max_attempts=3)

    with ThreadPoolExecutor(max_workers=4) as pool:
        bodies = list(pool.map(lambda _: client.get_json("items").body, range(4)))

    assert bodies == [{"ok": True}] * 4
    assert server.count == 6
    assert client.stats.retries == 2


def test_a_token_post_is_retried_like_a_read(
    server: ScriptedServer, client_for: ClientFactory
) -> None:
    server.script(Reply(503), Reply(200, {"access_token": "fresh", "expires_in": 7200}))
    client = client_for(server.url)

    response = client.request("POST", f"{server.url}/oauth/token", json_body={"grant": "x"})

    assert response.body["expires_in"] == 7200
    assert [seen.method for seen in server.requests] == ["POST", "POST"]
    assert server.requests[1].body == b'{"grant": "x"}'


class _RecordingPacer:
    """A pacer that only records what the loop asks of it."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def acquire(self) -> float:
        self.calls.append("acquire")
        return 0.25

    def observe(self, status: int, headers: Mapping[str, str]) -> None:
        self.calls.append(f"observe {status}")


def test_the_pacer_is_asked_before_every_attempt_and_sees_every_response(
    server: ScriptedServer, client_for: ClientFactory
) -> None:
    pacer = _RecordingPacer()
    server.script(Reply(503), Reply(429, headers={"Retry-After": "0"}), Reply(drop=True), OK)
    client = client_for(server.url, pacer=pacer, max_attempts=4)

    assert client.get_json("items").body == {"data": ["done"]}

    assert pacer.calls == [
        "acquire",
        "observe 503",
        "acquire",
        "observe 429",
        "acquire",  # the dropped connection: no response to observe
        "acquire",
        "observe 200",
    ]
    assert (client.stats.requests, client.stats.retries) == (4, 3)
    assert client.stats.paced_seconds == pytest.approx(1.0)


def test_a_redirect_is_neither_followed_nor_retried_and_the_pacer_sees_it(
    server: ScriptedServer, client_for: ClientFactory
) -> None:
    pacer = _RecordingPacer()
    server.default = Reply(301, b"", headers={"Location": "https://elsewhere.example/x"})

    with pytest.raises(BadResponseError, match="redirects are not followed"):
        client_for(server.url, pacer=pacer).get_json("items")

    assert pacer.calls == ["acquire", "observe 301"]
    assert server.count == 1
