"""Commerce Layer packages of one stock location, by XCom, and their volume per unit of length.

The listing asks Commerce Layer for a sparse fieldset (the dimensions only) with the stock
location included, filtered server-side on the stock location's code; ``select`` keeps the
fields the next task needs, including the included stock location's name. The result is small,
so it travels by XCom (the operator refuses more than ``max_xcom_records``; use ``output_path``
for large sets). A TaskFlow task then computes the package volume per unit of length.

Connection: ``commercelayer_default``. The default stock location code is one of the provider's
sandbox (``inventory-sandbox``); set ``stock_location_code`` to one of yours.
"""

from __future__ import annotations

import logging
from typing import Any

from airflow.sdk import Param, dag, task

from airflow_provider_inventory.operators.commercelayer import CommerceLayerPackagesOperator

log = logging.getLogger(__name__)

DIMENSIONS = ["length", "width", "height", "unit_of_length"]


@dag(
    dag_id="example_commercelayer_packages",
    schedule=None,
    params={
        "stock_location_code": Param(
            "milan_wh", type="string", minLength=1, description="Commerce Layer stock location code"
        )
    },
    tags=["example", "inventory", "commercelayer"],
    doc_md=__doc__,
)
def example_commercelayer_packages() -> None:
    """Packages of one stock location (sparse fields, stock location included) by XCom."""
    packages = CommerceLayerPackagesOperator(
        task_id="stock_location_packages",
        filters={"stock_location_code_eq": "{{ params.stock_location_code }}"},
        fields=["code", *DIMENSIONS],
        include=["stock_location"],
        select=["id", "code", *DIMENSIONS, "stock_location.name"],
    )

    @task
    def volume_per_unit(packages: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
        """Package count, total and average volume per unit of length (cm -> cm3, in -> in3).

        Args:
            packages: the listing task's records.

        Returns:
            ``{unit: {"packages", "total_volume", "average_volume", "volume_unit"}}``.
        """
        totals: dict[str, list[float]] = {}
        for package in packages:
            volume = package["length"] * package["width"] * package["height"]
            totals.setdefault(package["unit_of_length"], []).append(volume)
        result = {
            unit: {
                "packages": len(volumes),
                "total_volume": round(sum(volumes), 1),
                "average_volume": round(sum(volumes) / len(volumes), 1),
                "volume_unit": f"{unit}3",
            }
            for unit, volumes in sorted(totals.items())
        }
        log.info("Volume per unit of length: %s", result)
        return result

    volume_per_unit(packages.output)  # type: ignore[arg-type]


commercelayer_packages_dag = example_commercelayer_packages()

if __name__ == "__main__":
    commercelayer_packages_dag.test()
