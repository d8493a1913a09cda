"""``ApiClient.download``: a file into a sink through the one request loop, against a scripted
server: retries start the file over, the size cap holds, and no auth leaves the home origin."""

from __future__ import annotations

import io

import pytest

from airflow_provider_inventory.exceptions import AuthenticationError, BadResponseError
from tests.http import Reply, ScriptedServer, make_client

FILE = b"\x1f\x8b" + bytes(range(256)) * 40


def test_a_cut_transfer_is_retried_and_the_sink_starts_over() -> None:
    with ScriptedServer() as server:
        server.script(
            Reply(200, FILE, content_type="application/gzip", cut_to=1000),
            Reply(200, FILE, content_type="application/gzip"),
        )
        sink = io.BytesIO()
        response = make_client(server.url).download(server.url + "/f.gz", sink, max_bytes=1 << 20)
    assert response.body == len(FILE)
    assert sink.getvalue() == FILE
    assert server.count == 2


def test_the_cap_counts_every_byte() -> None:
    with ScriptedServer() as server:
        server.default = Reply(200, FILE, content_type="application/gzip")
        with pytest.raises(BadResponseError, match="larger than the download limit=1024"):
            make_client(server.url).download(server.url + "/f.gz", io.BytesIO(), max_bytes=1024)


def test_a_403_is_an_authentication_error_not_retried() -> None:
    with ScriptedServer() as server:
        server.default = Reply(403, "<Error><Code>AccessDenied</Code></Error>", content_type=None)
        with pytest.raises(AuthenticationError, match="HTTP 403"):
            make_client(server.url).download(server.url + "/f.gz", io.BytesIO(), max_bytes=1024)
        assert server.count == 1


def test_no_auth_goes_to_another_origin(tmp_path: object) -> None:
    with ScriptedServer() as api, ScriptedServer() as files:
        files.default = Reply(200, FILE, content_type="application/gzip")
        make_client(api.url).download(files.url + "/f.gz", io.BytesIO(), max_bytes=1 << 20)
    (seen,) = files.requests
    assert "authorization" not in seen.headers
