"""OpenLineage facets, asset naming and file formats of the listing operators, against the sandbox."""

from __future__ import annotations

import sys
import warnings
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from airflow.sdk import Asset

from airflow_provider_inventory.assets import (
    DatasetName,
    commercelayer_dataset,
    commercelayer_slug,
    convert_asset_to_openlineage,
    create_commercelayer_asset,
    create_pack_asset,
    file_dataset,
    normalize_commercelayer_uri,
    normalize_pack_uri,
    pack_dataset,
)
from airflow_provider_inventory.exceptions import BadResponseError, InventoryConfigError
from airflow_provider_inventory.operators.commercelayer import (
    CommerceLayerListOperator,
    CommerceLayerPackagesOperator,
)
from airflow_provider_inventory.operators.pack import (
    SERIAL_NUMBER_FIELDS,
    PackSerialNumbersOperator,
)
from airflow_provider_inventory.records import read_records, storage_path
from airflow_provider_inventory.sandbox import Sandbox

pytestmark = pytest.mark.sandbox(serial_numbers=150, packages=60, stock_locations=3)

SN_KINDS = [
    ("id", "string"),
    ("product_id", "string"),
    ("stock_id", "string"),
    ("fulfillment_line_id", "string"),
    ("code", "string"),
    ("created_at", "timestamp"),
    ("updated_at", "timestamp"),
]


def api_requests(sb: Sandbox) -> list[Any]:
    return [r for r in sb.requests if r.api in ("pack", "commercelayer", "oauth")]


def files_in(directory: Path) -> list[str]:
    return sorted(path.name for path in directory.rglob("*") if path.is_file())


def sandbox_slug(sb: Sandbox) -> str:
    return urlsplit(sb.url).netloc


def schema_of(dataset: Any) -> list[tuple[str, str | None]]:
    return [(field.name, field.type) for field in dataset.facets["schema"].fields]


def statistics(dataset: Any) -> tuple[int, int]:
    """``(rows, bytes)`` of an output dataset, after checking it serialises as events do."""
    from openlineage.client.serde import Serde

    assert Serde.to_dict(dataset)["outputFacets"]["outputStatistics"]["fileCount"] == 1
    stats = dataset.outputFacets["outputStatistics"]
    return stats.rowCount, stats.size


# ---------------------------------------------------------------------- Pack


@pytest.mark.parametrize("name", ["serials.jsonl", "serials.jsonl.gz", "serials.parquet"])
def test_pack_lineage_for_each_format(
    sandbox_env: Sandbox, context: dict[str, Any], tmp_path: Path, name: str
) -> None:
    target = tmp_path / "out" / name
    task = PackSerialNumbersOperator(task_id="sn", output_path=str(target), per_page=40)

    manifest = task.execute(context)
    lineage = task.get_openlineage_facets_on_complete(None)

    (source,) = lineage.inputs
    assert (source.namespace, source.name) == (
        f"pack://{sandbox_env.organization_id}",
        "serial-numbers",
    )
    assert [field.name for field in source.facets["schema"].fields] == list(SERIAL_NUMBER_FIELDS)
    (output,) = lineage.outputs
    assert (output.namespace, output.name) == ("file", str(target))
    assert schema_of(output) == SN_KINDS
    assert statistics(output) == (150, target.stat().st_size)
    assert manifest["records"] == 150
    assert manifest["bytes"] == target.stat().st_size
    assert list(read_records(manifest)) == sandbox_env.serial_numbers()


def test_pack_lineage_after_select(
    sandbox_env: Sandbox, context: dict[str, Any], tmp_path: Path
) -> None:
    target = tmp_path / "shipped.parquet"
    task = PackSerialNumbersOperator(
        task_id="sn",
        output_path=str(target),
        where={"fulfillment_line_id": None},
        select=["code", "updated_at"],
    )

    manifest = task.execute(context)
    lineage = task.get_openlineage_facets_on_complete(None)

    kept = [r for r in sandbox_env.serial_numbers() if r["fulfillment_line_id"] is None]
    (output,) = lineage.outputs
    assert schema_of(output) == [("code", "string"), ("updated_at", "timestamp")]
    assert statistics(output) == (len(kept), manifest["bytes"])
    schema = pq.read_schema(target)
    assert schema.names == ["code", "updated_at"]
    assert schema.field("updated_at").type == pa.timestamp("us", tz="UTC")
    assert list(read_records(manifest)) == [
        {"code": r["code"], "updated_at": r["updated_at"]} for r in kept
    ]


