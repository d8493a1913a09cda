"""The connection examples of the documentation (``docs/examples/connections.sh``) are valid:
each parses as Airflow parses ``AIRFLOW_CONN_*`` and the hook reads every field of it."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "docs" / "examples" / "connections.sh"
_EXPORT = re.compile(r"^export (AIRFLOW_CONN_\w+)='(.*?)'$", re.MULTILINE | re.DOTALL)


def exported() -> dict[str, str]:
    return dict(_EXPORT.findall(EXAMPLES.read_text()))


def test_every_export_is_a_json_connection() -> None:
    exports = exported()

    assert set(exports) == {
        "AIRFLOW_CONN_PACK_DEFAULT",
        "AIRFLOW_CONN_COMMERCELAYER_DEFAULT",
        "AIRFLOW_CONN_COMMERCELAYER_FAST",
    }
    for value in exports.values():
        assert json.loads(value)["conn_type"] in {"pack", "commercelayer"}


def test_the_hooks_read_the_examples(monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow_provider_inventory.hooks.commercelayer import CommerceLayerHook
    from airflow_provider_inventory.hooks.pack import PackHook

    for name, value in exported().items():
        monkeypatch.setenv(name, value)

    pack = PackHook()
    assert pack.organization_id == "org_123"
    assert pack.base_url == "https://api.pack.cloud"
    commercelayer = CommerceLayerHook()
    assert commercelayer.api_url == "https://acme.commercelayer.io/api"
    assert commercelayer.scope == "market:id:xYZkjABcde"
    fast = CommerceLayerHook(commercelayer_conn_id="commercelayer_fast").http_settings
    assert (fast.max_attempts, fast.max_retry_wait) == (3, 10)
    assert (fast.request_timeout, fast.read_timeout) == (60, 20)
