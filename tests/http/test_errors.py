"""The error hierarchy (mapping, error bodies, pickling) and secret redaction."""

from __future__ import annotations

import copy
import pickle
from typing import Any

import pytest

from airflow_provider_inventory import exceptions
from airflow_provider_inventory._http.redaction import Scrubber, is_secret_name, redact_url
from airflow_provider_inventory.exceptions import (
    AuthenticationError,
    BadResponseError,
    InventoryApiError,
    InventoryConfigError,
    NotFoundError,
    PaginationError,
    RateLimitedError,
    RequestRejectedError,
    ServerError,
    TokenExpiredError,
    TransportError,
)
from tests.http import (
    ClientFactory,
    Reply,
    ScriptedServer,
)

API_ERRORS = [
    InventoryApiError,
    AuthenticationError,
    TokenExpiredError,
    NotFoundError,
    RateLimitedError,
    ServerError,
    RequestRejectedError,
    TransportError,
    BadResponseError,
    PaginationError,
]


def test_the_public_module_exports_every_error() -> None:
    for cls in [*API_ERRORS, InventoryConfigError]:
        assert getattr(exceptions, cls.__name__) is cls
        assert cls.__name__ in exceptions.__all__
    assert all(issubclass(cls, InventoryApiError) for cls in API_ERRORS)
    assert issubclass(TokenExpiredError, AuthenticationError)
    assert issubclass(InventoryConfigError, ValueError)


def test_an_error_names_the_request_without_its_secrets() -> None:
    error = ServerError(
        "HTTP 503: busy",
        status=503,
        method="GET",
        url="https://user:pw@api.pack.cloud/v1/x?api_token=abc&page=2",
    )

    assert error.url == "https://api.pack.cloud/v1/x?api_token=***&page=2"
    assert str(error) == "HTTP 503: busy [GET https://api.pack.cloud/v1/x?api_token=***&page=2]"


@pytest.mark.parametrize("cls", API_ERRORS)
def test_errors_survive_pickling_and_copying(cls: type[InventoryApiError]) -> None:
    error = cls(
        "HTTP 409 CONFLICT: Conflict - already there",
        status=409,
        code="CONFLICT",
        title="Conflict",
        detail="already there",
        method="GET",
        url="https://x.commercelayer.io/api/packages?page%5Bnumber%5D=2",
    )

    for clone in (pickle.loads(pickle.dumps(error)), copy.copy(error), copy.deepcopy(error)):
        assert type(clone) is cls
        assert str(clone) == str(error)
        assert clone.args == error.args
        assert vars(clone) == vars(error)


def test_a_config_error_survives_pickling() -> None:
    error = InventoryConfigError("Connection 'x': extra field 'y' must be a number")

    clone = pickle.loads(pickle.dumps(error))

    assert type(clone) is InventoryConfigError
    assert str(clone) == str(error)


@pytest.mark.parametrize(
    ("status", "error_class"),
    [
        (405, RequestRejectedError),
        (406, RequestRejectedError),
        (415, RequestRejectedError),
        (423, RequestRejectedError),
        (501, ServerError),
    ],
)
def test_other_statuses_map_to_their_error_class(
    server: ScriptedServer, client_for: ClientFactory, status: int, error_class: type
) -> None:
    server.default = Reply(status, {"errors": [{"code": "X", "title": "t", "status": str(status)}]})

    with pytest.raises(InventoryApiError) as caught:
        client_for(server.url, max_attempts=1).get_json("items")

    assert type(caught.value) is error_class
    assert caught.value.status == status