def test_xcom_listing_reports_the_api_input_only(
    sandbox_env: Sandbox, context: dict[str, Any]
) -> None:
    task = PackSerialNumbersOperator(task_id="sn")

    task.execute(context)
    lineage = task.get_openlineage_facets_on_complete(None)

    assert [(d.namespace, d.name) for d in lineage.inputs] == [
        (f"pack://{sandbox_env.organization_id}", "serial-numbers")
    ]
    assert lineage.outputs == []


def test_the_openlineage_providers_extractor_reads_the_facets(
    sandbox_env: Sandbox, context: dict[str, Any], tmp_path: Path
) -> None:
    from airflow.providers.openlineage.extractors.base import DefaultExtractor

    task = PackSerialNumbersOperator(task_id="sn", output_path=str(tmp_path / "s.parquet"))
    task.execute(context)

    extracted = DefaultExtractor(task).extract_on_complete(None)

    assert extracted is not None
    assert [d.name for d in extracted.inputs] == ["serial-numbers"]
    assert [d.name for d in extracted.outputs] == [str(tmp_path / "s.parquet")]


# ---------------------------------------------------------------------- Commerce Layer


@pytest.mark.parametrize("name", ["packages.jsonl", "packages.parquet"])
def test_packages_lineage_for_each_format(
    sandbox_env: Sandbox, context: dict[str, Any], tmp_path: Path, name: str
) -> None:
    target = tmp_path / name
    task = CommerceLayerPackagesOperator(
        task_id="packages",
        output_path=str(target),
        include=["stock_location"],
        select=["id", "code", "length", "metadata", "stock_location_id", "updated_at"],
    )

    manifest = task.execute(context)
    lineage = task.get_openlineage_facets_on_complete(None)

    (source,) = lineage.inputs
    assert (source.namespace, source.name) == (
        f"commercelayer://{sandbox_slug(sandbox_env)}",
        "packages",
    )
    (output,) = lineage.outputs
    assert (output.namespace, output.name) == ("file", str(target))
    assert schema_of(output) == [
        ("id", "string"),
        ("code", "string"),
        ("length", "float64"),
        ("metadata", "json"),
        ("stock_location_id", "string"),
        ("updated_at", "timestamp"),
    ]
    assert statistics(output) == (60, target.stat().st_size)
    by_id = {p["id"]: p for p in sandbox_env.packages()}
    records = list(read_records(manifest))
    assert sorted(r["id"] for r in records) == sorted(by_id)
    for record in records:
        expected = by_id[record["id"]]
        assert record == {key: expected[key] for key in record}


def test_other_resources_take_their_columns_from_the_api_schema(
    sandbox_env: Sandbox, context: dict[str, Any], tmp_path: Path
) -> None:
    target = tmp_path / "locations.parquet"
    task = CommerceLayerListOperator(
        task_id="locations", resource="stock_locations", output_path=str(target)
    )

    manifest = task.execute(context)
    lineage = task.get_openlineage_facets_on_complete(None)

    kinds = dict(schema_of(lineage.outputs[0]))
    assert kinds["id"] == "string"
    assert kinds["suppress_etd"] == "bool"
    assert kinds["label_format"] == "string"
    assert kinds["metadata"] == "json"
    assert kinds["updated_at"] == "timestamp"
    assert lineage.inputs[0].name == "stock_locations"
    # The source's fields and types come from the bundled API schema, before any record.
    source = dict(schema_of(lineage.inputs[0]))
    assert source["suppress_etd"] == "bool"
    assert source["number"] == "int64"
    assert source["created_at"] == "timestamp"
    types = {f.name: f.type for f in pq.read_schema(target)}
    assert types["suppress_etd"] == pa.bool_()
    assert types["created_at"] == pa.timestamp("us", tz="UTC")
    assert manifest["records"] == len(sandbox_env.stock_locations())
    for record in read_records(manifest):
        original = next(loc for loc in sandbox_env.stock_locations() if loc["id"] == record["id"])
        assert {key: record[key] for key in original} == original


def test_jsonl_lineage_of_an_open_layout_lists_the_keys_seen(
    sandbox_env: Sandbox, context: dict[str, Any], tmp_path: Path
) -> None:
    task = CommerceLayerListOperator(  # without the schema the fields are known once seen
        task_id="locations",
        resource="stock_locations",
        output_path=str(tmp_path / "l.jsonl"),
        schema_checks=False,
    )

    task.execute(context)
    fields = dict(schema_of(task.get_openlineage_facets_on_complete(None).outputs[0]))

    assert set(fields) == set(sandbox_env.stock_locations()[0])
    assert fields["updated_at"] == "timestamp"
    assert fields["suppress_etd"] is None  # undocumented, and JSON Lines does not type it


# ---------------------------------------------------------------------- guards


