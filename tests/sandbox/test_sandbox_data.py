"""Deterministic data, mutations, connection helpers and the Sandbox lifecycle."""

from __future__ import annotations

import json
import re
import threading
import time
from collections import Counter
from datetime import datetime, timedelta, timezone

import pytest
import requests

from airflow_provider_inventory.sandbox import ANCHOR, Sandbox

from .conftest import pack_session, pack_url

TS = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")


def parse(ts: str) -> datetime:
    return datetime.strptime(ts, "%Y-%m-%dT%H:%M:%S.%f%z")


ANCHOR_DT = datetime(2025, 6, 1, tzinfo=timezone.utc)


def test_same_seed_same_data_other_seed_other_data() -> None:
    a = Sandbox(seed=7, serial_numbers=50, packages=20)
    b = Sandbox(seed=7, serial_numbers=50, packages=20)
    c = Sandbox(seed=8, serial_numbers=50, packages=20)
    assert a.serial_numbers() == b.serial_numbers()
    assert a.packages() == b.packages()
    assert a.stock_locations() == b.stock_locations()
    assert a.warehouses() == b.warehouses()
    assert a.serial_numbers() != c.serial_numbers()
    assert a.packages() != c.packages()


def test_package_count_does_not_change_serial_numbers() -> None:
    assert (
        Sandbox(seed=3, serial_numbers=30, packages=5).serial_numbers()
        == Sandbox(seed=3, serial_numbers=30, packages=50).serial_numbers()
    )


def test_serial_number_shape() -> None:
    sb = Sandbox(seed=0, serial_numbers=600)
    records = sb.serial_numbers()
    assert len(records) == 600
    assert sb.anchor == ANCHOR == "2025-06-01T00:00:00Z"
    assert all(
        list(r)
        == [
            "id",
            "product_id",
            "stock_id",
            "fulfillment_line_id",
            "code",
            "created_at",
            "updated_at",
        ]
        for r in records
    )
    assert len({r["id"] for r in records}) == 600
    assert all(re.fullmatch(r"sn_[0-9a-f]{12}", r["id"]) for r in records)
    assert len({r["code"] for r in records}) == 600
    assert all(re.fullmatch(r"[A-Z0-9]{6}-[A-Z0-9]{6}-[A-Z0-9]{6}", r["code"]) for r in records)
    products = Counter(r["product_id"] for r in records)
    assert len(products) == 5
    assert all(p.startswith("prod_") for p in products)
    stocks = Counter(r["stock_id"] for r in records)
    assert None in stocks
    assert len(stocks) == 21  # one stock per product and location slot (5 x 4), and None
    shipped = sum(r["fulfillment_line_id"] is not None for r in records)
    assert 0.25 < shipped / 600 < 0.42
    for r in records:
        assert TS.match(r["created_at"])
        assert TS.match(r["updated_at"])
        assert r["created_at"] <= r["updated_at"]
        assert ANCHOR_DT - timedelta(days=90) <= parse(r["created_at"]) < ANCHOR_DT
        assert parse(r["updated_at"]) < ANCHOR_DT
    assert records == sorted(records, key=lambda r: (r["created_at"], r["id"]))


def test_warehouses_cover_the_stocks() -> None:
    sb = Sandbox(seed=0, serial_numbers=100)
    warehouses = sb.warehouses()
    assert all(w.startswith("wh_") for w in warehouses)
    stocks = [s for stock_ids in warehouses.values() for s in stock_ids]
    assert sorted(stocks) == sorted({r["stock_id"] for r in sb.serial_numbers()} - {None})


