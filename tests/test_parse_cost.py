"""DAG files are parsed constantly: operator, sensor and trigger modules must stay cheap to import.

Each module is imported in a fresh interpreter after ``import airflow.sdk`` and the Airflow base
class of its kind (``BaseOperator``, ``BaseSensorOperator`` or ``BaseTrigger``; every DAG that uses
any operator, sensor or deferrable task loads those anyway). The test guards what the module adds:
fewer than :data:`MAX_NEW_MODULES` modules, and never the hooks, ``requests`` or ``urllib3``,
which load only when a task runs. Import times are measured in ``benchmarks/parse_cost.py``.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

MAX_NEW_MODULES = 10
AIRFLOW_BASES = {
    "operators": "from airflow.sdk import BaseOperator",
    "sensors": "from airflow.sdk import BaseSensorOperator",
    "triggers": "import airflow.triggers.base",
}
MODULES = [
    f"airflow_provider_inventory.{kind}.{name}"
    for kind, names in {
        "operators": ("base", "pack", "commercelayer"),
        "sensors": ("base", "pack", "commercelayer"),
        "triggers": ("polling", "changes", "pack", "commercelayer"),
    }.items()
    for name in names
]
FORBIDDEN_PREFIXES = ("requests", "urllib3", "airflow_provider_inventory.hooks")

# One interpreter loads Airflow's SDK once, then forks a child per module: each child loads the
# base class of its module's kind, notes sys.modules, imports the module and reports the new ones.
PROBE = """
import json, os, sys
import airflow.sdk
import airflow_provider_inventory
bases = json.loads(sys.argv[1])
results = {}
for module, base in bases.items():
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read_end)
        exec(base)
        before = set(sys.modules)
        __import__(module)
        os.write(write_end, json.dumps(sorted(set(sys.modules) - before)).encode())
        os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end) as pipe:
        results[module] = json.loads(pipe.read() or "null")
    os.waitpid(pid, 0)
print(json.dumps(results))
"""


@pytest.fixture(scope="module")
def loaded_by_module() -> dict[str, list[str]]:
    """Module -> the modules importing it loads beyond Airflow's SDK and its kind's base class."""
    bases = {module: AIRFLOW_BASES[module.split(".")[1]] for module in MODULES}
    finished = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(bases)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert finished.returncode == 0, finished.stderr[-2000:]
    results: dict[str, list[str]] = json.loads(finished.stdout.strip().splitlines()[-1])
    return results


@pytest.mark.parametrize("module", MODULES)
def test_module_import_stays_small(module: str, loaded_by_module: dict[str, list[str]]) -> None:
    loaded = loaded_by_module[module]
    assert loaded is not None, f"importing {module} failed"

    heavy = [name for name in loaded if name.startswith(FORBIDDEN_PREFIXES)]
    assert heavy == [], f"{module} loads {heavy} at import; import them where they are used"
    assert len(loaded) < MAX_NEW_MODULES, f"{module} loads {len(loaded)} modules: {loaded}"


# A DAG file builds its operators and sensors, not only imports them: building them must not
# read the Commerce Layer API schema either (it is read when a task runs).
DEFINE_TASKS = """
import json, sys
from airflow_provider_inventory.operators.commercelayer import (
    CommerceLayerListOperator, CommerceLayerPartitionPlanOperator,
)
from airflow_provider_inventory.sensors.commercelayer import CommerceLayerResourceSensor
CommerceLayerListOperator(
    task_id="list", resource="stock_items", filters={"sku_code_in": ["A"]}, sort="-quantity",
    fields=["quantity"], include=["sku"], output_path="/tmp/x.parquet",
)
CommerceLayerPartitionPlanOperator(task_id="plan", resource="shipments", partitions=4)
CommerceLayerResourceSensor(task_id="sense", resource="packages", filters={"code_eq": "A"})
print(json.dumps(sorted(m for m in sys.modules if m.startswith("airflow_provider_inventory"))))
"""


def test_defining_commercelayer_tasks_does_not_load_the_api_schema() -> None:
    finished = subprocess.run(
        [sys.executable, "-c", DEFINE_TASKS],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert finished.returncode == 0, finished.stderr[-2000:]
    loaded = json.loads(finished.stdout.strip().splitlines()[-1])
    assert "airflow_provider_inventory.operators.commercelayer" in loaded
    assert not [name for name in loaded if name.startswith("airflow_provider_inventory.hooks")]
