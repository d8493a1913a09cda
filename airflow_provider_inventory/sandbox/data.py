"""Deterministic sandbox data and its mutations.

:class:`DataStore` holds the Pack serial numbers and the Commerce Layer packages and stock
locations. The same ``seed`` always produces the same records (the two APIs use independent
random streams, so changing the number of packages does not change the serial numbers).

Records are treated as immutable once stored: a mutation replaces the record's dict, so a
reader may keep references to records it fetched under the lock without copying them.
Public accessors (those used by :class:`~airflow_provider_inventory.sandbox.Sandbox`) return
copies.
"""

from __future__ import annotations

import base64
import copy
import random
import string
import threading
from bisect import bisect_left, bisect_right, insort
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .pack_world import PackWorld
from .timeutil import ANCHOR_MS, Clock, format_ms, normalize

Record = dict[str, Any]
SortKey = tuple[str, str]  # (created_at, id): the Pack API order

SPREAD_MS = 90 * 86_400 * 1000  # generated timestamps lie in the 90 days before the anchor
_ALNUM = string.ascii_letters + string.digits
_CODE_TABLE = bytes.maketrans(b"+/", b"XQ")

SERIAL_NUMBER_FIELDS = (
    "id",
    "product_id",
    "stock_id",
    "fulfillment_line_id",
    "code",
    "created_at",
    "updated_at",
)
PACKAGE_ATTRIBUTES = (
    "name",
    "code",
    "length",
    "width",
    "height",
    "unit_of_length",
    "created_at",
    "updated_at",
    "reference",
    "reference_origin",
    "metadata",
)
STOCK_LOCATION_ATTRIBUTES = (
    "name",
    "code",
    "label_format",
    "suppress_etd",
    "created_at",
    "updated_at",
    "reference",
    "reference_origin",
    "metadata",
)
#: Keys of a flat Commerce Layer record that are not attributes.
FLAT_NON_ATTRIBUTES = frozenset({"id", "type", "stock_location_id", "meta"})

_SIZES = (
    ("Small", "SML", (20.0, 15.0, 10.0)),
    ("Medium", "MED", (40.0, 30.0, 20.0)),
    ("Large", "LRG", (60.0, 40.0, 30.0)),
    ("Extra Large", "XLG", (80.0, 60.0, 40.0)),
    ("Flat", "FLT", (35.0, 25.0, 3.0)),
)
_CITIES = (
    "Milan",
    "New York",
    "Berlin",
    "Madrid",
    "Chicago",
    "Paris",
    "Toronto",
    "Lyon",
    "Dallas",
    "Vienna",
)


def attributes_of(flat: Record) -> dict[str, Any]:
    """The JSON:API attributes of a flat Commerce Layer record, in stored order."""
    return {k: v for k, v in flat.items() if k not in FLAT_NON_ATTRIBUTES}


def _timestamps(rng: random.Random) -> tuple[str, str]:
    """created_at <= updated_at, both within the 90 days before the anchor."""
    created = ANCHOR_MS - 1 - int(rng.random() * SPREAD_MS)
    created_at = format_ms(created)
    if rng.random() < 0.5:
        return created_at, created_at
    return created_at, format_ms(created + int(rng.random() * (ANCHOR_MS - created)))


def _normalize_timestamps(fields: Record) -> None:
    for key in ("created_at", "updated_at"):
        if key in fields:
            value = fields[key]
            if not isinstance(value, str | datetime):
                raise ValueError(f"{key} must be an ISO-8601 string or datetime, got {value!r}")
            fields[key] = normalize(value)


@dataclass(frozen=True)
class Cursor:
    """A position in a sorted key list.

    ``direction`` "after" selects keys after ``key`` (the following page), "before" the keys
    before it (the previous page); ``inclusive`` also selects ``key`` itself.
    """

    direction: str
    key: SortKey
    inclusive: bool = False


@dataclass(frozen=True)
class SerialNumberPage:
    """One page of serial numbers (records in API order) and the cursors next to it."""

    records: list[Record]
    prev: Cursor | None
    next: Cursor | None


