"""The loopback HTTP server and :class:`Sandbox`, the object tests and demos use."""

from __future__ import annotations

import contextlib
import copy
import json
import socket
import sys
import threading
import traceback
from collections.abc import Callable, Iterable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from .app import SandboxApp
from .catalog import Catalog
from .data import DataStore, Record
from .exports import AttachmentApp, AttachmentRequest, ExportSettings
from .faults import Fault
from .messages import LoggedRequest, Request, Response, json_response
from .settings import Settings
from .timeutil import ANCHOR

HOST = "127.0.0.1"


class _Server(ThreadingHTTPServer):
    """A threading HTTP server that remembers open connections so stop() can cut them."""

    daemon_threads = True
    block_on_close = False

    def __init__(self, port: int, app: SandboxApp | AttachmentApp, verbose: bool) -> None:
        self.app = app
        self.verbose = verbose
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__((HOST, port), _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Ignore clients that hang up; report anything else (a sandbox bug) on stderr."""
        exc = sys.exc_info()[1]
        if isinstance(exc, ConnectionError | TimeoutError) and not self.verbose:
            return
        super().handle_error(request, client_address)

    def close_connections(self) -> None:
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    """Parses a request, passes it to the app, writes the answer (keep-alive HTTP/1.1)."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    timeout = 120  # seconds an idle keep-alive connection is kept open
    server: _Server

    def do_GET(self) -> None:
        self._dispatch()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = do_GET

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.verbose:
            super().log_message(format, *args)

    def _dispatch(self) -> None:
        app = self.server.app
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        split = urlsplit(self.path)
        items = parse_qsl(split.query, keep_blank_values=True)
        query: dict[str, list[str]] = {}
        for key, value in items:
            query.setdefault(key, []).append(value)
        request = Request(
            method=self.command,
            path=unquote(split.path),
            query=query,
            query_items=items,
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body,
            base_url=app.settings.base_url,
            raw_target=split.path + (f"?{split.query}" if split.query else ""),
        )
        try:
            response = app.handle(request)
        except Exception:
            traceback.print_exc(file=sys.stderr)
            response = json_response(500, {"error": {"status": 500, "message": "sandbox bug"}})
        self._write(response)

    def _write(self, response: Response) -> None:
        body = response.body
        try:
            self.send_response(response.status)
            for name, value in response.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command == "HEAD":
                return
            if response.short_read:
                self.wfile.write(body[: len(body) // 2])
                self.wfile.flush()
                self.close_connection = True
                return
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True


class Sandbox:
    """A local stand-in for the Pack and Commerce Layer APIs on ``http://127.0.0.1:<port>``.

    Use as a context manager (or call :meth:`start` / :meth:`stop`)::

        with Sandbox(seed=0, serial_numbers=200, packages=100) as sb:
            requests.get(sb.url + "/v1/organizations/org_sandbox/serial-numbers",
                         headers={"Authorization": f"Bearer {sb.pack_token}"})

    Data is deterministic for a given ``seed``; ``products`` sets how many Pack products the
    serial numbers belong to (5 by default; see :mod:`.pack_world` for the rest of the Pack
    world). ``rate_limits`` is None or a dict mapping
    "uncacheable" (packages) and/or "cacheable" (stock_locations) to
    ``(average_per_minute, burst_per_10s)`` or ``(average, burst, interval_s,
    burst_interval_s)`` (scaled-down windows for tests); only ``/api/...`` requests count.
    ``token_rate_limit`` limits ``/oauth/token`` per minute (None: unlimited). ``latency``
    (+ uniform ``[0, latency_jitter]``) and ``error_rate`` (random 500/502/503 from a seeded
    RNG) apply to ``/v1/...`` and ``/api/...`` requests only. ``token_lifetime`` (seconds,
    may be fractional) is fixed per token when it is issued.

    ``shipments`` and ``stock_items`` add those Commerce Layer resources (see ``.catalog``).
    Exports (``/api/exports``, see ``.exports``) run at ``export_speed`` records per second;
    their files are served on a second loopback port (:attr:`attachments_url`) with URLs valid
    for ``export_url_ttl`` seconds; ``max_export_records`` and ``max_exports_in_progress`` are
    the API's limits (10,000 and 10).
    """

    def __init__(
        self,
        seed: int = 0,
        *,
        serial_numbers: int = 200,
        products: int = 5,
        packages: int = 100,
        stock_locations: int = 5,
        pack_link_style: str = "absolute",
        pack_body_shape: str = "flat",
        token_lifetime: float = 7200,
        rate_limits: dict[str, tuple[int, ...]] | None = None,
        latency: float = 0.0,
        latency_jitter: float = 0.0,
        error_rate: float = 0.0,
        port: int = 0,
        pack_token: str = "sandbox-pack-token",
        organization_id: str = "org_sandbox",
        client_id: str = "sandbox-client-id",
        client_secret: str = "sandbox-client-secret",
        token_rate_limit: int | None = 30,
        verbose: bool = False,
        shipments: int = 0,
        stock_items: int = 0,
        export_speed: float = 20_000.0,
        export_url_ttl: float = 300.0,
        max_export_records: int = 10_000,
        max_exports_in_progress: int = 10,
    ) -> None:
        self.seed = seed
        self.anchor = ANCHOR
        self._port = port
        self._verbose = verbose
        self._settings = Settings(
            pack_token=pack_token,
            organization_id=organization_id,
            client_id=client_id,
            client_secret=client_secret,
            pack_link_style=pack_link_style,
            pack_body_shape=pack_body_shape,
            token_lifetime=token_lifetime,
            latency=latency,
            latency_jitter=latency_jitter,
            error_rate=error_rate,
        )
        self._settings.validate()
        self._store = DataStore(
            seed=seed,
            serial_numbers=serial_numbers,
            products=products,
            packages=packages,
            stock_locations=stock_locations,
            organization_id=organization_id,
        )
        self._export_settings = ExportSettings(
            speed=export_speed,
            url_ttl=export_url_ttl,
            max_records=max_export_records,
            max_in_progress=max_exports_in_progress,
        )
        self._app = SandboxApp(
            store=self._store,
            settings=self._settings,
            seed=seed,
            rate_limits=rate_limits,
            token_rate_limit=token_rate_limit,
            catalog=Catalog(seed, self._store, shipments=shipments, stock_items=stock_items),
            export_settings=self._export_settings,
        )
        self._attachments = AttachmentApp(self._app.commercelayer.exports)
        self._attachment_server: _Server | None = None
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> Sandbox:
        """Bind 127.0.0.1 (``port``; 0 picks a free one) and serve on a daemon thread."""
        if self._server is not None:
            return self
        self._app.stopping.clear()
        server = _Server(self._port, self._app, self._verbose)
        self._settings.base_url = f"http://{HOST}:{server.server_address[1]}"
        thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"inventory-sandbox-{server.server_address[1]}",
            daemon=True,
        )
        self._server, self._thread = server, thread
        thread.start()
        self._start_attachments()
        return self

    def _start_attachments(self) -> None:
        """The second origin (object storage stand-in) that serves export files."""
        self._attachments.stopping.clear()
        server = _Server(0, self._attachments, self._verbose)
        base = f"http://{HOST}:{server.server_address[1]}"
        self._attachments.settings.base_url = base
        self._app.commercelayer.exports.attachments_base = base
        self._attachment_server = server
        threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"inventory-sandbox-attachments-{server.server_address[1]}",
            daemon=True,
        ).start()

    def stop(self) -> None:
        """Stop serving and drop open connections (returns within about a second)."""
        attachments, self._attachment_server = self._attachment_server, None
        if attachments is not None:
            self._attachments.stopping.set()
            attachments.shutdown()
            attachments.server_close()
            attachments.close_connections()
        server, thread = self._server, self._thread
        if server is None:
            return
        self._app.stopping.set()
        server.shutdown()
        server.server_close()
        server.close_connections()
        if thread is not None:
            thread.join(timeout=1.0)
        self._server = self._thread = None

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        where = self._settings.base_url if self._server is not None else "stopped"
        return f"<Sandbox seed={self.seed} {where}>"

    # ------------------------------------------------------------------ connection details

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>`` (only while running)."""
        if self._server is None:
            raise RuntimeError("the sandbox is not running; call start() or use `with`")
        return self._settings.base_url

    @property
    def attachments_url(self) -> str:
        """``http://127.0.0.1:<other port>``: the origin export files are served from."""
        if self._attachment_server is None:
            raise RuntimeError("the sandbox is not running; call start() or use `with`")
        return self._attachments.settings.base_url

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    @property
    def pack_token(self) -> str:
        return self._settings.pack_token

    @property
    def organization_id(self) -> str:
        return self._settings.organization_id

    @property
    def client_id(self) -> str:
        return self._settings.client_id

    @property
    def client_secret(self) -> str:
        return self._settings.client_secret

    def pack_connection(self) -> dict[str, Any]:
        """An Airflow connection (as a dict) for the Pack API of this sandbox."""
        return {
            "conn_type": "pack",
            "host": self.url,
            "password": self.pack_token,
            "extra": {"organization_id": self.organization_id},
        }

    def commercelayer_connection(self) -> dict[str, Any]:
        """An Airflow connection (as a dict) for the Commerce Layer API of this sandbox."""
        return {
            "conn_type": "commercelayer",
            "host": self.url,
            "login": self.client_id,
            "password": self.client_secret,
            "extra": {"auth_url": self.url + "/oauth/token"},
        }

    def connection_env(self) -> dict[str, str]:
        """``AIRFLOW_CONN_PACK_DEFAULT`` / ``AIRFLOW_CONN_COMMERCELAYER_DEFAULT`` as JSON."""
        return {
            "AIRFLOW_CONN_PACK_DEFAULT": json.dumps(self.pack_connection()),
            "AIRFLOW_CONN_COMMERCELAYER_DEFAULT": json.dumps(self.commercelayer_connection()),
        }

    # ------------------------------------------------------------------ data

    def serial_numbers(self) -> list[Record]:
        """Copies of the current Pack records, exactly as the API returns them, in API order."""
        return self._store.serial_numbers()

    def warehouses(self) -> dict[str, list[str]]:
        """Pack warehouse id -> the stock ids it holds (for the warehouse endpoint)."""
        return self._store.warehouses()

    def pack_records(
        self, resource: str, *, warehouse_id: str | None = None, include: tuple[str, ...] = ()
    ) -> list[Record]:
        """Copies of the records of a Pack list endpoint other than serial numbers, as the API
        returns them unfiltered in its default order (``products``, ``stocks``,
        ``product-warehouses``, ``fulfillments``, ``shipping-services``; with
        ``warehouse_id``, the warehouse's ``products`` or ``fulfillments``), with ``include``
        nested in. KeyError for an unknown warehouse."""
        world = self._store.pack_world
        records = world.records(resource, warehouse_id)
        if records is None:
            raise KeyError(warehouse_id)
        warehouse = warehouse_id is not None
        return copy.deepcopy([world.render(resource, r, include, warehouse) for r in records])

    def packages(self) -> list[Record]:
        """Copies of the current packages in flat form, ordered by (created_at, id):
        ``{"id", "type": "packages", **attributes, "stock_location_id", "meta"}``."""
        return self._store.packages()

    def stock_locations(self) -> list[Record]:
        """Copies of the stock locations in flat form (``{"id", "type", **attributes,
        "meta"}``), ordered by (created_at, id)."""
        return self._store.stock_locations()

    def add_serial_number(self, **fields: Any) -> Record:
        """Insert a Pack serial number and return it.

        Missing fields get defaults: ``id`` and ``code`` generated from the seeded RNG,
        ``product_id`` one of the existing products, ``stock_id`` and
        ``fulfillment_line_id`` null, ``created_at``/``updated_at`` the server's now
        (wall clock, strictly increasing across mutations). Timestamps given as strings or
        datetimes are normalized to ``YYYY-MM-DDTHH:MM:SS.mmmZ``. Extra fields are kept and
        returned by the API. ValueError for a duplicate id or code.
        """
        return self._store.add_serial_number(**fields)

    def update_serial_number(self, serial_number_id: str, **fields: Any) -> Record:
        """Change fields of a serial number (``updated_at`` becomes now unless given)."""
        return self._store.update_serial_number(serial_number_id, **fields)

    def delete_serial_number(self, serial_number_id: str) -> None:
        """Delete a serial number (KeyError when unknown)."""
        self._store.delete_serial_number(serial_number_id)

    def add_package(self, **attrs: Any) -> Record:
        """Insert a package and return it in flat form.

        Missing attributes get defaults (``id`` from the seeded RNG, ``name``
        "Package <id>", ``code`` "PKG-<id>", 10 x 10 x 10 cm, null references, empty
        metadata, ``stock_location_id`` one of the stock locations, timestamps now).
        Extra keys become extra attributes.
        """
        return self._store.add_package(**attrs)

    def update_package(self, package_id: str, **attrs: Any) -> Record:
        """Change attributes (or ``stock_location_id``) of a package; ``updated_at`` becomes
        now unless given. Returns the package in flat form."""
        return self._store.update_package(package_id, **attrs)

    def delete_package(self, package_id: str) -> None:
        """Delete a package (KeyError when unknown)."""
        self._store.delete_package(package_id)

    def add_resources(self, resource: str, records: Iterable[Mapping[str, Any]]) -> int:
        """Store flat records (``{"id", **attributes, "<to-one relationship>_id"...}``) of any
        other Commerce Layer type of the bundled API schema (``stock_items``, ``shipments``...),
        served with the schema's attributes, sorts, filters and includes. Records of the schema's
        types come from :func:`~airflow_provider_inventory.sandbox.resources.sample_records`.

        Returns:
            How many records were stored.
        """
        return self._app.commercelayer.resources.add(resource, records)

    def resources(self, resource: str) -> list[Record]:
        """Copies of the records stored with :meth:`add_resources`."""
        return [dict(record) for record in self._app.commercelayer.resources.records(resource)]

    def shipments(self) -> list[Record]:
        """Copies of the shipments in flat form, by id (``{"id", "type", **attributes,
        "stock_location_id", "meta"}``)."""
        return copy.deepcopy(self._catalog_records("shipments"))

    def stock_items(self) -> list[Record]:
        """Copies of the stock items in flat form, by id."""
        return copy.deepcopy(self._catalog_records("stock_items"))

    def _catalog_records(self, name: str) -> list[Record]:
        return sorted(self._app.commercelayer.types[name].records(), key=lambda r: r["id"])

    # ------------------------------------------------------------------ exports

    @property
    def exports(self) -> list[dict[str, Any]]:
        """Every export's attributes (with ``id``), oldest first."""
        return self._app.commercelayer.exports.states()

    @property
    def exports_created(self) -> int:
        """How many exports ``POST /api/exports`` has created."""
        return self._app.commercelayer.exports.created

    @property
    def exports_peak_in_progress(self) -> int:
        """The most exports pending or in progress at once so far."""
        return self._app.commercelayer.exports.peak_in_progress

    @property
    def attachment_requests(self) -> list[AttachmentRequest]:
        """The requests the attachment origin answered (path, status, Authorization, headers)."""
        return list(self._app.commercelayer.exports.attachment_log)

    def inject_export_fault(self, kind: str, *, times: int = 1) -> None:
        """Apply an export fault to the next ``times`` exports (or downloads): ``failed``,
        ``interrupted``, ``interrupted_again``, ``stuck``, ``wrong_count``, ``truncated_gzip``, ``expired_url`` (see
        ``.exports``)."""
        self._app.commercelayer.exports.inject(kind, times=times)

    def set_exports(self, **changes: Any) -> None:
        """Change ``speed``, ``start_delay``, ``url_ttl``, ``max_records``, ``max_in_progress``
        or ``exportable`` (a set of resource names) while running."""
        for name, value in changes.items():
            if not hasattr(self._export_settings, name):
                raise TypeError(f"set_exports() got an unexpected argument {name!r}")
            setattr(self._export_settings, name, value)

    # ------------------------------------------------------------------ observation

    @property
    def requests(self) -> list[LoggedRequest]:
        """Snapshot of the requests answered so far (all paths), oldest first (the most
        recent 100,000 are kept)."""
        return self._app.requests()

    def clear_requests(self) -> None:
        self._app.clear_requests()

    @property
    def tokens_issued(self) -> int:
        """How many access tokens ``/oauth/token`` has issued."""
        return self._app.tokens.issued

    @property
    def action_errors(self) -> list[BaseException]:
        """Exceptions raised by scheduled actions (they are also printed to stderr)."""
        return list(self._app.action_errors)

    # ------------------------------------------------------------------ faults and schedules

    def inject(
        self,
        kind: str,
        *,
        times: int | None = 1,
        after: int = 0,
        match: str | None = None,
        **params: Any,
    ) -> Fault:
        """Script a fault: skip ``after`` matching requests, then apply to the next ``times``
        (None: until :meth:`clear_faults`).

        ``match`` is a path prefix, or None for any ``/v1/`` or ``/api/`` request (never
        ``/oauth/token`` unless ``match`` names it). Kinds and parameters:

        * ``status``: ``status=503``, optional ``headers={...}`` and ``body`` (str/bytes
          sent as text/plain, anything else as JSON; default an error document);
        * ``rate_limit``: 429 with the Commerce Layer error document; ``retry_after``
          (None, seconds or an HTTP date) sets Retry-After; ``ratelimit_headers=True``
          adds X-Ratelimit-Limit (``limit``, default the configured average or 100),
          X-Ratelimit-Interval (``interval``, default 1) and X-Ratelimit-Remaining 0;
        * ``malformed_json``: 200 with a JSON content type and a body that is not JSON;
        * ``truncated``: the normal answer with its body cut in half (Content-Length
          matches the half); ``short_read=True`` instead declares the full length, sends
          half and closes the connection;
        * ``non_json``: 200 text/html maintenance page;
        * ``repeat_next``: the list page's next link is the URL just requested;
        * ``foreign_next``: the next link is ``url`` (default ``http://127.0.0.2:9/x``);
        * ``delay``: sleep ``seconds`` (default 1) before answering;
        * ``expire_token``: the Commerce Layer token of the request expires for good
          (401 INVALID_TOKEN); with ``match=None`` it only matches ``/api/`` requests,
          on a Pack request it answers 401.

        Several faults may apply to one request; at most one of the replacing kinds
        (status, rate_limit, malformed_json, non_json) does, the others stay pending.
        """
        return self._app.faults.inject(kind, times=times, after=after, match=match, **params)

    def clear_faults(self) -> None:
        """Drop all pending faults."""
        self._app.faults.clear()

    def schedule(
        self, after_requests: int, action: Callable[[], object], match: str | None = None
    ) -> None:
        """Run ``action`` once, right after the ``after_requests``-th matching request
        (counted from now; ``match`` as for :meth:`inject`) has been answered and before
        its response is sent, so the client's next request sees its effect."""
        self._app.scheduler.schedule(after_requests, action, match)

    def clear_schedules(self) -> None:
        self._app.scheduler.clear()

    def set(self, **changes: Any) -> None:
        """Change behaviour while running: ``latency``, ``latency_jitter``, ``error_rate``,
        ``rate_limits`` (resets the windows), ``token_lifetime`` (for tokens issued from
        now), ``token_rate_limit``, ``pack_link_style``, ``pack_body_shape``."""
        settable = {
            "latency",
            "latency_jitter",
            "error_rate",
            "token_lifetime",
            "pack_link_style",
            "pack_body_shape",
        }
        unknown = set(changes) - settable - {"rate_limits", "token_rate_limit"}
        if unknown:
            raise TypeError(f"Sandbox.set() got unexpected argument(s) {sorted(unknown)}")
        candidate = Settings(**vars(self._settings))
        for name in settable & set(changes):
            setattr(candidate, name, changes[name])
        candidate.validate()
        if "rate_limits" in changes:
            self._app.rate_limits.configure(changes["rate_limits"])
        if "token_rate_limit" in changes:
            self._app.oauth.set_rate_limit(changes["token_rate_limit"])
        for name in settable & set(changes):
            setattr(self._settings, name, changes[name])
