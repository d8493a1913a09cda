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
from collections.abc import Iterable, Iterator
from typing import IO, TYPE_CHECKING

from airflow_provider_inventory._http.redaction import redact_url
from airflow_provider_inventory._types import Record
from airflow_provider_inventory.records.manifest import Manifest, Watermark
from airflow_provider_inventory.records.storage import (
    CountingSink,
    PathArgument,
    RecordFileWriter,
    record_lineage,
)
from airflow_provider_inventory.window import Window

if TYPE_CHECKING:
    from airflow.sdk import ObjectStoragePath
    from fsspec import AbstractFileSystem

_FLUSH_CHARACTERS = 1 << 18
_READ_CHUNK = 1 << 20
_GZIP_LEVEL = 6  # zlib's default: most of level 9's ratio at a fraction of its CPU time
_encode = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode


def _utf8_safe(line: str) -> str:
    """Re-encode a line holding a lone surrogate (not UTF-8 encodable) with ``\\uXXXX`` escapes."""
    try:
        line.encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(json.loads(line), separators=(",", ":"), ensure_ascii=True)
    return line


class JsonlWriter(RecordFileWriter):
    """Atomically write records to a JSON Lines file, streaming, with progress counters.

    See :class:`~airflow_provider_inventory.records.storage.RecordFileWriter` for the ``with``
    protocol, ``commit`` and ``abort``::

        watermark = Watermark()
        with JsonlWriter(output_path, window=window, watermark=watermark) as writer:
            for record in selection.apply(watermark.track(hook_records)):
                writer.write(record)
                if writer.records % 50_000 == 0:
                    log.info("Wrote %d records (%d bytes)", writer.records, writer.bytes)
            manifest = writer.commit()

    Args:
        output_path: the file to write; a name ending in ``.gz`` is gzip-compressed.
        window: the listing's ``[since, before)`` window, for the manifest.
        watermark: a tracker whose value at commit time goes into the manifest.

    Raises:
        InventoryConfigError: ``output_path`` is invalid or its scheme has no filesystem.
    """

    def __init__(
        self,
        output_path: PathArgument,
        *,
        window: Window | None = None,
        watermark: Watermark | None = None,
    ) -> None:
        super().__init__(output_path, window=window, watermark=watermark)
        self._compress = self.path.name.endswith(".gz")
        self._buffer: list[str] = []
        self._buffered = 0
        self._gzip: gzip.GzipFile | None = None

    def write(self, record: Record) -> None:
        """Append one record.

        Raises:
            RuntimeError: the writer is not open.
            TypeError, ValueError: the record is not JSON-serialisable.
        """
        if not self._open:
            self._file.check_open()
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

    def _start(self, sink: CountingSink) -> None:
        if self._compress:
            self._gzip = gzip.GzipFile(
                filename="", mode="wb", fileobj=sink, compresslevel=_GZIP_LEVEL, mtime=0
            )

    def _finish(self) -> None:
        self._flush()
        self._close_compressor()

    def _discard(self) -> None:
        self._buffer.clear()
        self._close_compressor()

    def _flush(self) -> None:
        if not self._buffer:
            return
        self._buffer.append("")  # so the join ends with a newline
        text = "\n".join(self._buffer)
        try:
            data = text.encode("utf-8")
        except UnicodeEncodeError:
            data = "\n".join(map(_utf8_safe, self._buffer)).encode("utf-8")
        target = self._gzip or self._file.sink
        assert target is not None  # write() and commit() check the writer is open
        target.write(data)
        self._buffer.clear()
        self._buffered = 0

    def _close_compressor(self) -> None:
        compressor, self._gzip = self._gzip, None
        if compressor is not None:
            compressor.close()  # writes the gzip trailer; leaves the storage file open


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


def iter_jsonl(path: ObjectStoragePath, fs: AbstractFileSystem) -> Iterator[Record]:
    """Stream the records of a JSON Lines file (``.gz`` decompressed), reading large chunks.

    Raises:
        ValueError: a line is not a JSON object (names the line and file).
    """
    record_lineage(path, "input")
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
