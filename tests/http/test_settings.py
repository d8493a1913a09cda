"""Connection extras: typed reading with errors that name the connection, the field and the fix."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_inventory._http.settings import (
    ExtraReader,
    HttpSettings,
    RateLimit,
    check_transport_security,
    is_loopback_host,
    split_host_url,
)
from airflow_provider_inventory.exceptions import InventoryConfigError


def _reader(**extra: Any) -> ExtraReader:
    return ExtraReader(extra, "pack_default")


def _error(call: Any) -> str:
    with pytest.raises(InventoryConfigError) as caught:
        call()
    return str(caught.value)


def test_every_error_names_the_connection_the_field_and_where_to_fix_it() -> None:
    message = _error(lambda: _reader(read_timeout="soon").number("read_timeout", 60))

    assert message.startswith("Connection 'pack_default': extra field 'read_timeout' ")
    assert "must be a number, got 'soon'" in message
    assert "Admin > Connections" in message
    assert "AIRFLOW_CONN_PACK_DEFAULT" in message


def test_an_invalid_extra_is_a_value_error() -> None:
    with pytest.raises(ValueError, match=r"organization_id"):
        _reader().required_string("organization_id")


@pytest.mark.parametrize(("value", "expected"), [(None, "dflt"), ("", "dflt"), ("  x ", "x")])
def test_string_fields(value: Any, expected: str) -> None:
    assert _reader(scope=value).string("scope", "dflt") == expected


def test_a_string_field_refuses_other_types() -> None:
    message = _error(lambda: _reader(scope=["market:id:1"]).string("scope"))

    assert "'scope' must be a string, got list" in message


@pytest.mark.parametrize("value", [None, "", "   "])
def test_a_required_string_must_be_present(value: Any) -> None:
    message = _error(lambda: _reader(organization_id=value).required_string("organization_id"))

    assert "'organization_id' is required but missing" in message


@pytest.mark.parametrize(
    ("value", "expected"), [(None, 60.0), ("", 60.0), (5, 5.0), (2.5, 2.5), ("0.25", 0.25)]
)
def test_number_fields(value: Any, expected: float) -> None:
    assert _reader(read_timeout=value).number("read_timeout", 60, minimum=0.001) == expected


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("fast", "must be a number, got 'fast'"),
        ([1], "must be a number, got [1]"),
        (True, "must be a finite number >= 0.001, got True"),
        (0, "must be a finite number >= 0.001, got 0"),
        (-3, "must be a finite number >= 0.001, got -3"),
        ("nan", "must be a finite number >= 0.001, got 'nan'"),
        ("inf", "must be a finite number >= 0.001, got 'inf'"),
    ],
)
def test_bad_numbers_are_refused(value: Any, problem: str) -> None:
    message = _error(lambda: _reader(read_timeout=value).number("read_timeout", 60, minimum=0.001))

    assert f"'read_timeout' {problem}" in message


@pytest.mark.parametrize(("value", "expected"), [(None, 6), ("", 6), (3, 3), ("4", 4), (" 5 ", 5)])
def test_integer_fields(value: Any, expected: int) -> None:
    assert _reader(max_attempts=value).integer("max_attempts", 6, minimum=1) == expected


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        (2.5, "must be a whole number, got 2.5"),
        ("three", "must be a whole number, got 'three'"),
        (True, "must be a whole number, got True"),
        (0, "must be a whole number >= 1, got 0"),
    ],
)
def test_bad_integers_are_refused(value: Any, problem: str) -> None:
    message = _error(lambda: _reader(max_attempts=value).integer("max_attempts", 6, minimum=1))

    assert f"'max_attempts' {problem}" in message


def test_an_absent_optional_integer_is_none() -> None:
    assert _reader().optional_integer("max_pages", minimum=1) is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, False),
        (True, True),
        ("true", True),
        ("Yes", True),
        ("1", True),
        (1, True),
        ("on", True),
        ("FALSE", False),
        ("no", False),
        (0, False),
        ("off", False),
    ],
)
def test_boolean_fields(value: Any, expected: bool) -> None:
    assert _reader(allow_insecure_http=value).boolean("allow_insecure_http", False) is expected


def test_a_bad_boolean_is_refused() -> None:
    message = _error(
        lambda: _reader(allow_insecure_http="maybe").boolean("allow_insecure_http", False)
    )

    assert "'allow_insecure_http' must be true or false, got 'maybe'" in message


def test_rate_limits_are_read_from_a_count_and_an_interval() -> None:
    assert _reader().rate_limit("rate_limit_average", "rate_limit_interval", 60) is None
    assert _reader(rate_limit_average=100).rate_limit(
        "rate_limit_average", "rate_limit_interval", 60
    ) == RateLimit(100, 60)
    assert _reader(rate_limit_burst="25", rate_limit_burst_interval="10").rate_limit(
        "rate_limit_burst", "rate_limit_burst_interval", 10
    ) == RateLimit(25, 10)


def test_a_bad_rate_limit_names_its_field() -> None:
    message = _error(
        lambda: _reader(rate_limit_average=100, rate_limit_interval=0).rate_limit(
            "rate_limit_average", "rate_limit_interval", 60
        )
    )

    assert "'rate_limit_interval' must be a finite number >= 0.001" in message


def test_http_settings_default_to_the_documented_values() -> None:
    assert HttpSettings.from_extra({}, "pack_default") == HttpSettings(
        connect_timeout=10,
        read_timeout=60,
        request_timeout=300,
        max_response_bytes=64 * 1024 * 1024,
        max_attempts=6,
        backoff_factor=0.5,
        backoff_max=30,
        max_retry_wait=120,
        allow_insecure_http=False,
        max_pages=None,
    )


def test_http_settings_read_every_field_from_the_extra() -> None:
    extra = {
        "connect_timeout": "3",
        "read_timeout": 20,
        "request_timeout": "45",
        "max_response_bytes": 1_000_000,
        "max_attempts": "2",
        "backoff_factor": 0,
        "backoff_max": "4",
        "max_retry_wait": 9.5,
        "allow_insecure_http": "true",
        "max_pages": 40,
        "organization_id": "org_1",  # other fields are left to the hooks
    }

    assert HttpSettings.from_extra(extra, "pack_default") == HttpSettings(
        connect_timeout=3,
        read_timeout=20,
        request_timeout=45,
        max_response_bytes=1_000_000,
        max_attempts=2,
        backoff_factor=0,
        backoff_max=4,
        max_retry_wait=9.5,
        allow_insecure_http=True,
        max_pages=40,
    )


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("connect_timeout", 0),
        ("read_timeout", "slow"),
        ("request_timeout", 0),
        ("max_response_bytes", 100),
        ("max_response_bytes", "64MiB"),
        ("max_attempts", 0),
        ("backoff_factor", -1),
        ("backoff_max", "nan"),
        ("max_retry_wait", -0.5),
        ("allow_insecure_http", "sometimes"),
        ("max_pages", 0),
    ],
)
def test_http_settings_refuse_a_bad_field_by_name(field: str, value: Any) -> None:
    message = _error(lambda: HttpSettings.from_extra({field: value}, "commercelayer_default"))

    assert f"Connection 'commercelayer_default': extra field '{field}'" in message


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("localhost", True),
        ("LOCALHOST", True),
        ("127.0.0.1", True),
        ("127.255.0.9", True),
        ("::1", True),
        ("[::1]", True),
        ("10.0.0.1", False),
        ("192.168.1.1", False),
        ("localhost.example.com", False),
        ("api.pack.cloud", False),
        ("", False),
        (None, False),
    ],
)
def test_loopback_hosts(host: str | None, loopback: bool) -> None:
    assert is_loopback_host(host) is loopback


@pytest.mark.parametrize(
    ("host", "port", "expected"),
    [
        ("api.example.com", None, ("https", "api.example.com", "")),
        ("https://api.example.com/", None, ("https", "api.example.com", "")),
        ("http://127.0.0.1/v1/", 8765, ("http", "127.0.0.1:8765", "/v1")),
        ("http://127.0.0.1:9000", 8765, ("http", "127.0.0.1:9000", "")),
        ("  acme.example.com/api  ", None, ("https", "acme.example.com", "/api")),
    ],
)
def test_split_host_url_assumes_https_adds_the_port_and_drops_the_trailing_slash(
    host: str, port: int | None, expected: tuple[str, str, str]
) -> None:
    assert split_host_url(host, port) == expected


def test_an_empty_string_can_be_a_choice_rather_than_absence() -> None:
    reader = _reader(auth_scheme="", other=None)

    assert reader.string("auth_scheme", "Bearer") == "Bearer"
    assert reader.string("auth_scheme", "Bearer", empty_means_default=False) == ""
    assert reader.string("other", "Bearer", empty_means_default=False) == "Bearer"


@pytest.mark.parametrize("value", [0, -1, True, 1.0, "3", None])
def test_whole_number_refuses_what_is_not_an_int_at_least_the_minimum(value: Any) -> None:
    from airflow_provider_inventory._arguments import whole_number
    from airflow_provider_inventory.exceptions import InventoryConfigError

    with pytest.raises(InventoryConfigError, match=r"^size must be a whole number >= 1, got "):
        whole_number("size", value)
    assert whole_number("size", 3) == 3
    assert whole_number("size", 0, minimum=0) == 0


@pytest.mark.parametrize("host", ["https://[::1", "api.pack.cloud:99999", "api.pack.cloud:8x"])
def test_a_host_that_cannot_be_parsed_is_a_config_error(host: str) -> None:
    with pytest.raises(InventoryConfigError, match="host field"):
        split_host_url(host, None)


def test_a_url_that_cannot_be_parsed_fails_the_transport_check_by_field() -> None:
    with pytest.raises(InventoryConfigError, match="Connection 'x': extra field 'auth_url'"):
        check_transport_security(
            "https://[::1/token", HttpSettings(), "x", "extra field 'auth_url'"
        )
