"""The sandbox's Exports API and attachment origin, over plain HTTP."""

from __future__ import annotations

import gzip
import json
import time
from typing import Any

import pytest
import requests

from airflow_provider_inventory.sandbox import Sandbox

pytestmark = pytest.mark.sandbox(seed=5, packages=20, stock_locations=3, shipments=60)


def session(sb: Sandbox) -> requests.Session:
    token = requests.post(
        sb.url + "/oauth/token",
        json={
            "grant_type": "client_credentials",
            "client_id": sb.client_id,
            "client_secret": sb.client_secret,
        },
        timeout=10,
    ).json()["access_token"]
    http = requests.Session()
    http.headers.update(
        {
            "Authorization": f"Bearer {token}",
            "Accept": "application/vnd.api+json",
            "Content-Type": "application/vnd.api+json",
        }
    )
    return http


def create(http: requests.Session, sb: Sandbox, **attributes: Any) -> requests.Response:
    body = {"data": {"type": "exports", "attributes": {"resource_type": "shipments", **attributes}}}
    return http.post(sb.url + "/api/exports", data=json.dumps(body), timeout=10)


def wait_status(http: requests.Session, sb: Sandbox, export_id: str, status: str) -> dict[str, Any]:
    deadline = time.monotonic() + 20
    while True:
        attributes = http.get(f"{sb.url}/api/exports/{export_id}", timeout=10).json()["data"][
            "attributes"
        ]
        if attributes["status"] == status:
            return dict(attributes)
        assert time.monotonic() < deadline, f"still {attributes['status']}"
        time.sleep(0.02)


def test_an_export_completes_into_a_gzip_array_on_the_other_origin(sandbox: Sandbox) -> None:
    http = session(sandbox)
    created = create(http, sandbox, filters={"status_eq": "shipped"}, reference="r.1")
    assert created.status_code == 201
    state = created.json()["data"]
    assert state["attributes"]["status"] == "pending"
    expected = sorted(
        (s for s in sandbox.shipments() if s["status"] == "shipped"), key=lambda s: s["id"]
    )
    assert state["attributes"]["records_count"] == len(expected)

    done = wait_status(http, sandbox, state["id"], "completed")
    url = done["attachment_url"]
    assert url.startswith(sandbox.attachments_url + "/")
    assert not sandbox.url.startswith(sandbox.attachments_url)
    file = requests.get(url, timeout=10)
    records = json.loads(gzip.decompress(file.content))
    assert [r["id"] for r in records] == [s["id"] for s in expected]
    assert records[0] == {
        k: v for k, v in expected[0].items() if k not in ("type", "meta")
    }  # flat: attributes and the stock_location_id
    assert file.headers["Content-Type"] == "application/gzip"


def test_urls_expire_and_a_fresh_get_renews_them(sandbox: Sandbox) -> None:
    sandbox.set_exports(url_ttl=0.2)
    http = session(sandbox)
    export_id = create(http, sandbox).json()["data"]["id"]
    url = wait_status(http, sandbox, export_id, "completed")["attachment_url"]
    time.sleep(0.3)
    expired = requests.get(url, timeout=10)
    assert expired.status_code == 403
    assert b"Request has expired" in expired.content
    fresh = wait_status(http, sandbox, export_id, "completed")["attachment_url"]
    assert requests.get(fresh, timeout=10).status_code == 200
    assert requests.get(fresh + "x", timeout=10).status_code == 403  # a bad signature


def test_validation_limits_and_the_in_progress_cap(sandbox: Sandbox) -> None:
    http = session(sandbox)
    refused = create(http, sandbox, resource_type="packages")
    assert refused.status_code == 422
    assert "resource_type" in refused.json()["errors"][0]["detail"]
    assert "greater_than" in create(http, sandbox, filters={"number_eq": "x"}).text
    sandbox.set_exports(max_records=10)
    assert "less_than_or_equal_to" in create(http, sandbox).text
    sandbox.set_exports(max_records=10_000, max_in_progress=2, speed=1)
    assert create(http, sandbox).status_code == 201
    assert create(http, sandbox).status_code == 201
    third = create(http, sandbox)
    assert third.status_code == 422
    assert "in progress" in third.text
    assert sandbox.exports_peak_in_progress == 2


def test_interrupt_restart_list_and_delete(sandbox: Sandbox) -> None:
    sandbox.set_exports(speed=1)
    http = session(sandbox)
    export_id = create(http, sandbox, reference="owner.a").json()["data"]["id"]
    create(http, sandbox, reference="other.b")

    def patch(**attributes: Any) -> requests.Response:
        body = {"data": {"type": "exports", "id": export_id, "attributes": attributes}}
        return http.patch(
            f"{sandbox.url}/api/exports/{export_id}", data=json.dumps(body), timeout=10
        )

    assert patch(_interrupt=True).json()["data"]["attributes"]["status"] == "interrupted"
    restarted = patch(_start=True, metadata={"restarts": 1}).json()["data"]["attributes"]
    assert (restarted["status"], restarted["metadata"]) == ("pending", {"restarts": 1})
    listed = http.get(
        sandbox.url + "/api/exports", params={"filter[q][reference_start]": "owner."}, timeout=10
    ).json()
    assert [e["id"] for e in listed["data"]] == [export_id]
    assert http.delete(f"{sandbox.url}/api/exports/{export_id}", timeout=10).status_code == 204
    assert http.get(f"{sandbox.url}/api/exports/{export_id}", timeout=10).status_code == 404


def test_faults_fail_or_interrupt_with_an_errors_log(sandbox: Sandbox) -> None:
    http = session(sandbox)
    sandbox.inject_export_fault("failed")
    sandbox.inject_export_fault("interrupted")
    failed = create(http, sandbox).json()["data"]["id"]
    interrupted = create(http, sandbox).json()["data"]["id"]
    assert wait_status(http, sandbox, failed, "failed")["errors_log"] == {
        "RuntimeError": "query timeout"
    }
    assert (
        "ActiveRecord::QueryCanceled"
        in wait_status(http, sandbox, interrupted, "interrupted")["errors_log"]
    )


def test_exports_need_a_token(sandbox: Sandbox) -> None:
    answer = requests.get(
        sandbox.url + "/api/exports", headers={"Accept": "application/vnd.api+json"}, timeout=10
    )
    assert answer.status_code == 401
