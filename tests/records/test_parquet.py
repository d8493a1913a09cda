"""Parquet publishing: typed round trips of both APIs' records, row groups, atomicity, errors."""

from __future__ import annotations

import sys
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from airflow_provider_inventory.exceptions import BadResponseError, InventoryConfigError
from airflow_provider_inventory.operators.commercelayer import resource_columns
from airflow_provider_inventory.operators.pack import SERIAL_NUMBER_FIELDS, SERIAL_NUMBER_TYPES
from airflow_provider_inventory.records import (
    Column,
    RecordLayout,
    check_output_path,
    open_writer,
    output_format,
    read_records,
    write_jsonl,
    write_records,
)
from airflow_provider_inventory.records.columns import columns
from airflow_provider_inventory.records.parquet import ParquetWriter
from airflow_provider_inventory.sandbox import Sandbox

UTC_US = pa.timestamp("us", tz="UTC")
PACK_LAYOUT = RecordLayout(SERIAL_NUMBER_FIELDS, columns(*SERIAL_NUMBER_TYPES))


def leftovers(directory: Path) -> list[str]:
    return sorted(path.name for path in directory.rglob("*") if path.is_file())


def serial_numbers(count: int) -> Iterator[dict[str, Any]]:
    for number in range(count):
        yield {
            "id": f"sn_{number:08d}",
            "product_id": f"prod_{number % 97:05d}",
            "stock_id": None if number % 3 else f"stk_{number % 13}",
            "fulfillment_line_id": None if number % 2 else f"fl_{number}",
            "code": f"CODE-{number:08d}",
            "created_at": "2025-05-01T10:00:00.000Z",
            "updated_at": f"2025-05-{1 + number % 28:02d}T10:00:00.{number % 1000:03d}Z",
        }


def test_output_format_is_picked_by_the_name() -> None:
    assert output_format("x.parquet") == "parquet"
    assert output_format("X.PARQUET") == "parquet"
    assert output_format("x.jsonl.gz") == "jsonl.gz"
    assert output_format("x.jsonl") == "jsonl"


@pytest.mark.sandbox(seed=5, serial_numbers=300, packages=0, stock_locations=0)
def test_pack_records_round_trip_with_typed_columns(sandbox_env: Sandbox, tmp_path: Path) -> None:
    from airflow_provider_inventory.hooks.pack import PackHook

    with PackHook() as hook:
        manifest = write_records(
            hook.iter_serial_numbers(per_page=50), tmp_path / "sn.parquet", layout=PACK_LAYOUT
        )

    schema = pq.read_schema(tmp_path / "sn.parquet")
    assert [(f.name, f.type, f.nullable) for f in schema] == [
        ("id", pa.string(), False),
        ("product_id", pa.string(), False),
        ("stock_id", pa.string(), True),
        ("fulfillment_line_id", pa.string(), True),
        ("code", pa.string(), False),
        ("created_at", UTC_US, False),
        ("updated_at", UTC_US, False),
    ]
    assert manifest["format"] == "parquet"
    assert manifest["records"] == 300
    assert manifest["bytes"] == (tmp_path / "sn.parquet").stat().st_size
    assert list(read_records(manifest)) == sandbox_env.serial_numbers()


@pytest.mark.sandbox(seed=6, serial_numbers=0, packages=80, stock_locations=3)
def test_commercelayer_packages_round_trip_with_typed_columns(
    sandbox_env: Sandbox, tmp_path: Path
) -> None:
    from airflow_provider_inventory.hooks.commercelayer import CommerceLayerHook
    from airflow_provider_inventory.operators.commercelayer import flattened_fields

    include = ["stock_location"]
    declared = resource_columns("packages", include)
    layout = RecordLayout.of(declared, known=flattened_fields("packages", None, include))
    with CommerceLayerHook() as hook:
        records = list(hook.iter_resources("packages", include=include))
    manifest = write_records(records, tmp_path / "packages.parquet", layout=layout)

    types = {f.name: (f.type, f.nullable) for f in pq.read_schema(tmp_path / "packages.parquet")}
    assert types == {
        "id": (pa.string(), False),
        "type": (pa.string(), False),
        "name": (pa.string(), True),
        "code": (pa.string(), True),
        "length": (pa.float64(), True),
        "width": (pa.float64(), True),
        "height": (pa.float64(), True),
        "unit_of_length": (pa.string(), True),
        "reference": (pa.string(), True),
        "reference_origin": (pa.string(), True),
        "metadata": (pa.string(), True),
        "created_at": (UTC_US, False),
        "updated_at": (UTC_US, False),
        "meta": (pa.string(), True),
        "stock_location": (pa.string(), True),
        "stock_location_id": (pa.string(), True),
    }
    back = list(read_records(manifest))
    assert [r["id"] for r in back] == [r["id"] for r in records]
    for original, read in zip(records, back, strict=True):
        assert read == {name: original.get(name) for name in types}
    assert any(r["metadata"] for r in back)  # objects came back as objects, not JSON text
    assert isinstance(back[0]["stock_location"], dict)


