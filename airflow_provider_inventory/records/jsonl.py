"""Stream records to and from JSON Lines files on any Airflow object storage.

Files are written through :class:`airflow.sdk.ObjectStoragePath` (``file://``, ``s3://conn_id@
bucket/key``, any scheme a provider registers, or one attached with ``airflow.sdk.io.attach``):
one compact JSON object per line, UTF-8, ``\\n``-terminated, gzip-compressed when the name ends in
``.gz``. Writes go to a hidden temporary sibling (``.{name}.tmp-{hex}``) that is moved to the final
name only on commit, so a failed run never leaves a partial file behind; memory use does not grow
with the number of records.
"""

from __future__ import annotations

import gzip
import json
import logging
import os
import uuid
from collections.abc import Iterable, Iterator, Mapping
from contextlib import suppress
from types import TracebackType
from typing import IO, TYPE_CHECKING, Any, Union

from airflow_provider_inventory._http.errors import InventoryConfigError
from airflow_provider_inventory._http.redaction import redact_url
from airflow_provider_inventory._types import Record
from airflow_provider_inventory.records.manifest import (
    Manifest,
    Watermark,
    build_manifest,
    output_format,
)
from airflow_provider_inventory.window import Window

if TYPE_CHECKING:
    from airflow.sdk import ObjectStoragePath
    from fsspec import AbstractFileSystem

log = logging.getLogger(__name__)

PathArgument = Union[str, "os.PathLike[str]", "ObjectStoragePath"]
"""A path string or URI, a local ``pathlib`` path, or an ``ObjectStoragePath``."""

_LOCAL_PROTOCOLS = ("", "file", "local")
_FLUSH_CHARACTERS = 1 << 18
_READ_CHUNK = 1 << 20
_GZIP_LEVEL = 6  # zlib's default: most of level 9's ratio at a fraction of its CPU time
_encode = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode


def storage_path(path: PathArgument, argument_name: str = "output_path") -> ObjectStoragePath:
    """Turn ``path`` into an :class:`~airflow.sdk.ObjectStoragePath` naming a file.

    Local paths (plain or ``file://``) are made absolute, so their URI can be reopened anywhere.

    Raises:
        InventoryConfigError: ``path`` is empty, names a directory or is of the wrong type.
    """
    from airflow_provider_inventory._compat import (
        ObjectStoragePath,
        storage_conn_id,
        storage_path_of,
    )

    if isinstance(path, ObjectStoragePath):
        resolved = path
    elif isinstance(path, (str, os.PathLike)):
        text = os.fspath(path).strip()
        if not text:
            raise InventoryConfigError(f"{argument_name} is empty; name a file such as 'x.jsonl'.")
        if text.endswith("/"):
            raise InventoryConfigError(
                f"{argument_name}={redact_url(text)!r} names a directory; name a file, e.g. "
                f"'{redact_url(text)}serial_numbers.jsonl.gz'."
            )
        resolved = storage_path_of(text)
    else:
        raise InventoryConfigError(
            f"{argument_name} must be a string, a pathlib path or an ObjectStoragePath; got "
            f"{type(path).__name__}."
        )
    if not resolved.name:
        raise InventoryConfigError(f"{argument_name}={redact_url(str(resolved))!r} names no file.")
    if resolved.protocol in _LOCAL_PROTOCOLS:
        absolute = os.path.abspath(resolved.path)
        resolved = storage_path_of(f"file://{absolute}", conn_id=storage_conn_id(resolved))
    return resolved


def _filesystem(path: ObjectStoragePath, argument_name: str) -> AbstractFileSystem:
    try:
        return path.fs
    except ValueError as error:  # Airflow: "No filesystem registered for scheme ..."
        raise InventoryConfigError(
            f"{argument_name}={redact_url(str(path))!r}: {error}. Install the Airflow provider for "
            f"the '{path.protocol}' scheme (e.g. apache-airflow-providers-amazon for s3://), or "
            f"attach a filesystem with airflow.sdk.io.attach('{path.protocol}', fs=...)."
        ) from None


def _record_lineage(path: ObjectStoragePath, direction: str) -> None:
    """Report the final file once (the temporary file is not an asset) to Airflow's lineage."""
    from airflow_provider_inventory._compat import get_hook_lineage_collector

    collector = get_hook_lineage_collector()
    if direction == "output":
        collector.add_output_asset(context=path, uri=str(path))
    else:
        collector.add_input_asset(context=path, uri=str(path))


def _utf8_safe(line: str) -> str:
    """Re-encode a line holding a lone surrogate (not UTF-8 encodable) with ``\\uXXXX`` escapes."""
    try:
        line.encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(json.loads(line), separators=(",", ":"), ensure_ascii=True)
    return line


