"""How the provider names its data: asset URIs, OpenLineage datasets, and their conversions.

One naming for both Airflow assets and OpenLineage (see the OpenLineage dataset naming spec:
a namespace identifying the source, a name unique within it):

- a Pack resource: ``pack://{organization_id}/{resource}`` (namespace
  ``pack://{organization_id}``, name ``{resource}``: ``serial-numbers``, ``products``,
  ``fulfillments``...);
- a Commerce Layer resource: ``commercelayer://{slug}/{resource}`` (namespace
  ``commercelayer://{slug}``, name ``{resource}``, e.g. ``packages``). The slug is the first label
  of ``{slug}.commercelayer.io``; for any other API host (a proxy, the sandbox) it is the host
  (and port) itself;
- an output file: the OpenLineage names of object storage (namespace ``s3://{bucket}`` /
  ``gs://{bucket}`` / ``file``, name the key or, for local files, the absolute path), as
  ``ObjectStoragePath`` and the common.io provider give them.

Airflow finds :func:`normalize_pack_uri`, :func:`normalize_commercelayer_uri`,
:func:`convert_asset_to_openlineage` and the factories through the ``asset-uris`` entry of
``get_provider_info``. Nothing here imports Airflow or OpenLineage at module level.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import SplitResult, urlsplit

if TYPE_CHECKING:
    from airflow.sdk import Asset, ObjectStoragePath

PACK_SCHEME = "pack"
COMMERCELAYER_SCHEME = "commercelayer"
PACK_SERIAL_NUMBERS = "serial-numbers"
COMMERCELAYER_DOMAIN = ".commercelayer.io"

_RESOURCE = re.compile(r"[a-z][a-z0-9_]*")
_AUTHORITY = re.compile(r"[A-Za-z0-9][A-Za-z0-9._~-]*(:[0-9]{1,5})?")


@dataclass(frozen=True)
class DatasetName:
    """An OpenLineage dataset identity; :attr:`uri` is the matching Airflow asset URI.

    Attributes:
        namespace: where the dataset lives (``pack://org_1``, ``s3://bucket``, ``file``).
        name: the dataset within the namespace (``serial-numbers``, ``exports/x.parquet``).
    """

    namespace: str
    name: str

    @property
    def uri(self) -> str:
        """``{namespace}/{name}`` (a file's absolute path already starts with ``/``)."""
        if self.namespace == "file":
            return f"file://{self.name}"
        return f"{self.namespace}/{self.name.lstrip('/')}"


def pack_dataset(organization_id: str, resource: str = PACK_SERIAL_NUMBERS) -> DatasetName:
    """One resource (``serial-numbers`` by default, ``products``...) of one Pack organization."""
    return DatasetName(f"{PACK_SCHEME}://{organization_id}", resource)


def commercelayer_dataset(slug: str, resource: str) -> DatasetName:
    """One resource (``packages``, ``skus``...) of one Commerce Layer organization."""
    return DatasetName(f"{COMMERCELAYER_SCHEME}://{slug.lower()}", resource.lower())


def commercelayer_slug(api_url: str) -> str:
    """The organization slug of a Commerce Layer API URL (``https://acme.commercelayer.io/api``
    -> ``acme``); for another host, the host and port (``127.0.0.1:41234``)."""
    parts = urlsplit(api_url)
    host = (parts.hostname or "").lower()
    if host.endswith(COMMERCELAYER_DOMAIN) and host != COMMERCELAYER_DOMAIN.lstrip("."):
        return host[: -len(COMMERCELAYER_DOMAIN)].split(".")[0]
    return f"{host}:{parts.port}" if parts.port else host


def file_dataset(path: ObjectStoragePath) -> DatasetName:
    """The OpenLineage name of a file: ``file`` + absolute path, or ``{scheme}://{bucket}`` + key."""
    if path.protocol in ("", "file", "local"):
        return DatasetName("file", "/" + path.key.lstrip("/"))
    # Older ObjectStoragePath releases keep the connection id in the namespace (s3://conn@bucket).
    scheme, _, bucket = path.namespace.partition("://")
    return DatasetName(f"{scheme}://{bucket.rsplit('@', 1)[-1]}", path.key)


# ---------------------------------------------------------------------- asset URIs


def normalize_pack_uri(parts: SplitResult) -> SplitResult:
    """Check a ``pack://{organization_id}/{resource}`` asset URI (Airflow's asset-uris handler).

    Args:
        parts: the URI as Airflow split it (scheme lower-cased, trailing slashes removed).

    Returns:
        The same parts (organization ids are case-sensitive, so nothing is rewritten).

    Raises:
        ValueError: the URI does not name one documented resource (``serial-numbers``,
            ``products``...) of one organization.
    """
    from airflow_provider_inventory.hooks._pack_resources import RESOURCE_NAMES

    organization = _authority(parts, "pack://{organization_id}/{resource}")
    if parts.path.removeprefix("/") not in RESOURCE_NAMES:
        org = organization or "{organization_id}"
        raise ValueError(
            f"A Pack asset URI is pack://{org}/{{resource}}, e.g. pack://{org}/"
            f"{PACK_SERIAL_NUMBERS}, with one of {', '.join(RESOURCE_NAMES)}; got path "
            f"{parts.path!r}."
        )
    return parts


def normalize_commercelayer_uri(parts: SplitResult) -> SplitResult:
    """Check and normalise ``commercelayer://{slug}/{resource}`` (Airflow's asset-uris handler).

    Slugs (host names) and resource names are case-insensitive, so both are lower-cased.

    Raises:
        ValueError: the URI does not name one resource of one organization.
    """
    slug = _authority(parts, "commercelayer://{slug}/{resource}").lower()
    resource = parts.path.lstrip("/").lower()
    if not _RESOURCE.fullmatch(resource):
        raise ValueError(
            f"A Commerce Layer asset URI is commercelayer://{slug}/{{resource}} with one "
            f"resource name such as 'packages'; got path {parts.path!r}."
        )
    return parts._replace(netloc=slug, path=f"/{resource}")


def _authority(parts: SplitResult, form: str) -> str:
    if not parts.netloc or not _AUTHORITY.fullmatch(parts.netloc):
        raise ValueError(f"An asset URI of this provider is {form}; got host {parts.netloc!r}.")
    if parts.query:
        raise ValueError(f"An asset URI of this provider is {form}, without a query.")
    return parts.netloc


def dataset_of_uri(uri: str) -> DatasetName:
    """The OpenLineage dataset of a normalised ``pack://`` or ``commercelayer://`` URI."""
    parts = urlsplit(uri)
    return DatasetName(f"{parts.scheme}://{parts.netloc}", parts.path.lstrip("/"))


def convert_asset_to_openlineage(asset: Asset, lineage_context: Any) -> Any:
    """An OpenLineage ``Dataset`` for a ``pack://`` or ``commercelayer://`` asset.

    Registered as the asset-uris ``to_openlineage_converter``; called by the OpenLineage provider
    with the asset's normalised URI.
    """
    from airflow.providers.common.compat.openlineage.facet import Dataset

    dataset = dataset_of_uri(asset.uri)
    return Dataset(namespace=dataset.namespace, name=dataset.name)


def create_pack_asset(
    *,
    organization_id: str,
    resource: str = PACK_SERIAL_NUMBERS,
    extra: Mapping[str, Any] | None = None,
) -> Asset:
    """The asset of one Pack organization's resource, serial numbers by default (asset-uris
    ``factory``)."""
    from airflow_provider_inventory._compat import Asset

    return Asset(uri=pack_dataset(organization_id, resource).uri, extra=dict(extra or {}))


def create_commercelayer_asset(
    *, slug: str, resource: str, extra: Mapping[str, Any] | None = None
) -> Asset:
    """The asset of one Commerce Layer resource (asset-uris ``factory``)."""
    from airflow_provider_inventory._compat import Asset

    return Asset(uri=commercelayer_dataset(slug, resource).uri, extra=dict(extra or {}))


# ---------------------------------------------------------------------- OpenLineage facets


@dataclass(frozen=True)
class LineageFacts:
    """What a finished listing task reports to OpenLineage; small values only.

    Attributes:
        source: the API dataset read.
        output: the file written, or ``None`` when the records went to XCom.
        records: records published.
        size: bytes of the file as stored (``None`` without a file).
        fields: ``(name, kind)`` of each field written (after ``select``); kind is ``None``
            when not known (JSON Lines fields the API does not document).
        source_fields: the fields the API returns for this listing, if known.
        source_kinds: the documented kind of source fields, by name (e.g. from Commerce
            Layer's API schema); fields without one are reported without a type.
    """

    source: DatasetName
    output: DatasetName | None
    records: int
    size: int | None
    fields: tuple[tuple[str, str | None], ...]
    source_fields: tuple[str, ...] | None = None
    source_kinds: Mapping[str, str] = field(default_factory=dict)


def operator_lineage(facts: LineageFacts | None) -> Any:
    """The OpenLineage ``OperatorLineage`` for ``facts``, or ``None`` when the OpenLineage
    provider is not installed or there is nothing to report (the task did not finish)."""
    if facts is None:
        return None
    try:
        from airflow.providers.common.compat.openlineage.facet import (
            Dataset,
            OutputDataset,
            OutputStatisticsOutputDatasetFacet,
            SchemaDatasetFacet,
            SchemaDatasetFacetFields,
        )
        from airflow.providers.openlineage.extractors import OperatorLineage
    except ImportError:
        return None

    def schema(fields: Sequence[tuple[str, str | None]]) -> Any:
        return SchemaDatasetFacet(
            fields=[SchemaDatasetFacetFields(name=name, type=kind) for name, kind in fields]
        )

    source_facets = {}
    if facts.source_fields is not None:
        source_facets["schema"] = schema(
            [(name, facts.source_kinds.get(name)) for name in facts.source_fields]
        )
    inputs = [
        Dataset(namespace=facts.source.namespace, name=facts.source.name, facets=source_facets)
    ]
    outputs = []
    if facts.output is not None:
        outputs.append(
            OutputDataset(
                namespace=facts.output.namespace,
                name=facts.output.name,
                facets={"schema": schema(facts.fields)},
                outputFacets={
                    "outputStatistics": OutputStatisticsOutputDatasetFacet(
                        rowCount=facts.records, size=facts.size, fileCount=1
                    )
                },
            )
        )
    return OperatorLineage(inputs=inputs, outputs=outputs)