def test_without_openlineage_the_method_returns_none(
    sandbox_env: Sandbox, context: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    task = PackSerialNumbersOperator(task_id="sn")
    task.execute(context)
    monkeypatch.setitem(sys.modules, "airflow.providers.openlineage.extractors", None)

    assert task.get_openlineage_facets_on_complete(None) is None


def test_a_task_that_did_not_finish_reports_nothing(
    sandbox_env: Sandbox, context: dict[str, Any], tmp_path: Path
) -> None:
    task = PackSerialNumbersOperator(task_id="sn", output_path=str(tmp_path / "s.parquet"))
    sandbox_env.inject("status", status=404, after=1)

    with pytest.raises(Exception, match="HTTP 404"):
        task.execute(context)

    assert task.get_openlineage_facets_on_complete(None) is None
    assert files_in(tmp_path) == []


def test_parquet_listing_failing_midway_leaves_nothing_behind(
    sandbox_env: Sandbox, context: dict[str, Any], tmp_path: Path
) -> None:
    target = tmp_path / "serials.parquet"
    first = PackSerialNumbersOperator(task_id="sn", output_path=str(target), per_page=10)
    first.execute(context)
    before = target.read_bytes()
    sandbox_env.inject("malformed_json", after=7)

    with pytest.raises(BadResponseError, match="not valid JSON"):
        PackSerialNumbersOperator(task_id="sn", output_path=str(target), per_page=10).execute(
            context
        )

    assert target.read_bytes() == before
    assert files_in(tmp_path) == ["serials.parquet"]


def test_missing_parquet_extra_fails_before_any_request(
    sandbox_env: Sandbox, context: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in [n for n in sys.modules if n == "pyarrow" or n.startswith("pyarrow.")]:
        monkeypatch.setitem(sys.modules, name, None)

    for task in (
        PackSerialNumbersOperator(task_id="sn", output_path=str(tmp_path / "s.parquet")),
        CommerceLayerPackagesOperator(task_id="p", output_path=str(tmp_path / "p.parquet")),
    ):
        with pytest.raises(
            InventoryConfigError, match=r"pip install 'airflow-provider-inventory\[parquet\]'"
        ):
            task.execute(context)

    assert api_requests(sandbox_env) == []
    assert files_in(tmp_path) == []


@pytest.mark.parametrize(
    ("output_path", "package"),
    [
        ("foo://bucket/x.jsonl", "an fsspec implementation / provider that registers the scheme"),
        ("s3://aws_default@bucket/x.jsonl", "apache-airflow-providers-amazon"),
        ("gs://bucket/x.parquet", "apache-airflow-providers-google"),
    ],
)
def test_unknown_scheme_fails_before_any_request(
    sandbox_env: Sandbox, context: dict[str, Any], output_path: str, package: str
) -> None:
    from tests.records.test_parquet import skip_if_installed

    skip_if_installed(package)
    for task in (
        PackSerialNumbersOperator(task_id="sn", output_path=output_path),
        CommerceLayerPackagesOperator(task_id="p", output_path=output_path),
    ):
        with pytest.raises(InventoryConfigError, match=r"^output_path=") as raised:
            task.execute(context)
        assert package in str(raised.value)

    assert api_requests(sandbox_env) == []


@pytest.mark.parametrize("name", ["serials.jsonl", "serials.parquet"])
def test_outlet_asset_event_keeps_records_and_path(
    sandbox_env: Sandbox, context: dict[str, Any], tmp_path: Path, name: str
) -> None:
    asset = Asset(name="serials", uri=pack_dataset(sandbox_env.organization_id).uri)

    manifest = PackSerialNumbersOperator(
        task_id="sn", output_path=str(tmp_path / name), outlets=[asset]
    ).execute(context)

    assert context["outlet_events"][asset].extra == {"records": 150, "path": manifest["path"]}


# ---------------------------------------------------------------------- naming


def test_asset_uris_and_lineage_names_agree(sandbox_env: Sandbox, context: dict[str, Any]) -> None:
    """An Asset built from the lineage name normalises to itself and converts back to it."""
    pack = PackSerialNumbersOperator(task_id="sn")
    pack.execute(context)
    packages = CommerceLayerPackagesOperator(task_id="p")
    packages.execute(context)

    for task in (pack, packages):
        (source,) = task.get_openlineage_facets_on_complete(None).inputs
        name = DatasetName(source.namespace, source.name)
        asset = Asset(uri=name.uri)
        assert asset.uri == name.uri
        converted = convert_asset_to_openlineage(asset, None)
        assert (converted.namespace, converted.name) == (source.namespace, source.name)


def test_factories_build_the_same_assets() -> None:
    assert create_pack_asset(organization_id="org_1").uri == "pack://org_1/serial-numbers"
    assert create_pack_asset(organization_id="org_1", resource="stocks").uri == (
        "pack://org_1/stocks"
    )
    assert (
        create_commercelayer_asset(slug="Acme", resource="packages").uri
        == "commercelayer://acme/packages"
    )
    assert commercelayer_dataset("acme", "skus") == DatasetName("commercelayer://acme", "skus")


def test_provider_info_registers_the_handlers() -> None:
    try:
        from airflow.sdk.providers_manager_runtime import ProvidersManagerTaskRuntime
    except ImportError:  # before Airflow 3.3 the core ProvidersManager holds them
        from airflow.providers_manager import ProvidersManager as ProvidersManagerTaskRuntime

    manager = ProvidersManagerTaskRuntime()
    assert manager.asset_uri_handlers["pack"] is normalize_pack_uri
    assert manager.asset_uri_handlers["commercelayer"] is normalize_commercelayer_uri
    assert manager.asset_to_openlineage_converters["pack"] is convert_asset_to_openlineage
    assert manager.asset_factories["commercelayer"] is create_commercelayer_asset


def test_provider_info_matches_airflows_schema() -> None:
    import json
    from importlib.resources import files

    import jsonschema

    from airflow_provider_inventory import get_provider_info

    schema = json.loads(files("airflow").joinpath("provider_info.schema.json").read_text())
    jsonschema.validate(get_provider_info(), schema)


@pytest.mark.parametrize(
    ("uri", "normalized"),
    [
        ("pack://org_1/serial-numbers", "pack://org_1/serial-numbers"),
        ("PACK://Org_1/serial-numbers/", "pack://Org_1/serial-numbers"),
        ("pack://org_1/products", "pack://org_1/products"),
        ("pack://org_1/product-warehouses", "pack://org_1/product-warehouses"),
        ("commercelayer://ACME/Packages", "commercelayer://acme/packages"),
        (
            "commercelayer://127.0.0.1:8080/stock_locations",
            "commercelayer://127.0.0.1:8080/stock_locations",
        ),
    ],
)
def test_asset_uris_are_normalised(uri: str, normalized: str) -> None:
    assert Asset(uri=uri).uri == normalized


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        ("pack://org_1", "pack://org_1/serial-numbers"),
        ("pack://org_1/orders", "pack://org_1/serial-numbers, with one of"),
        ("pack://serial-numbers/shipped", "pack://serial-numbers/serial-numbers"),
        ("commercelayer://packages", "commercelayer://packages/{resource}"),
        ("commercelayer://acme/packages/shipped", "one resource name"),
        ("commercelayer://acme/packages?x=1", "without a query"),
    ],
)
def test_malformed_asset_uris_are_refused(uri: str, message: str) -> None:
    with pytest.raises(
        ValueError, match=message.replace("{", r"\{").replace("}", r"\}").replace("?", r"\?")
    ):
        Asset(uri=uri)