def test_package_and_stock_location_shape() -> None:
    sb = Sandbox(seed=0, packages=200, stock_locations=12)
    packages = sb.packages()
    locations = sb.stock_locations()
    assert len(packages) == 200
    assert len(locations) == 12
    location_ids = {loc["id"] for loc in locations}
    for p in packages:
        assert re.fullmatch(r"[A-Za-z0-9]{10}", p["id"])
        assert list(p)[:2] == ["id", "type"]
        assert list(p)[-2:] == ["stock_location_id", "meta"]
        assert p["type"] == "packages"
        assert p["meta"] == {"mode": "test"}
        assert p["unit_of_length"] in ("cm", "in")
        assert all(isinstance(p[k], float) for k in ("length", "width", "height"))
        assert isinstance(p["metadata"], dict)
        assert p["stock_location_id"] in location_ids
        assert TS.match(p["created_at"])
        assert p["created_at"] <= p["updated_at"]
    assert len({p["name"] for p in packages}) == 200
    assert len({p["id"] for p in packages} | location_ids) == 212
    assert any(p["metadata"].get("tier") == "gold" for p in packages)
    assert any(p["reference"] is None for p in packages)
    assert any(p["reference"] is not None for p in packages)
    for loc in locations:
        assert loc["type"] == "stock_locations"
        assert {"name", "code", "label_format", "suppress_etd", "reference", "metadata"} <= set(loc)
    assert len({loc["name"] for loc in locations}) == 12


def test_accessors_return_copies() -> None:
    sb = Sandbox(seed=0, serial_numbers=5, packages=5)
    sb.serial_numbers()[0]["code"] = "changed"
    sb.packages()[0]["metadata"]["tier"] = "changed"
    assert sb.serial_numbers()[0]["code"] != "changed"
    assert sb.packages()[0]["metadata"].get("tier") != "changed"


def test_serial_number_mutations() -> None:
    sb = Sandbox(seed=0, serial_numbers=10)
    before = datetime.now(timezone.utc)
    added = sb.add_serial_number(product_id="prod_x", stock_id="stk_x")
    assert added["product_id"] == "prod_x"
    assert added["fulfillment_line_id"] is None
    assert added["created_at"] == added["updated_at"]
    assert parse(added["created_at"]) >= before.replace(microsecond=0)
    assert sb.serial_numbers()[-1] == added  # newest sorts last

    updated = sb.update_serial_number(added["id"], fulfillment_line_id="fl_1")
    assert updated["fulfillment_line_id"] == "fl_1"
    assert updated["updated_at"] > added["updated_at"]  # strictly increasing "now"
    assert updated["created_at"] == added["created_at"]

    old = sb.add_serial_number(created_at="2025-01-01T00:00:00Z", code="AAAAAA-BBBBBB-CCCCCC")
    assert old["created_at"] == "2025-01-01T00:00:00.000Z"
    assert sb.serial_numbers()[0]["id"] == old["id"]
    with pytest.raises(ValueError, match="already exists"):
        sb.add_serial_number(code="AAAAAA-BBBBBB-CCCCCC")

    sb.delete_serial_number(old["id"])
    assert old["id"] not in {r["id"] for r in sb.serial_numbers()}
    with pytest.raises(KeyError):
        sb.delete_serial_number(old["id"])
    with pytest.raises(KeyError):
        sb.update_serial_number("sn_missing", code="x")


def test_generated_ids_are_deterministic() -> None:
    a = Sandbox(seed=1, serial_numbers=3, packages=3)
    b = Sandbox(seed=1, serial_numbers=3, packages=3)
    assert a.add_serial_number()["id"] == b.add_serial_number()["id"]
    pa, pb = a.add_package(name="x"), b.add_package(name="x")
    assert (pa["id"], pa["stock_location_id"]) == (pb["id"], pb["stock_location_id"])