class DataStore:
    """All sandbox records; thread-safe (every method takes ``self.lock``)."""

    def __init__(
        self,
        *,
        seed: int,
        serial_numbers: int,
        packages: int,
        stock_locations: int,
        products: int = 5,
        organization_id: str = "org_sandbox",
        clock: Clock | None = None,
    ) -> None:
        if serial_numbers < 0 or packages < 0 or stock_locations < 0:
            raise ValueError("record counts must not be negative")
        if products < 1:
            raise ValueError("the Pack world needs at least one product")
        if packages and not stock_locations:
            raise ValueError("packages need at least one stock location")
        self.lock = threading.RLock()
        self.clock = clock or Clock()
        self._id_rng = random.Random(f"{seed}:mutations")
        # Pack
        self._sn: dict[str, Record] = {}
        self._sn_keys: list[SortKey] = []
        self._sn_by_product: dict[str, list[SortKey]] = {}
        self._sn_by_stock: dict[str | None, list[SortKey]] = {}
        self._sn_by_code: dict[str, str] = {}
        self.products: list[str] = []
        self.stocks: list[str] = []
        self._warehouses: dict[str, list[str]] = {}
        # Commerce Layer
        self._packages: dict[str, Record] = {}
        self._stock_locations: dict[str, Record] = {}
        #: Bumped by every Commerce Layer mutation (lets readers cache derived views).
        self.version = 0
        self.stock_slots: dict[str, tuple[str, str, str]] = {}
        self._generate_pack(
            random.Random(f"{seed}:pack"),
            serial_numbers,
            products,
            random.Random(f"{seed}:pack-stocks"),
        )
        self.pack_world = PackWorld(self, random.Random(f"{seed}:pack-world"), organization_id)
        self._generate_commercelayer(random.Random(f"{seed}:cl"), packages, stock_locations)

    # ------------------------------------------------------------------ generation

    def _generate_pack(
        self, rng: random.Random, count: int, product_count: int, stock_rng: random.Random
    ) -> None:
        """Serial numbers, each of a product and (90%) of a stock of that product.

        The draws of ``rng`` are those of the sandbox before it served stocks as records, so a
        seed gives the same serial numbers as before (ids, codes, products, timestamps,
        shipping); only the stock ids changed, to one stock per product and location slot
        (drawn from ``stock_rng``), so that a serial number's stock holds its product.
        """
        self.products = [f"prod_{rng.getrandbits(40):010x}" for _ in range(product_count)]
        slots = [f"bin_{rng.getrandbits(40):010x}" for _ in range(4)]
        warehouse_ids = [f"wh_{rng.getrandbits(40):010x}" for _ in range(2)]
        #: (product index, location slot) -> stock id; slots 0-1 in the first warehouse.
        stock_of = [[f"stk_{stock_rng.getrandbits(40):010x}" for _ in slots] for _ in self.products]
        self.stock_slots = {
            stock_of[p][slot]: (self.products[p], slots[slot], warehouse_ids[slot // 2])
            for p in range(len(self.products))
            for slot in range(len(slots))
        }
        self.stocks = list(self.stock_slots)
        self._warehouses = {
            warehouse: [s for s, (_, _, wh) in self.stock_slots.items() if wh == warehouse]
            for warehouse in warehouse_ids
        }
        records: list[Record] = []
        ids: set[str] = set()
        codes: set[str] = set()
        products = self.products
        n_products, n_slots = len(products), len(slots)
        for _ in range(count):
            sn_id = f"sn_{rng.getrandbits(48):012x}"
            while sn_id in ids:
                sn_id = f"sn_{rng.getrandbits(48):012x}"
            ids.add(sn_id)
            code = self._random_code(rng)
            while code in codes:
                code = self._random_code(rng)
            codes.add(code)
            created_at, updated_at = _timestamps(rng)
            shipped = rng.random() < 1 / 3
            product = int(rng.random() * n_products)
            no_stock = rng.random() < 0.1
            stock_id = None if no_stock else stock_of[product][int(rng.random() * n_slots)]
            records.append(
                {
                    "id": sn_id,
                    "product_id": products[product],
                    "stock_id": stock_id,
                    "fulfillment_line_id": f"fl_{rng.getrandbits(48):012x}" if shipped else None,
                    "code": code,
                    "created_at": created_at,
                    "updated_at": updated_at,
                }
            )
        records.sort(key=lambda r: (r["created_at"], r["id"]))
        for record in records:
            key = (record["created_at"], record["id"])
            self._sn[record["id"]] = record
            self._sn_keys.append(key)
            self._sn_by_product.setdefault(record["product_id"], []).append(key)
            self._sn_by_stock.setdefault(record["stock_id"], []).append(key)
            self._sn_by_code[record["code"]] = record["id"]

    @staticmethod
    def _random_code(rng: random.Random) -> str:
        """Like ``ABC123-XYZ456-789QWE``: three groups of six from A-Z and 0-9."""
        raw = base64.b64encode(rng.getrandbits(120).to_bytes(15, "big"))
        chars = raw.upper().translate(_CODE_TABLE).decode()
        return f"{chars[:6]}-{chars[6:12]}-{chars[12:18]}"

    @staticmethod
    def _random_cl_id(rng: random.Random) -> str:
        return "".join(rng.choices(_ALNUM, k=10))

    def _new_cl_id(self, rng: random.Random) -> str:
        new_id = self._random_cl_id(rng)
        while new_id in self._packages or new_id in self._stock_locations:
            new_id = self._random_cl_id(rng)
        return new_id

    def _generate_commercelayer(self, rng: random.Random, packages: int, locations: int) -> None:
        for index in range(locations):
            city = _CITIES[index % len(_CITIES)]
            suffix = "" if index < len(_CITIES) else f" {index // len(_CITIES) + 1}"
            created_at, updated_at = _timestamps(rng)
            slug = city.lower().replace(" ", "_") + suffix.replace(" ", "_")
            location_id = self._new_cl_id(rng)
            self._stock_locations[location_id] = {
                "id": location_id,
                "type": "stock_locations",
                "name": f"{city} Warehouse{suffix}",
                "code": f"{slug}_wh",
                "label_format": rng.choice(("PDF", "ZPL", "EPL2", "PNG")),
                "suppress_etd": rng.random() < 0.3,
                "created_at": created_at,
                "updated_at": updated_at,
                "reference": f"SL-{rng.randrange(10_000):04d}" if rng.random() < 0.7 else None,
                "reference_origin": "wms" if rng.random() < 0.5 else None,
                "metadata": {"region": rng.choice(("eu", "us", "apac"))},
                "meta": {"mode": "test"},
            }
        location_ids = list(self._stock_locations)
        for index in range(packages):
            size, size_code, (base_l, base_w, base_h) = _SIZES[rng.randrange(len(_SIZES))]
            unit = "cm" if rng.random() < 0.7 else "in"
            factor = 1.0 if unit == "cm" else 1 / 2.54
            dims = [
                round(base * factor * rng.uniform(0.8, 1.2), 1) for base in (base_l, base_w, base_h)
            ]
            metadata: dict[str, Any] = {}
            if rng.random() < 0.9:
                metadata = {
                    "tier": rng.choice(("gold", "silver", "bronze")),
                    "fragile": rng.random() < 0.4,
                }
                if rng.random() < 0.3:
                    metadata["color"] = rng.choice(("brown", "white", "black"))
            created_at, updated_at = _timestamps(rng)
            package_id = self._new_cl_id(rng)
            self._packages[package_id] = {
                "id": package_id,
                "type": "packages",
                "name": f"{size} ({dims[0]:g}x{dims[1]:g}x{dims[2]:g}) #{index + 1:04d}",
                "code": f"{size_code}-{index + 1:05d}",
                "length": dims[0],
                "width": dims[1],
                "height": dims[2],
                "unit_of_length": unit,
                "created_at": created_at,
                "updated_at": updated_at,
                "reference": f"REF-{rng.randrange(1_000_000):06d}" if rng.random() < 0.7 else None,
                "reference_origin": (
                    rng.choice(("erp", "wms", "shopify")) if rng.random() < 0.7 else None
                ),
                "metadata": metadata,
                "stock_location_id": location_ids[rng.randrange(len(location_ids))],
                "meta": {"mode": "test"},
            }

    # ------------------------------------------------------------------ Pack reads

    def warehouses(self) -> dict[str, list[str]]:
        """warehouse id -> the stock ids it holds."""
        with self.lock:
            return {wh: list(stocks) for wh, stocks in self._warehouses.items()}

    def warehouse_stocks(self, warehouse_id: str) -> frozenset[str] | None:
        """The stock ids of a warehouse, or None when the warehouse is unknown."""
        with self.lock:
            stocks = self._warehouses.get(warehouse_id)
            return None if stocks is None else frozenset(stocks)

    def serial_numbers(self) -> list[Record]:
        """Copies of all serial numbers in API order ((created_at, id) ascending)."""
        with self.lock:
            return [dict(self._sn[key[1]]) for key in self._sn_keys]

    def serial_numbers_by_id(self, ids: list[str]) -> list[Record]:
        """Copies of the serial numbers with these ids (unknown ids are left out), in order."""
        with self.lock:
            return [dict(self._sn[i]) for i in ids if i in self._sn]

    def serial_number_count(self) -> int:
        with self.lock:
            return len(self._sn_keys)

    def serial_number_page(
        self,
        *,
        filters: dict[str, str],
        per_page: int,
        cursor: Cursor | None,
        allowed_stocks: frozenset[str] | None = None,
    ) -> SerialNumberPage:
        """One page of serial numbers matching ``filters`` (field -> exact value).

        ``allowed_stocks`` restricts to records whose stock is in the set (the warehouse
        endpoint). Paging is keyset-based on (created_at, id), so records inserted or deleted
        elsewhere in the list never shift a page. Cost is O(log n + scanned records): the
        scan starts from the most selective index (code, product or stock).
        """
        with self.lock:
            candidates = self._candidates(filters)

            def matches(key: SortKey) -> bool:
                record = self._sn[key[1]]
                if allowed_stocks is not None and record["stock_id"] not in allowed_stocks:
                    return False
                return all(record.get(field) == value for field, value in filters.items())

            def scan(indexes: Iterator[int], limit: int) -> list[SortKey]:
                found: list[SortKey] = []
                for index in indexes:
                    key = candidates[index]
                    if matches(key):
                        found.append(key)
                        if len(found) >= limit:
                            break
                return found

            if cursor is None or cursor.direction == "after":
                if cursor is None:
                    start = 0
                elif cursor.inclusive:
                    start = bisect_left(candidates, cursor.key)
                else:
                    start = bisect_right(candidates, cursor.key)
                keys = scan(iter(range(start, len(candidates))), per_page + 1)
                has_next = len(keys) > per_page
                keys = keys[:per_page]
                has_prev = bool(scan(iter(range(start - 1, -1, -1)), 1))
            else:
                if cursor.inclusive:
                    end = bisect_right(candidates, cursor.key)
                else:
                    end = bisect_left(candidates, cursor.key)
                keys = scan(iter(range(end - 1, -1, -1)), per_page + 1)
                has_prev = len(keys) > per_page
                keys = keys[:per_page][::-1]
                has_next = bool(scan(iter(range(end, len(candidates))), 1))
            records = [self._sn[key[1]] for key in keys]

        prev_cursor = next_cursor = None
        if keys:
            if has_prev:
                prev_cursor = Cursor("before", keys[0])
            if has_next:
                next_cursor = Cursor("after", keys[-1])
        elif cursor is not None:
            # An empty page (everything after/before the cursor is gone): point back at it.
            if cursor.direction == "after" and has_prev:
                prev_cursor = Cursor("before", cursor.key, inclusive=True)
            if cursor.direction == "before" and has_next:
                next_cursor = Cursor("after", cursor.key, inclusive=True)
        return SerialNumberPage(records, prev_cursor, next_cursor)

    def _candidates(self, filters: dict[str, str]) -> Sequence[SortKey]:
        if "code" in filters:
            sn_id = self._sn_by_code.get(filters["code"])
            if sn_id is None:
                return []
            record = self._sn[sn_id]
            return [(record["created_at"], sn_id)]
        options: list[list[SortKey]] = []
        if "product_id" in filters:
            options.append(self._sn_by_product.get(filters["product_id"], []))
        if "stock_id" in filters:
            options.append(self._sn_by_stock.get(filters["stock_id"], []))
        if not options:
            return self._sn_keys
        return min(options, key=len)

    # ------------------------------------------------------------------ Pack mutations

    def add_serial_number(self, **fields: Any) -> Record:
        """Insert a serial number; see :meth:`Sandbox.add_serial_number`."""
        with self.lock:
            rng = self._id_rng
            _normalize_timestamps(fields)
            sn_id = fields.pop("id", None)
            if sn_id is None:
                sn_id = f"sn_{rng.getrandbits(48):012x}"
                while sn_id in self._sn:
                    sn_id = f"sn_{rng.getrandbits(48):012x}"
            elif sn_id in self._sn:
                raise ValueError(f"serial number {sn_id!r} already exists")
            code = fields.pop("code", None)
            if code is None:
                code = self._random_code(rng)
                while code in self._sn_by_code:
                    code = self._random_code(rng)
            elif code in self._sn_by_code:
                raise ValueError(f"serial number code {code!r} already exists")
            now = self.clock.now()
            record: Record = {
                "id": sn_id,
                "product_id": fields.pop("product_id", None) or rng.choice(self.products),
                "stock_id": fields.pop("stock_id") if "stock_id" in fields else None,
                "fulfillment_line_id": fields.pop("fulfillment_line_id", None),
                "code": code,
                "created_at": fields.pop("created_at", now),
                "updated_at": fields.pop("updated_at", now),
            }
            record.update(fields)
            self._index_serial_number(record)
            return dict(record)

    def update_serial_number(self, sn_id: str, **fields: Any) -> Record:
        """Change fields of a serial number; see :meth:`Sandbox.update_serial_number`."""
        with self.lock:
            old = self._sn.get(sn_id)
            if old is None:
                raise KeyError(sn_id)
            if fields.get("id", sn_id) != sn_id:
                raise ValueError("the id of a serial number cannot change")
            _normalize_timestamps(fields)
            new_code = fields.get("code", old["code"])
            if new_code != old["code"] and new_code in self._sn_by_code:
                raise ValueError(f"serial number code {new_code!r} already exists")
            record = {**old, **fields}
            if "updated_at" not in fields:
                record["updated_at"] = self.clock.now()
            self._unindex_serial_number(old)
            self._index_serial_number(record)
            return dict(record)

    def delete_serial_number(self, sn_id: str) -> None:
        """Remove a serial number (KeyError when unknown)."""
        with self.lock:
            old = self._sn.get(sn_id)
            if old is None:
                raise KeyError(sn_id)
            self._unindex_serial_number(old)

    def _index_serial_number(self, record: Record) -> None:
        key = (record["created_at"], record["id"])
        self._sn[record["id"]] = record
        insort(self._sn_keys, key)
        insort(self._sn_by_product.setdefault(record["product_id"], []), key)
        insort(self._sn_by_stock.setdefault(record["stock_id"], []), key)
        self._sn_by_code[record["code"]] = record["id"]

    def _unindex_serial_number(self, record: Record) -> None:
        key = (record["created_at"], record["id"])
        del self._sn[record["id"]]
        for keys in (
            self._sn_keys,
            self._sn_by_product[record["product_id"]],
            self._sn_by_stock[record["stock_id"]],
        ):
            del keys[bisect_left(keys, key)]
        del self._sn_by_code[record["code"]]

    # ------------------------------------------------------------------ Commerce Layer

    def package_records(self) -> list[Record]:
        """The stored package records (flat form; do not mutate them), in no set order."""
        with self.lock:
            return list(self._packages.values())

    def stock_location_records(self) -> list[Record]:
        """The stored stock location records (flat form; do not mutate them)."""
        with self.lock:
            return list(self._stock_locations.values())

    def get_package(self, package_id: str) -> Record | None:
        with self.lock:
            return self._packages.get(package_id)

    def get_stock_location(self, location_id: str) -> Record | None:
        with self.lock:
            return self._stock_locations.get(location_id)

    def packages(self) -> list[Record]:
        """Deep copies of all packages (flat form) in default API order (created_at, id)."""
        with self.lock:
            records = sorted(self._packages.values(), key=lambda r: (r["created_at"], r["id"]))
            return copy.deepcopy(records)

    def stock_locations(self) -> list[Record]:
        """Deep copies of all stock locations (flat form), ordered by (created_at, id)."""
        with self.lock:
            records = sorted(
                self._stock_locations.values(), key=lambda r: (r["created_at"], r["id"])
            )
            return copy.deepcopy(records)

    def add_package(self, **attrs: Any) -> Record:
        """Insert a package; see :meth:`Sandbox.add_package`."""
        with self.lock:
            _normalize_timestamps(attrs)
            package_id = attrs.pop("id", None)
            if package_id is None:
                package_id = self._new_cl_id(self._id_rng)
            elif package_id in self._packages:
                raise ValueError(f"package {package_id!r} already exists")
            location_id = attrs.pop("stock_location_id", None)
            if location_id is None:
                if not self._stock_locations:
                    raise ValueError("there are no stock locations")
                location_id = self._id_rng.choice(sorted(self._stock_locations))
            elif location_id not in self._stock_locations:
                raise ValueError(f"unknown stock location {location_id!r}")
            now = self.clock.now()
            record: Record = {
                "id": package_id,
                "type": "packages",
                "name": attrs.pop("name", f"Package {package_id}"),
                "code": attrs.pop("code", f"PKG-{package_id}"),
                "length": attrs.pop("length", 10.0),
                "width": attrs.pop("width", 10.0),
                "height": attrs.pop("height", 10.0),
                "unit_of_length": attrs.pop("unit_of_length", "cm"),
                "created_at": attrs.pop("created_at", now),
                "updated_at": attrs.pop("updated_at", now),
                "reference": attrs.pop("reference", None),
                "reference_origin": attrs.pop("reference_origin", None),
                "metadata": copy.deepcopy(attrs.pop("metadata", {})),
            }
            meta = attrs.pop("meta", {"mode": "test"})
            attrs.pop("type", None)
            record.update(copy.deepcopy(attrs))
            record["stock_location_id"] = location_id
            record["meta"] = copy.deepcopy(meta)
            self._packages[package_id] = record
            self.version += 1
            return copy.deepcopy(record)

    def update_package(self, package_id: str, **attrs: Any) -> Record:
        """Change attributes of a package; see :meth:`Sandbox.update_package`."""
        with self.lock:
            old = self._packages.get(package_id)
            if old is None:
                raise KeyError(package_id)
            if attrs.get("id", package_id) != package_id:
                raise ValueError("the id of a package cannot change")
            location_id = attrs.get("stock_location_id", old["stock_location_id"])
            if location_id not in self._stock_locations:
                raise ValueError(f"unknown stock location {location_id!r}")
            _normalize_timestamps(attrs)
            record = {**old, **copy.deepcopy(attrs)}
            if "updated_at" not in attrs:
                record["updated_at"] = self.clock.now()
            # keep the flat layout: stock_location_id and meta last
            record["stock_location_id"] = record.pop("stock_location_id")
            record["meta"] = record.pop("meta")
            self._packages[package_id] = record
            self.version += 1
            return copy.deepcopy(record)

    def delete_package(self, package_id: str) -> None:
        """Remove a package (KeyError when unknown)."""
        with self.lock:
            if package_id not in self._packages:
                raise KeyError(package_id)
            del self._packages[package_id]
            self.version += 1
