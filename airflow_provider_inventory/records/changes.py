"""Change sets: what was created, updated and deleted since the previous listing of a scope.

Neither API keeps a change log that shows deletions, so a listing with ``changes=True`` is
compared with a *snapshot* of the previous successful listing of the same scope:

- a **snapshot** is compact: one line per record, sorted by id, holding the id, ``updated_at``
  and a 128-bit BLAKE2b hash of the record as published (after ``where``/``select``), gzip-
  compressed, with a header naming its scope and a trailer holding its record count (a file
  without the trailer is refused as damaged). It lives at ``{folder}/{task}-{scope key}
  .snapshot.gz``; the scope key is a hash of the scope (DAG, task, connection, listing, filters,
  ``where``, ``select``), and the header's scope is checked on reading, so two scopes never
  compare against each other;
- the **listing** is spilled to local temporary files as sorted runs of :data:`RUN_RECORDS`
  records (id, ``updated_at``, hash, the record's JSON), then merged with :func:`heapq.merge` and
  joined with the previous snapshot in one streaming pass. Memory stays flat at any size: one run
  buffer, one line per open run, and the writers' own buffers. Sorted runs were chosen over
  ``sqlite3`` because the snapshot is itself a sorted file, so the comparison is a merge join
  with sequential I/O and no index to build, and over a library because the standard library
  does it in a page of code;
- the **change set** holds created and updated records in full and deleted ones as tombstones
  ``{"id", "_change": "deleted", "_seen_at"}``; every record carries ``_change`` (``created``,
  ``updated`` or ``deleted``) and ``_seen_at`` (when the listing that saw the change started,
  UTC). Created and updated records come first, in id order, then the tombstones;
- the **mass-deletion guard** refuses a change set that deletes more than
  ``max_deleted_fraction`` of the previous snapshot (:class:`MassDeletionError`);
- the new snapshot is written under a temporary name while the change set is produced and moved
  into place only by :meth:`ChangeSetBuilder.commit`, which the operator calls after the change
  set was published. A run that fails or is killed before that leaves the previous snapshot, so
  its re-run publishes the same changes.

Typical use (what ``InventoryListOperator`` does)::

    with ChangeSetBuilder(scope, snapshot_file, max_deleted_fraction=0.2) as builder:
        builder.add_all(records)                # the complete listing
        manifest = write_records(builder.changes(), output_path, layout=change_set_layout(layout))
        builder.commit()                        # advance the snapshot
"""

from __future__ import annotations

import gzip
import hashlib
import heapq
import io
import json
import os
import re
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from contextlib import suppress
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from operator import itemgetter
from types import TracebackType
from typing import IO, TYPE_CHECKING, Any, Literal, TypedDict

from airflow_provider_inventory._http.redaction import redact_url
from airflow_provider_inventory._types import Record
from airflow_provider_inventory.exceptions import (
    BadResponseError,
    InventoryConfigError,
    MassDeletionError,
    SnapshotError,
)
from airflow_provider_inventory.records.columns import Column, RecordLayout
from airflow_provider_inventory.records.manifest import Manifest
from airflow_provider_inventory.records.storage import (
    AtomicFile,
    PathArgument,
    filesystem,
    storage_path,
)
from airflow_provider_inventory.window import format_instant

if TYPE_CHECKING:
    from airflow.sdk import ObjectStoragePath

#: What happened to a record since the previous snapshot.
ChangeKind = Literal["created", "updated", "deleted"]
#: The field that marks each record of a change set with its :data:`ChangeKind`.
CHANGE_FIELD = "_change"
#: The field holding when the listing that saw the change started (ISO-8601 UTC).
SEEN_AT_FIELD = "_seen_at"
#: The default of ``max_deleted_fraction``.
DEFAULT_MAX_DELETED_FRACTION = 0.2
#: Records per sorted run spilled to disk: the comparison's working set.
RUN_RECORDS = 20_000
#: The most runs merged at once; more are first merged into longer runs.
MERGE_FAN_IN = 64
#: The snapshot file format written (and the newest one read).
SNAPSHOT_FORMAT = 1
SNAPSHOT_SUFFIX = ".snapshot.gz"
#: The folder next to ``output_path`` that holds snapshots when ``snapshot_path`` is not set.
DEFAULT_SNAPSHOT_FOLDER = "_snapshots"

