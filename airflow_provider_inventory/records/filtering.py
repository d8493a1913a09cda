"""Client-side record selection: ``where``, ``record_filter`` and ``select``.

Field names are dotted paths: ``"code"`` reads ``record["code"]`` and ``"metadata.tier"`` reads
``record["metadata"]["tier"]``. A missing key, or a path that runs through a value that is not an
object, reads as ``None``; lists are not indexed. A key that itself contains a dot cannot be
reached by ``where``/``select``: use ``record_filter`` for it.

``where`` maps field names to:

- a value: the field must equal it (``==``, no type coercion: ``"5"`` does not match ``5``; a
  Jinja-templated value renders to a string unless the DAG sets ``render_template_as_native_obj``);
- a list (or tuple/set) of values: the field must equal one of them (an empty list matches nothing);
- ``None``: the field must be null or missing.

All conditions must hold (AND). ``record_filter`` is an optional callable run after ``where`` on
the full record, for anything ``where`` cannot say. ``select`` projects each kept record onto the
named fields: the output is flat, keyed by the names exactly as given (``{"id": ..., "metadata.tier":
...}``), in ``select`` order, with ``None`` for a field the record lacks, so every output record has
the same keys. ``id`` is kept only if selected.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from airflow_provider_inventory._types import Record, RecordPredicate
from airflow_provider_inventory.exceptions import InventoryConfigError

RecordProjection = Callable[[Record], Record]
"""Turns a kept record into the record that is published."""

FieldGetter = Callable[[Record], Any]

_SCALARS = (str, int, float, bool, type(None))
_SEQUENCES = (list, tuple, set, frozenset)


def field_getter(name: str) -> FieldGetter:
    """Return a function reading the (possibly dotted) field ``name`` from a record.

    Args:
        name: a top-level key (``"code"``) or a dotted path (``"metadata.tier"``).

    Returns:
        ``callable(record) -> value``; ``None`` when the key, or an object on the way, is missing.
    """
    parts = tuple(name.split("."))
    if len(parts) == 1:
        key = parts[0]
        return lambda record: record.get(key)

    def get_nested(record: Record) -> Any:
        value: Any = record
        for part in parts:
            if not isinstance(value, dict):
                return None
            value = value.get(part)
        return value

    return get_nested


def check_field_name(name: Any, argument_name: str) -> str:
    """Return ``name`` if it is a usable field name.

    Raises:
        InventoryConfigError: ``name`` is not a string, is empty or has an empty dotted segment.
    """
    if not isinstance(name, str):
        raise InventoryConfigError(
            f"{argument_name} field names must be strings, got {type(name).__name__} {name!r}."
        )
    if not name or "" in name.split("."):
        raise InventoryConfigError(
            f"{argument_name} has an invalid field name {name!r}: use a field name such as 'code' "
            f"or a dotted path such as 'metadata.tier'."
        )
    return name


def validate_fields(
    names: Iterable[str], known_fields: Collection[str], argument_name: str
) -> None:
    """Check that every name refers to a field the API returns.

    A dotted name is known when its first segments form a known field (``metadata.tier`` is known
    when ``metadata`` is), since object fields hold free-form keys.

    Args:
        names: field names from ``where`` or ``select``.
        known_fields: the fields the API returns for the resource.
        argument_name: the operator argument being checked, used in the message.

    Raises:
        InventoryConfigError: listing the unknown names, the known fields and close matches.
    """
    unknown = [name for name in names if not _is_known(name, known_fields)]
    if not unknown:
        return
    listed = ", ".join(repr(name) for name in unknown)
    noun = "field" if len(unknown) == 1 else "fields"
    hints = _suggestions(unknown, known_fields)
    raise InventoryConfigError(
        f"{argument_name} names {noun} the API does not return: {listed}.{hints} "
        f"Known fields: {', '.join(sorted(known_fields))}; dotted paths reach into object fields "
        f"(e.g. 'metadata.tier')."
    )


def _is_known(name: str, known_fields: Collection[str]) -> bool:
    if name in known_fields:
        return True
    prefix = ""
    for part in name.split(".")[:-1]:
        prefix = f"{prefix}.{part}" if prefix else part
        if prefix in known_fields:
            return True
    return False


def _suggestions(unknown: list[str], known_fields: Collection[str]) -> str:
    hints = []
    for name in unknown:
        head, dot, rest = name.partition(".")
        close = difflib.get_close_matches(head, list(known_fields), n=1)
        if close:
            hints.append(f"{name!r} -> {close[0] + dot + rest!r}")
    return f" Did you mean {', '.join(hints)}?" if hints else ""


def normalize_where(where: Mapping[str, Any] | None) -> dict[str, Any]:
    """Validate a ``where`` mapping and return it with list-like values as tuples.

    Raises:
        InventoryConfigError: ``where`` is not a mapping, a field name is invalid or a value is not
            a JSON value (string, number, boolean, null, object) or a list of them.
    """
    if where is None:
        return {}
    if not isinstance(where, Mapping):
        raise InventoryConfigError(
            f"where must be a dict of field -> value, list of values, or None (is null); got "
            f"{type(where).__name__}. A templated where renders to a string unless the DAG sets "
            f"render_template_as_native_obj=True."
        )
    normalized: dict[str, Any] = {}
    for name, value in where.items():
        check_field_name(name, "where")
        if isinstance(value, _SEQUENCES):
            for item in value:
                _check_where_value(name, item)
            normalized[name] = tuple(value)
        else:
            _check_where_value(name, value)
            normalized[name] = value
    return normalized


def _check_where_value(name: str, value: Any) -> None:
    if isinstance(value, (*_SCALARS, dict)):
        return
    raise InventoryConfigError(
        f"where[{name!r}] must be a JSON value (string, number, boolean, null or object) or a list "
        f"of them; got {type(value).__name__} {value!r}. Pass timestamps as ISO-8601 strings."
    )


def normalize_select(select: str | Iterable[str] | None) -> tuple[str, ...] | None:
    """Validate ``select`` and return its field names, duplicates dropped, order kept.

    Args:
        select: ``None`` (keep every field), a list of field names, or a comma-separated string
            (``"id, code, metadata.tier"``, handy from templates).

    Raises:
        InventoryConfigError: a name is invalid or no field is named.
    """
    if select is None:
        return None
    if isinstance(select, str):
        names: list[Any] = [part.strip() for part in select.split(",") if part.strip()]
    elif isinstance(select, (Mapping, bytes)) or not isinstance(select, Iterable):
        raise InventoryConfigError(
            f"select must be a list of field names or a comma-separated string; got "
            f"{type(select).__name__}."
        )
    else:
        names = list(select)
    if not names:
        raise InventoryConfigError(
            "select names no field; list the fields to keep, or omit select to keep every field."
        )
    return tuple(dict.fromkeys(check_field_name(name, "select") for name in names))


def build_predicate(
    where: Mapping[str, Any] | None = None, record_filter: RecordPredicate | None = None
) -> RecordPredicate:
    """Combine ``where`` conditions and ``record_filter`` into one record predicate.

    ``where`` conditions run first (cheap), then ``record_filter`` on the same full record.

    Args:
        where: field -> value / list of values / ``None``; see the module docstring.
        record_filter: optional ``callable(record) -> bool``.

    Returns:
        ``callable(record) -> bool``; accepts everything when both are empty.

    Raises:
        InventoryConfigError: ``where`` is malformed or ``record_filter`` is not callable.
    """
    checks: list[RecordPredicate] = [
        _condition(name, value) for name, value in normalize_where(where).items()
    ]
    if record_filter is not None:
        if not callable(record_filter):
            raise InventoryConfigError(
                f"record_filter must be a callable taking a record dict and returning a bool; got "
                f"{type(record_filter).__name__}."
            )
        checks.append(record_filter)
    if not checks:
        return _accept_all
    if len(checks) == 1:
        return checks[0]
    all_checks = tuple(checks)

    def matches_all(record: Record) -> bool:
        return all(check(record) for check in all_checks)

    return matches_all


def _accept_all(record: Record) -> bool:
    return True


def _condition(name: str, expected: Any) -> RecordPredicate:
    get = field_getter(name)
    if expected is None:
        return lambda record: get(record) is None
    if not isinstance(expected, tuple):
        return lambda record: get(record) == expected
    options = expected
    try:
        hashed: frozenset[Any] = frozenset(options)
    except TypeError:  # an object among the values: compare one by one
        return lambda record: get(record) in options

    def is_one_of(record: Record) -> bool:
        value = get(record)
        try:
            return value in hashed
        except TypeError:  # the record holds an object or a list here
            return value in options

    return is_one_of


def build_projection(select: str | Iterable[str] | None) -> RecordProjection:
    """Return a function projecting a record onto ``select`` (flat keys; see module docstring).

    Args:
        select: field names, a comma-separated string, or ``None`` to keep records unchanged.

    Raises:
        InventoryConfigError: ``select`` is malformed.
    """
    names = normalize_select(select)
    if names is None:
        return _unchanged
    if all("." not in name for name in names):
        keys = names

        def project_top_level(record: Record) -> Record:
            get = record.get
            return {key: get(key) for key in keys}

        return project_top_level
    getters = tuple((name, field_getter(name)) for name in names)

    def project_paths(record: Record) -> Record:
        return {name: get(record) for name, get in getters}

    return project_paths


def _unchanged(record: Record) -> Record:
    return record


@dataclass(frozen=True)
class RecordSelection:
    """Validated, compiled ``where`` + ``record_filter`` + ``select``; reusable and stateless.

    Build it with :meth:`build` at execute start so bad arguments fail before any request.
    """

    predicate: RecordPredicate = _accept_all
    projection: RecordProjection = _unchanged

    @classmethod
    def build(
        cls,
        *,
        where: Mapping[str, Any] | None = None,
        record_filter: RecordPredicate | None = None,
        select: str | Iterable[str] | None = None,
        known_fields: Collection[str] | None = None,
    ) -> RecordSelection:
        """Validate the arguments and compile them.

        Args:
            where: field -> value / list of values / ``None``.
            record_filter: optional ``callable(record) -> bool``.
            select: fields to keep, or ``None`` for every field.
            known_fields: the fields the API returns; when given, ``where`` and ``select`` names
                are checked against it.

        Raises:
            InventoryConfigError: naming the bad argument and the fix.
        """
        normalized_where = normalize_where(where)
        names = normalize_select(select)
        if known_fields is not None:
            validate_fields(normalized_where, known_fields, "where")
            if names is not None:
                validate_fields(names, known_fields, "select")
        return cls(build_predicate(normalized_where, record_filter), build_projection(names))

    @property
    def is_identity(self) -> bool:
        """True when every record passes unchanged."""
        return self.predicate is _accept_all and self.projection is _unchanged

    def apply(self, records: Iterable[Record]) -> Iterator[Record]:
        """Lazily yield the projection of each record that passes the predicate."""
        if self.is_identity:
            yield from records
            return
        keep, project = self.predicate, self.projection
        for record in records:
            if keep(record):
                yield project(record)
