"""The fleet store against a real ``redis-server``: the budget script's window arithmetic on the
server's clock, the shared hold, expiring namespaced keys, the fleet token, and what Redis
failing, a wrong password or a missing ``redis`` package do."""

from __future__ import annotations

import json
import logging
import sys
from typing import Any

import pytest
from cryptography.fernet import Fernet

from airflow_provider_inventory._http.fleet import (
    EXTRA_HINT,
    Fleet,
    FleetBudget,
    FleetTokenStore,
    namespace,
)
from airflow_provider_inventory._http.pacing import MemoryStore, RatePacer
from airflow_provider_inventory._http.settings import RateLimit
from airflow_provider_inventory._http.tokens import TokenCache
from airflow_provider_inventory.exceptions import InventoryConfigError
from airflow_provider_inventory.hooks._host import fleet_for
from airflow_provider_inventory.sandbox.redis_server import RedisServer

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

AVERAGE = RateLimit(3, 10.0)
BURST = RateLimit(2, 1.0)
MARGIN = 0.25


class Clock:
    """A monotonic clock for the fleet's cool-down that moves only when told."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _fleet(server: RedisServer, clock: Clock | None = None, **kwargs: Any) -> Fleet:
    return Fleet(
        server.client,
        name=f"Redis connection 'redis_fleet' (127.0.0.1:{server.port})",
        clock=clock or Clock(),
        **kwargs,
    )


def _budget(fleet: Fleet, windows: tuple[RateLimit, ...] = (AVERAGE, BURST)) -> FleetBudget:
    return FleetBudget(
        fleet, namespace("https://x.example", "", "uncacheable", windows), margin=MARGIN
    )


def _server_now(client: Any) -> float:
    seconds, micros = client.time()
    return float(seconds) + micros / 1e6


def _seed(client: Any, key: str, ages: list[float]) -> float:
    """Sends ``ages`` seconds ago (Redis's clock) in window ``key``; returns that 'now'."""
    now = _server_now(client)
    for n, age in enumerate(ages):
        client.zadd(key, {f"seed-{n}": now - age})
    return now


def test_the_burst_window_binds_and_a_refused_send_commits_nothing(
    redis_server: RedisServer,
) -> None:
    budget = _budget(_fleet(redis_server))
    client = redis_server.client()

    assert budget.reserve([AVERAGE, BURST], 0.0) == (0.0, 1)
    assert budget.reserve([AVERAGE, BURST], 0.0) == (0.0, 2)
    first = min(score for _, score in client.zrange(f"{budget.prefix}:w1", 0, -1, withscores=True))
    before = _server_now(client)
    refused = budget.reserve([AVERAGE, BURST], 0.0)
    after = _server_now(client)

    assert refused is not None
    wait, sends = refused
    # The burst's oldest send must leave its 1 s window (+ margin), on the server's clock.
    boundary = first + BURST.interval + MARGIN
    assert boundary - after - 1e-6 <= wait <= boundary - before + 1e-6
    assert sends == 2
    assert client.zcard(f"{budget.prefix}:w1") == 2
    assert client.zcard(f"{budget.prefix}:w0") == 2


def test_the_average_window_waits_for_its_send_limit_sends_ago(redis_server: RedisServer) -> None:
    budget = _budget(_fleet(redis_server))
    client = redis_server.client()
    # Four sends in the average window (limit 3): the second oldest must leave it first.
    seeded = _seed(client, f"{budget.prefix}:w0", [9.9, 9.5, 6.0, 5.0])

    before = _server_now(client)
    result = budget.reserve([AVERAGE, BURST], 0.0)
    after = _server_now(client)

    assert result is not None
    wait, sends = result
    boundary = (seeded - 9.5) + AVERAGE.interval + MARGIN
    assert boundary - after - 1e-6 <= wait <= boundary - before + 1e-6
    assert sends == 4
    # Nothing older than the window (+ margin) is kept.
    old = _seed(client, f"{budget.prefix}:w0", [30.0])
    assert old
    budget.reserve([AVERAGE, BURST], 0.0)
    assert client.zscore(f"{budget.prefix}:w0", "seed-0") is None


def test_even_spacing_after_the_fleets_last_send(redis_server: RedisServer) -> None:
    budget = _budget(_fleet(redis_server))
    client = redis_server.client()

    assert budget.reserve([AVERAGE, BURST], 0.4) == (0.0, 1)
    last = float(client.get(f"{budget.prefix}:last"))
    before = _server_now(client)
    result = budget.reserve([AVERAGE, BURST], 0.4)
    after = _server_now(client)

    assert result is not None
    assert last + 0.4 - after - 1e-6 <= result[0] <= last + 0.4 - before + 1e-6


def test_a_hold_makes_every_sender_wait_and_keys_expire(redis_server: RedisServer) -> None:
    fleet = _fleet(redis_server)
    budget, other = _budget(fleet), _budget(_fleet(redis_server))  # two hosts, one budget
    client = redis_server.client()
    assert budget.reserve([AVERAGE, BURST], 0.0) == (0.0, 1)

    budget.hold(3.0)
    result = other.reserve([AVERAGE, BURST], 0.0)

    assert result is not None
    assert 2.0 < result[0] <= 3.0
    keys = sorted(key.decode() for key in client.keys("*"))
    assert keys == sorted(f"{budget.prefix}:{name}" for name in ("hold", "last", "w0", "w1"))
    assert all(
        key.startswith("inventory:v1:{https://x.example||uncacheable|3/10,2/1}") for key in keys
    )
    for key in keys:
        assert 0 < client.pttl(key) <= (AVERAGE.interval + MARGIN) * 1000 + 1000


def test_two_pacers_on_two_hosts_draw_from_one_budget(redis_server: RedisServer) -> None:
    """Each pacer has state of its own (two hosts); the fleet budget spaces them as one."""
    limit = RateLimit(600, 60.0)
    pacers = [
        RatePacer(limit, store=MemoryStore(), shared=_budget(_fleet(redis_server), (limit,)))
        for _ in range(2)
    ]

    assert pacers[0].acquire() == 0
    # The other host's first send waits the fleet's spacing (60 / 600 / 0.98 s), which its own
    # state knows nothing of.
    waited = pacers[1].acquire()

    assert 0.05 < waited <= 60 / 600 / 0.98 + 1e-3


def test_redis_failing_degrades_once_retries_after_the_cooldown_and_comes_back(
    redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    clock = Clock()
    fleet = _fleet(redis_server, clock, cooldown=30.0)
    budget = _budget(fleet)
    assert budget.reserve([AVERAGE, BURST], 0.0) == (0.0, 1)

    redis_server.kill()
    with caplog.at_level(logging.INFO, logger="airflow_provider_inventory._http.fleet"):
        assert budget.reserve([AVERAGE, BURST], 0.0) is None
        assert budget.reserve([AVERAGE, BURST], 0.0) is None  # cooling down: not even tried
        budget.hold(5.0)  # best effort: nothing raised
        redis_server.start()
        assert budget.reserve([AVERAGE, BURST], 0.0) is None  # still cooling down
        clock.now += 31
        back = budget.reserve([AVERAGE, BURST], 0.0)

    assert back == (0.0, 1)  # a fresh Redis: the script is loaded again, the budget restarts
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "Redis connection 'redis_fleet'" in warnings[0].getMessage()
    assert "host's budget" in warnings[0].getMessage()
    assert any("back on the fleet budget" in r.getMessage() for r in caplog.records)


def test_a_pacer_falls_back_to_its_host_state_while_redis_is_down(
    redis_server: RedisServer,
) -> None:
    clock = Clock()

    def sleep(seconds: float) -> None:
        clock.now += seconds

    pacer = RatePacer(
        RateLimit(60, 60.0),
        store=MemoryStore(),
        shared=_budget(_fleet(redis_server), (RateLimit(60, 60.0),)),
        clock=clock,
        sleep=sleep,
    )
    assert pacer.acquire() == 0
    redis_server.kill()

    # Paced on the local state, which recorded the send made through Redis.
    assert pacer.acquire() == pytest.approx(60 / 60 / 0.98)


def test_one_fleet_token_encrypted_fetched_once(redis_server: RedisServer) -> None:
    cipher = Fernet(Fernet.generate_key())
    fetched: list[int] = []

    def fetch() -> tuple[str, float]:
        fetched.append(1)
        return "tok-fleet-secret-0001", 7200.0

    caches = [TokenCache(fleet=FleetTokenStore(_fleet(redis_server), cipher)) for _ in range(3)]
    key = ("https://auth.example/oauth/token", "client", "", "digest")

    assert {cache.get(key, fetch) for cache in caches} == {"tok-fleet-secret-0001"}
    assert len(fetched) == 1
    client = redis_server.client()
    stored = client.get(FleetTokenStore.key_name(key))
    assert b"tok-fleet-secret-0001" not in stored
    assert cipher.decrypt(stored) == b"tok-fleet-secret-0001"
    assert 0 < client.pttl(FleetTokenStore.key_name(key)) <= (7200 - 720) * 1000
    assert not [k for k in client.keys("*") if b"client" in k]  # the key reveals nothing

    caches[0].invalidate(key, "tok-fleet-secret-0001")
    assert client.get(FleetTokenStore.key_name(key)) is None


def _redis_conn_env(monkeypatch: pytest.MonkeyPatch, server: RedisServer, **fields: Any) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_REDIS_FLEET", json.dumps({**server.connection(), **fields}))


def test_a_wrong_redis_password_is_a_clear_config_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from airflow_provider_inventory.sandbox.redis_server import redis_server_binary

    if redis_server_binary() is None:
        pytest.skip("redis-server is not installed")
    with RedisServer(password="right-password-1234") as server:
        _redis_conn_env(monkeypatch, server, password="wrong-password-5678")

        with pytest.raises(InventoryConfigError) as caught:
            fleet_for("redis_fleet", conn_id="commercelayer_default")

    message = str(caught.value)
    assert "Redis connection 'redis_fleet'" in message
    assert "password" in message
    assert "wrong-password-5678" not in message
    assert "right-password-1234" not in message


def test_a_missing_redis_package_names_the_extra(
    redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    _redis_conn_env(monkeypatch, redis_server)
    monkeypatch.setitem(sys.modules, "redis", None)

    with pytest.raises(InventoryConfigError) as caught:
        fleet_for("redis_fleet", conn_id="commercelayer_default")

    assert EXTRA_HINT in str(caught.value)
    assert "commercelayer_default" in str(caught.value)


def test_a_missing_redis_connection_names_the_extra_field(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("redis")
    with pytest.raises(InventoryConfigError, match=r"rate_limit_redis_conn_id.*'no_such_redis'"):
        fleet_for("no_such_redis", conn_id="commercelayer_default")


def test_an_unreachable_redis_at_start_degrades_with_one_warning(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    pytest.importorskip("redis")
    from airflow_provider_inventory.sandbox.redis_server import _free_port

    monkeypatch.setenv(
        "AIRFLOW_CONN_REDIS_FLEET",
        json.dumps({"conn_type": "redis", "host": "127.0.0.1", "port": _free_port()}),
    )
    with caplog.at_level(logging.WARNING):
        fleet = fleet_for("redis_fleet", conn_id="commercelayer_default")

    assert not fleet.available
    assert (
        len([r for r in caplog.records if "Redis connection 'redis_fleet'" in r.getMessage()]) == 1
    )


def test_a_token_shared_between_the_read_and_the_lock_is_not_fetched_again(
    redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """B finds no token, A fetches, shares it and releases the lock, then B takes the lock: B
    must use A's token (this race gave a fleet of 8 two tokens)."""
    cipher = Fernet(Fernet.generate_key())
    first, second = (FleetTokenStore(_fleet(redis_server), cipher) for _ in range(2))
    key = ("https://auth.example/oauth/token", "client", "", "digest")
    read = second._read
    reads: list[str] = []

    def read_while_the_other_shares(name: str) -> tuple[str, float] | None:
        found = read(name)
        if not reads:
            assert first.get(key, lambda: ("tok-first-0001", 600.0))[0] == "tok-first-0001"
        reads.append(name)
        return found

    def fetch_again() -> tuple[str, float]:
        raise AssertionError("fetched a second token")

    monkeypatch.setattr(second, "_read", read_while_the_other_shares)

    assert second.get(key, fetch_again)[0] == "tok-first-0001"
    assert len(reads) == 2
