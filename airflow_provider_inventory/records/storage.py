"""Where record files live: resolving ``output_path``, its filesystem, and atomic writes.

Every file format goes through these pieces: :func:`storage_path` turns what a user passed into an
:class:`airflow.sdk.ObjectStoragePath`, :func:`filesystem` finds the fsspec filesystem for its
scheme (or says which package adds the scheme), :class:`AtomicFile` writes under a hidden
temporary sibling (``.{name}.tmp-{hex}``) that is moved to the final name only on commit, and
:class:`RecordFileWriter` is what every format's writer shares (counters, the ``with`` protocol,
the manifest).
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Iterable
from contextlib import suppress
from types import TracebackType
from typing import IO, TYPE_CHECKING, Union

from airflow_provider_inventory._http.redaction import redact_url
from airflow_provider_inventory._types import Record
from airflow_provider_inventory.exceptions import InventoryConfigError
from airflow_provider_inventory.records.manifest import Manifest, Watermark, build_manifest
from airflow_provider_inventory.window import Window

if TYPE_CHECKING:
    from airflow.sdk import ObjectStoragePath
    from fsspec import AbstractFileSystem

log = logging.getLogger(__name__)

PathArgument = Union[str, "os.PathLike[str]", "ObjectStoragePath"]
"""A path string or URI, a local ``pathlib`` path, or an ``ObjectStoragePath``."""

LOCAL_PROTOCOLS = ("", "file", "local")

#: The package that registers a filesystem for a scheme Airflow's object storage does not have.
SCHEME_PACKAGES = {
    "s3": "apache-airflow-providers-amazon",
    "s3a": "apache-airflow-providers-amazon",
    "gs": "apache-airflow-providers-google",
    "gcs": "apache-airflow-providers-google",
    "abfs": "apache-airflow-providers-microsoft-azure",
    "abfss": "apache-airflow-providers-microsoft-azure",
    "az": "apache-airflow-providers-microsoft-azure",
    "adl": "apache-airflow-providers-microsoft-azure",
    "wasb": "apache-airflow-providers-microsoft-azure",
    "wasbs": "apache-airflow-providers-microsoft-azure",
}


def scheme_package(scheme: str) -> str:
    """What to install for ``scheme``: a provider's name, or a description of what would do."""
    return SCHEME_PACKAGES.get(
        scheme.lower(), "an fsspec implementation / provider that registers the scheme"
    )


def unknown_scheme_error(argument_name: str, uri: str, scheme: str) -> InventoryConfigError:
    """The error for a path whose scheme has no filesystem, naming what to install."""
    package = SCHEME_PACKAGES.get(scheme.lower())
    install = f"pip install {package}" if package else scheme_package(scheme)
    return InventoryConfigError(
        f"{argument_name}={redact_url(uri)!r}: no filesystem is registered for the '{scheme}' "
        f"scheme. Install {install}, or attach a filesystem with "
        f"airflow.sdk.io.attach('{scheme}', fs=...)."
    )


