"""Request dispatch: faults, latency, random errors, rate limits, logging and schedules.

:class:`SandboxApp` is the HTTP-independent core of the sandbox: the server hands it a
parsed :class:`~.messages.Request` and writes back the :class:`~.messages.Response`.
"""

from __future__ import annotations

import copy
import random
import sys
import threading
import time
import traceback
from collections import deque
from typing import Any

from .catalog import Catalog
from .commercelayer import CommerceLayerAPI
from .data import DataStore
from .exports import ExportSettings
from .faults import API_KINDS, Fault, FaultEffects, FaultInjector, Scheduler
from .messages import (
    JSON_TYPE,
    JSONAPI_TYPE,
    Context,
    LoggedRequest,
    Request,
    Response,
    json_response,
)
from .oauth import OAuthAPI, TokenStore, cl_error
from .pack import PackAPI, pack_error
from .ratelimit import RateLimits, resource_class
from .settings import Settings

RANDOM_ERROR_STATUSES = (500, 502, 503)
#: The request log keeps the most recent entries only, so a long-running server stays small.
MAX_LOGGED_REQUESTS = 100_000
_ERROR_CODES = {
    500: ("INTERNAL_SERVER_ERROR", "Internal server error"),
    502: ("BAD_GATEWAY", "Bad gateway"),
    503: ("SERVICE_UNAVAILABLE", "Service unavailable"),
    504: ("GATEWAY_TIMEOUT", "Gateway timeout"),
}
MALFORMED_JSON = b'{"data": [{"id": "sandbox", "type": "oops", "attributes": {,,}'
HTML_PAGE = (
    b"<!DOCTYPE html>\n<html><head><title>503 Service Temporarily Unavailable</title></head>"
    b"<body><h1>We'll be right back</h1><p>The service is under maintenance.</p></body></html>\n"
)


def classify(path: str) -> str:
    """Which API a path belongs to: "pack", "commercelayer", "oauth" or "other"."""
    if path.startswith("/v1/"):
        return "pack"
    if path == "/api" or path.startswith("/api/"):
        return "commercelayer"
    if path.rstrip("/") == "/oauth/token":
        return "oauth"
    return "other"


def error_for(api: str, status: int, headers: dict[str, str] | None = None) -> Response:
    """A server-error style response in the flavour of ``api``."""
    code, title = _ERROR_CODES.get(status, ("ERROR", "Error"))
    if api == "pack":
        response = pack_error(status, title)
        response.headers.update(headers or {})
        return response
    content_type = JSONAPI_TYPE if api == "commercelayer" else JSON_TYPE
    detail = f"The sandbox answered {status} on purpose."
    return cl_error(status, code, title, detail, content_type=content_type, headers=headers)