def test_selected_fields_only_and_nested_values_as_json_text(tmp_path: Path) -> None:
    declared = resource_columns("packages", None)
    layout = RecordLayout.of(declared, selected=["id", "length", "metadata", "stock_location.name"])
    records = [
        {"id": "p1", "length": 40, "metadata": {"tier": [1, 2]}, "stock_location.name": "Milan"},
        {"id": "p2", "length": 12.5, "metadata": {}, "stock_location.name": None},
    ]

    write_records(records, tmp_path / "p.parquet", layout=layout)

    table = pq.read_table(tmp_path / "p.parquet")
    assert table.schema.names == ["id", "length", "metadata", "stock_location.name"]
    assert table.schema.field("length").type == pa.float64()
    assert table.column("metadata").to_pylist() == ['{"tier":[1,2]}', "{}"]
    assert list(read_records(tmp_path / "p.parquet")) == records


def test_undocumented_fields_are_inferred_from_the_first_row_group(tmp_path: Path) -> None:
    records = [
        {
            "id": f"s{n}",
            "number": n,
            "ratio": n / 2,
            "active": n % 2 == 0,
            "tags": ["a"],
            "label": "x",
            "nothing": None,
            "shipped_at": "2025-05-01T10:00:00Z",
            "mixed": n if n else "zero",
        }
        for n in range(4)
    ]

    write_records(records, tmp_path / "s.parquet")

    schema = pq.read_schema(tmp_path / "s.parquet")
    assert {f.name: f.type for f in schema} == {
        "id": pa.string(),
        "number": pa.int64(),
        "ratio": pa.float64(),
        "active": pa.bool_(),
        "tags": pa.string(),
        "label": pa.string(),
        "nothing": pa.string(),
        "shipped_at": UTC_US,
        "mixed": pa.string(),
    }
    back = list(read_records(tmp_path / "s.parquet"))
    assert back[0]["shipped_at"] == "2025-05-01T10:00:00.000Z"
    assert [r["mixed"] for r in back] == ["zero", 1, 2, 3]
    assert back[1]["tags"] == ["a"]


def test_timestamps_are_stored_in_utc_and_read_back_as_api_text(tmp_path: Path) -> None:
    layout = RecordLayout(("id", "updated_at"), columns(("updated_at", "timestamp")))
    records = [
        {"id": "a", "updated_at": "2025-05-01T12:00:00.250+02:00"},
        {"id": "b", "updated_at": "2025-05-01T10:00:00"},  # naive: UTC
        {"id": "c", "updated_at": None},
        {"id": "d", "updated_at": "2025-05-01T10:00:00.123456Z"},  # kept to the microsecond
    ]

    write_records(records, tmp_path / "t.parquet", layout=layout)

    values = pq.read_table(tmp_path / "t.parquet").column("updated_at").to_pylist()
    assert [v.isoformat() if v else None for v in values] == [
        "2025-05-01T10:00:00.250000+00:00",
        "2025-05-01T10:00:00+00:00",
        None,
        "2025-05-01T10:00:00.123456+00:00",
    ]
    assert [r["updated_at"] for r in read_records(tmp_path / "t.parquet")] == [
        "2025-05-01T10:00:00.250Z",
        "2025-05-01T10:00:00.000Z",
        None,
        "2025-05-01T10:00:00.123456Z",
    ]


