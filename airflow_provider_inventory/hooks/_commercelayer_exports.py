"""Commerce Layer exports: plan, create, poll, download and parse, step by step.

``CommerceLayerHook.iter_export`` and the deferrable ``CommerceLayerExportOperator`` (with its
trigger) share these steps; each is a plain function of plain, JSON-able data, so the worker,
the triggerer and a retried task can each pick up where another left off:

1. :meth:`ExportSteps.plan`: count the matching records, then find the boundary ids that cut
   them into disjoint id ranges of at most ``chunk_size`` records (Commerce Layer's sdk-utils
   ``splitExport``: chunk k is ``id_gt`` the previous boundary and ``id_lteq`` its own). Each
   chunk gets a deterministic ``reference`` ``{owner}.{query}.{chunks}.{index}.{bounds}``
   (digests of the query and of the chunk's id bounds); when
   exports of the same owner and query already exist as a complete set (a retried or resumed
   task), that plan is taken over instead, without any counting request.
2. :meth:`ExportSteps.advance`: one listing request (``GET /api/exports`` filtered by the
   owner's reference prefix) reads the state of every export of the plan; failed ones raise,
   interrupted ones are restarted once, leftovers of an older plan of the same owner are
   interrupted or deleted, and missing chunks are created while fewer than ``max_concurrent``
   are in progress. Returns an :class:`ExportRound`: done or not, and how long to wait before
   the next round (from ``estimated_completion_at``).
3. :meth:`ExportSteps.records`: fetch the export for a fresh ``attachment_url`` (it expires
   after 5 minutes; a 403 is refreshed a bounded number of times), download the file through
   an auth-less client of the file's own origin into a temporary file (bounded in size and
   time like every request), check the gzip stream, then parse the JSON array incrementally
   and check that exactly ``records_count`` records came.
4. :meth:`ExportSteps.delete` after a successful download, :meth:`ExportSteps.interrupt_owned`
   when the task fails.

:meth:`ExportSteps.stream` runs 2 to 4 on one thread, reading each chunk as soon as it and the
chunks before it completed, while the later ones still run.

Rate classes: creating, restarting, interrupting and deleting are writes; listing, fetching and
downloading are reads (uncacheable).
"""

from __future__ import annotations

import gzip
import hashlib
import itertools
import json
import logging
import tempfile
import time
import zlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import IO, Any, BinaryIO

from airflow_provider_inventory._arguments import number_in_range
from airflow_provider_inventory._http.client import ApiClient
from airflow_provider_inventory._http.paginators import Page
from airflow_provider_inventory._http.urls import with_query
from airflow_provider_inventory._jsonarray import JsonArrayError, iter_json_objects
from airflow_provider_inventory._types import Record
from airflow_provider_inventory.exceptions import (
    AuthenticationError,
    ExportError,
    InventoryApiError,
    InventoryConfigError,
    RequestRejectedError,
)
from airflow_provider_inventory.hooks._commercelayer_query import (
    Query,
    bad_body,
    count_params,
    page_records,
    probe_params,
    record_count,
)
from airflow_provider_inventory.window import parse_api_timestamp

log = logging.getLogger(__name__)

EXPORTS = "exports"
#: The most records Commerce Layer accepts in one export.
MAX_EXPORT_RECORDS = 10_000
#: Records per export by default (what Commerce Layer's own tools use since mid-2025).
DEFAULT_CHUNK_SIZE = 5_000
#: The most exports in progress at once per organization.
MAX_CONCURRENT_EXPORTS = 10
DEFAULT_MAX_CONCURRENT = 4
#: Fresh ``attachment_url`` fetches after a 403 or a broken file, per export.
MAX_REFRESHES = 3
#: Restarts of an interrupted export before it is an error.
MAX_RESTARTS = 1
#: The longest wait between two polls, whatever ``estimated_completion_at`` says.
MAX_POLL_WAIT = 60.0
#: The largest export file accepted, after decompression.
MAX_FILE_BYTES = 1024 * 1024 * 1024
#: Records per page of the record stream.
PAGE_RECORDS = 1_000
PENDING, IN_PROGRESS, COMPLETED = "pending", "in_progress", "completed"
FAILED, INTERRUPTED = "failed", "interrupted"
RUNNING = (PENDING, IN_PROGRESS)
REFERENCE_ORIGIN = "airflow-provider-inventory"
JSONAPI = "application/vnd.api+json"