def test_user_info_never_stays_in_an_asset_uri() -> None:
    # Airflow 3.3 hands the user-info to the normalizer, which refuses it; older releases drop it
    # themselves (with a warning) before the normalizer sees the URI. Either way it never stays.
    refused, uri = "", None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            uri = Asset(uri="commercelayer://user@acme/packages").uri
        except ValueError as error:
            refused = str(error)
    if uri is None:
        assert "got host 'user@acme'" in refused
    else:
        assert uri == "commercelayer://acme/packages"
        assert any("auth info" in str(warning.message) for warning in caught)


@pytest.mark.parametrize(
    ("api_url", "slug"),
    [
        ("https://acme.commercelayer.io/api", "acme"),
        ("https://ACME.commercelayer.io", "acme"),
        ("http://127.0.0.1:41234/api", "127.0.0.1:41234"),
        ("https://proxy.example.com/api", "proxy.example.com"),
    ],
)
def test_commercelayer_slug(api_url: str, slug: str) -> None:
    assert commercelayer_slug(api_url) == slug


@pytest.mark.parametrize(
    ("path", "namespace", "name"),
    [
        ("file:///data/x.parquet", "file", "/data/x.parquet"),
        ("s3://aws_default@bucket/inventory/x.jsonl.gz", "s3://bucket", "inventory/x.jsonl.gz"),
        ("gs://bucket/x.parquet", "gs://bucket", "x.parquet"),
    ],
)
def test_file_datasets_follow_the_openlineage_naming(path: str, namespace: str, name: str) -> None:
    assert file_dataset(storage_path(path)) == DatasetName(namespace, name)