def test_row_groups_follow_the_buffer_and_memory_stays_flat(tmp_path: Path) -> None:
    target = tmp_path / "big.parquet"
    tracemalloc.start()
    try:
        with ParquetWriter(target, layout=PACK_LAYOUT, row_group_records=1_000) as writer:
            writer.write_many(serial_numbers(20_000))
            _, peak = tracemalloc.get_traced_memory()
            writer.commit()
    finally:
        tracemalloc.stop()

    metadata = pq.ParquetFile(target).metadata
    assert metadata.num_rows == 20_000
    assert metadata.num_row_groups == 20
    # 1,000 buffered records are well under 4 MiB; 20,000 held at once would be ~3x more.
    assert peak < 4 * 1024 * 1024
    assert sum(1 for _ in read_records(target)) == 20_000


def test_an_empty_set_writes_a_file_with_the_layout_columns(tmp_path: Path) -> None:
    manifest = write_records([], tmp_path / "none.parquet", layout=PACK_LAYOUT)

    assert manifest["records"] == 0
    assert pq.read_schema(tmp_path / "none.parquet").names == list(SERIAL_NUMBER_FIELDS)
    assert list(read_records(manifest)) == []


def test_a_failed_listing_leaves_no_file_and_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "out" / "sn.parquet"

    def failing() -> Iterator[dict[str, Any]]:
        yield from serial_numbers(2_500)
        raise RuntimeError("listing failed on page 26")

    with (
        pytest.raises(RuntimeError, match="page 26"),
        ParquetWriter(target, layout=PACK_LAYOUT, row_group_records=1_000) as writer,
    ):
        writer.write_many(failing())

    assert leftovers(tmp_path) == []


def test_a_previous_file_survives_a_failed_rewrite(tmp_path: Path) -> None:
    target = tmp_path / "sn.parquet"
    write_records(serial_numbers(10), target, layout=PACK_LAYOUT)
    before = target.read_bytes()

    with pytest.raises(BadResponseError, match=r"Record 3 \(id 'sn_00000002'\) has no code"):
        write_records(
            ({**r, "code": None} if r["id"] == "sn_00000002" else r for r in serial_numbers(10)),
            target,
            layout=PACK_LAYOUT,
        )

    assert target.read_bytes() == before
    assert leftovers(tmp_path) == ["sn.parquet"]


@pytest.mark.parametrize(
    ("records", "message"),
    [
        ([{"n": 1}, {"n": 2.5}], r"Record 2: n=2.5 does not fit the int64 column"),
        ([{"n": 1.5}, {"n": "7"}], r"Record 2: n='7' does not fit the float64 column"),
        ([{"n": True}, {"n": 1}], r"Record 2: n=1 does not fit the bool column"),
    ],
)
def test_values_that_do_not_fit_their_column_are_named(
    tmp_path: Path, records: list[dict[str, Any]], message: str
) -> None:
    with (
        pytest.raises(ValueError, match=message),
        ParquetWriter(tmp_path / "x.parquet", row_group_records=1) as writer,
    ):
        writer.write_many(records)

    assert leftovers(tmp_path) == []


def test_a_bad_timestamp_is_a_bad_response_naming_the_field(tmp_path: Path) -> None:
    layout = RecordLayout(("id", "updated_at"), columns(("updated_at", "timestamp")))

    with pytest.raises(BadResponseError, match="updated_at is 'soon'"):
        write_records([{"id": "a", "updated_at": "soon"}], tmp_path / "x.parquet", layout=layout)


def test_a_field_the_first_row_group_lacked_is_refused(tmp_path: Path) -> None:
    with (
        pytest.raises(ValueError, match=r"Record 3 has a field 'late'.*select="),
        ParquetWriter(tmp_path / "x.parquet", row_group_records=2) as writer,
    ):
        writer.write_many([{"id": "1"}, {"id": "2"}, {"id": "3", "late": 1}])


