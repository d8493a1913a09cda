"""The sandbox page's example (``docs/examples/sandbox_session.py``) runs as documented."""

from __future__ import annotations

import runpy
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "examples" / "sandbox_session.py"


def test_the_listing_survives_the_injected_failures(monkeypatch: pytest.MonkeyPatch) -> None:
    # The example exports the sandbox's connections: restore the environment afterwards.
    for name in ("AIRFLOW_CONN_PACK_DEFAULT", "AIRFLOW_CONN_COMMERCELAYER_DEFAULT"):
        monkeypatch.setenv(name, "")

    codes = runpy.run_path(str(EXAMPLE))["list_through_two_failures"]()

    assert len(codes) == 300
    assert len(set(codes)) == 300
