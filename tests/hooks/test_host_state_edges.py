"""Two rough edges of host-shared state (issue 22), against the sandbox.

- ``max_retry_wait`` below the token endpoint's spacing (30 a minute: 2 s) must not refuse the
  first token request, which needs no wait at all.
- A host state or token file replaced by a symbolic link is never followed; the task goes on
  without host sharing for that key, with one warning naming the path.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from airflow_provider_inventory._http.hoststate import ENV_CACHE_DIR
from airflow_provider_inventory._http.registry import reset_registry
from airflow_provider_inventory.hooks.commercelayer import CommerceLayerHook
from airflow_provider_inventory.sandbox import Sandbox
from tests.conftest import set_connections


def _all_ids(sandbox: Sandbox) -> list[str]:
    return sorted(record["id"] for record in sandbox.packages())


@pytest.mark.sandbox(packages=30)
def test_a_max_retry_wait_below_the_token_pace_still_lists(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    set_connections(sandbox, monkeypatch, commercelayer_extra={"max_retry_wait": 1})

    with CommerceLayerHook() as hook:
        ids = [record["id"] for record in hook.iter_resources("packages", page_size=10)]

    assert sorted(ids) == _all_ids(sandbox)
    assert sandbox.tokens_issued == 1


@pytest.mark.sandbox(packages=30)
def test_state_and_token_files_that_are_symbolic_links_are_not_followed(
    sandbox: Sandbox,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    cache = tmp_path / "host-cache"
    monkeypatch.setenv(ENV_CACHE_DIR, str(cache))
    set_connections(sandbox, monkeypatch)
    with CommerceLayerHook() as hook:
        assert len(list(hook.iter_resources("packages", page_size=10))) == 30
    # Someone replaces every state and token file with a link to a file of their choosing.
    target = tmp_path / "not-yours"
    target.write_bytes(b"precious")
    linked = [path for path in cache.rglob("*") if path.is_file()]
    assert {path.suffix for path in linked} == {".state", ".token"}
    for path in linked:
        path.unlink()
        os.symlink(target, path)
    reset_registry()  # a new task process

    with caplog.at_level(logging.WARNING), CommerceLayerHook() as hook:
        ids = [record["id"] for record in hook.iter_resources("packages", page_size=10)]

    assert sorted(ids) == _all_ids(sandbox)
    assert target.read_bytes() == b"precious"
    for path in linked:
        assert path.is_symlink()
        warnings = [r for r in caplog.records if str(path) in r.getMessage()]
        assert len(warnings) == 1
        assert warnings[0].levelno == logging.WARNING
        assert "stays in this process" in warnings[0].getMessage()