_BUFFER = 1 << 20
_GZIP_LEVEL = 6
_canonical = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False
).encode
_compact = json.JSONEncoder(separators=(",", ":"), ensure_ascii=True, allow_nan=False).encode
_json_string: Any = getattr(json.encoder, "c_encode_basestring_ascii", None) or (
    json.encoder.py_encode_basestring_ascii
)


def _json_value(value: Any) -> str:
    """``value`` as compact ASCII JSON (the C string encoder for the common case)."""
    return _json_string(value) if type(value) is str else _compact(value)


class ChangeCounts(TypedDict):
    """Records of a change set per kind, and the records that did not change."""

    created: int
    updated: int
    deleted: int
    unchanged: int


class ChangeSetManifest(Manifest):
    """A :class:`~airflow_provider_inventory.records.manifest.Manifest` with the change counts.

    Keys (beyond the manifest's):
        changes: :class:`ChangeCounts` of the change set.
        snapshot: URI of the snapshot the next run compares with.
        previous_records: records in the snapshot this run compared with (0 on a first run).
    """

    changes: ChangeCounts
    snapshot: str
    previous_records: int


# ---------------------------------------------------------------------- scope and arguments


@dataclass(frozen=True)
class ChangeScope:
    """What a snapshot is a snapshot of: two listings compare only if their scopes are equal.

    Attributes:
        name: a readable prefix for the snapshot's file name (the task id).
        definition: the scope as JSON-serialisable data (connection, listing, filters...).
    """

    name: str
    definition: Mapping[str, Any]

    @property
    def canonical(self) -> str:
        """The definition as canonical JSON (sorted keys): what is compared and hashed.

        Raises:
            InventoryConfigError: the definition is not JSON-serialisable.
        """
        try:
            return _canonical(self.definition)
        except (TypeError, ValueError) as error:
            raise InventoryConfigError(
                f"The change scope of {self.name!r} cannot be written as JSON ({error}); pass "
                f"filters and ids as strings, numbers, lists and dicts."
            ) from None

    @property
    def key(self) -> str:
        """16 hex digits of the SHA-256 of :attr:`canonical`."""
        return hashlib.sha256(self.canonical.encode()).hexdigest()[:16]

    @property
    def file_name(self) -> str:
        """``{name}-{key}.snapshot.gz`` (the name reduced to letters, digits, ``._-``)."""
        slug = re.sub(r"[^A-Za-z0-9._-]+", "_", self.name).strip("._") or "scope"
        return f"{slug[:80]}-{self.key}{SNAPSHOT_SUFFIX}"


def snapshot_folder(path: PathArgument, argument_name: str = "snapshot_path") -> ObjectStoragePath:
    """Resolve a folder argument (``s3://aws_default@bucket/inventory/_snapshots/``).

    Raises:
        InventoryConfigError: empty, the wrong type, or a scheme without a filesystem.
    """
    if isinstance(path, str):
        path = path.rstrip("/") if path.strip("/") else path
    folder = storage_path(path, argument_name)
    filesystem(folder, argument_name)
    return folder