def storage_path(path: PathArgument, argument_name: str = "output_path") -> ObjectStoragePath:
    """Turn ``path`` into an :class:`~airflow.sdk.ObjectStoragePath` naming a file.

    Local paths (plain or ``file://``) are made absolute, so their URI can be reopened anywhere.

    Raises:
        InventoryConfigError: ``path`` is empty, names a directory, is of the wrong type, or has a
            scheme no installed package supports (naming the package that adds it).
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
        try:
            resolved = storage_path_of(text)
        except ValueError as error:  # universal_pathlib: "Unsupported filesystem: 'foo'"
            scheme = text.partition("://")[0] if "://" in text else ""
            if not scheme:
                raise InventoryConfigError(
                    f"{argument_name}={redact_url(text)!r}: {error}"
                ) from None
            raise unknown_scheme_error(argument_name, text, scheme) from None
    else:
        raise InventoryConfigError(
            f"{argument_name} must be a string, a pathlib path or an ObjectStoragePath; got "
            f"{type(path).__name__}."
        )
    if not resolved.name:
        raise InventoryConfigError(f"{argument_name}={redact_url(str(resolved))!r} names no file.")
    if resolved.protocol in LOCAL_PROTOCOLS:
        absolute = os.path.abspath(resolved.path)
        resolved = storage_path_of(f"file://{absolute}", conn_id=storage_conn_id(resolved))
    return resolved


def filesystem(path: ObjectStoragePath, argument_name: str = "output_path") -> AbstractFileSystem:
    """The fsspec filesystem behind ``path``.

    Raises:
        InventoryConfigError: no filesystem is registered for the scheme (naming the package
            that adds it).
    """
    try:
        return path.fs
    except ValueError:  # Airflow: "No filesystem registered for scheme ..."
        raise unknown_scheme_error(argument_name, str(path), path.protocol) from None


def record_lineage(path: ObjectStoragePath, direction: str) -> None:
    """Report the final file once (the temporary file is not an asset) to Airflow's lineage."""
    from airflow_provider_inventory._compat import get_hook_lineage_collector

    collector = get_hook_lineage_collector()
    if direction == "output":
        collector.add_output_asset(context=path, uri=str(path))
    else:
        collector.add_input_asset(context=path, uri=str(path))


class CountingSink:
    """Passes bytes to the storage file and counts them (the stored size, compressed or not)."""

    def __init__(self, target: IO[bytes]) -> None:
        self.target = target
        self.written = 0

    def write(self, data: bytes) -> int:
        """Write ``data`` to the file; returns its length."""
        self.target.write(data)
        self.written += len(data)
        return len(data)

    def flush(self) -> None:
        """Flush the file."""
        self.target.flush()

    def tell(self) -> int:
        """Bytes written so far (what a writer sees as its position)."""
        return self.written

    @property
    def closed(self) -> bool:
        """Whether the file is closed."""
        return bool(self.target.closed)

    def close(self) -> None:
        """Close the file (a writer closing its stream at the end)."""
        if not self.target.closed:
            self.target.close()


class AtomicFile:
    """A file written under a hidden temporary name and moved into place on :meth:`commit`.

    Args:
        path: the final file (from :func:`storage_path`).
        fs: its filesystem (from :func:`filesystem`).
        kind: the writer's name, for error messages ("JsonlWriter").
        lineage: report the committed file to Airflow's hook lineage (``False`` for the
            provider's own state, such as change-set snapshots).

    Attributes:
        sink: the counting byte stream to write to, once :meth:`open` was called.
        state: ``"new"``, ``"open"``, ``"committed"`` or ``"aborted"``.
    """

    def __init__(
        self, path: ObjectStoragePath, fs: AbstractFileSystem, kind: str, *, lineage: bool = True
    ) -> None:
        self.path = path
        self.lineage = lineage
        self.fs = fs
        self.kind = kind
        self.temp = path.parent / f".{path.name}.tmp-{uuid.uuid4().hex}"
        self.sink: CountingSink | None = None
        self.state = "new"

    @property
    def display(self) -> str:
        """The final path, redacted, for messages."""
        return redact_url(str(self.path))

    @property
    def written(self) -> int:
        """Bytes handed to storage so far."""
        return self.sink.written if self.sink else 0

    def open(self) -> CountingSink:
        """Create the temporary file (and, for local paths, the parent directories).

        Raises:
            RuntimeError: the file was already opened.
            InventoryConfigError: a local ``output_path`` is an existing directory.
            OSError: the destination cannot be written.
        """
        if self.state != "new":
            raise RuntimeError(f"{self.kind} for {self.display} was already opened.")
        if self.path.protocol in LOCAL_PROTOCOLS:
            if self.fs.isdir(self.path.path):
                raise InventoryConfigError(
                    f"output_path={self.display!r} is an existing directory; name a file in it, "
                    f"e.g. '{self.display}/serial_numbers.jsonl.gz'."
                )
            self.fs.makedirs(self.temp.parent.path, exist_ok=True)
        self.sink = CountingSink(self.fs.open(self.temp.path, "wb"))
        self.state = "open"
        return self.sink

    def check_open(self) -> None:
        """Raises ``RuntimeError`` unless the file is open (naming what went wrong)."""
        if self.state == "open":
            return
        if self.state == "new":
            raise RuntimeError(
                f"{self.kind} for {self.display} is not open; use it in a `with` block."
            )
        raise RuntimeError(f"{self.kind} for {self.display} is already {self.state}.")

    def commit(self) -> None:
        """Close the temporary file and move it to the final name (removing it on failure)."""
        self.check_open()
        try:
            self.close_sink()
            self.fs.mv(self.temp.path, self.path.path)
        except BaseException:
            self.abort()
            raise
        self.state = "committed"
        if self.lineage:
            record_lineage(self.path, "output")

    def abort(self) -> None:
        """Close and remove the temporary file; safe to call twice."""
        if self.state != "open":
            return
        self.state = "aborted"
        with suppress(Exception):
            self.close_sink()
        try:
            if self.fs.exists(self.temp.path):
                self.fs.rm(self.temp.path)
        except Exception:
            log.warning("Could not remove the temporary file %s", redact_url(str(self.temp)))

    def close_sink(self) -> None:
        """Close the storage file if it is still open."""
        if self.sink is not None:
            self.sink.close()