def checked_chunk_size(value: Any) -> int:
    """``chunk_size`` from 1 to :data:`MAX_EXPORT_RECORDS`."""
    return number_in_range(
        "chunk_size",
        value,
        1,
        MAX_EXPORT_RECORDS,
        f"Commerce Layer exports at most {MAX_EXPORT_RECORDS:,} records at once; use 1 to "
        f"{MAX_EXPORT_RECORDS} (its own tools use {DEFAULT_CHUNK_SIZE:,}).",
    )


def checked_concurrency(value: Any) -> int:
    """``max_concurrent`` from 1 to :data:`MAX_CONCURRENT_EXPORTS`."""
    return number_in_range(
        "max_concurrent",
        value,
        1,
        MAX_CONCURRENT_EXPORTS,
        f"Commerce Layer runs at most {MAX_CONCURRENT_EXPORTS} exports at once per "
        f"organization; use 1 to {MAX_CONCURRENT_EXPORTS}.",
    )


def owner_reference(*parts: Any) -> str:
    """A short, deterministic reference prefix for whoever runs an export (e.g. the DAG, run,
    task and map index of a task instance): ``af-`` and 20 hex digits."""
    text = "\x1f".join(str(part) for part in parts)
    return "af-" + hashlib.sha256(text.encode()).hexdigest()[:20]


# ---------------------------------------------------------------------- plain data


@dataclass(frozen=True)
class ExportPlan:
    """Which exports make up one bulk read (JSON-able through :meth:`to_json`).

    Attributes:
        resource: the resource type exported.
        owner: the reference prefix shared by every export of the owner (a task instance).
        digest: a digest of the query (filters, fields, includes), so another query of the
            same owner never reuses these exports.
        fields: the fields asked for (``None``: all).
        includes: relationships nested in each record.
        total: records counted when planning.
        chunks: the filters of each export: the query's plus its id bounds.
    """

    resource: str
    owner: str
    digest: str
    fields: list[str] | None
    includes: list[str] | None
    total: int
    chunks: list[dict[str, str]]

    def reference(self, index: int) -> str:
        """The reference of chunk ``index`` (from 0): owner, query digest, number of chunks,
        index and a digest of the chunk's filters, so an export is only ever taken over for
        exactly the id range it covers."""
        bounds = json.dumps(sorted(self.chunks[index].items()))
        chunk = hashlib.sha256(bounds.encode()).hexdigest()[:8]
        return f"{self.owner}.{self.digest}.{len(self.chunks)}.{index}.{chunk}"

    def to_json(self) -> dict[str, Any]:
        """The plan as plain JSON (trigger kwargs, XCom)."""
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ExportPlan:
        """The plan back from :meth:`to_json`."""
        return cls(**{name: data[name] for name in cls.__dataclass_fields__})


