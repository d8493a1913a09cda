"""The Commerce Layer Exports API stand-in, and the object storage its files are served from.

Routes (behind the same Accept and token checks as every ``/api/...`` request):

- ``POST /api/exports`` ``{"data": {"type": "exports", "attributes": {"resource_type", "format",
  "filters", "fields", "includes", "reference", "reference_origin", "metadata"}}}`` answers 201.
  The matching records are fixed at creation (``records_count``). 422 for a type that is not
  exportable (``resource_type``), 0 matching records (``greater_than``), more than
  ``max_records`` (``less_than_or_equal_to``), ``format`` other than ``json`` (the sandbox
  writes JSON only), or when ``max_in_progress`` exports are already pending or in progress.
- ``GET /api/exports`` (``filter[q][reference_eq|reference_start|status_eq]``, ``page[number]``,
  ``page[size]``, sorted by creation), ``GET /api/exports/{id}``.
- ``PATCH /api/exports/{id}`` with ``_interrupt: true`` or ``_start: true`` (an interrupted export
  starts over) and ``metadata``; ``DELETE /api/exports/{id}`` answers 204.

Status moves with the clock: ``pending`` for ``start_delay`` seconds, then ``in_progress`` at
``speed`` records per second (``processed_count``, ``progress``, ``estimated_completion_at``),
then ``completed`` with an ``attachment_url`` on the **attachment origin** (a second loopback
port, no credentials needed or expected), fresh on every GET of the export and valid for
``url_ttl`` seconds (then 403 ``AccessDenied``, as S3 answers). The file is a gzip-compressed
JSON array of flat records (``{"id", **attributes, "<relationship>_id"}``; relationships named in
``includes`` are nested objects), in id order.

Injectable faults (:meth:`Exports.inject`), each applied to the next ``times`` exports created
(``expired_url`` and ``truncated_gzip`` to the next downloads): ``failed`` (status ``failed``
with ``errors_log``), ``interrupted`` (status ``interrupted`` with ``errors_log`` half way; a
``_start`` runs it again, fault spent), ``interrupted_again`` (the same after every start),
``stuck`` (``in_progress`` forever), ``wrong_count``
(the file holds one record fewer than ``records_count``), ``truncated_gzip`` (the file is cut
in half) and ``expired_url`` (403 as if the URL had expired).
"""

from __future__ import annotations

import gzip
import hashlib
import itertools
import json
import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from .jsonapi import ResourceType
from .messages import JSONAPI_TYPE, Request, Response, json_response
from .oauth import cl_error
from .ransack import FilterError, compile_filters

Record = dict[str, Any]
EXPORT_FAULTS = (
    "failed",
    "interrupted",
    "interrupted_again",
    "stuck",
    "wrong_count",
    "truncated_gzip",
    "expired_url",
)
_RUNNING = ("pending", "in_progress")


def _now_iso(moment: float | None = None) -> str:
    when = datetime.fromtimestamp(time.time() if moment is None else moment, tz=timezone.utc)
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


@dataclass
class ExportSettings:
    """How the exports behave (all changeable while the sandbox runs)."""

    speed: float = 20_000.0
    start_delay: float = 0.05
    url_ttl: float = 300.0
    max_records: int = 10_000
    max_in_progress: int = 10
    exportable: frozenset[str] = frozenset({"shipments", "stock_items", "stock_locations"})


@dataclass
class Export:
    """One export and its timeline (monotonic seconds)."""

    id: str
    attributes: dict[str, Any]
    records: list[Record]
    created: float
    created_at: str
    faults: set[str] = field(default_factory=set)
    status: str = "pending"
    started: float | None = None
    processed: int = 0
    completed_at: str | None = None
    interrupted_at: str | None = None
    errors_log: dict[str, str] | None = None
    file: bytes | None = None
    token: str = field(default_factory=lambda: secrets.token_hex(8))


@dataclass(frozen=True)
class AttachmentRequest:
    """A request the attachment origin answered."""

    path: str
    status: int
    authorization: str | None
    headers: dict[str, str]