class RecordFileWriter:
    """Base of the format writers: an atomic file, counters, the ``with`` protocol, the manifest.

    Use a writer as a context manager; it opens the temporary file on entry (so an unwritable
    destination fails before anything is fetched), aborts on an exception, and commits on a clean
    exit if :meth:`commit` was not called. If the process is killed outright (SIGKILL, OOM), the
    hidden temporary file may remain; the final name never holds a partial file.

    A format implements :meth:`write` and the hooks ``_start`` (the file was created),
    ``_finish`` (write what is buffered, before the file is moved) and ``_discard`` (drop buffers
    on abort).

    Args:
        output_path: the file to write.
        window: the listing's ``[since, before)`` window, for the manifest.
        watermark: a tracker whose value at commit time goes into the manifest.

    Raises:
        InventoryConfigError: ``output_path`` is invalid or its scheme has no filesystem.

    Attributes:
        path: the final file.
        records: records written so far.
        manifest: the :class:`~airflow_provider_inventory.records.manifest.Manifest`, once
            committed.
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
        self._file = AtomicFile(self.path, filesystem(self.path), type(self).__name__)
        self._open = False

    @property
    def bytes(self) -> int:
        """Bytes handed to storage so far (lags what is buffered); after commit, the file's size."""
        return self._file.written

    def __enter__(self) -> RecordFileWriter:
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
        elif self._file.state == "open":
            self.commit()

    def open(self) -> None:
        """Create the temporary file (and, for local paths, the parent directories).

        Raises:
            RuntimeError: the writer was already opened.
            InventoryConfigError: a local ``output_path`` is an existing directory.
            OSError: the destination cannot be written.
        """
        self._start(self._file.open())
        self._open = True

    def write(self, record: Record) -> None:
        """Append one record.

        Raises:
            RuntimeError: the writer is not open.
        """
        raise NotImplementedError

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
        self._file.check_open()
        try:
            self._finish()
        except BaseException:
            self.abort()
            raise
        self._open = False
        self._file.commit()
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
        self._open = False
        with suppress(Exception):
            self._discard()
        self._file.abort()

    def _start(self, sink: CountingSink) -> None:
        """The temporary file was created; ``sink`` is its byte stream."""

    def _finish(self) -> None:
        """Write everything still buffered and close the format's stream (not the file)."""

    def _discard(self) -> None:
        """Drop buffers and close the format's stream; may raise (suppressed by abort)."""