class _CountingSink:
    """Passes bytes to the storage file and counts them (the stored size, compressed or not)."""

    def __init__(self, target: IO[bytes]) -> None:
        self.target = target
        self.written = 0

    def write(self, data: bytes) -> int:
        self.target.write(data)
        self.written += len(data)
        return len(data)

    def flush(self) -> None:
        self.target.flush()


class JsonlWriter:
    """Atomically write records to a JSON Lines file, streaming, with progress counters.

    Use it as a context manager; it opens the temporary file on entry (so an unwritable
    destination fails before anything is fetched), aborts on an exception, and commits on a clean
    exit if :meth:`commit` was not called::

        watermark = Watermark()
        with JsonlWriter(output_path, window=window, watermark=watermark) as writer:
            for record in selection.apply(watermark.track(hook_records)):
                writer.write(record)
                if writer.records % 50_000 == 0:
                    log.info("Wrote %d records (%d bytes)", writer.records, writer.bytes)
            manifest = writer.commit()

    If the process is killed outright (SIGKILL, OOM), the hidden temporary file may remain; the
    final name never holds a partial file.

    Args:
        output_path: the file to write; a name ending in ``.gz`` is gzip-compressed.
        window: the listing's ``[since, before)`` window, for the manifest.
        watermark: a tracker whose value at commit time goes into the manifest.

    Raises:
        InventoryConfigError: ``output_path`` is invalid or its scheme has no filesystem.

    Attributes:
        path: the final file.
        records: records written so far.
        bytes: bytes handed to storage so far (compressed for ``.gz``; lags the buffered records);
            after commit, the size of the file.
        manifest: the :class:`Manifest`, once committed.
    """

    def __init__(
        self,
        output_path: PathArgument,
        *,
        window: Window | None = None,
        watermark: Watermark | None = None,
    ) -> None:
        self.path = storage_path(output_path)
        self.window = window
        self.watermark = watermark
        self.records = 0
        self.manifest: Manifest | None = None
        self._fs = _filesystem(self.path, "output_path")
        self._temp = self.path.parent / f".{self.path.name}.tmp-{uuid.uuid4().hex}"
        self._compress = output_format(self.path.name) == "jsonl.gz"
        self._buffer: list[str] = []
        self._buffered = 0
        self._sink: _CountingSink | None = None
        self._gzip: gzip.GzipFile | None = None
        self._state = "new"

    @property
    def bytes(self) -> int:
        """Bytes handed to storage so far."""
        return self._sink.written if self._sink else 0

    def __enter__(self) -> JsonlWriter:
        self.open()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if exc_type is not None:
            self.abort()
        elif self._state == "open":
            self.commit()

    def open(self) -> None:
        """Create the temporary file (and, for local paths, the parent directories).

        Raises:
            RuntimeError: the writer was already opened.
            InventoryConfigError: a local ``output_path`` is an existing directory.
            OSError: the destination cannot be written.
        """
        if self._state != "new":
            raise RuntimeError(f"JsonlWriter for {self._display} was already opened.")
        if self.path.protocol in _LOCAL_PROTOCOLS:
            if self._fs.isdir(self.path.path):
                raise InventoryConfigError(
                    f"output_path={self._display!r} is an existing directory; name a file in it, "
                    f"e.g. '{self._display}/serial_numbers.jsonl.gz'."
                )
            self._fs.makedirs(self._temp.parent.path, exist_ok=True)
        raw: IO[bytes] = self._fs.open(self._temp.path, "wb")
        self._sink = _CountingSink(raw)
        if self._compress:
            self._gzip = gzip.GzipFile(
                filename="", mode="wb", fileobj=self._sink, compresslevel=_GZIP_LEVEL, mtime=0
            )
        self._state = "open"

    def write(self, record: Record) -> None:
        """Append one record.

        Raises:
            RuntimeError: the writer is not open.
            TypeError, ValueError: the record is not JSON-serialisable.
        """
        if self._state != "open":
            raise RuntimeError(self._not_open_message())
        try:
            line = _encode(record)
        except (TypeError, ValueError) as error:
            kind = TypeError if isinstance(error, TypeError) else ValueError
            raise kind(f"Record {self.records + 1} cannot be written as JSON: {error}") from error
        self._buffer.append(line)
        self.records += 1
        self._buffered += len(line)
        if self._buffered >= _FLUSH_CHARACTERS:
            self._flush()

    def write_many(self, records: Iterable[Record]) -> None:
        """Append every record of ``records`` (consumed lazily)."""
        write = self.write
        for record in records:
            write(record)

    def commit(self) -> Manifest:
        """Finish the file, move it to its final name and return its manifest.

        Raises:
            RuntimeError: the writer is not open.
        """
        if self._state != "open":
            raise RuntimeError(self._not_open_message())
        try:
            self._flush()
            self._close_streams()
            self._fs.mv(self._temp.path, self.path.path)
        except BaseException:
            self.abort()
            raise
        self._state = "committed"
        _record_lineage(self.path, "output")
        self.manifest = build_manifest(
            str(self.path),
            records=self.records,
            size=self.bytes,
            window=self.window,
            watermark=self.watermark.value if self.watermark else None,
        )
        return self.manifest

    def abort(self) -> None:
        """Discard everything written and remove the temporary file; safe to call twice."""
        if self._state != "open":
            return
        self._state = "aborted"
        self._buffer.clear()
        with suppress(Exception):
            self._close_streams()
        try:
            if self._fs.exists(self._temp.path):
                self._fs.rm(self._temp.path)
        except Exception:
            log.warning("Could not remove the temporary file %s", redact_url(str(self._temp)))

    def _flush(self) -> None:
        if not self._buffer:
            return
        self._buffer.append("")  # so the join ends with a newline
        text = "\n".join(self._buffer)
        try:
            data = text.encode("utf-8")
        except UnicodeEncodeError:
            data = "\n".join(map(_utf8_safe, self._buffer)).encode("utf-8")
        target = self._gzip or self._sink
        assert target is not None  # write() and commit() check the writer is open
        target.write(data)
        self._buffer.clear()
        self._buffered = 0

    def _close_streams(self) -> None:
        compressor, sink = self._gzip, self._sink
        self._gzip = None
        try:
            if compressor is not None:
                compressor.close()  # writes the gzip trailer; leaves the storage file open
        finally:
            if sink is not None and not sink.target.closed:
                sink.target.close()

    @property
    def _display(self) -> str:
        return redact_url(str(self.path))

    def _not_open_message(self) -> str:
        if self._state == "new":
            return f"JsonlWriter for {self._display} is not open; use it in a `with` block."
        return f"JsonlWriter for {self._display} is already {self._state}."