def test_package_mutations() -> None:
    sb = Sandbox(seed=0, packages=5)
    location = sb.stock_locations()[1]["id"]
    added = sb.add_package(name="Tiny", metadata={"tier": "gold"}, stock_location_id=location)
    assert added["type"] == "packages"
    assert added["stock_location_id"] == location
    assert added["meta"] == {"mode": "test"}
    assert added["created_at"] == added["updated_at"]
    assert sb.packages()[-1] == added
    updated = sb.update_package(added["id"], width=3.5, metadata={"tier": "silver"})
    assert updated["width"] == 3.5
    assert updated["metadata"] == {"tier": "silver"}
    assert updated["updated_at"] > added["updated_at"]
    assert list(updated)[-2:] == ["stock_location_id", "meta"]
    with pytest.raises(ValueError, match="unknown stock location"):
        sb.update_package(added["id"], stock_location_id="nope")
    sb.delete_package(added["id"])
    assert added["id"] not in {p["id"] for p in sb.packages()}


def test_connections_and_env(sb: Sandbox) -> None:
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+", sb.url)
    assert sb.pack_connection() == {
        "conn_type": "pack",
        "host": sb.url,
        "password": "sandbox-pack-token",
        "extra": {"organization_id": "org_sandbox"},
    }
    assert sb.commercelayer_connection() == {
        "conn_type": "commercelayer",
        "host": sb.url,
        "login": "sandbox-client-id",
        "password": "sandbox-client-secret",
        "extra": {"auth_url": sb.url + "/oauth/token"},
    }
    env = sb.connection_env()
    assert json.loads(env["AIRFLOW_CONN_PACK_DEFAULT"]) == sb.pack_connection()
    assert json.loads(env["AIRFLOW_CONN_COMMERCELAYER_DEFAULT"]) == sb.commercelayer_connection()


def test_credentials_are_overridable() -> None:
    with Sandbox(pack_token="t", organization_id="org_x", client_id="c", client_secret="s") as sb:
        assert (sb.pack_token, sb.organization_id, sb.client_id, sb.client_secret) == (
            "t",
            "org_x",
            "c",
            "s",
        )
        response = requests.get(
            pack_url(sb), headers={"Authorization": "Bearer t"}, params={"per_page": 1}, timeout=5
        )
        assert response.status_code == 200


def test_start_stop_without_with() -> None:
    sb = Sandbox(seed=0, serial_numbers=5)
    with pytest.raises(RuntimeError):
        _ = sb.url
    sb.start()
    session = pack_session(sb)  # keep-alive connection open across stop()
    url = pack_url(sb)
    assert session.get(url, timeout=5).status_code == 200
    started = time.monotonic()
    sb.stop()
    assert time.monotonic() - started < 1.0
    with pytest.raises(requests.ConnectionError):
        session.get(url, timeout=2)
    sb.stop()  # idempotent


def test_stop_interrupts_a_delayed_request() -> None:
    sb = Sandbox(seed=0, serial_numbers=5).start()
    sb.inject("delay", seconds=30)
    url = pack_url(sb)
    errors: list[BaseException] = []

    def call() -> None:
        try:
            pack_session(sb).get(url, timeout=10)
        except requests.RequestException as exc:
            errors.append(exc)

    thread = threading.Thread(target=call)
    thread.start()
    time.sleep(0.1)
    started = time.monotonic()
    sb.stop()
    thread.join(timeout=2)
    assert not thread.is_alive()
    assert time.monotonic() - started < 1.0
    assert len(errors) <= 1  # the client saw a dropped connection or a late answer


def test_invalid_configuration_is_rejected() -> None:
    with pytest.raises(ValueError, match="pack_link_style"):
        Sandbox(pack_link_style="relative")
    with pytest.raises(ValueError, match="pack_body_shape"):
        Sandbox(pack_body_shape="nested")
    with pytest.raises(ValueError, match="error_rate"):
        Sandbox(error_rate=2)
    with pytest.raises(ValueError, match="rate-limit class"):
        Sandbox(rate_limits={"writes": (1, 1)})
    sb = Sandbox()
    with pytest.raises(TypeError):
        sb.set(colour="blue")
    with pytest.raises(ValueError, match="latency"):
        sb.set(latency=-1)
