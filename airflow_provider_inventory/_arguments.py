"""Checks of caller-supplied arguments, one home for hooks, operators, triggers and records.

Every check raises :class:`InventoryConfigError` naming the argument and what it must be, before
any request is sent.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow_provider_inventory.exceptions import InventoryConfigError

FilterValue = str | Sequence[str] | None
"""A filter: one value, a list of values (one listing per value, merged), or ``None`` (no filter)."""


def whole_number(name: str, value: Any, *, minimum: int = 1, hint: str = "") -> int:
    """``value`` if it is an ``int`` (not a ``bool``) of at least ``minimum``.

    Args:
        name: the argument's name, for the message.
        value: what the caller passed.
        minimum: the smallest allowed value.
        hint: appended after the rule, e.g. ``" (or None for the server default)"``.

    Raises:
        InventoryConfigError: ``"{name} must be a whole number >= {minimum}..., got {value!r}."``
    """
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise InventoryConfigError(
            f"{name} must be a whole number >= {minimum}{hint}, got {value!r}."
        )
    return value


def number_in_range(name: str, value: Any, minimum: int, maximum: int, why: str) -> int:
    """``value`` if it is an ``int`` (not a ``bool``) from ``minimum`` to ``maximum``.

    Args:
        name: the argument's name, for the message.
        value: what the caller passed.
        minimum: the smallest allowed value.
        maximum: the largest allowed value.
        why: the reason for the range, ending the message.

    Raises:
        InventoryConfigError: ``"{name} must be a whole number, got ..."`` or
            ``"{name}={value} is out of range: {why}"``.
    """
    if isinstance(value, bool) or not isinstance(value, int):
        raise InventoryConfigError(f"{name} must be a whole number, got {value!r}.")
    if not minimum <= value <= maximum:
        raise InventoryConfigError(f"{name}={value} is out of range: {why}")
    return value


def optional_page_size(name: str, value: Any) -> int | None:
    """A page size >= 1, or ``None`` for the server's default.

    Raises:
        InventoryConfigError: naming ``name`` and what it must be.
    """
    if value is None:
        return None
    return whole_number(name, value, hint=" (or None for the server default)")


def identifier(field: str, value: Any) -> str:
    """``value`` stripped, checked to be a non-empty string (an id, a code).

    Raises:
        InventoryConfigError: naming ``field``.
    """
    if not isinstance(value, str):
        raise InventoryConfigError(
            f"{field} values must be strings, got {type(value).__name__} {value!r}."
        )
    text = value.strip()
    if not text:
        raise InventoryConfigError(
            f"{field} is an empty string; pass a value, or None to not filter on {field}."
        )
    return text


def optional_identifier(field: str, value: Any) -> str | None:
    """``value`` checked to be a non-empty string (see :func:`identifier`), or ``None``."""
    return None if value is None else identifier(field, value)


def filter_values(field: str, value: FilterValue) -> list[str] | None:
    """A filter argument as a list of distinct values in order, or ``None`` for no filter.

    Raises:
        InventoryConfigError: naming ``field`` when a value is not a non-empty string.
    """
    if value is None:
        return None
    if isinstance(value, str):
        return [identifier(field, value)]
    if not isinstance(value, list | tuple):
        raise InventoryConfigError(
            f"{field} must be a string or a list of strings, got {type(value).__name__}."
        )
    return list(dict.fromkeys(identifier(field, item) for item in value))


def resource_name(resource: Any) -> str:
    """``resource`` if it looks like a Commerce Layer resource name (``packages``...).

    Raises:
        InventoryConfigError: it is empty, not a string, or not lower-case snake case.
    """
    if (
        not isinstance(resource, str)
        or not resource
        or not all(c.islower() or c.isdigit() or c == "_" for c in resource)
    ):
        raise InventoryConfigError(
            f"resource must be a Commerce Layer resource name such as 'packages' or "
            f"'stock_locations' (lower case, underscores), got {resource!r}."
        )
    return resource


__all__ = [
    "FilterValue",
    "filter_values",
    "identifier",
    "number_in_range",
    "optional_identifier",
    "optional_page_size",
    "resource_name",
    "whole_number",
]
