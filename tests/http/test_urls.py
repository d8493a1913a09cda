"""URL checks read the way urllib3 sends: what is refused, what is not, and origins."""

from __future__ import annotations

import pytest

from airflow_provider_inventory._http.urls import (
    canonical_url,
    checked_url,
    origin_of,
    resolve_link,
    unsafe_reason,
)
from airflow_provider_inventory.exceptions import PaginationError

HOME = "https://api.pack.cloud/v1/organizations/org_1/serial-numbers?page=1"


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("https://evil.example\\@api.pack.cloud/v1/x", "backslash"),
        ("https://api.pack.cloud\\@evil.example/v1/x", "backslash"),
        ("https://user:pw@api.pack.cloud/v1/x", "user-info"),
        ("https://api.pack.cloud@evil.example/v1/x", "user-info"),
        ("https://api.pack.cloud%5C@evil.example/v1/x", "user-info"),
        ("https://api.pack .cloud/v1/x", "whitespace"),
        ("https://api.pack.cloud/v1/x\r\nX-Injected: 1", "control character"),
        ("https://api.pack.cloud:99999/v1/x", "cannot be parsed"),
        ("https://api.pack.cloud:44x/v1/x", "cannot be parsed"),
        ("https://[::1/v1/x", "cannot be parsed"),
        ("https://api.pack.clou%64/v1/x", "percent-escape"),
        ("https://[fe80::1%25eth0]/v1/x", "percent-escape"),
        ("https://b\u00fccher.example/v1/x", "read its host or port differently"),
        ("https://api.pack.cloud:0/v1/x", "port is 0"),
        ("ftp://api.pack.cloud/v1/x", "not an absolute http"),
        ("//api.pack.cloud/v1/x", "not an absolute http"),
        ("", "empty"),
    ],
)
def test_an_unsafe_url_is_refused_with_the_reason(url: str, problem: str) -> None:
    assert problem in (unsafe_reason(url) or "")
    with pytest.raises(PaginationError, match="nothing was requested"):
        checked_url(url)


@pytest.mark.parametrize(
    "url",
    [
        HOME,
        "https://API.Pack.Cloud/v1/x",
        "http://127.0.0.1:8080/api/packages?filter[q][code_eq]=A:1&page[size]=25",
        "http://[::1]:8080/api/packages",
        "https://api.pack.cloud/v1/x?q=two words&at=a@b",
        "https://api.pack.cloud/v1/x#frag@ment",
    ],
)
def test_ordinary_urls_pass(url: str) -> None:
    assert unsafe_reason(url) is None


def test_origins_make_default_ports_explicit_and_ignore_case() -> None:
    assert origin_of("https://API.pack.cloud/v1") == ("https", "api.pack.cloud", 443)
    assert origin_of("https://api.pack.cloud:443/x") == origin_of("https://api.pack.cloud/y")
    assert origin_of("http://[::1]:80/x") == ("http", "[::1]", 80)


@pytest.mark.parametrize(
    "link",
    [
        "http://[::1/next",
        "https://api.pack.cloud:65536/next",
        "https://evil.example\\@api.pack.cloud/next",
        "https://user@api.pack.cloud/next",
    ],
)
def test_a_malformed_or_ambiguous_link_is_a_pagination_error_naming_it(link: str) -> None:
    with pytest.raises(PaginationError) as caught:
        resolve_link(HOME, link)

    assert "user@" not in str(caught.value)
    assert "/next" in str(caught.value)


def test_canonical_urls_sort_the_query_and_refuse_what_is_unsafe() -> None:
    assert canonical_url("https://H/x?b=2&a=1") == canonical_url("https://h/x?a=1&b=2")
    with pytest.raises(PaginationError):
        canonical_url("https://h:99999/x")