class SandboxApp:
    """Answers requests for both APIs; thread-safe."""

    def __init__(
        self,
        *,
        store: DataStore,
        settings: Settings,
        seed: int,
        rate_limits: dict[str, tuple[int, ...]] | None,
        token_rate_limit: int | None,
        catalog: Catalog | None = None,
        export_settings: ExportSettings | None = None,
    ) -> None:
        self.store = store
        self.settings = settings
        self.tokens = TokenStore()
        self.pack = PackAPI(store, settings)
        self.commercelayer = CommerceLayerAPI(store, self.tokens, catalog, export_settings)
        self.oauth = OAuthAPI(settings, self.tokens)
        self.oauth.set_rate_limit(token_rate_limit)
        self.rate_limits = RateLimits(rate_limits)
        self.faults = FaultInjector()
        self.scheduler = Scheduler()
        self.stopping = threading.Event()
        self.action_errors: list[BaseException] = []
        self._rng = random.Random(f"{seed}:chaos")
        self._rng_lock = threading.Lock()
        self._log: deque[LoggedRequest] = deque(maxlen=MAX_LOGGED_REQUESTS)
        self._log_lock = threading.Lock()

    # ------------------------------------------------------------------ request log

    def requests(self) -> list[LoggedRequest]:
        with self._log_lock:
            return list(self._log)

    def clear_requests(self) -> None:
        with self._log_lock:
            self._log.clear()

    # ------------------------------------------------------------------ dispatch

    def handle(self, request: Request) -> Response:
        """Answer one request, log it, then run scheduled actions that became due."""
        received = time.time()
        api = classify(request.path)
        effects = self.faults.take(request.path, api)
        if effects.delay:
            self.sleep(effects.delay)
        response = self._answer(request, api, effects)
        if effects.truncated is not None and response.body:
            if effects.truncated.params.get("short_read"):
                response.short_read = True  # the server declares it all but sends half
            else:
                response.body = response.body[: len(response.body) // 2]
        entry = LoggedRequest(
            method=request.method,
            path=request.path,
            query=copy.deepcopy(request.query),
            status=response.status,
            authorized=request.header("authorization") is not None,
            api=api,
            time=received,
        )
        with self._log_lock:
            self._log.append(entry)
        for action in self.scheduler.due(request.path, api):
            try:
                action()
            except Exception as exc:
                self.action_errors.append(exc)
                traceback.print_exc(file=sys.stderr)
        return response

    def sleep(self, seconds: float) -> None:
        """Sleep, but wake up at once when the sandbox stops."""
        if seconds > 0:
            self.stopping.wait(seconds)

    def _random(self) -> float:
        with self._rng_lock:
            return self._rng.random()

    def _answer(self, request: Request, api: str, effects: FaultEffects) -> Response:
        settings = self.settings
        is_api = api in API_KINDS
        if is_api and (settings.latency or settings.latency_jitter):
            self.sleep(settings.latency + self._random() * settings.latency_jitter)
        if effects.replace is not None:
            return self._fault_response(effects.replace, api, request)
        if api == "oauth":
            return self.oauth.handle(request)
        if not is_api:
            return json_response(404, {"error": {"status": 404, "message": "not found"}})
        if settings.error_rate and self._random() < settings.error_rate:
            with self._rng_lock:
                status = self._rng.choice(RANDOM_ERROR_STATUSES)
            return error_for(api, status)
        ctx = Context(next_link=effects.next_link, expire_token=effects.expire_token)
        if api == "pack":
            return self.pack.handle(request, ctx)
        return self._commercelayer(request, ctx)

    def _commercelayer(self, request: Request, ctx: Context) -> Response:
        segments = [s for s in request.path.split("/") if s]
        limiter = self.rate_limits.limiter(resource_class(segments[1] if len(segments) > 1 else ""))
        if limiter is None:
            return self.commercelayer.handle(request, ctx)
        decision = limiter.hit()
        if not decision.allowed:
            return cl_error(
                429,
                "TOO_MANY_REQUESTS",
                "Too many requests",
                "You have exceeded the rate limit; slow down and retry later.",
                content_type=JSONAPI_TYPE,
                headers=decision.headers(),
            )
        response = self.commercelayer.handle(request, ctx)
        response.headers.update(decision.headers())
        return response

    def _fault_response(self, fault: Fault, api: str, request: Request) -> Response:
        params: dict[str, Any] = fault.params
        json_type = JSONAPI_TYPE if api == "commercelayer" else JSON_TYPE
        if fault.kind == "status":
            status = int(params.get("status", 503))
            headers = {str(k): str(v) for k, v in (params.get("headers") or {}).items()}
            body = params.get("body")
            if body is None:
                return error_for(api, status, headers)
            if isinstance(body, bytes | str):
                raw = body.encode() if isinstance(body, str) else body
                return Response(status, raw, {"Content-Type": "text/plain", **headers})
            return json_response(status, body, json_type, headers)
        if fault.kind == "rate_limit":
            headers = {}
            if params.get("retry_after") is not None:
                headers["Retry-After"] = str(params["retry_after"])
            if params.get("ratelimit_headers"):
                limit = params.get("limit")
                if limit is None:
                    segments = [s for s in request.path.split("/") if s]
                    name = segments[1] if api == "commercelayer" and len(segments) > 1 else ""
                    limiter = self.rate_limits.limiter(resource_class(name))
                    limit = limiter.average if limiter is not None else 100
                headers["X-Ratelimit-Limit"] = str(limit)
                headers["X-Ratelimit-Interval"] = str(params.get("interval", 1))
                headers["X-Ratelimit-Remaining"] = "0"
            return cl_error(
                429,
                "TOO_MANY_REQUESTS",
                "Too many requests",
                "You have exceeded the rate limit; slow down and retry later.",
                content_type=json_type,
                headers=headers,
            )
        if fault.kind == "malformed_json":
            return Response(200, MALFORMED_JSON, {"Content-Type": json_type})
        if fault.kind == "non_json":
            return Response(200, HTML_PAGE, {"Content-Type": "text/html; charset=utf-8"})
        raise AssertionError(fault.kind)  # pragma: no cover
