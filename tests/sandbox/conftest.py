"""Fixtures for the sandbox tests: running sandboxes and authenticated sessions."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests

from airflow_provider_inventory.sandbox import Sandbox

JSONAPI = "application/vnd.api+json"


def pack_session(sb: Sandbox) -> requests.Session:
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {sb.pack_token}"
    return session


def pack_url(sb: Sandbox) -> str:
    return f"{sb.url}/v1/organizations/{sb.organization_id}/serial-numbers"


def fetch_token(sb: Sandbox, **extra: Any) -> str:
    body = {"grant_type": "client_credentials", "client_id": sb.client_id}
    body["client_secret"] = sb.client_secret
    response = requests.post(f"{sb.url}/oauth/token", json={**body, **extra}, timeout=5)
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


def cl_session(sb: Sandbox) -> requests.Session:
    session = requests.Session()
    session.headers["Accept"] = JSONAPI
    session.headers["Authorization"] = f"Bearer {fetch_token(sb)}"
    return session


def cl_all(session: requests.Session, url: str, params: dict[str, str] | None = None) -> list[Any]:
    """Every resource object of a Commerce Layer listing, following links.next."""
    out: list[Any] = []
    next_url: str | None = url
    first = True
    while next_url:
        response = session.get(next_url, params=params if first else None, timeout=5)
        assert response.status_code == 200, response.text
        document = response.json()
        out.extend(document["data"])
        next_url = document["links"].get("next")
        first = False
    return out


@pytest.fixture
def sb() -> Iterator[Sandbox]:
    """A fresh sandbox per test (safe to mutate, inject faults, change settings)."""
    with Sandbox(seed=0) as sandbox:
        yield sandbox


@pytest.fixture(scope="module")
def shared_sb() -> Iterator[Sandbox]:
    """A module-wide sandbox for read-only tests."""
    with Sandbox(seed=0, packages=100, stock_locations=5) as sandbox:
        yield sandbox


@pytest.fixture(scope="module")
def shared_cl(shared_sb: Sandbox) -> requests.Session:
    """A Commerce Layer session (one token) for the module-wide sandbox."""
    return cl_session(shared_sb)


@pytest.fixture(autouse=True)
def _fresh_process_state() -> None:
    """Overrides the suite-wide fixture of this name: the sandbox tests use no hook, pacer or
    token cache, so they need not import Airflow (which costs seconds)."""