def test_undocumented_keys_are_kept_unless_select_named_the_fields(tmp_path: Path) -> None:
    records = [{**r, "warehouse_id": "wh_1"} for r in serial_numbers(3)]

    write_records(records, tmp_path / "all.parquet", layout=PACK_LAYOUT)
    selected = RecordLayout.of(PACK_LAYOUT.declared, selected=["id", "code"])
    write_records(records, tmp_path / "selected.parquet", layout=selected)

    assert pq.read_schema(tmp_path / "all.parquet").names == [
        *SERIAL_NUMBER_FIELDS,
        "warehouse_id",
    ]
    assert list(read_records(tmp_path / "all.parquet")) == records
    assert pq.read_schema(tmp_path / "selected.parquet").names == ["id", "code"]


def test_integral_floats_fit_int64_and_numbers_fit_declared_strings(tmp_path: Path) -> None:
    layout = RecordLayout(
        ("id", "count"), {"id": Column("id", "string"), "count": Column("count", "int64")}
    )

    write_records([{"id": 7, "count": 2.0}], tmp_path / "x.parquet", layout=layout)

    assert list(read_records(tmp_path / "x.parquet")) == [{"id": "7", "count": 2}]


def test_parquet_reads_back_what_jsonl_reads_back(tmp_path: Path) -> None:
    write_jsonl(serial_numbers(500), tmp_path / "sn.jsonl.gz")
    write_records(serial_numbers(500), tmp_path / "sn.parquet", layout=PACK_LAYOUT)

    assert list(read_records(tmp_path / "sn.parquet")) == list(
        read_records(tmp_path / "sn.jsonl.gz")
    )


def test_memory_filesystem(memory_root: str) -> None:
    manifest = write_records(serial_numbers(30), f"{memory_root}/x/sn.parquet", layout=PACK_LAYOUT)

    assert manifest["path"] == f"{memory_root}/x/sn.parquet"
    assert list(read_records(manifest)) == list(serial_numbers(30))


# ---------------------------------------------------------------------- without pyarrow


@pytest.fixture
def without_pyarrow(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make ``import pyarrow`` fail, as in an environment without the extra."""
    for name in list(sys.modules):
        if name == "pyarrow" or name.startswith("pyarrow."):
            monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.setitem(sys.modules, "pyarrow", None)


@pytest.mark.usefixtures("without_pyarrow")
def test_without_pyarrow_parquet_names_the_extra(tmp_path: Path) -> None:
    install = r"pip install 'airflow-provider-inventory\[parquet\]'"
    with pytest.raises(InventoryConfigError, match=rf"output_path=.*x\.parquet.*{install}"):
        check_output_path(tmp_path / "x.parquet")
    with pytest.raises(InventoryConfigError, match=install):
        open_writer(tmp_path / "x.parquet")
    with pytest.raises(InventoryConfigError, match=rf"read_records source.*{install}"):
        read_records(tmp_path / "x.parquet")

    assert write_records([{"id": "1"}], tmp_path / "x.jsonl")["format"] == "jsonl"
    assert leftovers(tmp_path) == ["x.jsonl"]


# ---------------------------------------------------------------------- schemes


def skip_if_installed(package: str) -> None:
    """Skip when the provider that would register the scheme is installed here."""
    from importlib.metadata import PackageNotFoundError, distribution

    if not package.startswith("apache-"):
        return
    try:
        distribution(package)
    except PackageNotFoundError:
        return
    pytest.skip(f"{package} is installed, so its scheme has a filesystem")


@pytest.mark.parametrize(
    ("path", "package"),
    [
        ("s3://aws_default@bucket/x.jsonl", "apache-airflow-providers-amazon"),
        ("gs://bucket/x.parquet", "apache-airflow-providers-google"),
        ("gcs://bucket/x.parquet", "apache-airflow-providers-google"),
        ("abfs://container/x.jsonl", "apache-airflow-providers-microsoft-azure"),
        ("az://container/x.jsonl", "apache-airflow-providers-microsoft-azure"),
        ("foo://bucket/x.jsonl", "an fsspec implementation / provider that registers the scheme"),
    ],
)
def test_unknown_schemes_name_output_path_and_the_package(path: str, package: str) -> None:
    skip_if_installed(package)
    scheme = path.partition(":")[0]

    with pytest.raises(InventoryConfigError) as raised:
        check_output_path(path)

    message = str(raised.value)
    assert message.startswith("output_path=")
    assert f"'{scheme}' scheme" in message
    assert package in message
