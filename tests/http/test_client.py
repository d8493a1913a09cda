"""``ApiClient`` over real loopback HTTP: decoding, origin safety, transport security, secrets."""

from __future__ import annotations

import json
import logging
import pickle

import pytest

from airflow_provider_inventory._http.client import ApiClient
from airflow_provider_inventory._http.redaction import Scrubber
from airflow_provider_inventory._http.settings import HttpSettings
from airflow_provider_inventory.exceptions import (
    AuthenticationError,
    BadResponseError,
    InventoryApiError,
    InventoryConfigError,
    PaginationError,
    RequestRejectedError,
    ServerError,
)
from tests.http import (
    API_TOKEN,
    CLIENT_SECRET,
    ClientFactory,
    Reply,
    ScriptedServer,
    refused_port,
)


def _bad_response(server: ScriptedServer, client_for: ClientFactory) -> BadResponseError:
    with pytest.raises(BadResponseError) as caught:
        client_for(server.url).get_json("items")
    return caught.value


# --- decoding ---------------------------------------------------------------------------------


def test_a_json_body_is_decoded_with_its_url_status_and_headers(
    server: ScriptedServer, client_for: ClientFactory
) -> None:
    server.script(Reply(200, {"data": [{"id": "a"}]}, headers={"X-Ratelimit-Remaining": "9"}))

    response = client_for(server.url).get_json("items", params={"page[size]": 25})

    assert response.body == {"data": [{"id": "a"}]}
    assert response.status == 200
    assert response.url == f"{server.url}/items?page%5Bsize%5D=25"
    assert response.headers["X-Ratelimit-Remaining"] == "9"


def test_a_json_api_content_type_is_json(server: ScriptedServer, client_for: ClientFactory) -> None:
    server.script(Reply(200, {"data": []}, content_type="application/vnd.api+json; charset=utf-8"))

    assert client_for(server.url).get_json("packages").body == {"data": []}


@pytest.mark.parametrize(
    ("body", "content_type", "expected_type"),
    [
        ('{"data": [{"id": "a"}, {"id": "b"', "application/json", "'application/json'"),
        ('{"data": [1, 2,, 3]}', "application/json", "'application/json'"),
        ("<html><body>502 Bad Gateway</body></html>", "text/html", "'text/html'"),
        ('{"data": []}', None, "'missing'"),
    ],
    ids=["truncated", "malformed", "html", "no-content-type"],
)
def test_a_body_that_is_not_json_is_a_clear_bad_response(
    server: ScriptedServer,
    client_for: ClientFactory,
    body: str,
    content_type: str | None,
    expected_type: str,
) -> None:
    server.script(Reply(200, body, content_type=content_type))

    error = _bad_response(server, client_for)

    assert error.status == 200
    assert "HTTP 200" in str(error)
    assert f"Content-Type {expected_type}" in str(error)
    assert repr(body) in str(error)
    assert not isinstance(error, json.JSONDecodeError)
    assert error.__cause__ is None
    assert error.__suppress_context__


def test_an_empty_body_is_a_bad_response(server: ScriptedServer, client_for: ClientFactory) -> None:
    server.script(Reply(200, b""))

    assert "0 bytes" in str(_bad_response(server, client_for))


def test_a_bad_response_quotes_only_the_first_200_characters(
    server: ScriptedServer, client_for: ClientFactory
) -> None:
    server.script(Reply(200, "<" + "x" * 999, content_type="text/plain"))

    message = str(_bad_response(server, client_for))

    assert "<" + "x" * 199 + "'" in message
    assert "x" * 200 not in message
    assert "1000 bytes" in message


def test_a_redirect_is_not_followed(
    server: ScriptedServer, foreign: ScriptedServer, client_for: ClientFactory
) -> None:
    server.script(Reply(302, b"", headers={"Location": f"{foreign.url}/collect"}))

    error = _bad_response(server, client_for)

    assert "redirect" in str(error)
    assert error.status == 302
    assert server.count == 1
    assert foreign.count == 0


def test_an_html_error_page_becomes_the_error_detail(
    server: ScriptedServer, client_for: ClientFactory
) -> None:
    server.default = Reply(500, "<html>Internal error</html>", content_type="text/html")

    with pytest.raises(ServerError) as caught:
        client_for(server.url, max_attempts=1).get_json("items")

    assert caught.value.detail == "<html>Internal error</html>"
    assert str(caught.value).startswith("HTTP 500: <html>Internal error</html>")