@pytest.mark.parametrize(
    ("body", "code", "title", "detail"),
    [
        (
            {"errors": [{"code": "VALIDATION", "title": "is invalid", "detail": "name - blank"}]},
            "VALIDATION",
            "is invalid",
            "name - blank",
        ),
        (
            {"error": {"code": "bad_filter", "message": "unknown field"}},
            "bad_filter",
            None,
            "unknown field",
        ),
        (
            {"error": {"type": "bad_filter", "detail": "unknown field"}},
            "bad_filter",
            None,
            "unknown field",
        ),
        (
            {"error": "invalid_grant", "error_description": "expired"},
            "invalid_grant",
            None,
            "expired",
        ),
        ({"message": "Invalid query", "code": 17}, "17", None, "Invalid query"),
        (["unexpected", "shape"], None, None, '["unexpected", "shape"]'),
        ("plain text complaint", None, None, "plain text complaint"),
    ],
    ids=["json-api", "error-object", "error-type", "oauth", "message", "list", "text"],
)
def test_error_bodies_of_every_shape_give_code_title_and_detail(
    server: ScriptedServer,
    client_for: ClientFactory,
    body: Any,
    code: str | None,
    title: str | None,
    detail: str,
) -> None:
    server.default = Reply(400, body)

    with pytest.raises(RequestRejectedError) as caught:
        client_for(server.url).get_json("items")

    assert (caught.value.code, caught.value.title, caught.value.detail) == (code, title, detail)
    assert detail in str(caught.value)


def test_an_empty_error_body_falls_back_to_the_reason_phrase(
    server: ScriptedServer, client_for: ClientFactory
) -> None:
    server.default = Reply(404, b"", content_type=None)

    with pytest.raises(NotFoundError) as caught:
        client_for(server.url).get_json("items/abc")

    assert str(caught.value).startswith("HTTP 404: Not Found [GET ")


def test_a_long_error_text_is_cut_to_200_characters(
    server: ScriptedServer, client_for: ClientFactory
) -> None:
    server.default = Reply(400, "e" * 5000, content_type="text/plain")

    with pytest.raises(RequestRejectedError) as caught:
        client_for(server.url).get_json("items")

    assert caught.value.detail == "e" * 200


# --- redaction ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://api.pack.cloud/v1/x", "https://api.pack.cloud/v1/x"),
        ("https://u:p@api.pack.cloud/v1/x", "https://api.pack.cloud/v1/x"),
        (
            "https://h/x?access_token=a&client_secret=b&password=c&apiKey=d&page=2",
            "https://h/x?access_token=***&client_secret=***&password=***&apiKey=***&page=2",
        ),
        (
            "https://h/x?X-Amz-Signature=s&Auth=t&credentials=u",
            "https://h/x?X-Amz-Signature=***&Auth=***&credentials=***",
        ),
        (
            "https://h/api/packages?filter[q][code_eq]=A:1&page[size]=25",
            "https://h/api/packages?filter[q][code_eq]=A:1&page[size]=25",
        ),
        ("/v1/items?token=abc&empty=", "/v1/items?token=***&empty="),
    ],
    ids=["plain", "user-info", "secret-names", "more-secret-names", "brackets", "path-only"],
)
def test_redact_url(url: str, expected: str) -> None:
    assert redact_url(url) == expected


@pytest.mark.parametrize(
    ("name", "secret"),
    [("api_token", True), ("Authorization", True), ("client_secret", True), ("page", False)],
)
def test_secret_names(name: str, secret: bool) -> None:
    assert is_secret_name(name) is secret


def test_the_scrubber_removes_every_known_secret() -> None:
    scrubber = Scrubber()
    scrubber.add("tok-1234567")
    scrubber.add("sec-abcdefg")
    scrubber.add("abc")  # too short to scrub safely: ignored
    scrubber.add(None)

    text = scrubber("tok-1234567 then sec-abcdefg then tok-1234567 and abc")

    assert text == "*** then *** then *** and abc"


def test_the_scrubber_hands_secrets_to_the_masker_it_was_given() -> None:
    masked: list[tuple[str, str | None]] = []

    Scrubber(mask=lambda value, name: masked.append((value, name))).add("s3cr3t-value", "x")
    Scrubber(mask=lambda value, name: masked.append((value, name))).add("abc")  # too short

    assert masked == [("s3cr3t-value", "x")]


def test_hooks_register_secrets_with_airflows_masker() -> None:
    from airflow_provider_inventory._compat import redact
    from airflow_provider_inventory.hooks.base import InventoryHook

    InventoryHook("any").scrubber.add("masked-in-task-logs-9f8e7d")

    assert redact("token masked-in-task-logs-9f8e7d!") == "token ***!"