@dataclass
class ExportState:
    """What the API says about one export (JSON-able through :meth:`to_json`)."""

    id: str
    reference: str
    status: str
    records_count: int | None = None
    processed_count: int | None = None
    estimated_completion_at: str | None = None
    attachment_url: str | None = None
    errors_log: Any = None
    metadata: dict[str, Any] = field(default_factory=dict)
    filters: dict[str, Any] = field(default_factory=dict)
    resource_type: str | None = None
    fields: list[str] | None = None
    includes: list[str] | None = None

    @classmethod
    def of(cls, resource: Any, url: str) -> ExportState:
        """Read a JSON:API ``exports`` resource object.

        Raises:
            BadResponseError: it has no id or no status.
        """
        attributes = resource.get("attributes") if isinstance(resource, dict) else None
        if (
            not isinstance(attributes, dict)
            or not resource.get("id")
            or not attributes.get("status")
        ):
            raise bad_body(url, "expected an exports resource with an id and a status", resource)
        metadata = attributes.get("metadata")
        return cls(
            id=str(resource["id"]),
            reference=str(attributes.get("reference") or ""),
            status=str(attributes["status"]),
            records_count=_int_or_none(attributes.get("records_count")),
            processed_count=_int_or_none(attributes.get("processed_count")),
            estimated_completion_at=attributes.get("estimated_completion_at"),
            attachment_url=attributes.get("attachment_url"),
            errors_log=attributes.get("errors_log"),
            metadata=metadata if isinstance(metadata, dict) else {},
            filters=attributes.get("filters") or {},
            resource_type=attributes.get("resource_type"),
            fields=attributes.get("fields") or None,
            includes=attributes.get("includes") or None,
        )

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ExportState:
        """The state back from :meth:`to_json`."""
        return cls(**{name: data.get(name) for name in cls.__dataclass_fields__})  # type: ignore[arg-type]

    def to_json(self) -> dict[str, Any]:
        """The state as plain JSON for trigger events, without ``attachment_url``: a presigned
        URL is a bearer credential for its lifetime, and a fresh one is fetched to download."""
        return {**asdict(self), "attachment_url": None}

    def describe(self) -> str:
        """``export <id> (<status>, 1,234/5,000 records)`` for messages."""
        done = self.processed_count if self.processed_count is not None else "?"
        total = self.records_count if self.records_count is not None else "?"
        return f"export {self.id} ({self.status}, {done}/{total} records)"


@dataclass
class ExportRound:
    """The state of a plan after one :meth:`ExportSteps.advance`.

    Attributes:
        exports: per chunk, its export (``None``: not created yet, or empty).
        empty: indexes of chunks that matched no record when created (nothing to download).
        done: every chunk is completed or empty.
        wait: seconds to wait before the next round.
    """

    exports: list[ExportState | None]
    empty: list[int]
    done: bool
    wait: float

    @property
    def running(self) -> list[ExportState]:
        """The exports pending or in progress."""
        return [e for e in self.exports if e is not None and e.status in RUNNING]

    def completed(self) -> list[ExportState]:
        """The completed exports in chunk order."""
        return [e for e in self.exports if e is not None and e.status == COMPLETED]