def test_an_oauth_error_body_gives_code_and_description(
    server: ScriptedServer, client_for: ClientFactory
) -> None:
    server.script(
        Reply(401, {"error": "invalid_client", "error_description": "Client authentication failed"})
    )

    with pytest.raises(AuthenticationError) as caught:
        client_for(server.url).request("POST", f"{server.url}/oauth/token", json_body={})

    assert caught.value.code == "invalid_client"
    assert caught.value.detail == "Client authentication failed"
    assert caught.value.method == "POST"


# --- where requests go -------------------------------------------------------------------------


def test_paths_are_resolved_under_the_base_url(
    server: ScriptedServer, client_for: ClientFactory
) -> None:
    client = client_for(f"{server.url}/api")

    client.get_json("packages", params={"filter[q][id_in]": ["a", "b"]})
    client.get_json("/stock_locations")
    client.get_json(f"{server.url}/api/skus?page=2")

    assert [seen.target for seen in server.requests] == [
        "/api/packages?filter%5Bq%5D%5Bid_in%5D=a&filter%5Bq%5D%5Bid_in%5D=b",
        "/api/stock_locations",
        "/api/skus?page=2",
    ]


def test_api_reads_carry_the_credentials(server: ScriptedServer, client_for: ClientFactory) -> None:
    client_for(server.url).get_json("items")

    [seen] = server.requests
    assert seen.headers["authorization"] == f"Bearer {API_TOKEN}"
    assert seen.headers["accept"] == "application/json"


@pytest.mark.parametrize(
    "foreign_url",
    [
        "{foreign}/v1/serial-numbers?page=2",
        "http://localhost:{port}/items",
        "https://127.0.0.1:{port}/items",
    ],
    ids=["other-port", "other-host-name", "other-scheme"],
)
def test_a_url_on_another_origin_is_refused_before_anything_is_sent(
    server: ScriptedServer,
    foreign: ScriptedServer,
    client_for: ClientFactory,
    foreign_url: str,
) -> None:
    port = server.url.rsplit(":", 1)[1]
    url = foreign_url.format(foreign=foreign.url, port=port)

    with pytest.raises(PaginationError) as caught:
        client_for(server.url).get_json(url)

    assert "Nothing was requested" in str(caught.value)
    assert foreign.count == 0
    assert server.count == 0


def test_a_token_endpoint_on_another_origin_never_gets_the_api_credentials(
    server: ScriptedServer, foreign: ScriptedServer, client_for: ClientFactory
) -> None:
    foreign.script(Reply(200, {"access_token": "new", "expires_in": 7200}))

    client_for(server.url).request("POST", f"{foreign.url}/oauth/token", json_body={"a": 1})

    [seen] = foreign.requests
    assert "authorization" not in seen.headers
    assert seen.headers["content-type"] == "application/json"


@pytest.mark.parametrize(
    "url", ["http://api.example.com", "http://10.1.2.3:8080/api", "http://127.0.0.1.example.com"]
)
def test_plain_http_to_a_remote_host_is_refused_unless_allowed(url: str) -> None:
    with pytest.raises(InventoryConfigError) as caught:
        ApiClient(url, HttpSettings(), conn_id="pack_default")

    message = str(caught.value)
    assert "Connection 'pack_default'" in message
    assert "allow_insecure_http" in message
    assert "https://" in message
    ApiClient(url, HttpSettings(allow_insecure_http=True), conn_id="pack_default").close()


@pytest.mark.parametrize(
    "url", ["http://localhost:8080", "http://127.0.0.1:9", "http://127.3.2.1", "http://[::1]:80"]
)
def test_plain_http_to_loopback_is_allowed(url: str) -> None:
    ApiClient(url, HttpSettings(), conn_id="pack_default").close()


def test_https_is_always_allowed_and_other_schemes_never() -> None:
    ApiClient("https://api.pack.cloud", HttpSettings(), conn_id="pack_default").close()

    with pytest.raises(InventoryConfigError, match=r"must start with https://"):
        ApiClient("ftp://api.pack.cloud", HttpSettings(allow_insecure_http=True), conn_id="x")


# --- secrets -----------------------------------------------------------------------------------


