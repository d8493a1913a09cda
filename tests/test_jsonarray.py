"""The incremental JSON array reader behind export downloads."""

from __future__ import annotations

import gzip
import io
import json
import re

import pytest

from airflow_provider_inventory._jsonarray import JsonArrayError, iter_json_objects

RECORDS = [
    {"id": str(i), "name": "é€😀" * (i % 7), "n": i, "nested": {"a": [1, None]}} for i in range(300)
]


@pytest.mark.parametrize("chunk", [1, 3, 7, 64, 65536])
def test_any_chunking_yields_every_object_in_order(chunk: int) -> None:
    data = json.dumps(RECORDS, indent=1).encode()
    assert list(iter_json_objects(io.BytesIO(data), chunk_chars=chunk)) == RECORDS


def test_from_a_gzip_stream_and_empty_arrays() -> None:
    with gzip.open(io.BytesIO(gzip.compress(json.dumps(RECORDS).encode()))) as stream:
        assert list(iter_json_objects(stream)) == RECORDS  # type: ignore[arg-type]
    assert list(iter_json_objects(io.BytesIO(b" \n[ ]\n"))) == []


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (json.dumps(RECORDS).encode()[:-30], "cut off"),
        (b"[", "cut off"),
        (b"", "cut off"),
        (b"{}", "does not start with '['"),
        (b"[1, 2]", "not an object"),
        (b'[{"a": 1} {"b": 2}]', "expected ',' or ']'"),
        (b'[{"a": NaN}]', "NaN"),
        (b'[{"a": 1}] trailing', "after the end of the array"),
        (b'[{"a": "\xff"}]', "not UTF-8"),
    ],
)
def test_anything_else_is_a_clear_error(data: bytes, problem: str) -> None:
    with pytest.raises(JsonArrayError, match=re.escape(problem)):
        list(iter_json_objects(io.BytesIO(data), chunk_chars=5))


def test_the_size_limit_counts_characters_read() -> None:
    data = json.dumps(RECORDS).encode()
    with pytest.raises(JsonArrayError, match="larger than the limit of 1000 characters"):
        list(iter_json_objects(io.BytesIO(data), max_chars=1000))