def _int_or_none(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def query_digest(resource: str, query: Query, fields: Any, includes: Any, size: int) -> str:
    """A digest of what an export plan reads (not of its id bounds)."""
    text = json.dumps([resource, sorted(query.filters.items()), fields, includes, size])
    return hashlib.sha256(text.encode()).hexdigest()[:10]


def export_filters(query: Query) -> dict[str, str]:
    """The query's ``filter[q][...]`` parameters as the flat object exports take."""
    return {name[len("filter[q][") : -1]: value for name, value in query.filters.items()}


def to_listing_record(record: Record, resource: str) -> Record:
    """An export record in the shape of a flattened listing record (see ``iter_export``)."""
    flat: Record = {"id": record.get("id"), "type": resource}
    flat.update(record)
    flat["meta"] = None
    return flat


# ---------------------------------------------------------------------- the steps


class ExportSteps:
    """The export steps over three clients: API reads, API writes, and files on other origins.

    Args:
        reads: the API client paced as uncacheable reads (polls, counts, probes).
        writes: the API client paced as writes (create, restart, interrupt, delete).
        files: the auth-less client for a file URL's origin (object storage).
        max_file_bytes: the largest export file accepted, after decompression.
    """

    def __init__(
        self,
        reads: ApiClient,
        writes: ApiClient,
        files: Callable[[str], ApiClient],
        *,
        max_file_bytes: int = MAX_FILE_BYTES,
    ) -> None:
        self.reads = reads
        self.writes = writes
        self.files = files
        self.max_file_bytes = max_file_bytes

    # ------------------------------------------------------------------ planning

    def plan(
        self,
        query: Query,
        *,
        fields: Sequence[str] | None,
        includes: Sequence[str] | None,
        chunk_size: int,
        owner: str,
    ) -> ExportPlan:
        """Plan the exports of ``query`` (or take over the owner's complete earlier plan).

        Costs one request to look for earlier exports, then (without any) one count and one
        one-record probe per boundary.
        """
        resource = query.resource
        digest = query_digest(resource, query, fields, includes, chunk_size)
        earlier = self._earlier_plan(resource, owner, digest, fields, includes)
        if earlier is not None:
            log.info(
                "Taking over the %d export(s) of %s already created for this task (reference "
                "%s.%s...); none is created again.",
                len(earlier.chunks),
                resource,
                owner,
                digest,
            )
            return earlier
        total = self._count(query)
        boundaries = self._boundaries(query, total, chunk_size)
        base = export_filters(query)
        edges: list[str | None] = [None, *boundaries, None]
        chunks = []
        for low, high in itertools.pairwise(edges):
            bounds = {**base}
            if low is not None:
                bounds["id_gt"] = low
            if high is not None:
                bounds["id_lteq"] = high
            chunks.append(bounds)
        if total == 0:
            chunks = []
        log.info(
            "Planned %d export(s) of at most %d %s (%d counted).",
            len(chunks),
            chunk_size,
            resource,
            total,
        )
        return ExportPlan(
            resource,
            owner,
            digest,
            list(fields) if fields else None,
            list(includes) if includes else None,
            total,
            chunks,
        )

    def _count(self, query: Query) -> int:
        url = with_query(self.reads.url_for(query.resource), count_params(query))
        return record_count(self.reads.get_json(url).body, query.resource)

    def _boundaries(self, query: Query, total: int, chunk_size: int) -> list[str]:
        """The last id of each full chunk but the last, ``chunk_size`` records apart."""
        boundaries: list[str] = []
        for _ in range(1, -(-total // chunk_size)):
            after = {"id_gt": boundaries[-1]} if boundaries else {}
            url = with_query(
                self.reads.url_for(query.resource), probe_params(query, chunk_size, after)
            )
            records = page_records(self.reads.get_json(url).body, url)
            if not records:
                break  # records were deleted since the count: fewer chunks
            boundaries.append(str(records[0]["id"]))
        return boundaries

    def _earlier_plan(
        self,
        resource: str,
        owner: str,
        digest: str,
        fields: Sequence[str] | None,
        includes: Sequence[str] | None,
    ) -> ExportPlan | None:
        """The owner's complete plan for this query, rebuilt from its exports, if any."""
        by_index: dict[int, ExportState] = {}
        size = None
        for export in self.owned(owner):
            parts = export.reference.split(".")
            if len(parts) != 5 or parts[1] != digest or export.status == FAILED:
                continue
            if not (parts[2].isdigit() and parts[3].isdigit()):
                continue
            size = int(parts[2]) if size is None else size
            if int(parts[2]) == size:
                by_index.setdefault(int(parts[3]), export)
        if size is None or sorted(by_index) != list(range(size)):
            return None
        exports = [by_index[i] for i in range(size)]
        plan = ExportPlan(
            resource,
            owner,
            digest,
            list(fields) if fields else None,
            list(includes) if includes else None,
            sum(e.records_count or 0 for e in exports),
            [{k: str(v) for k, v in e.filters.items()} for e in exports],
        )
        if any(plan.reference(i) != e.reference for i, e in enumerate(exports)):
            return None  # an export's filters are not what its reference says: plan anew
        return plan

    # ------------------------------------------------------------------ reading state

    def owned(self, owner: str) -> list[ExportState]:
        """Every export whose reference starts with ``owner.`` (one request per 25)."""
        states: list[ExportState] = []
        page = 1
        while True:
            url = with_query(
                self.reads.url_for(EXPORTS),
                {
                    "filter[q][reference_start]": f"{owner}.",
                    "page[size]": "25",
                    "page[number]": str(page),
                },
            )
            body = self.reads.get_json(url).body
            records = page_records(body, url)
            states.extend(ExportState.of(r, url) for r in records)
            _, pages = _totals(body)
            if not records or pages is None or page >= pages or page >= 400:
                return states
            page += 1

    def get(self, export_id: str) -> ExportState:
        """One export, with a fresh ``attachment_url`` when completed."""
        url = self.reads.url_for(f"{EXPORTS}/{export_id}")
        body = self.reads.get_json(url).body
        if not isinstance(body, dict):
            raise bad_body(url, "expected a JSON:API document", body)
        return ExportState.of(body.get("data"), url)

    # ------------------------------------------------------------------ advancing

    def advance(
        self,
        plan: ExportPlan,
        max_concurrent: int,
        *,
        empty: Sequence[int] = (),
        read: Sequence[int] = (),
        poll: float = 1.0,
    ) -> ExportRound:
        """Read every export of ``plan``, restart or clean up as needed, create missing ones.

        Args:
            plan: from :meth:`plan`.
            max_concurrent: the most exports of this plan pending or in progress at once.
            empty: chunks already found to match no record.
            read: chunks already downloaded (their exports may be deleted): never created again.
            poll: the shortest wait before the next round (seconds).

        Raises:
            ExportError: an export failed, was interrupted again after its restart, or a
                chunk is over the API's maximum.
            InventoryConfigError: Commerce Layer does not export this resource type.
        """
        references = {plan.reference(i): i for i in range(len(plan.chunks))}
        exports: list[ExportState | None] = [None] * len(plan.chunks)
        leftovers: list[ExportState] = []
        for found in self.owned(plan.owner):
            index = references.get(found.reference)
            if index is None:
                leftovers.append(found)
                continue
            kept = exports[index]
            if kept is None or _rank(found) > _rank(kept):
                if kept is not None:
                    leftovers.append(kept)
                exports[index] = found
            else:
                leftovers.append(found)
        self._clean_up(leftovers)
        empty_chunks = set(empty)
        for index, current in enumerate(exports):
            if current is not None and current.status == FAILED:
                self._forget(current)  # so that a retry of the task creates it anew
                raise self._failed(plan, index, current)
            if current is not None and current.status == INTERRUPTED:
                exports[index] = self._restart(plan, index, current)
        finished = empty_chunks | set(read)
        running = sum(1 for e in exports if e is not None and e.status in RUNNING)
        for index in range(len(exports)):
            if exports[index] is not None or index in finished or running >= max_concurrent:
                continue
            created = self._create(plan, index)
            if isinstance(created, ExportState):
                exports[index] = created
                running += 1
            elif created == "empty":
                empty_chunks.add(index)
            else:  # no free slot in the organization
                break
        finished |= empty_chunks
        done = all(
            (e is not None and e.status == COMPLETED) or i in finished
            for i, e in enumerate(exports)
        )
        waiting = any(e is None and i not in finished for i, e in enumerate(exports))
        wait = poll if waiting else self._wait(exports, poll)
        return ExportRound(exports, sorted(empty_chunks), done, wait)

    def _create(self, plan: ExportPlan, index: int) -> ExportState | str:
        """Create chunk ``index``'s export; ``"empty"`` (no record) or ``"busy"`` (no slot)."""
        attributes: dict[str, Any] = {
            "resource_type": plan.resource,
            "format": "json",
            "filters": plan.chunks[index],
            "reference": plan.reference(index),
            "reference_origin": REFERENCE_ORIGIN,
            "metadata": {"chunk": index, "chunks": len(plan.chunks), "restarts": 0},
        }
        if plan.fields:
            attributes["fields"] = plan.fields
        if plan.includes:
            attributes["includes"] = plan.includes
        url = self.writes.url_for(EXPORTS)
        try:
            body = self.writes.request(
                "POST",
                url,
                json_body={"data": {"type": EXPORTS, "attributes": attributes}},
                headers={"Content-Type": JSONAPI},
            ).body
        except RequestRejectedError as error:
            return self._refused(plan, index, error)
        state = ExportState.of(body.get("data") if isinstance(body, dict) else None, url)
        log.info(
            "Created %s: chunk %d of %d of %s.",
            state.describe(),
            index + 1,
            len(plan.chunks),
            plan.resource,
        )
        return state

    def _refused(self, plan: ExportPlan, index: int, error: RequestRejectedError) -> str:
        """What a refused creation means: an empty chunk, no free slot, or an error."""
        text = f"{error.title or ''} {error.detail or ''}".lower()
        what = f"export chunk {index + 1} of {len(plan.chunks)} of {plan.resource}"
        if error.status != 422:
            raise error
        if "resource_type" in text:
            raise InventoryConfigError(
                f"Commerce Layer does not export '{plan.resource}' ({error.message}). Use "
                f"CommerceLayerListOperator (or CommerceLayerHook.iter_resources) to read it."
            )
        if "less_than_or_equal_to" in text:
            raise ExportError(
                f"Commerce Layer refused {what} (reference {plan.reference(index)}): over its "
                f"maximum of {MAX_EXPORT_RECORDS:,} records ({error.message}). Records were "
                f"added since the plan; lower chunk_size and run again.",
                status=error.status,
                code=error.code,
                method=error.method,
                url=error.url,
            )
        if "greater_than" in text:
            log.info("%s matches no record any more (reference %s).", what, plan.reference(index))
            return "empty"
        if "in progress" in text or "too_many" in text:
            log.info("No export slot free for %s; trying again at the next poll.", what)
            return "busy"
        raise error

    def _restart(self, plan: ExportPlan, index: int, export: ExportState) -> ExportState:
        restarts = int(export.metadata.get("restarts") or 0)
        if restarts >= MAX_RESTARTS:
            self._forget(export)  # so that a retry of the task creates it anew
            raise ExportError(
                f"Commerce Layer export {export.id} (chunk {index + 1} of {len(plan.chunks)} of "
                f"{plan.resource}) was interrupted again after {restarts} restart(s); errors_log:"
                f" {json.dumps(export.errors_log)}. Run the task again later."
            )
        log.warning(
            "Commerce Layer export %s was interrupted (errors_log: %s); restarting it once.",
            export.id,
            json.dumps(export.errors_log),
        )
        metadata = {**export.metadata, "restarts": restarts + 1}
        return self._patch(export.id, {"_start": True, "metadata": metadata})

    def _failed(self, plan: ExportPlan, index: int, export: ExportState) -> ExportError:
        return ExportError(
            f"Commerce Layer export {export.id} (chunk {index + 1} of {len(plan.chunks)} of "
            f"{plan.resource}) failed; errors_log: {json.dumps(export.errors_log)}."
        )

    def _wait(self, exports: Sequence[ExportState | None], poll: float) -> float:
        """Until the soonest estimated completion among running exports, within bounds."""
        running = [e for e in exports if e is not None and e.status in RUNNING]
        if not running:
            return poll
        now = time.time()
        remaining = []
        for export in running:
            if not export.estimated_completion_at:
                return poll
            try:
                when = parse_api_timestamp(
                    export.estimated_completion_at, "estimated_completion_at"
                )
            except InventoryApiError:
                return poll
            remaining.append(when.timestamp() - now)
        return min(max(poll, min(remaining)), max(poll, MAX_POLL_WAIT))

    def _patch(self, export_id: str, attributes: Mapping[str, Any]) -> ExportState:
        url = self.writes.url_for(f"{EXPORTS}/{export_id}")
        body = self.writes.request(
            "PATCH",
            url,
            json_body={"data": {"type": EXPORTS, "id": export_id, "attributes": dict(attributes)}},
            headers={"Content-Type": JSONAPI},
        ).body
        return ExportState.of(body.get("data") if isinstance(body, dict) else None, url)

    # ------------------------------------------------------------------ cleaning up

    def delete(self, export_id: str) -> None:
        """Delete an export (its file goes with it)."""
        self.writes.request("DELETE", self.writes.url_for(f"{EXPORTS}/{export_id}"))

    def interrupt(self, export_id: str) -> None:
        """Stop an export pending or in progress."""
        self._patch(export_id, {"_interrupt": True})

    def interrupt_owned(self, owner: str) -> list[str]:
        """Interrupt every running export of ``owner`` (best effort; failures are logged).

        Returns:
            The ids interrupted.
        """
        stopped: list[str] = []
        try:
            running = [e for e in self.owned(owner) if e.status in RUNNING]
        except Exception as error:
            log.warning("Could not list the exports to interrupt: %s", error)
            return stopped
        for export in running:
            try:
                self.interrupt(export.id)
                stopped.append(export.id)
            except Exception as error:
                log.warning("Could not interrupt Commerce Layer export %s: %s", export.id, error)
        if stopped:
            log.warning("Interrupted Commerce Layer export(s) %s.", ", ".join(stopped))
        return stopped

    def _forget(self, export: ExportState) -> None:
        """Delete an export that ended for good (best effort; a failure is logged)."""
        try:
            self.delete(export.id)
        except InventoryApiError as error:
            log.warning("Could not delete Commerce Layer export %s: %s", export.id, error)

    def _clean_up(self, leftovers: Sequence[ExportState]) -> None:
        """Interrupt (running) or delete (finished) exports of an older plan of the owner."""
        for export in leftovers:
            try:
                if export.status in RUNNING:
                    log.info("Interrupting leftover export %s of an earlier plan.", export.id)
                    self.interrupt(export.id)
                else:
                    log.info("Deleting leftover export %s of an earlier plan.", export.id)
                    self.delete(export.id)
            except InventoryApiError as error:
                log.warning("Could not clean up export %s: %s", export.id, error)

    # ------------------------------------------------------------------ waiting

    def stream(
        self,
        plan: ExportPlan,
        max_concurrent: int,
        *,
        poll_interval: float,
        timeout: float | None,
        delete: bool,
        sleep: Callable[[float], None] = time.sleep,
    ) -> Iterator[Page]:
        """Advance ``plan`` and yield each chunk's records as soon as it and the chunks before
        it completed (chunk order, so records come in id order), while the later ones run.

        Args:
            plan: from :meth:`plan`.
            max_concurrent: the most exports in progress at once.
            poll_interval: the shortest wait between rounds.
            timeout: seconds the exports may take (time spent reading files not counted).
            delete: delete each export once its records were consumed.
            sleep: how to wait (tests).

        Raises:
            ExportError: an export failed, or ``timeout`` passed (naming the exports still
                running).
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        empty: list[int] = []
        read: list[int] = []
        position = 0
        while position < len(plan.chunks):
            round_ = self.advance(plan, max_concurrent, empty=empty, read=read, poll=poll_interval)
            empty = round_.empty
            reading_started = time.monotonic()
            progressed = False
            while position < len(plan.chunks):
                export = round_.exports[position]
                if position not in empty:
                    if export is None or export.status != COMPLETED:
                        break
                    yield from self.pages([export], delete=delete)
                    read.append(position)
                progressed = True
                position += 1
            if deadline is not None:
                deadline += time.monotonic() - reading_started  # reading is not the exports' time
            if position >= len(plan.chunks) or progressed:
                continue  # all read, or time passed while reading: look again at once
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                raise stuck_error(plan, round_, f"export_timeout={timeout:g} s")
            sleep(round_.wait if left is None else min(round_.wait, left))

    # ------------------------------------------------------------------ downloading

    def records(self, export: ExportState) -> Iterator[Record]:
        """The records of a completed export, parsed from its file one by one.

        Raises:
            ExportError: the file stays unreadable or expired after :data:`MAX_REFRESHES`
                fresh URLs, or holds another number of records than ``records_count``.
        """
        with tempfile.TemporaryFile() as file:
            state = self._download(export, file)
            count = 0
            file.seek(0)
            with gzip.open(file) as text:
                try:
                    for record in iter_json_objects(text, max_chars=self.max_file_bytes):  # type: ignore[arg-type]
                        count += 1
                        yield record
                except JsonArrayError as error:
                    self._forget(export)  # so that a retry of the task creates it anew
                    raise ExportError(
                        f"The file of Commerce Layer export {export.id} is not a JSON array of "
                        f"records: {error}."
                    ) from None
        if count != state.records_count:
            self._forget(export)  # so that a retry of the task creates it anew
            raise ExportError(
                f"Commerce Layer export {export.id} reports records_count="
                f"{state.records_count} but its file holds {count} records; stopped rather "
                f"than return an incomplete or inconsistent result."
            )

    def _download(self, export: ExportState, file: BinaryIO) -> ExportState:
        """Download the export's file into ``file`` and check its gzip stream."""
        problem = ""
        for attempt in range(MAX_REFRESHES + 1):
            state = self.get(export.id)  # a fresh attachment_url, valid for 5 minutes
            url = state.attachment_url
            if state.status != COMPLETED or not url:
                raise ExportError(
                    f"Commerce Layer export {export.id} is {state.status} and has no "
                    f"attachment_url; nothing to download."
                )
            try:
                self.files(url).download(url, file, max_bytes=self.max_file_bytes)
            except AuthenticationError as error:
                problem = f"the file URL was refused ({error.message}; expired?)"
            else:
                problem = _gzip_problem(file, self.max_file_bytes)
                if not problem:
                    return state
            log.warning(
                "Download %d of Commerce Layer export %s failed: %s; fetching a fresh URL.",
                attempt + 1,
                export.id,
                problem,
            )
        self._forget(export)  # so that a retry of the task creates it anew
        raise ExportError(
            f"The file of Commerce Layer export {export.id} could not be downloaded after "
            f"{MAX_REFRESHES + 1} fresh URLs: {problem}."
        )

    def pages(self, exports: Sequence[ExportState], *, delete: bool) -> Iterator[Page]:
        """The records of completed exports as pages of :data:`PAGE_RECORDS`, export by
        export; each export is deleted after its last record was consumed (with ``delete``)."""
        for export in exports:
            batch: list[Record] = []
            for record in self.records(export):
                batch.append(record)
                if len(batch) >= PAGE_RECORDS:
                    yield Page(batch, f"export {export.id}")
                    batch = []
            if batch:
                yield Page(batch, f"export {export.id}")
            if delete:
                try:
                    self.delete(export.id)
                except InventoryApiError as error:
                    log.warning("Could not delete Commerce Layer export %s: %s", export.id, error)


def stuck_error(plan: ExportPlan, round_: ExportRound, limit: str) -> ExportError:
    """The error for exports still running at the deadline (naming each).

    Args:
        plan: the plan.
        round_: its last round.
        limit: the limit passed, for the message (``"export_timeout=600 s"``).
    """
    running = ", ".join(e.describe() for e in round_.running) or "none running"
    waiting = sum(1 for i, e in enumerate(round_.exports) if e is None and i not in round_.empty)
    return ExportError(
        f"Commerce Layer exports of {plan.resource} did not complete within {limit}: "
        f"{running}; {waiting} chunk(s) not started. They are interrupted; raise "
        f"export_timeout if exports this large take longer."
    )


def _rank(export: ExportState | None) -> int:
    order = {COMPLETED: 4, IN_PROGRESS: 3, PENDING: 2, INTERRUPTED: 1}
    return -1 if export is None else order.get(export.status, 0)


def _totals(body: Any) -> tuple[int | None, int | None]:
    from airflow_provider_inventory._http.paginators import page_totals

    return page_totals(body) if isinstance(body, dict) else (None, None)


def _gzip_problem(file: IO[bytes], limit: int) -> str:
    """Why ``file`` is not a complete gzip stream of at most ``limit`` bytes ("" if it is)."""
    file.seek(0)
    inflated = 0
    try:
        with gzip.open(file) as stream:
            while chunk := stream.read(256 * 1024):
                inflated += len(chunk)
                if inflated > limit:
                    return f"it inflates to more than {limit} bytes"
    except (OSError, EOFError, zlib.error) as error:
        return f"the gzip file is damaged or cut off ({type(error).__name__}: {error})"
    return ""


__all__ = [
    "DEFAULT_CHUNK_SIZE",
    "DEFAULT_MAX_CONCURRENT",
    "MAX_CONCURRENT_EXPORTS",
    "MAX_EXPORT_RECORDS",
    "ExportPlan",
    "ExportRound",
    "ExportState",
    "ExportSteps",
    "checked_chunk_size",
    "checked_concurrency",
    "export_filters",
    "owner_reference",
    "stuck_error",
    "to_listing_record",
]