class Exports:
    """The exports of one sandbox and their files.

    Args:
        types: the resource types the API serves (exportable ones per ``settings``).
        settings: speeds, limits and the URL lifetime.
    """

    def __init__(self, types: dict[str, ResourceType], settings: ExportSettings) -> None:
        self.types = types
        self.settings = settings
        self.attachments_base = ""
        self._exports: dict[str, Export] = {}
        self._lock = threading.RLock()
        self._ids = itertools.count(1)
        self._pending_faults: deque[tuple[str, dict[str, Any]]] = deque()
        self._download_faults: deque[str] = deque()
        self.created = 0
        self.peak_in_progress = 0
        self.attachment_log: list[AttachmentRequest] = []

    # ------------------------------------------------------------------ test controls

    def inject(self, kind: str, *, times: int = 1) -> None:
        """Apply fault ``kind`` (see the module doc) to the next ``times`` exports/downloads."""
        if kind not in EXPORT_FAULTS:
            raise ValueError(f"unknown export fault {kind!r}; use one of {EXPORT_FAULTS}")
        with self._lock:
            for _ in range(times):
                if kind in ("truncated_gzip", "expired_url"):
                    self._download_faults.append(kind)
                else:
                    self._pending_faults.append((kind, {}))

    def clear_faults(self) -> None:
        with self._lock:
            self._pending_faults.clear()
            self._download_faults.clear()

    def states(self) -> list[dict[str, Any]]:
        """The attributes of every export (with ``id``), oldest first."""
        with self._lock:
            return [{"id": e.id, **self._attributes(e)} for e in self._exports.values()]

    # ------------------------------------------------------------------ the API

    def handle(self, request: Request, segments: list[str]) -> Response:
        """Answer ``/api/exports[/{id}]`` (the caller checked Accept and token)."""
        with self._lock:
            if len(segments) == 1:
                if request.method == "POST":
                    return self._create(request)
                if request.method in ("GET", "HEAD"):
                    return self._list(request)
                return _method_not_allowed(request)
            export = self._exports.get(segments[1])
            if export is None or len(segments) > 2:
                return _not_found()
            if request.method in ("GET", "HEAD"):
                return self._document(export, 200)
            if request.method == "PATCH":
                return self._patch(request, export)
            if request.method == "DELETE":
                del self._exports[export.id]
                return Response(204, b"", {})
            return _method_not_allowed(request)

    def _create(self, request: Request) -> Response:
        try:
            body = json.loads(request.body or b"{}")
            attributes = dict(body["data"]["attributes"])
            if body["data"].get("type") != "exports":
                raise ValueError
        except (ValueError, KeyError, TypeError):
            return _invalid("data", "is not a JSON:API exports document", "INVALID_DOCUMENT")
        resource = attributes.get("resource_type")
        rtype = self.types.get(resource) if isinstance(resource, str) else None
        if rtype is None or resource not in self.settings.exportable:
            return _invalid("resource_type", f"{resource!r} is not included in the list")
        if attributes.get("format", "json") != "json":
            return _invalid("format", "the sandbox exports json only")
        records = self._matching(rtype, attributes.get("filters") or {})
        if isinstance(records, Response):
            return records
        if not records:
            return _invalid("records_count", "must be greater than 0", "greater_than")
        if len(records) > self.settings.max_records:
            return _invalid(
                "records_count",
                f"must be less than or equal to {self.settings.max_records}",
                "less_than_or_equal_to",
            )
        running = sum(1 for e in self._exports.values() if self._refresh(e) in _RUNNING)
        if running >= self.settings.max_in_progress:
            return _invalid(
                "base",
                f"too many exports in progress (at most {self.settings.max_in_progress})",
                "too_many_in_progress",
            )
        export = Export(
            id=f"exp{next(self._ids):07d}",
            attributes={
                "resource_type": resource,
                "format": "json",
                "includes": list(attributes.get("includes") or []),
                "fields": list(attributes.get("fields") or []),
                "filters": dict(attributes.get("filters") or {}),
                "reference": attributes.get("reference"),
                "reference_origin": attributes.get("reference_origin"),
                "metadata": dict(attributes.get("metadata") or {}),
            },
            records=[self._exported(rtype, r, attributes) for r in records],
            created=time.monotonic(),
            created_at=_now_iso(),
        )
        if self._pending_faults:
            export.faults.add(self._pending_faults.popleft()[0])
        self._exports[export.id] = export
        self.created += 1
        self.peak_in_progress = max(self.peak_in_progress, running + 1)
        return self._document(export, 201)

    def _matching(self, rtype: ResourceType, filters: dict[str, Any]) -> list[Record] | Response:
        if not isinstance(filters, dict):
            return _invalid("filters", "must be an object")
        params = [(f"filter[q][{key}]", [str(value)]) for key, value in filters.items()]
        try:
            condition = compile_filters(params, rtype.filterable)
        except FilterError as error:
            return _invalid("filters", error.detail)
        return sorted((r for r in rtype.records() if condition(r)), key=lambda r: str(r["id"]))

    def _exported(self, rtype: ResourceType, record: Record, attributes: dict[str, Any]) -> Record:
        """A record as an export file holds it: flat, relationship ids, includes nested."""
        wanted = [f for f in attributes.get("fields") or [] if f != "*"]
        row: Record = {"id": record["id"]}
        for name in rtype.attributes:
            if not wanted or name in wanted:
                row[name] = record.get(name)
        includes = [path.split(".", 1)[0] for path in attributes.get("includes") or []]
        for relationship in rtype.relationships:
            if relationship.to_many or relationship.target_id is None:
                continue
            if wanted and relationship.name not in wanted and relationship.name not in includes:
                continue
            target_id = relationship.target_id(record)
            row[f"{relationship.name}_id"] = target_id
            if relationship.name in includes and relationship.target is not None:
                target_type = self.types[relationship.target]
                target = target_type.get(target_id) if target_id else None
                row[relationship.name] = (
                    None if target is None else self._exported(target_type, target, {})
                )
        return row

    def _list(self, request: Request) -> Response:
        exports = [e for e in self._exports.values() if self._matches(e, request)]
        try:
            number = int(request.param("page[number]") or 1)
            size = int(request.param("page[size]") or 10)
        except ValueError:
            number, size = 0, 0
        if number < 1 or not 1 <= size <= 25:
            return cl_error(
                400,
                "INVALID_PAGE_VALUE",
                "Invalid page value",
                "bad page",
                content_type=JSONAPI_TYPE,
            )
        chunk = exports[(number - 1) * size : number * size]
        pages = -(-len(exports) // size)
        document: dict[str, Any] = {
            "data": [self._object(e) for e in chunk],
            "meta": {"record_count": len(exports), "page_count": pages},
            "links": {},
        }
        if number < pages:
            document["links"]["next"] = (
                f"{request.base_url}/api/exports?page[number]={number + 1}&page[size]={size}"
                + "".join(
                    f"&{k}={v[-1]}" for k, v in request.query.items() if k.startswith("filter[")
                )
            )
        return json_response(200, document, JSONAPI_TYPE)

    def _matches(self, export: Export, request: Request) -> bool:
        reference = export.attributes.get("reference") or ""
        for name, values in request.query.items():
            value = values[-1]
            if name == "filter[q][reference_eq]" and reference != value:
                return False
            if name == "filter[q][reference_start]" and not reference.startswith(value):
                return False
            if name == "filter[q][status_eq]" and self._refresh(export) != value:
                return False
        return True

    def _patch(self, request: Request, export: Export) -> Response:
        try:
            attributes = json.loads(request.body or b"{}")["data"]["attributes"]
        except (ValueError, KeyError, TypeError):
            return _invalid("data", "is not a JSON:API exports document", "INVALID_DOCUMENT")
        status = self._refresh(export)
        if "metadata" in attributes:
            export.attributes["metadata"] = dict(attributes["metadata"] or {})
        if attributes.get("_interrupt") and status in _RUNNING:
            export.status = "interrupted"
            export.interrupted_at = _now_iso()
        if attributes.get("_start"):
            if status != "interrupted":
                return _invalid("status", f"cannot start an export that is {status}")
            export.faults.discard("interrupted")
            export.status, export.started, export.processed = "pending", None, 0
            export.created, export.errors_log, export.interrupted_at = time.monotonic(), None, None
        return self._document(export, 200)

    # ------------------------------------------------------------------ the timeline

    def _refresh(self, export: Export) -> str:
        """Move the export along its timeline to now; its status."""
        if export.status not in _RUNNING:
            return export.status
        now = time.monotonic()
        if export.started is None:
            if now - export.created < self.settings.start_delay:
                return export.status
            export.started = export.created + self.settings.start_delay
            export.status = "in_progress"
        if "stuck" in export.faults:
            return export.status
        total = len(export.records)
        export.processed = min(total, int((now - export.started) * self.settings.speed))
        interrupts = {"interrupted", "interrupted_again"} & export.faults
        if interrupts and export.processed >= total // 2:
            export.processed = total // 2
            export.status, export.interrupted_at = "interrupted", _now_iso()
            export.errors_log = {
                "ActiveRecord::QueryCanceled": "canceling statement due to timeout"
            }
        elif export.processed >= total:
            if "failed" in export.faults:
                export.status = "failed"
                export.errors_log = {"RuntimeError": "query timeout"}
            else:
                records = export.records[:-1] if "wrong_count" in export.faults else export.records
                export.file = gzip.compress(
                    json.dumps(records, separators=(",", ":")).encode(), compresslevel=1
                )
                export.status = "completed"
            export.completed_at = _now_iso()
        return export.status

    def _attributes(self, export: Export) -> dict[str, Any]:
        status = self._refresh(export)
        total = len(export.records)
        started_wall = None
        estimated = None
        if export.started is not None:
            offset = time.time() - time.monotonic()
            started_wall = _now_iso(export.started + offset)
            estimated = _now_iso(export.started + offset + total / self.settings.speed)
        return {
            **export.attributes,
            "status": status,
            "records_count": total,
            "processed_count": export.processed if status != "completed" else total,
            "progress": round(100 * (export.processed if status != "completed" else total) / total),
            "estimated_completion_at": estimated,
            "started_at": started_wall,
            "completed_at": export.completed_at,
            "interrupted_at": export.interrupted_at,
            "errors_log": export.errors_log,
            "attachment_url": self._url(export) if status == "completed" else None,
            "created_at": export.created_at,
            "updated_at": _now_iso(),
        }

    def _url(self, export: Export) -> str:
        expires = int((time.time() + self.settings.url_ttl) * 1000)
        signature = _sign(export, expires)
        return (
            f"{self.attachments_base}/exports/{export.id}/{export.token}.json.gz"
            f"?X-Amz-Expires={expires}&X-Amz-Signature={signature}"
        )

    def _object(self, export: Export) -> Record:
        return {"id": export.id, "type": "exports", "attributes": self._attributes(export)}

    def _document(self, export: Export, status: int) -> Response:
        return json_response(status, {"data": self._object(export)}, JSONAPI_TYPE)

    # ------------------------------------------------------------------ the attachment origin

    def download(self, request: Request) -> Response:
        """Answer a GET on the attachment origin (expired or faulty URLs: 403 / a cut file)."""
        response = self._download(request)
        self.attachment_log.append(
            AttachmentRequest(
                path=request.path,
                status=response.status,
                authorization=request.header("authorization"),
                headers=dict(request.headers),
            )
        )
        return response

    def _download(self, request: Request) -> Response:
        parts = [s for s in request.path.split("/") if s]
        with self._lock:
            export = self._exports.get(parts[1]) if len(parts) == 3 else None
            if export is None or export.file is None or parts[2] != f"{export.token}.json.gz":
                return _s3_error(404, "NoSuchKey", "The specified key does not exist.")
            try:
                expires = int(request.param("X-Amz-Expires") or "")
            except ValueError:
                return _s3_error(403, "AccessDenied", "Query-string authentication is required.")
            if request.param("X-Amz-Signature") != _sign(export, expires):
                return _s3_error(403, "SignatureDoesNotMatch", "The signature does not match.")
            fault = self._download_faults.popleft() if self._download_faults else None
            if fault == "expired_url" or time.time() * 1000 > expires:
                return _s3_error(403, "AccessDenied", "Request has expired")
            body = (
                export.file[: len(export.file) // 2] if fault == "truncated_gzip" else export.file
            )
        return Response(200, body, {"Content-Type": "application/gzip"})


class AttachmentApp:
    """The app of the attachment origin's server (what ``server._Server`` needs of an app)."""

    def __init__(self, exports: Exports) -> None:
        self.exports = exports
        self.settings = _BaseUrl()
        self.stopping = threading.Event()

    def handle(self, request: Request) -> Response:
        if request.method not in ("GET", "HEAD") or not request.path.startswith("/exports/"):
            return _s3_error(403, "AccessDenied", "Access Denied")
        return self.exports.download(request)


@dataclass
class _BaseUrl:
    base_url: str = ""


def _sign(export: Export, expires: int) -> str:
    return hashlib.sha256(f"{export.id}:{export.token}:{expires}".encode()).hexdigest()[:32]


def _s3_error(status: int, code: str, message: str) -> Response:
    body = f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code><Message>{message}</Message></Error>'
    return Response(status, body.encode(), {"Content-Type": "application/xml"})


def _invalid(attribute: str, detail: str, code: str = "invalid") -> Response:
    """A 422 as Commerce Layer answers a failed validation (the rule named in the detail)."""
    return cl_error(
        422,
        "VALIDATION_ERROR",
        "Unprocessable entity",
        f"{attribute} - {detail} ({code})",
        source={"pointer": f"/data/attributes/{attribute}"},
        content_type=JSONAPI_TYPE,
    )


def _not_found() -> Response:
    return cl_error(
        404,
        "RECORD_NOT_FOUND",
        "Record not found",
        "The requested resource was not found.",
        content_type=JSONAPI_TYPE,
    )


def _method_not_allowed(request: Request) -> Response:
    return cl_error(
        405,
        "METHOD_NOT_ALLOWED",
        "Method not allowed",
        f"The sandbox does not support {request.method} {request.path}.",
        content_type=JSONAPI_TYPE,
    )


__all__ = ["EXPORT_FAULTS", "AttachmentApp", "AttachmentRequest", "ExportSettings", "Exports"]