def check_max_deleted_fraction(value: Any) -> float:
    """``max_deleted_fraction`` as a number from 0 to 1 (rendered text accepted; ``None``: 0.2).

    Raises:
        InventoryConfigError: not a number from 0 to 1.
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        return DEFAULT_MAX_DELETED_FRACTION
    number: float | None = None
    if isinstance(value, int | float) and not isinstance(value, bool):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            number = None
    if number is None or not 0.0 <= number <= 1.0:
        raise InventoryConfigError(
            f"max_deleted_fraction={value!r} must be a number from 0 to 1: the largest share "
            f"of the previous snapshot one change set may delete (default "
            f"{DEFAULT_MAX_DELETED_FRACTION}; 1 allows any deletion)."
        )
    return number


def change_set_layout(layout: RecordLayout) -> RecordLayout:
    """The layout of a change set of records laid out as ``layout``.

    ``_change`` (string) and ``_seen_at`` (timestamp) are added; every other column but ``id``
    becomes nullable, since tombstones carry only ``id``.
    """
    declared: dict[str, Column] = {
        name: column if name == "id" else replace(column, nullable=True)
        for name, column in layout.declared.items()
    }
    declared[CHANGE_FIELD] = Column(CHANGE_FIELD, "string", nullable=False)
    declared[SEEN_AT_FIELD] = Column(SEEN_AT_FIELD, "timestamp", nullable=False)
    fields = None
    if layout.fields is not None:
        kept = (name for name in layout.fields if name not in (CHANGE_FIELD, SEEN_AT_FIELD))
        fields = (*kept, CHANGE_FIELD, SEEN_AT_FIELD)
    return RecordLayout(fields, declared, exact=layout.exact)


def tidy_change_records(records: Iterable[Record]) -> Iterator[Record]:
    """Records as written: a tombstone read from Parquet (every column, ``None`` but ``id``,
    ``_change``, ``_seen_at``) becomes the three-field record JSON Lines holds."""
    for record in records:
        if record.get(CHANGE_FIELD) == "deleted":
            yield tombstone(record.get("id"), record.get(SEEN_AT_FIELD))
        else:
            yield record


def tombstone(record_id: Any, seen_at: Any) -> Record:
    """The change set record of a deletion."""
    return {"id": record_id, CHANGE_FIELD: "deleted", SEEN_AT_FIELD: seen_at}


# ---------------------------------------------------------------------- sorted runs


def _sort_key(record: Record, number: int) -> str:
    """The id as JSON text: the key snapshots are sorted and compared by.

    Raises:
        BadResponseError: the record has no scalar ``id``.
    """
    record_id = record.get("id")
    if type(record_id) is str:
        return _json_string(record_id)
    if record_id is None or isinstance(record_id, bool | dict | list | float):
        raise BadResponseError(
            f"Record {number} has id {record_id!r}: a change set needs a string or integer id "
            f"in every record to match it with the previous snapshot."
        )
    return _compact(record_id)


def _read_run(path: str) -> Iterator[tuple[str, str]]:
    """``(key, rest)`` of each line of a run file, in file order."""
    with open(path, encoding="ascii", buffering=_BUFFER) as run:
        for line in run:
            key, _, rest = line.rstrip("\n").partition("\t")
            yield key, rest


def _write_run(path: str, entries: Iterable[tuple[str, str]]) -> None:
    with open(path, "w", encoding="ascii", buffering=_BUFFER) as run:
        run.writelines(f"{key}\t{rest}\n" for key, rest in entries)


class SortedRuns:
    """Spills ``(key, rest)`` lines to sorted run files in ``directory``; merges them back.

    Args:
        directory: a private temporary folder (removed by the caller).
        run_records: lines held in memory before a run is sorted and written.
    """

    def __init__(self, directory: str, run_records: int = RUN_RECORDS) -> None:
        self.directory = directory
        self.run_records = max(1, run_records)
        self.runs: list[str] = []
        self._buffer: list[tuple[str, str]] = []
        self._count = 0

    def add(self, key: str, rest: str) -> None:
        """Add one line (written to disk with the next full run)."""
        self._buffer.append((key, rest))
        if len(self._buffer) >= self.run_records:
            self._spill()

    def merged(self) -> Iterator[tuple[str, str]]:
        """Every line added, sorted by key (equal keys in the order they were added)."""
        self._spill()
        while len(self.runs) > MERGE_FAN_IN:  # bound the files open at once
            groups = [
                self.runs[i : i + MERGE_FAN_IN] for i in range(0, len(self.runs), MERGE_FAN_IN)
            ]
            self.runs = []
            for group in groups:
                path = self._next_path()
                _write_run(path, heapq.merge(*map(_read_run, group), key=itemgetter(0)))
                for old in group:
                    os.remove(old)
                self.runs.append(path)
        return heapq.merge(*map(_read_run, self.runs), key=itemgetter(0))

    def _spill(self) -> None:
        if not self._buffer:
            return
        self._buffer.sort(key=itemgetter(0))  # stable: duplicates keep their listing order
        path = self._next_path()
        _write_run(path, self._buffer)
        self.runs.append(path)
        self._buffer = []

    def _next_path(self) -> str:
        self._count += 1
        return os.path.join(self.directory, f"run-{self._count:06d}")


# ---------------------------------------------------------------------- snapshots


def read_snapshot(path: ObjectStoragePath, scope: ChangeScope) -> Iterator[tuple[str, str, str]]:
    """``(key, updated_at JSON, hash)`` of each record of a snapshot, in key order.

    Raises:
        SnapshotError: the file belongs to another scope, has a newer format, is not sorted,
            or lacks its trailer (damaged).
    """
    display = redact_url(str(path))
    fs = filesystem(path, "snapshot_path")
    with fs.open(path.path, "rb") as raw, gzip.GzipFile(fileobj=raw, mode="rb") as unzipped:
        text = io.TextIOWrapper(unzipped, encoding="ascii")
        header = _json_line(text.readline(), display, "header")
        if header.get("inventory_snapshot", 0) > SNAPSHOT_FORMAT:
            raise SnapshotError(
                f"The snapshot {display} has format {header.get('inventory_snapshot')}, newer "
                f"than this provider reads ({SNAPSHOT_FORMAT}); upgrade the provider."
            )
        if _canonical(header.get("scope")) != scope.canonical:
            raise SnapshotError(
                f"The snapshot {display} belongs to another scope ({header.get('scope')!r}, not "
                f"{scope.definition!r}); remove it or set snapshot_path to another folder."
            )
        previous = ""
        for count, line in enumerate(text):  # count: the entries before this line
            if line.startswith("{"):
                trailer = _json_line(line, display, "trailer")
                if trailer.get("records") != count:
                    break
                return
            key, updated, digest = line.rstrip("\n").split("\t")
            if key <= previous:
                raise SnapshotError(f"The snapshot {display} is not sorted at {key}; remove it.")
            previous = key
            yield key, updated, digest
    raise SnapshotError(
        f"The snapshot {display} is damaged (no trailer, or a wrong record count); remove it to "
        f"start again (the next run publishes every record as created)."
    )


def _json_line(line: str, display: str, what: str) -> dict[str, Any]:
    try:
        value = json.loads(line)
    except ValueError:
        value = None
    if not isinstance(value, dict):
        raise SnapshotError(f"The snapshot {display} has no valid {what}; remove it.")
    return value


class SnapshotWriter:
    """Writes a snapshot under a temporary name; :meth:`commit` moves it into place."""

    def __init__(self, path: ObjectStoragePath, scope: ChangeScope, written_at: str) -> None:
        self.path = path
        self.records = 0
        fs = filesystem(path, "snapshot_path")
        self._file = AtomicFile(path, fs, "SnapshotWriter", lineage=False)
        self._gzip = gzip.GzipFile(
            filename="", mode="wb", fileobj=self._file.open(), compresslevel=_GZIP_LEVEL, mtime=0
        )
        self._text = io.TextIOWrapper(self._gzip, encoding="ascii")
        self.finished = False
        header = {"inventory_snapshot": SNAPSHOT_FORMAT, "scope": scope.definition}
        self._text.write(_compact({**header, "written_at": written_at}) + "\n")

    def write(self, key: str, updated: str, digest: str) -> None:
        """Append one record's line (keys must come in order)."""
        self._text.write(f"{key}\t{updated}\t{digest}\n")
        self.records += 1

    def finish(self) -> None:
        """Write the trailer and close the compressed stream (the file is not moved yet)."""
        self._text.write(_compact({"end": True, "records": self.records}) + "\n")
        self._text.flush()
        self._text.detach()
        self._gzip.close()
        self.finished = True

    def commit(self) -> None:
        """Move the finished snapshot into place."""
        self._file.commit()

    def abort(self) -> None:
        """Remove the temporary file; safe to call twice, and after :meth:`commit`."""
        if self._file.state == "open":
            with suppress(Exception):
                self._text.detach()
            self._file.abort()


