"""Serial numbers with their context: the product and stock records they point at.

``expand=["product", "stock"]`` attaches to each serial number ``product`` (the record of its
``product_id``) and ``stock`` (of its ``stock_id``; ``None`` when it has none or Pack no longer
knows it). Each distinct record is fetched once per listing and cached, never once per serial
number:

- products through ``filter[id]`` (documented on the products list), one request per distinct
  product id (Pack documents one id per ``filter[id]``, so ids are not joined);
- stocks have no documented ``filter[id]``: they are listed by ``filter[product_id]``, once per
  distinct product that has a stock among the serial numbers, which brings every stock of that
  product in one listing (usually one page); a stock id not among them attaches ``None``.

The cache holds products and stocks, so it grows with the distinct products of a listing, not
with its serial numbers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from airflow_provider_inventory._types import Record
from airflow_provider_inventory.exceptions import InventoryConfigError

EXPANSIONS = ("product", "stock")

ListRecords = Callable[[str, dict[str, str]], Iterable[Record]]
"""Lists every record of one resource (``products``, ``stocks``) with these filters."""


def checked_expand(expand: str | Sequence[str] | None) -> tuple[str, ...]:
    """``expand`` as a tuple of ``product``/``stock``, in the order given.

    Raises:
        InventoryConfigError: a value is neither ``product`` nor ``stock``.
    """
    if expand is None:
        return ()
    names = [expand] if isinstance(expand, str) else expand
    if not isinstance(names, list | tuple):
        raise InventoryConfigError(
            f"expand must be a list such as ['product', 'stock'], got {type(expand).__name__}."
        )
    for name in names:
        if name not in EXPANSIONS:
            raise InventoryConfigError(
                f"expand={name!r} is not something a serial number points at; use "
                f"{' and/or '.join(EXPANSIONS)}."
            )
    return tuple(dict.fromkeys(names))


class ContextExpander:
    """Attaches products and stocks to serial numbers, a page at a time, with a cache.

    Args:
        expand: ``product`` and/or ``stock``.
        list_records: lists one resource with filters (the hook's listing of products and
            stocks, through the same client and pacer).
    """

    def __init__(self, expand: Sequence[str], list_records: ListRecords) -> None:
        self._expand = tuple(expand)
        self._list = list_records
        self._products: dict[str, Record | None] = {}
        self._stocks: dict[str, Record | None] = {}
        self._stocked_products: set[str] = set()

    def attach(self, records: Iterable[Record]) -> list[Record]:
        """Copies of ``records`` with ``product`` and/or ``stock`` added (see the module doc)."""
        records = list(records)
        if "product" in self._expand:
            self._fetch_products({r["product_id"] for r in records if r.get("product_id")})
        if "stock" in self._expand:
            self._fetch_stocks(records)
        return [self._with_context(record) for record in records]

    def _with_context(self, record: Record) -> Record:
        attached: dict[str, Any] = {}
        if "product" in self._expand:
            attached["product"] = self._products.get(record.get("product_id") or "")
        if "stock" in self._expand:
            attached["stock"] = self._stocks.get(record.get("stock_id") or "")
        return {**record, **attached}

    def _fetch_products(self, product_ids: set[str]) -> None:
        for product_id in sorted(product_ids - self._products.keys()):
            self._products[product_id] = None
            for product in self._list("products", {"id": product_id}):
                if product.get("id") is not None:
                    self._products[product["id"]] = product

    def _fetch_stocks(self, records: list[Record]) -> None:
        wanted = {
            r["product_id"]
            for r in records
            if r.get("stock_id") and r["stock_id"] not in self._stocks and r.get("product_id")
        }
        for product_id in sorted(wanted - self._stocked_products):
            self._stocked_products.add(product_id)
            for stock in self._list("stocks", {"product_id": product_id}):
                if stock.get("id") is not None:
                    self._stocks[stock["id"]] = stock
        for record in records:
            stock_id = record.get("stock_id")
            if stock_id and stock_id not in self._stocks:
                self._stocks[stock_id] = None


__all__ = ["EXPANSIONS", "ContextExpander", "checked_expand"]
