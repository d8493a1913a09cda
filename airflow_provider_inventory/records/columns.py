"""What the columns of a record file are: names, kinds and nullability, without any file library.

Operators describe their records with a :class:`RecordLayout` (the fields written, in order, and
the types the API documents); the Parquet writer turns it into an Arrow schema, and lineage turns
it into an OpenLineage schema facet. Nothing here imports pyarrow.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

ColumnKind = Literal["string", "float64", "int64", "bool", "timestamp", "json"]
"""How a field is stored: ``timestamp`` is UTC (microseconds), ``json`` is the value as JSON text
(objects, arrays, or anything whose type varies)."""


@dataclass(frozen=True)
class Column:
    """One column of a record file.

    Attributes:
        name: the record key.
        kind: how values are stored (see :data:`ColumnKind`).
        nullable: whether the API may send ``null`` (or leave the field out).
    """

    name: str
    kind: ColumnKind
    nullable: bool = True


def columns(*specs: tuple[str, ColumnKind] | tuple[str, ColumnKind, bool]) -> dict[str, Column]:
    """A name -> :class:`Column` mapping from ``(name, kind[, nullable])`` tuples, in order."""
    return {spec[0]: Column(*spec) for spec in specs}


@dataclass(frozen=True)
class RecordLayout:
    """The fields a task writes and the types it knows for them.

    Attributes:
        fields: the record keys expected, in order, or ``None`` when they are known only once
            records arrive (a resource without a documented field list, no ``select``).
        declared: types documented by the API, by field name; fields without one are inferred
            from the values (see the Parquet writer).
        exact: ``fields`` is the complete set (``select`` was given): other keys are not
            written. Otherwise keys the API sends beyond ``fields`` are columns too.
    """

    fields: tuple[str, ...] | None = None
    declared: Mapping[str, Column] = field(default_factory=dict)
    exact: bool = False

    @classmethod
    def of(
        cls,
        declared: Mapping[str, Column],
        *,
        selected: Sequence[str] | None = None,
        known: Collection[str] | None = None,
    ) -> RecordLayout:
        """The layout after ``select``: the selected names, else the known fields, else open.

        Args:
            declared: the documented column types of the resource.
            selected: the ``select`` names (output keys), if any.
            known: every field the API returns for this listing, if known.
        """
        if selected is not None:
            return cls(tuple(selected), declared, exact=True)
        if known is None:
            return cls(None, declared)
        return cls(tuple(ordered(known, declared)), declared)

    def column(self, name: str) -> Column | None:
        """The declared column for ``name``, if the API documents its type."""
        return self.declared.get(name)


def ordered(names: Iterable[str], declared: Mapping[str, Column]) -> list[str]:
    """``names`` in the declared order first, then the others alphabetically."""
    names = set(names)
    first = [name for name in declared if name in names]
    return first + sorted(names - set(first))