# ---------------------------------------------------------------------- the comparison


class ChangeSetBuilder:
    """Compares a complete listing with the previous snapshot of its scope.

    Use as a context manager: it creates the temporary folder for the sorted runs and, on exit,
    removes it and the uncommitted snapshot.

    Args:
        scope: what is listed (see :class:`ChangeScope`).
        snapshot: the snapshot file of ``scope`` (read if it exists, replaced on :meth:`commit`).
        max_deleted_fraction: the largest share of the previous snapshot the change set may
            delete (0 to 1).
        seen_at: when the listing started (default: now); the ``_seen_at`` of every change.
        run_records: records per sorted run (the working set).
        temp_dir: where the runs are spilled (default: the system's temporary folder).

    Attributes:
        counts: the :class:`ChangeCounts`, complete once :meth:`changes` is exhausted.
        previous_records: records in the previous snapshot (0 without one).
        duplicates: records dropped because an earlier record of the listing had the same id.
    """

    def __init__(
        self,
        scope: ChangeScope,
        snapshot: ObjectStoragePath,
        *,
        max_deleted_fraction: float = DEFAULT_MAX_DELETED_FRACTION,
        seen_at: datetime | None = None,
        run_records: int = RUN_RECORDS,
        temp_dir: str | None = None,
    ) -> None:
        self.scope = scope
        self.snapshot = snapshot
        self.max_deleted_fraction = max_deleted_fraction
        self.seen_at = format_instant(seen_at or datetime.now(timezone.utc))
        self.run_records = run_records
        self.temp_dir = temp_dir
        self.counts: ChangeCounts = {"created": 0, "updated": 0, "deleted": 0, "unchanged": 0}
        self.previous_records = 0
        self.duplicates = 0
        self.listed = 0
        self._field_order: tuple[str, ...] = ()
        self.first_run = True
        self._workspace: tempfile.TemporaryDirectory[str] | None = None
        self._runs: SortedRuns | None = None
        self._writer: SnapshotWriter | None = None
        self._committed = False

    @property
    def has_previous(self) -> bool:
        """Whether a snapshot of the scope exists (``False``: every record is created)."""
        return bool(filesystem(self.snapshot, "snapshot_path").exists(self.snapshot.path))

    def __enter__(self) -> ChangeSetBuilder:
        self._workspace = tempfile.TemporaryDirectory(
            prefix="inventory-changes-", dir=self.temp_dir
        )
        self._runs = SortedRuns(self._workspace.name, self.run_records)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._writer is not None and not self._committed:
            self._writer.abort()
        if self._workspace is not None:
            self._workspace.cleanup()

    def add_all(self, records: Iterable[Record]) -> None:
        """Spill the complete listing (consumed here) into sorted runs.

        Raises:
            BadResponseError: a record has no string or integer ``id``.
            TypeError, ValueError: a record is not JSON-serialisable.
        """
        runs = self._check_entered()
        add = runs.add
        blake2b = hashlib.blake2b
        for record in records:
            self.listed += 1
            if self.listed == 1:
                self._field_order = tuple(record)
            key = _sort_key(record, self.listed)
            # One encoding serves as the hashed form and the kept copy: sorted keys, so that a
            # change of key order is not an update; changes() restores the listing's order.
            text = _canonical(record)
            digest = blake2b(text.encode(), digest_size=16).hexdigest()
            updated = _json_value(record.get("updated_at"))
            add(key, f"{updated}\t{digest}\t{text}")

    def changes(self) -> Iterator[Record]:
        """The change set, streamed: created and updated records in id order, then tombstones.

        Writes the new snapshot (under a temporary name) as it goes. Before the first tombstone
        is yielded, the mass-deletion guard is checked.

        Raises:
            MassDeletionError: more than ``max_deleted_fraction`` of the previous snapshot is
                deleted.
            SnapshotError: the previous snapshot cannot be used.
        """
        runs = self._check_entered()
        assert self._workspace is not None
        self.first_run = not self.has_previous
        previous: Iterator[tuple[str, str, str]] = (
            iter(()) if self.first_run else read_snapshot(self.snapshot, self.scope)
        )
        self._writer = SnapshotWriter(self.snapshot, self.scope, self.seen_at)
        tombstones_path = os.path.join(self._workspace.name, "deleted")
        seen_at, loads = self.seen_at, json.loads
        with open(tombstones_path, "w", encoding="ascii", buffering=_BUFFER) as deleted:
            for kind, record_json in self._compare(previous, runs.merged(), deleted):
                record = self._in_listing_order(loads(record_json))
                record[CHANGE_FIELD] = kind
                record[SEEN_AT_FIELD] = seen_at
                yield record
        self._check_deletions()
        for key, _ in _read_run(tombstones_path):
            yield tombstone(loads(key), seen_at)
        self._writer.finish()

    def commit(self) -> None:
        """Move the new snapshot into place: call it once the change set is published.

        Raises:
            RuntimeError: :meth:`changes` was not read to the end.
        """
        if self._writer is None or not self._writer.finished:
            raise RuntimeError("ChangeSetBuilder.commit() before changes() was read to the end.")
        self._writer.commit()
        self._committed = True

    def describe(self) -> str:
        """One line: the counts and what they were compared with."""
        counts = self.counts
        against = (
            "no previous snapshot (first run: every record is created)"
            if self.first_run
            else f"the previous snapshot of {self.previous_records:,} records"
        )
        return (
            f"{counts['created']:,} created, {counts['updated']:,} updated, "
            f"{counts['deleted']:,} deleted, {counts['unchanged']:,} unchanged, against {against}"
        )

    # ------------------------------------------------------------------ internals

    def _in_listing_order(self, record: Record) -> Record:
        """``record`` with its keys in the order of the listing's first record (the API's),
        keys the first record lacked after them."""
        order = self._field_order
        ordered = {name: record.pop(name) for name in order if name in record}
        ordered.update(record)
        return ordered

    def _check_entered(self) -> SortedRuns:
        if self._runs is None:
            raise RuntimeError("Use ChangeSetBuilder in a `with` block.")
        return self._runs

    def _compare(
        self,
        previous: Iterator[tuple[str, str, str]],
        current: Iterator[tuple[str, str]],
        deleted: IO[str],
    ) -> Iterator[tuple[ChangeKind, str]]:
        """Merge-join the previous snapshot with the sorted listing: ``(kind, record JSON)`` of
        created and updated records; deleted keys go to ``deleted``, every listed record to the
        new snapshot."""
        assert self._writer is not None
        write_snapshot = self._writer.write
        counts = self.counts
        old = next(previous, None)
        last_key = None
        for key, rest in current:
            if key == last_key:
                self.duplicates += 1
                continue
            last_key = key
            while old is not None and old[0] < key:
                deleted.write(f"{old[0]}\t\n")
                counts["deleted"] += 1
                self.previous_records += 1
                old = next(previous, None)
            updated, digest, record_json = rest.split("\t", 2)
            write_snapshot(key, updated, digest)
            if old is not None and old[0] == key:
                self.previous_records += 1
                if old[2] == digest:
                    counts["unchanged"] += 1
                else:
                    counts["updated"] += 1
                    yield "updated", record_json
                old = next(previous, None)
            else:
                counts["created"] += 1
                yield "created", record_json
        while old is not None:
            deleted.write(f"{old[0]}\t\n")
            counts["deleted"] += 1
            self.previous_records += 1
            old = next(previous, None)

    def _check_deletions(self) -> None:
        deleted, previous = self.counts["deleted"], self.previous_records
        if not previous or deleted <= self.max_deleted_fraction * previous:
            return
        raise MassDeletionError(
            f"Change set refused: {deleted:,} of the {previous:,} records of the previous "
            f"snapshot ({deleted / previous:.1%}) are missing from this listing of "
            f"{self.listed - self.duplicates:,} records ({self.counts['created']:,} created, "
            f"{self.counts['updated']:,} updated), above max_deleted_fraction="
            f"{self.max_deleted_fraction:g}. A wrong scope, a credential that sees another "
            f"market or an API glitch would look like this. Nothing was published and the "
            f"snapshot {redact_url(str(self.snapshot))} was kept. If the deletions are real, "
            f"run again with a higher max_deleted_fraction (1 allows any)."
        )
