"""The OAuth2 access token cache: refresh margin, expiry, invalidation, one fetch per key."""

from __future__ import annotations

import threading
import time

from airflow_provider_inventory._http.tokens import TokenCache, refresh_margin


def test_refresh_margin() -> None:
    assert refresh_margin(7200) == 720
    assert refresh_margin(300) == 60
    assert refresh_margin(30) == 15  # short-lived tokens are still used for half their life


def test_token_cache_refreshes_a_margin_before_expiry_and_invalidates_only_its_token() -> None:
    now = [1000.0]
    cache = TokenCache(clock=lambda: now[0])
    issued: list[str] = []

    def fetch() -> tuple[str, float]:
        issued.append(f"token-{len(issued) + 1}")
        return issued[-1], 7200.0

    assert cache.get(("k",), fetch) == "token-1"
    now[0] += 7200 - 720 - 1
    assert cache.get(("k",), fetch) == "token-1"
    now[0] += 1
    assert cache.get(("k",), fetch) == "token-2"
    cache.invalidate(("k",), "token-1")  # stale: another thread already replaced it
    assert cache.get(("k",), fetch) == "token-2"
    cache.invalidate(("k",), "token-2")
    assert cache.get(("k",), fetch) == "token-3"
    assert cache.get(("other",), fetch) == "token-4"


def test_concurrent_callers_of_one_key_share_one_fetch() -> None:
    cache = TokenCache()
    fetches: list[str] = []
    start = threading.Barrier(8)
    tokens: list[str] = []

    def fetch() -> tuple[str, float]:
        fetches.append("fetch")
        time.sleep(0.05)  # keep the fetch in flight while the other callers arrive
        return f"token-{len(fetches)}", 7200.0

    def call() -> None:
        start.wait()
        tokens.append(cache.get(("k",), fetch))

    threads = [threading.Thread(target=call) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert fetches == ["fetch"]
    assert tokens == ["token-1"] * 8


def test_clear_forgets_every_key() -> None:
    cache = TokenCache()
    issued: list[str] = []

    def fetch() -> tuple[str, float]:
        issued.append(f"token-{len(issued) + 1}")
        return issued[-1], 7200.0

    assert cache.get(("a",), fetch) == "token-1"
    assert cache.get(("b",), fetch) == "token-2"
    cache.clear()
    assert cache.get(("a",), fetch) == "token-3"
    assert cache.get(("b",), fetch) == "token-4"
