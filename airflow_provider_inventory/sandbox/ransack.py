"""Ransack-style ``filter[q][<attributes>_<predicate>]=value`` filters, as Commerce Layer uses.

Attributes may be joined with ``_or_`` (any matches) or ``_and_`` (all match). Predicates:

* comparisons ``eq not_eq lt lteq gt gteq`` (numbers numerically, timestamps as instants,
  other strings ordinally and case-sensitively);
* ``in not_in`` with comma-separated values (or repeated ``...[]=`` parameters);
* text ``start not_start end not_end cont not_cont i_cont matches does_not_match``:
  case-insensitive like PostgreSQL ILIKE; ``matches`` takes a LIKE pattern (``%``, ``_``);
* ``_any`` / ``_all`` forms of the comparisons and text predicates (comma-separated values);
* ``eq_or_null not_eq_or_null in_or_null not_in_or_null``;
* ``null not_null present blank true false`` with a boolean value (``true``/``false``,
  ``1``/``0``, ``t``/``f``); a false value negates the predicate, as in Ransack;
* ``jcont`` on ``metadata``: a JSON object matched as a subset (PostgreSQL ``@>``).

As in SQL, a null attribute matches no comparison or text predicate (use the ``_or_null``
forms). A blank value drops the condition, as Ransack does. Any unknown attribute,
predicate or ill-typed value raises :class:`FilterError`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .timeutil import parse_instant_us

Record = dict[str, Any]
Condition = Callable[[Record], bool]

KINDS = ("string", "number", "time", "bool", "json")


@dataclass(frozen=True)
class Field:
    """A filterable/sortable attribute: how to read it from a record and its value kind."""

    getter: Callable[[Record], Any]
    kind: str


class FilterError(ValueError):
    """A filter that cannot be applied; ``parameter`` is the offending query parameter."""

    def __init__(self, parameter: str, detail: str, code: str = "FILTER_NOT_ALLOWED") -> None:
        super().__init__(detail)
        self.parameter = parameter
        self.detail = detail
        self.code = code


_TRUE = frozenset({"true", "t", "1", "yes", "on"})
_FALSE = frozenset({"false", "f", "0", "no", "off"})

_COMPARISONS = ("eq", "not_eq", "lt", "lteq", "gt", "gteq")
_TEXT = (
    *("start", "not_start", "end", "not_end", "cont", "not_cont"),
    *("i_cont", "matches", "does_not_match"),
)
_BOOLEAN = ("null", "not_null", "present", "blank", "true", "false")
_LISTS = ("in", "not_in", "in_or_null", "not_in_or_null")
_OR_NULL = ("eq_or_null", "not_eq_or_null")
PREDICATES: tuple[str, ...] = tuple(
    sorted(
        {
            *_COMPARISONS,
            *_TEXT,
            *_BOOLEAN,
            *_LISTS,
            *_OR_NULL,
            "jcont",
            *(f"{p}_{q}" for p in (*_COMPARISONS, *_TEXT) for q in ("any", "all")),
        },
        key=len,
        reverse=True,
    )
)


def _like_regex(pattern: str) -> re.Pattern[str]:
    """SQL LIKE (``%`` any run, ``_`` one character, backslash escapes) as a regex."""
    out: list[str] = []
    escaped = False
    for char in pattern:
        if escaped:
            out.append(re.escape(char))
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == "%":
            out.append(".*")
        elif char == "_":
            out.append(".")
        else:
            out.append(re.escape(char))
    return re.compile("".join(out), re.IGNORECASE | re.DOTALL)


def _contains(container: Any, contained: Any) -> bool:
    """PostgreSQL jsonb ``@>``: objects recursively, arrays by element, scalars by equality."""
    if isinstance(contained, dict):
        return isinstance(container, dict) and all(
            key in container and _contains(container[key], value)
            for key, value in contained.items()
        )
    if isinstance(contained, list):
        return isinstance(container, list) and all(
            any(_contains(item, wanted) for item in container) for wanted in contained
        )
    if isinstance(contained, bool) or isinstance(container, bool):
        return container is contained
    return bool(container == contained)


def _parse_bool(value: str, parameter: str) -> bool:
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise FilterError(parameter, f"{value!r} is not a boolean", "INVALID_FILTER_VALUE")


def _converter(kind: str, parameter: str) -> Callable[[str], Any]:
    def convert(value: str) -> Any:
        try:
            if kind == "number":
                return float(value)
            if kind == "time":
                return parse_instant_us(value)
            if kind == "bool":
                return _parse_bool(value, parameter)
        except ValueError as exc:
            raise FilterError(
                parameter, f"{value!r} is not a valid {kind} value", "INVALID_FILTER_VALUE"
            ) from exc
        return value

    return convert


def _normalizer(kind: str) -> Callable[[Any], Any]:
    """Turns a stored (non-null) value into the form filter values are converted to."""
    if kind == "number":
        return float
    if kind == "time":
        return lambda value: parse_instant_us(value) if isinstance(value, str) else value
    return lambda value: value


def _scalar_test(base: str, arg: Any) -> Callable[[Any], bool]:
    """A test on a non-null normalized value for a comparison or text predicate."""
    if base == "eq":
        return lambda v: bool(v == arg)
    if base == "not_eq":
        return lambda v: bool(v != arg)
    if base == "lt":
        return lambda v: bool(v < arg)
    if base == "lteq":
        return lambda v: bool(v <= arg)
    if base == "gt":
        return lambda v: bool(v > arg)
    if base == "gteq":
        return lambda v: bool(v >= arg)
    needle = str(arg).lower()
    if base in ("cont", "i_cont"):
        return lambda v: needle in str(v).lower()
    if base == "not_cont":
        return lambda v: needle not in str(v).lower()
    if base == "start":
        return lambda v: str(v).lower().startswith(needle)
    if base == "not_start":
        return lambda v: not str(v).lower().startswith(needle)
    if base == "end":
        return lambda v: str(v).lower().endswith(needle)
    if base == "not_end":
        return lambda v: not str(v).lower().endswith(needle)
    regex = _like_regex(str(arg))
    if base == "matches":
        return lambda v: regex.fullmatch(str(v)) is not None
    if base == "does_not_match":
        return lambda v: regex.fullmatch(str(v)) is None
    raise AssertionError(base)  # pragma: no cover


def _value_condition(
    predicate: str, raw: str, name: str, field: Field, parameter: str
) -> Callable[[Any], bool]:
    """A test on one attribute value (possibly None) for ``predicate`` with value ``raw``."""
    kind = field.kind
    convert = _converter(kind, parameter)
    normal = _normalizer(kind)

    def reject(reason: str) -> FilterError:
        return FilterError(parameter, f"predicate {predicate!r} on {name!r} {reason}")

    if predicate in _BOOLEAN:
        flag = _parse_bool(raw, parameter)
        if predicate in ("true", "false"):
            if kind != "bool":
                raise reject(f"needs a boolean attribute, not a {kind} one")
            wanted = predicate == "true"
            if flag:
                return lambda v: v is not None and bool(v) is wanted
            return lambda v: v is not None and bool(v) is not wanted

        def is_blank(v: Any) -> bool:
            if v is None:
                return True
            if isinstance(v, str):
                return not v.strip()
            return isinstance(v, dict | list) and not v

        test: Callable[[Any], bool] = {
            "null": lambda v: v is None,
            "not_null": lambda v: v is not None,
            "blank": is_blank,
            "present": lambda v: not is_blank(v),
        }[predicate]
        return test if flag else (lambda v: not test(v))

    if predicate == "jcont":
        if kind != "json":
            raise reject(f"needs a JSON attribute, not a {kind} one")
        try:
            wanted_json = json.loads(raw)
        except ValueError as exc:
            raise FilterError(
                parameter, "jcont needs a JSON object", "INVALID_FILTER_VALUE"
            ) from exc
        if not isinstance(wanted_json, dict):
            raise FilterError(parameter, "jcont needs a JSON object", "INVALID_FILTER_VALUE")
        return lambda v: v is not None and _contains(v, wanted_json)

    if kind == "json":
        raise reject("is not supported on a JSON attribute (use jcont, null, present, blank)")

    if predicate in _LISTS:
        values = {convert(item) for item in raw.split(",")}
        negate = predicate.startswith("not_")
        or_null = predicate.endswith("_or_null")

        def in_test(v: Any) -> bool:
            if v is None:
                return or_null
            return (normal(v) in values) is not negate

        return in_test

    if predicate in _OR_NULL:
        inner = _scalar_test(predicate[: -len("_or_null")], convert(raw))
        return lambda v: v is None or inner(normal(v))

    base, quantifier = predicate, None
    for suffix in ("_any", "_all"):
        if predicate.endswith(suffix):
            base, quantifier = predicate[: -len(suffix)], suffix[1:]
    if base in _TEXT and kind not in ("string",):
        raise reject(f"needs a text attribute, not a {kind} one")
    if kind == "bool" and base not in ("eq", "not_eq"):
        raise reject("is not supported on a boolean attribute")
    if quantifier is None:
        single = _scalar_test(base, convert(raw))
        return lambda v: v is not None and single(normal(v))
    tests = [_scalar_test(base, convert(item)) for item in raw.split(",")]
    combine = any if quantifier == "any" else all
    return lambda v: v is not None and combine(t(normal(v)) for t in tests)


def _split_attributes(text: str, fields: dict[str, Field]) -> tuple[list[str], str] | None:
    """Split ``name_or_code`` into (["name", "code"], "or"); None when it does not parse."""
    names = sorted(fields, key=len, reverse=True)

    def parse(rest: str, joiner: str | None) -> tuple[list[str], str] | None:
        for name in names:
            if not rest.startswith(name):
                continue
            tail = rest[len(name) :]
            if not tail:
                return [name], joiner or "or"
            for candidate in ("or", "and"):
                if joiner not in (None, candidate) or not tail.startswith(f"_{candidate}_"):
                    continue
                parsed = parse(tail[len(candidate) + 2 :], candidate)
                if parsed is not None:
                    return [name, *parsed[0]], parsed[1]
        return None

    return parse(text, None)


def parse_condition(
    key: str, raw: str, fields: dict[str, Field], parameter: str
) -> Condition | None:
    """One condition from a ``filter[q][<key>]`` parameter (``key`` without the wrapper).

    Returns None for a blank value (after checking attribute and predicate names).
    """
    candidates = [p for p in PREDICATES if key.endswith(f"_{p}") and len(key) > len(p) + 1]
    if not candidates:
        raise FilterError(parameter, f"filter {key!r} has no known predicate")
    for predicate in candidates:
        split = _split_attributes(key[: -len(predicate) - 1], fields)
        if split is None:
            continue
        names, joiner = split
        if raw.strip() == "":
            return None
        tests = [
            (fields[n].getter, _value_condition(predicate, raw, n, fields[n], parameter))
            for n in names
        ]
        if joiner == "and":
            return lambda record: all(test(get(record)) for get, test in tests)
        return lambda record: any(test(get(record)) for get, test in tests)
    attribute = key[: -len(candidates[0]) - 1]
    raise FilterError(parameter, f"filter on unknown attribute {attribute!r} is not allowed")


def compile_filters(
    params: list[tuple[str, list[str]]], fields: dict[str, Field]
) -> Callable[[Record], bool]:
    """AND of the conditions in ``params``: (parameter name, values) pairs, each parameter
    name being ``filter[q][<key>]`` or ``filter[q][<key>][]``."""
    conditions: list[Condition] = []
    for parameter, values in params:
        inner = parameter[len("filter[q][") :]
        if inner.endswith("][]"):
            key, raw = inner[:-3], ",".join(v for v in values if v != "")
        elif inner.endswith("]"):
            key, raw = inner[:-1], values[-1]
        else:
            raise FilterError(parameter, f"malformed filter parameter {parameter!r}")
        if "[" in key or "]" in key:
            raise FilterError(parameter, f"malformed filter parameter {parameter!r}")
        condition = parse_condition(key, raw, fields, parameter)
        if condition is not None:
            conditions.append(condition)
    return lambda record: all(condition(record) for condition in conditions)
