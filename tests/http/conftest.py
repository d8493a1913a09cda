"""Fixtures for the HTTP core tests: scripted servers and clients closed after each test."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from airflow_provider_inventory._http.client import ApiClient
from tests.http import ClientFactory, ScriptedServer, make_client


@pytest.fixture(name="server")
def server_fixture() -> Iterator[ScriptedServer]:
    """The API server under test."""
    with ScriptedServer() as running:
        yield running


@pytest.fixture(name="foreign")
def foreign_fixture() -> Iterator[ScriptedServer]:
    """A second server on another port: another origin, which must never be contacted."""
    with ScriptedServer() as running:
        yield running


@pytest.fixture(name="client_for")
def client_for_fixture() -> Iterator[ClientFactory]:
    """``make_client`` whose clients are closed when the test ends."""
    made: list[ApiClient] = []

    def build(base_url: str, **kwargs: Any) -> ApiClient:
        client = make_client(base_url, **kwargs)
        made.append(client)
        return client

    yield build
    for client in made:
        client.close()
