"""``RatePacer``: sliding windows on a fake clock, server hints, sharing, and one real run."""

from __future__ import annotations

import itertools
import logging
import threading
import time

import pytest

from airflow_provider_inventory._http.errors import RateLimitedError
from airflow_provider_inventory._http.pacing import (
    WINDOW_MARGIN,
    RatePacer,
    reset_shared_pacers,
    shared_pacer,
)
from airflow_provider_inventory._http.settings import RateLimit
from tests.http import (
    ClientFactory,
    Reply,
    ScriptedServer,
)


class FakeClock:
    """A monotonic clock that only moves when someone sleeps or the test advances it."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def _pacer(
    clock: FakeClock, average: RateLimit, burst: RateLimit | None = None, *, pinned: bool = False
) -> RatePacer:
    return RatePacer(average, burst, pinned=pinned, clock=clock, sleep=clock.sleep)


def test_requests_within_the_limit_are_not_delayed(clock: FakeClock) -> None:
    pacer = _pacer(clock, RateLimit(3, 10))

    assert [pacer.acquire() for _ in range(3)] == [0.0, 0.0, 0.0]
    assert clock.sleeps == []


def test_a_request_over_the_limit_waits_until_the_oldest_leaves_the_window(
    clock: FakeClock,
) -> None:
    pacer = _pacer(clock, RateLimit(3, 10))
    for _ in range(3):
        pacer.acquire()
        clock.advance(1)

    waited = pacer.acquire()

    # Sent at 0, 1 and 2 s; it is 3 s now; the first leaves the window at 10 s (+ margin).
    assert waited == pytest.approx(7 + WINDOW_MARGIN)
    assert clock.now == pytest.approx(1000 + 10 + WINDOW_MARGIN)
    assert pacer.waited == pytest.approx(waited)


def test_no_window_ever_holds_more_than_its_limit(clock: FakeClock) -> None:
    pacer = _pacer(clock, RateLimit(5, 10), RateLimit(2, 1))
    sent = []
    for step in range(60):
        clock.advance(0.05 * (step % 4))  # an uneven caller
        pacer.acquire()
        sent.append(clock.now)

    assert all(later - earlier >= 10 for earlier, later in zip(sent, sent[5:], strict=False))
    assert all(later - earlier >= 1 for earlier, later in zip(sent, sent[2:], strict=False))


def test_the_burst_window_applies_on_top_of_the_average(clock: FakeClock) -> None:
    pacer = _pacer(clock, RateLimit(100, 60), RateLimit(2, 10))

    waits = [pacer.acquire() for _ in range(3)]

    assert waits == [0.0, 0.0, pytest.approx(10 + WINDOW_MARGIN)]
    assert pacer.windows == [RateLimit(100, 60), RateLimit(2, 10)]


def test_the_advertised_server_limit_replaces_the_default_and_scales_the_burst(
    clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="airflow_provider_inventory")
    pacer = _pacer(clock, RateLimit(200, 60), RateLimit(50, 10))

    pacer.observe(200, {"X-Ratelimit-Limit": "100", "X-Ratelimit-Interval": "60"})

    assert pacer.windows == [RateLimit(100, 60), RateLimit(25, 10)]
    assert "Server advertises 100 requests per 60 s" in caplog.text


def test_a_pinned_limit_ignores_the_server(clock: FakeClock) -> None:
    pacer = _pacer(clock, RateLimit(200, 60), RateLimit(50, 10), pinned=True)

    pacer.observe(200, {"X-Ratelimit-Limit": "5", "X-Ratelimit-Interval": "60"})

    assert pacer.windows == [RateLimit(200, 60), RateLimit(50, 10)]


@pytest.mark.parametrize(
    "headers",
    [
        {"X-Ratelimit-Limit": "abc", "X-Ratelimit-Interval": "60"},
        {"X-Ratelimit-Limit": "0", "X-Ratelimit-Interval": "60"},
        {"X-Ratelimit-Limit": "100"},
        {},
    ],
)
def test_missing_or_nonsense_rate_limit_headers_change_nothing(
    clock: FakeClock, headers: dict[str, str]
) -> None:
    pacer = _pacer(clock, RateLimit(200, 60))

    pacer.observe(200, headers)

    assert pacer.windows == [RateLimit(200, 60)]
    assert pacer.acquire() == 0.0


def test_nothing_remaining_holds_the_next_request_for_one_slot(clock: FakeClock) -> None:
    pacer = _pacer(clock, RateLimit(60, 30))

    pacer.observe(200, {"X-Ratelimit-Remaining": "0"})

    assert pacer.acquire() == pytest.approx(0.5)


def test_a_penalty_holds_every_sender(clock: FakeClock) -> None:
    pacer = _pacer(clock, RateLimit(1000, 60))
    pacer.penalize(5)
    pacer.penalize(2)  # a shorter penalty does not cut the longer one short

    assert pacer.acquire() == pytest.approx(5)
    assert pacer.acquire() == 0.0


def test_threads_sharing_a_pacer_share_its_budget() -> None:
    pacer = RatePacer(RateLimit(4, 0.1))
    threads = [
        threading.Thread(target=lambda: [pacer.acquire() for _ in range(3)]) for _ in range(4)
    ]

    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    elapsed = time.monotonic() - started

    # 12 sends, 4 per window: sends 5-8 wait one window for sends 1-4, sends 9-12 another.
    assert elapsed >= 2 * (0.1 + WINDOW_MARGIN)
    assert pacer.waited >= 4 * (0.1 + WINDOW_MARGIN)


def test_shared_pacers_are_one_per_key() -> None:
    built = itertools.count()

    def factory() -> RatePacer:
        next(built)
        return RatePacer(RateLimit(10, 1))

    first = shared_pacer(("commercelayer_default", "uncacheable"), factory)
    again = shared_pacer(("commercelayer_default", "uncacheable"), factory)
    other = shared_pacer(("commercelayer_default", "cacheable"), factory)

    assert first is again
    assert other is not first
    assert next(built) == 2
    reset_shared_pacers()
    assert shared_pacer(("commercelayer_default", "uncacheable"), factory) is not first


# --- with the client, over HTTP ----------------------------------------------------------------


def test_the_client_paces_its_requests(server: ScriptedServer, client_for: ClientFactory) -> None:
    client = client_for(server.url, pacer=RatePacer(RateLimit(2, 0.1)))

    for _ in range(4):
        client.get_json("items")

    arrived = [seen.time for seen in server.requests]
    assert all(later - earlier >= 0.1 for earlier, later in zip(arrived, arrived[2:], strict=False))
    assert client.stats.paced_seconds > 0


def test_the_client_adopts_the_advertised_limit(
    server: ScriptedServer, client_for: ClientFactory, clock: FakeClock
) -> None:
    pacer = _pacer(clock, RateLimit(200, 60))
    server.script(Reply(200, {}, headers={"X-Ratelimit-Limit": "50", "X-Ratelimit-Interval": "60"}))

    client_for(server.url, pacer=pacer).get_json("items")

    assert pacer.windows == [RateLimit(50, 60)]


@pytest.mark.parametrize(("interval", "penalty"), [("7", 7.0), (None, 1.0)])
def test_a_final_429_holds_the_pacer_for_the_rate_limit_interval(
    server: ScriptedServer,
    client_for: ClientFactory,
    clock: FakeClock,
    interval: str | None,
    penalty: float,
) -> None:
    pacer = _pacer(clock, RateLimit(1000, 60), pinned=True)
    headers = {"X-Ratelimit-Interval": interval} if interval else {}
    server.script(Reply(429, {}, headers=headers))

    with pytest.raises(RateLimitedError):
        client_for(server.url, pacer=pacer, max_attempts=1).get_json("items")

    assert pacer.acquire() == pytest.approx(penalty)


def test_an_unpaced_token_request_leaves_the_api_pacer_alone(
    server: ScriptedServer, client_for: ClientFactory, clock: FakeClock
) -> None:
    """A token endpoint's own limits (30/min, its 429s) must not throttle the API's budget."""
    pacer = _pacer(clock, RateLimit(200, 60))
    server.script(
        Reply(200, {}, headers={"X-Ratelimit-Limit": "30", "X-Ratelimit-Interval": "60"}),
        Reply(429, {}, headers={"X-Ratelimit-Interval": "60"}),
    )
    client_for(server.url, pacer=pacer, max_attempts=1)  # the API's client
    token_client = client_for(server.url, max_attempts=1)  # the token endpoint's own client

    token_client.request("POST", server.url + "/oauth/token", json_body={})
    with pytest.raises(RateLimitedError):
        token_client.request("POST", server.url + "/oauth/token", json_body={})

    assert pacer.windows == [RateLimit(200, 60)]
    assert pacer.acquire() == 0
