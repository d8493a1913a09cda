"""Checks of caller-supplied arguments shared by hooks, operators, triggers and records."""

from __future__ import annotations

from typing import Any

from airflow_provider_inventory._http.errors import InventoryConfigError


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