def _all_text(error: BaseException) -> str:
    """Everything an error shows: message, repr, attributes, and its pickled form."""
    return " ".join([str(error), repr(error), repr(vars(error)), repr(pickle.dumps(error))])


def test_secrets_stay_out_of_logs_and_errors(
    server: ScriptedServer,
    foreign: ScriptedServer,
    client_for: ClientFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    scrubber = Scrubber()
    scrubber.add(API_TOKEN, "api_token")
    scrubber.add(CLIENT_SECRET, "client_secret")
    echo = f"token {API_TOKEN} / secret {CLIENT_SECRET} rejected"
    server.script(
        Reply(503, {"errors": [{"code": "BUSY", "detail": echo}]}),
        Reply(401, {"errors": [{"code": "UNAUTHORIZED", "title": echo, "detail": echo}]}),
        Reply(200, echo, content_type="text/plain"),
    )
    foreign.script(Reply(400, {"error": "invalid_client", "error_description": echo}))
    client = client_for(server.url, scrubber=scrubber, max_attempts=2)

    errors: list[InventoryApiError] = []
    for call in (
        lambda: client.get_json("items"),
        lambda: client.get_json("items"),
        lambda: client.request(
            "POST",
            f"{foreign.url}/oauth/token",
            json_body={"client_id": "id", "client_secret": CLIENT_SECRET},
        ),
    ):
        with pytest.raises(InventoryApiError) as caught:
            call()
        errors.append(caught.value)

    assert [type(error) for error in errors] == [
        AuthenticationError,
        BadResponseError,
        RequestRejectedError,
    ]
    assert foreign.requests[0].body  # the secret really was sent, in the body only
    assert caplog.records  # DEBUG logging from urllib3 and the retry policy was captured
    for text in [caplog.text, *(_all_text(error) for error in errors)]:
        assert API_TOKEN not in text
        assert CLIENT_SECRET not in text
    assert "***" in str(errors[0])


def test_secret_query_parameters_are_masked_in_retry_logs_and_errors(
    server: ScriptedServer, client_for: ClientFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="airflow_provider_inventory")
    server.default = Reply(503)

    with pytest.raises(ServerError) as caught:
        client_for(server.url, max_attempts=2).get_json(
            "items", params={"access_token": API_TOKEN, "page": 3}
        )

    assert server.requests[0].target == f"/items?access_token={API_TOKEN}&page=3"
    assert "access_token=***&page=3" in caplog.text
    assert "access_token=***&page=3" in str(caught.value)
    assert API_TOKEN not in caplog.text
    assert API_TOKEN not in _all_text(caught.value)


def test_a_transport_error_names_the_url(client_for: ClientFactory) -> None:
    with refused_port() as url, pytest.raises(InventoryApiError) as caught:
        client_for(url, max_attempts=1).get_json("items")

    assert f"{url}/items" in str(caught.value)


def test_a_host_with_user_info_is_refused_without_showing_it() -> None:
    with pytest.raises(InventoryConfigError) as caught:
        ApiClient(f"http://user:{CLIENT_SECRET}@127.0.0.1:9", HttpSettings(), conn_id="pack_x")

    assert "user-info" in str(caught.value)
    assert "Connection 'pack_x'" in str(caught.value)
    assert CLIENT_SECRET not in str(caught.value)


def test_a_low_level_request_to_an_ambiguous_url_is_refused_too(
    server: ScriptedServer, foreign: ScriptedServer, client_for: ClientFactory
) -> None:
    home_port, foreign_port = server.url.rsplit(":", 1)[1], foreign.url.rsplit(":", 1)[1]
    url = f"http://127.0.0.1:{foreign_port}\\@127.0.0.1:{home_port}/oauth/token"

    with pytest.raises(PaginationError, match="backslash"):
        client_for(server.url).request("POST", url, json_body={"secret": CLIENT_SECRET})

    assert foreign.count == 0
    assert server.count == 0


def test_the_http_core_imports_no_airflow() -> None:
    """Hooks hand Airflow's masker in as a callback; ``_http`` itself stays Airflow-free."""
    import subprocess
    import sys

    modules = ", ".join(
        f"airflow_provider_inventory._http.{name}"
        for name in ("auth", "client", "loop", "redaction", "transport", "urls")
    )
    code = f"import sys, {modules}; print(sorted(m for m in sys.modules if m.split('.')[0] == 'airflow'))"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )

    assert result.stdout.strip() == "[]"