def write_jsonl(
    records: Iterable[Record],
    output_path: PathArgument,
    *,
    window: Window | None = None,
    watermark: Watermark | None = None,
) -> Manifest:
    """Stream ``records`` into a JSON Lines file atomically and return its manifest.

    Args:
        records: the records, consumed lazily; if iterating them raises, no file is left behind.
        output_path: the file to write; ``.gz`` compresses.
        window: the listing's window, for the manifest.
        watermark: a tracker fed by the same listing; read once the records are exhausted.

    Raises:
        InventoryConfigError: ``output_path`` is invalid.
    """
    with JsonlWriter(output_path, window=window, watermark=watermark) as writer:
        writer.write_many(records)
        return writer.commit()


def read_records(source: Manifest | Mapping[str, Any] | PathArgument) -> Iterator[Record]:
    """Stream the records of a JSON Lines file written by :func:`write_jsonl`.

    Args:
        source: a manifest (as returned by an operator through XCom), a path string or URI, a
            ``pathlib`` path, or an ``ObjectStoragePath``. ``.gz`` files are decompressed.

    Returns:
        An iterator of records; the file is opened on the first ``next()`` and closed when the
        iterator is exhausted or closed.

    Raises:
        InventoryConfigError: ``source`` is not a manifest or a path (at call time).
        ValueError: a line is not a JSON object (while iterating; names the line and file).
    """
    if isinstance(source, Mapping):
        if not isinstance(source.get("path"), str):
            raise InventoryConfigError(
                "read_records got a mapping without a 'path' string; pass the manifest an "
                "operator returned, or the file's path."
            )
        source = source["path"]
    path = storage_path(source, "read_records source")
    return _iter_file(path, _filesystem(path, "read_records source"))


def _iter_file(path: ObjectStoragePath, fs: AbstractFileSystem) -> Iterator[Record]:
    _record_lineage(path, "input")
    display = redact_url(str(path))
    with fs.open(path.path, "rb") as raw:
        stream = gzip.GzipFile(fileobj=raw, mode="rb") if path.name.endswith(".gz") else raw
        with stream:
            for number, line in _numbered_lines(stream):
                yield _decode_line(line, number, display)


def _numbered_lines(stream: IO[bytes] | gzip.GzipFile) -> Iterator[tuple[int, bytes]]:
    """Yield ``(line number, line)`` for each non-blank line, reading large chunks."""
    number = 0
    pending = b""
    while chunk := stream.read(_READ_CHUNK):
        lines = (pending + chunk).split(b"\n")
        pending = lines.pop()
        for line in lines:
            number += 1
            if line.strip():
                yield number, line
    if pending.strip():
        yield number + 1, pending


def _decode_line(line: bytes, number: int, display: str) -> Record:
    try:
        record = json.loads(line)
    except ValueError as error:
        raise ValueError(f"Line {number} of {display} is not valid JSON: {error}") from None
    if not isinstance(record, dict):
        raise ValueError(
            f"Line {number} of {display} is a JSON {type(record).__name__}, not an object."
        )
    return record
