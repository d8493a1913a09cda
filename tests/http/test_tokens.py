"""The OAuth2 access token cache: refresh margin, expiry, invalidation, one fetch per key."""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_inventory._http.hoststate import ENV_HOST_SHARING
from airflow_provider_inventory._http.registry import registry, reset_registry
from airflow_provider_inventory._http.tokens import (
    HostTokenStore,
    TokenCache,
    refresh_margin,
    shared_token_cache,
)


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


# --- shared on the host --------------------------------------------------------------------------


def _fernet() -> Any:
    from cryptography.fernet import Fernet

    return Fernet(Fernet.generate_key())


def _process_caches(directory: Path, cipher: Any) -> tuple[TokenCache, TokenCache]:
    """Two caches over one directory stand for two processes of a host."""
    return (
        TokenCache(host=HostTokenStore(directory, cipher)),
        TokenCache(host=HostTokenStore(directory, cipher)),
    )


def test_processes_of_a_host_share_one_token_encrypted_on_disk(tmp_path: Path) -> None:
    first, second = _process_caches(tmp_path, _fernet())
    fetched: list[str] = []

    def fetch() -> tuple[str, float]:
        fetched.append(f"secret-token-{len(fetched) + 1}")
        return fetched[-1], 7200.0

    key = ("https://auth/token", "client-id", "", "secret-digest")
    assert first.get(key, fetch) == "secret-token-1"
    assert second.get(key, fetch) == "secret-token-1"
    assert fetched == ["secret-token-1"]
    (file,) = tmp_path.iterdir()
    assert b"secret-token" not in file.read_bytes()
    assert not any(part and part in file.name for part in key)
    assert file.stat().st_mode & 0o777 == 0o600


def test_a_token_retired_by_one_process_is_not_reused_by_another(tmp_path: Path) -> None:
    first, second = _process_caches(tmp_path, _fernet())
    tokens = iter(["t1", "t2", "t3"])

    def fetch() -> tuple[str, float]:
        return next(tokens), 7200.0

    assert first.get(("k",), fetch) == "t1"
    second.invalidate(("k",), "t1")  # the API said INVALID_TOKEN to the second process
    assert second.get(("k",), fetch) == "t2"
    first.invalidate(("k",), "t1")  # stale news: t2 stays
    assert first.get(("k",), fetch) == "t2"


def test_a_file_from_another_key_or_damaged_is_ignored(tmp_path: Path) -> None:
    writer = TokenCache(host=HostTokenStore(tmp_path, _fernet()))
    writer.get(("k",), lambda: ("old", 7200.0))
    reader = TokenCache(host=HostTokenStore(tmp_path, _fernet()))  # rotated Fernet key

    assert reader.get(("k",), lambda: ("new", 7200.0)) == "new"
    (file,) = tmp_path.iterdir()
    file.write_bytes(b"garbage")
    assert (
        TokenCache(host=HostTokenStore(tmp_path, _fernet())).get(("k",), lambda: ("newer", 7200.0))
        == "newer"
    )


def test_a_shared_token_keeps_its_expiry_across_processes(tmp_path: Path) -> None:
    wall = [1_000_000.0]
    cipher = _fernet()
    first = TokenCache(host=HostTokenStore(tmp_path, cipher, wall_clock=lambda: wall[0]))
    first.get(("k",), lambda: ("t1", 300.0))  # refreshed 60 s before its end: fresh for 240 s
    wall[0] += 241
    second = TokenCache(host=HostTokenStore(tmp_path, cipher, wall_clock=lambda: wall[0]))

    assert second.get(("k",), lambda: ("t2", 300.0)) == "t2"


def test_the_airflow_glue_shares_tokens_only_with_a_fernet_key(
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from airflow_provider_inventory.hooks._host import configure_host_state

    configure_host_state()
    assert registry().host.cipher is not None  # the suite sets [core] fernet_key
    assert shared_token_cache().host is not None

    monkeypatch.setenv("AIRFLOW__CORE__FERNET_KEY", "")
    reset_registry()
    caplog.set_level(logging.INFO, logger="airflow_provider_inventory")
    configure_host_state()
    assert registry().host.cipher is None
    assert shared_token_cache().host is None
    logged = caplog.text + capsys.readouterr().out  # Airflow may route logs to stdout
    assert "not shared on this host: no Fernet key" in logged


def test_host_sharing_can_be_switched_off(monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow_provider_inventory.hooks._host import configure_host_state

    monkeypatch.setenv(ENV_HOST_SHARING, "false")
    reset_registry()
    configure_host_state()

    assert registry().host.cache_dir is None
    assert shared_token_cache().host is None
