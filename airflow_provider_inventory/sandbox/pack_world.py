"""The Pack world around the serial numbers: products, stocks, stock per warehouse,
fulfillments with their lines, and shipping services, consistent with the serial numbers.

- every serial number's ``product_id`` is a product, its ``stock_id`` (when set) a stock of that
  product in one of the two warehouses;
- every shipped serial number's ``fulfillment_line_id`` is a line of a ``shipped`` fulfillment;
  the line is of the serial number's product and lists it (``include=lines.serial_numbers``),
  and the fulfillment ships from the warehouse of the serial number's stock;
- a few fulfillments not shipped yet (``pending``, ``picking``...) have lines without serials;
- stock quantities count the serial numbers in the stock that have not shipped.

It is generated once from the serial numbers as the sandbox starts (its own seeded random
stream, so the serial numbers stay what they were); later serial-number mutations do not rewrite
it, but ``include=lines.serial_numbers`` reads the serial numbers as they are now.

Includes come back nested in each record (``include=lines`` adds a ``lines`` array; ``product``
on a stock adds a ``product`` object), which is what Pack's REST answers look like; the
documentation does not show them.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .timeutil import format_ms, parse_instant_us

if TYPE_CHECKING:
    from .data import DataStore

Record = dict[str, Any]

ORGANIZATION_NAME = "Sandbox Organization"
FULFILLMENT_STATUSES = (
    "calculating",
    "on_hold",
    "unscheduled",
    "queued",
    "pending",
    "picking",
    "picked",
    "shipped",
)
_BRANDS = ("Acme", "Northwind", "Globex", "Initech")
_ADJECTIVES = ("Compact", "Deluxe", "Rugged", "Smart", "Classic", "Ultra", "Eco", "Pro")
_NOUNS = ("Scanner", "Router", "Camera", "Drill", "Speaker", "Monitor", "Charger", "Tablet")
_CARRIERS = (("dhl", "DHL Express"), ("ups", "UPS Standard"), ("postnl", "PostNL Parcel"))


@dataclass(frozen=True)
class Listing:
    """How the sandbox answers one list endpoint.

    Attributes:
        filters: ``filter[name]`` -> a predicate ``(record, value) -> bool``.
        includes: the accepted ``include`` names.
        sorts: the accepted ``sort`` keys (each also with ``-``).
        query_fields: the fields ``query=`` searches (case-insensitive substring); empty: no
            ``query``.
    """

    filters: Mapping[str, Callable[[Record, str], bool]]
    includes: frozenset[str] = frozenset()
    sorts: frozenset[str] = frozenset()
    query_fields: tuple[str, ...] = ()


def _equals(name: str) -> Callable[[Record, str], bool]:
    def test(record: Record, value: str) -> bool:
        found = record.get(name)
        if isinstance(found, bool):
            return value.lower() in (("true", "1") if found else ("false", "0"))
        return found is not None and str(found) == value

    return test


def _any_of(collection: str, name: str) -> Callable[[Record, str], bool]:
    def test(record: Record, value: str) -> bool:
        return any(str(item.get(name)) == value for item in record.get(collection) or ())

    return test


def _starts(name: str) -> Callable[[Record, str], bool]:
    def test(record: Record, value: str) -> bool:
        return str(record.get(name) or "").startswith(value)

    return test


@dataclass
class _Fulfillment:
    record: Record
    orders: list[Record]
    lines: list[Record]
    shipments: list[Record]
    line_serials: dict[str, list[str]] = field(default_factory=dict)


class PackWorld:
    """The records around the serial numbers of ``store`` (see the module doc).

    Args:
        store: the data store whose serial numbers (already generated) the world is built on.
        rng: the world's own random stream.
        organization_id: the organization the records belong to.
    """

    def __init__(
        self, store: DataStore, rng: random.Random, organization_id: str = "org_sandbox"
    ) -> None:
        self._store = store
        self.organization_id = organization_id
        serials = store.serial_numbers()
        self.warehouses = {
            warehouse: {"id": warehouse, "name": f"Warehouse {number + 1}"}
            for number, warehouse in enumerate(store.warehouses())
        }
        self.products = self._products(rng, store.products, serials)
        self.stocks = self._stocks(rng, store.stock_slots, serials)
        self.product_warehouses = self._product_warehouses(rng)
        self.shipping_services = self._shipping_services()
        self._fulfillments = self._fulfillments_of(rng, serials)
        for product in self.products:  # to filter warehouse products on; not sent
            product["organization_id"] = organization_id
        self._products_by_id = {record["id"]: record for record in self.products}
        self._fulfillment_by_id = {f.record["id"]: f for f in self._fulfillments}
        self._fulfillment_records = [{**f.record, "orders": f.orders} for f in self._fulfillments]

    # ------------------------------------------------------------------ generation

    @staticmethod
    def _products(
        rng: random.Random, product_ids: list[str], serials: list[Record]
    ) -> list[Record]:
        records: list[Record] = []
        for number, product_id in enumerate(product_ids):
            created = rng.randrange(1_735_689_600_000, 1_740_000_000_000)
            name = f"{rng.choice(_ADJECTIVES)} {rng.choice(_NOUNS)} {number + 1}"
            records.append(
                {
                    "id": product_id,
                    "name": name,
                    "brand_name": rng.choice(_BRANDS),
                    "code": f"SKU-{number + 1:04d}",
                    "type": "virtual_bundle" if number == len(product_ids) - 1 else "standard",
                    "price": round(rng.uniform(5, 500), 2),
                    "weight": round(rng.uniform(0.1, 12.0), 2),
                    "length": round(rng.uniform(5, 60), 1),
                    "width": round(rng.uniform(5, 40), 1),
                    "height": round(rng.uniform(2, 30), 1),
                    "hs_code": f"{rng.randrange(10**7, 10**8)}",
                    "country_code_of_origin": rng.choice(("NL", "DE", "CN", "US")),
                    "description": f"The {name.lower()}.",
                    "barcodes": [{"barcode": f"87{rng.randrange(10**10, 10**11)}"}],
                    "quantity_on_hand": 0,
                    "quantity_allocated": 0,
                    "quantity_available": 0,
                    "created_at": format_ms(created),
                    "updated_at": format_ms(created + rng.randrange(0, 86_400_000)),
                }
            )
        on_hand = _count_unshipped(serials, "product_id")
        for record in records:
            record["quantity_on_hand"] = record["quantity_available"] = on_hand.get(record["id"], 0)
        return sorted(records, key=_default_order)

    @staticmethod
    def _stocks(
        rng: random.Random, slots: Mapping[str, tuple[str, str, str]], serials: list[Record]
    ) -> list[Record]:
        on_hand = _count_unshipped(serials, "stock_id")
        records = []
        for stock_id, (product_id, location_id, warehouse_id) in slots.items():
            created = rng.randrange(1_735_689_600_000, 1_740_000_000_000)
            quantity = on_hand.get(stock_id, 0)
            records.append(
                {
                    "id": stock_id,
                    "warehouse_id": warehouse_id,
                    "locatable_id": location_id,
                    "locatable_type": "bin",
                    "product_id": product_id,
                    "quantity_on_hand": quantity,
                    "quantity_allocated": 0,
                    "quantity_available": quantity,
                    "expiry_date": None,
                    "lot_number": f"LOT-{rng.randrange(10_000):04d}"
                    if rng.random() < 0.5
                    else None,
                    "created_at": format_ms(created),
                    "updated_at": format_ms(created),
                }
            )
        return sorted(records, key=_default_order)

    def _product_warehouses(self, rng: random.Random) -> list[Record]:
        records = []
        for product in self.products:
            for warehouse in self.warehouses:
                stocks = [
                    s
                    for s in self.stocks
                    if s["product_id"] == product["id"] and s["warehouse_id"] == warehouse
                ]
                quantity = sum(s["quantity_on_hand"] for s in stocks)
                records.append(
                    {
                        "product_id": product["id"],
                        "warehouse_id": warehouse,
                        "needs_serial_number": True,
                        "needs_serial_number_while_packing": rng.random() < 0.5,
                        "needs_lot_number": rng.random() < 0.3,
                        "needs_expiry_date": False,
                        "quantity_on_hand": quantity,
                        "quantity_allocated": 0,
                        "quantity_available": quantity,
                    }
                )
        return records

    @staticmethod
    def _shipping_services() -> list[Record]:
        records = []
        for number, (carrier, name) in enumerate(_CARRIERS):
            for kind in ("standard", "express"):
                timestamp = format_ms(1_735_689_600_000 + number * 3_600_000)
                records.append(
                    {
                        "id": f"ss_{carrier}_{kind}",
                        "name": f"{name} ({kind})",
                        "carrier_code": carrier,
                        "integration_id": f"int_{carrier}",
                        "enabled": not (carrier == "postnl" and kind == "express"),
                        "type": kind,
                        "created_at": timestamp,
                        "updated_at": timestamp,
                    }
                )
        return records

    def _fulfillments_of(self, rng: random.Random, serials: list[Record]) -> list[_Fulfillment]:
        shipped = sorted(
            (s for s in serials if s["fulfillment_line_id"] is not None),
            key=lambda s: (s["updated_at"], s["id"]),
        )
        stock_warehouse = {s["id"]: s["warehouse_id"] for s in self.stocks}
        warehouses = list(self.warehouses)
        fulfillments: list[_Fulfillment] = []
        position = 0
        while position < len(shipped):
            # One fulfillment ships up to three serial numbers of one warehouse, one line each.
            first = shipped[position]
            warehouse = (
                stock_warehouse.get(first["stock_id"])
                or warehouses[int(rng.random() * len(warehouses))]
            )
            group = [first]
            position += 1
            while (
                position < len(shipped)
                and len(group) < 1 + int(rng.random() * 3)
                and stock_warehouse.get(shipped[position]["stock_id"], warehouse) == warehouse
            ):
                group.append(shipped[position])
                position += 1
            fulfillments.append(self._fulfillment(rng, group, warehouse, "shipped"))
        for number in range(3 + len(serials) // 50):
            status = FULFILLMENT_STATUSES[number % (len(FULFILLMENT_STATUSES) - 1)]
            warehouse = warehouses[number % len(warehouses)]
            fulfillments.append(self._fulfillment(rng, [], warehouse, status))
        fulfillments.sort(key=lambda f: _default_order(f.record))
        return fulfillments

    def _fulfillment(
        self, rng: random.Random, serials: list[Record], warehouse: str, status: str
    ) -> _Fulfillment:
        fulfillment_id = f"ful_{rng.getrandbits(48):012x}"
        if serials:
            shipped_at = max(s["updated_at"] for s in serials)
            created_us = min(parse_instant_us(s["created_at"]) for s in serials)
            created_at = format_ms(created_us // 1000)
            lines = [
                {"id": s["fulfillment_line_id"], "product_id": s["product_id"], "quantity": 1}
                for s in serials
            ]
        else:
            created = rng.randrange(1_740_000_000_000, 1_748_736_000_000)
            created_at, shipped_at = format_ms(created), None
            product = self.products[int(rng.random() * len(self.products))]["id"]
            lines = [
                {
                    "id": f"fl_{rng.getrandbits(48):012x}",
                    "product_id": product,
                    "quantity": 1 + int(rng.random() * 3),
                }
            ]
        order = {
            "id": f"ord_{rng.getrandbits(40):010x}",
            "number": f"#{rng.randrange(100_000, 999_999)}",
            "brand": {"id": "brand_sandbox", "name": "Sandbox Brand"},
        }
        shipments = (
            [
                {
                    "id": f"shp_{rng.getrandbits(40):010x}",
                    "tracking_code": f"TRK{rng.randrange(10**9, 10**10)}",
                    "shipping_service_id": self.shipping_services[
                        int(rng.random() * len(self.shipping_services))
                    ]["id"],
                    "shipped_at": shipped_at,
                }
            ]
            if shipped_at
            else []
        )
        record = {
            "id": fulfillment_id,
            "status": status,
            "warehouse_id": warehouse,
            "organization_id": self.organization_id,
            "release_at": created_at,
            "shipped_at": shipped_at,
            "created_at": created_at,
            "updated_at": shipped_at or created_at,
        }
        return _Fulfillment(
            record,
            [order],
            lines,
            shipments,
            {s["fulfillment_line_id"]: [s["id"]] for s in serials},
        )

    # ------------------------------------------------------------------ reads

    def fulfillment_lines(self) -> dict[str, tuple[str, Record]]:
        """Line id -> (fulfillment id, line) for every fulfillment line."""
        return {
            line["id"]: (f.record["id"], dict(line)) for f in self._fulfillments for line in f.lines
        }

    def records(self, resource: str, warehouse_id: str | None = None) -> list[Record] | None:
        """Every record of a list endpoint, with the fields includes need, in default order.

        Args:
            resource: ``products``, ``stocks``, ``product-warehouses``, ``fulfillments`` or
                ``shipping-services``.
            warehouse_id: the warehouse of a ``/v1/warehouses/{id}/...`` endpoint.

        Returns:
            The records (shared: do not mutate them), or ``None`` for an unknown warehouse.
        """
        if warehouse_id is not None and warehouse_id not in self.warehouses:
            return None
        if resource == "products":
            if warehouse_id is None:
                return self.products
            stocked = {s["product_id"] for s in self.stocks if s["warehouse_id"] == warehouse_id}
            return [p for p in self.products if p["id"] in stocked]
        if resource == "fulfillments":
            if warehouse_id is None:
                return self._fulfillment_records
            return [f for f in self._fulfillment_records if f["warehouse_id"] == warehouse_id]
        tables = {
            "stocks": self.stocks,
            "product-warehouses": self.product_warehouses,
            "shipping-services": self.shipping_services,
        }
        return tables[resource]

    def render(
        self, resource: str, record: Record, includes: Iterable[str], warehouse: bool
    ) -> Record:
        """A copy of ``record`` as the API answers it, with the ``includes`` nested in."""
        wanted = set(includes)
        hidden = (
            ("orders", "barcodes", "organization_id") if resource == "products" else ("orders",)
        )
        out = {k: v for k, v in record.items() if k not in hidden}
        if resource == "products" and warehouse:
            out["barcodes"] = record["barcodes"]
            if "organization" in wanted:
                out["organization"] = {"id": self.organization_id, "name": ORGANIZATION_NAME}
        if resource == "products" and not warehouse:
            out["barcodes"] = record["barcodes"]
        if resource in ("stocks", "product-warehouses"):
            if "product" in wanted:
                out["product"] = self._products_by_id.get(record["product_id"])
            if "warehouse" in wanted:
                out["warehouse"] = self.warehouses.get(record["warehouse_id"])
            if "locatable" in wanted:
                out["locatable"] = {"id": record["locatable_id"], "type": record["locatable_type"]}
        if resource == "fulfillments":
            self._render_fulfillment(record, out, wanted)
        return out

    def _render_fulfillment(self, record: Record, out: Record, wanted: set[str]) -> None:
        fulfillment = self._fulfillment_by_id[record["id"]]
        if wanted & {"orders", "orders.brand"}:
            out["orders"] = [
                order
                if "orders.brand" in wanted
                else {k: v for k, v in order.items() if k != "brand"}
                for order in fulfillment.orders
            ]
        if "shipments" in wanted:
            out["shipments"] = fulfillment.shipments
        if "warehouse" in wanted:
            out["warehouse"] = self.warehouses.get(record["warehouse_id"])
        if wanted & {"lines", "lines.product", "lines.serial_numbers"}:
            lines = []
            for line in fulfillment.lines:
                rendered = dict(line)
                if "lines.product" in wanted:
                    rendered["product"] = self._products_by_id.get(line["product_id"])
                if "lines.serial_numbers" in wanted:
                    rendered["serial_numbers"] = self._store.serial_numbers_by_id(
                        fulfillment.line_serials.get(line["id"], [])
                    )
                lines.append(rendered)
            out["lines"] = lines

    def get(self, resource: str, record_id: str) -> Record | None:
        """One product or fulfillment by id (``None`` when unknown)."""
        if resource == "fulfillments":
            found = self._fulfillment_by_id.get(record_id)
            return None if found is None else {**found.record, "orders": found.orders}
        return self._products_by_id.get(record_id) if resource == "products" else None


def _count_unshipped(serials: list[Record], field_name: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    for serial in serials:
        key = serial[field_name]
        if key is not None and serial["fulfillment_line_id"] is None:
            counts[key] = counts.get(key, 0) + 1
    return counts


def _default_order(record: Record) -> tuple[str, str]:
    return (record.get("created_at") or "", record.get("id") or "")


#: The list endpoints besides serial numbers, as the sandbox checks them. Organization
#: endpoints by resource; warehouse endpoints under ``("warehouse", resource)``.
LISTINGS: dict[Any, Listing] = {
    "products": Listing(
        {"id": _equals("id"), "type": _equals("type")},
        sorts=frozenset({"name", "created_at"}),
        query_fields=("name", "code", "brand_name"),
    ),
    "stocks": Listing(
        {"product_id": _equals("product_id"), "warehouse_id": _equals("warehouse_id")},
        includes=frozenset({"locatable", "product", "warehouse"}),
    ),
    "product-warehouses": Listing(
        {"product_id": _equals("product_id"), "warehouse_id": _equals("warehouse_id")},
        includes=frozenset({"product", "warehouse"}),
    ),
    "fulfillments": Listing(
        {
            "orders.id": _any_of("orders", "id"),
            "status": _equals("status"),
            "warehouse_id": _equals("warehouse_id"),
        },
        includes=frozenset(
            {"lines", "lines.product", "lines.serial_numbers", "orders", "shipments", "warehouse"}
        ),
        sorts=frozenset({"created_at"}),
    ),
    "shipping-services": Listing(
        {
            "carrier_code": _equals("carrier_code"),
            "integration_id": _equals("integration_id"),
            "enabled": _equals("enabled"),
            "type": _equals("type"),
        }
    ),
    ("warehouse", "products"): Listing(
        {
            "organization_id": _equals("organization_id"),
            "barcodes.barcode": _any_of("barcodes", "barcode"),
        },
        includes=frozenset({"organization"}),
        sorts=frozenset({"name", "created_at"}),
        query_fields=("name", "code", "brand_name"),
    ),
    ("warehouse", "fulfillments"): Listing(
        {
            "organization_id": _equals("organization_id"),
            "status": _equals("status"),
            "release_at": _starts("release_at"),
        },
        includes=frozenset({"orders", "orders.brand"}),
        sorts=frozenset({"created_at", "release_at", "shipped_at"}),
    ),
}
