"""Scenario 6: what importing our operator, sensor and trigger modules adds to DAG parsing.

Each module is imported in a fresh interpreter under ``python -X importtime`` after
``import airflow.sdk`` and the Airflow base class of its kind (``BaseOperator``,
``BaseSensorOperator``, ``airflow.triggers.base``), which every DAG using any operator, sensor or
deferrable task loads anyway. Its added cost is the cumulative time of its own top-level import
lines (the ``airflow_provider_inventory...`` lines at the top level, which include everything
they pull in that was not loaded yet), median of several runs, and the number of modules it
loads beyond that baseline (from the same ``-X importtime`` output). Targets: under
:data:`TARGET_MS` and under :data:`TARGET_MODULES` modules for every module.
``tests/test_parse_cost.py`` guards the module count (not the time) in the test suite.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
from collections import defaultdict
from dataclasses import dataclass, field

from benchmarks.harness import REPO_ROOT, BenchmarkError, RunOptions, ScenarioResult

NAME = "parse-cost"
TARGET_MS = 20.0
TARGET_MODULES = 10
BASE = "import airflow.sdk"
KIND_BASES = {
    "operators": f"{BASE}; from airflow.sdk import BaseOperator",
    "sensors": f"{BASE}; from airflow.sdk import BaseSensorOperator",
    "triggers": f"{BASE}; import airflow.triggers.base",
}
PROVIDER_PACKAGE = "airflow_provider_inventory"
MODULES = tuple(
    f"{PROVIDER_PACKAGE}.{kind}.{name}" for kind in KIND_BASES for name in ("pack", "commercelayer")
)
HEAVY_MODULE_MS = 2.0


@dataclass
class ImportProfile:
    """One ``-X importtime`` run, in milliseconds.

    Attributes:
        total_ms: the summed cumulative time of all top-level imports.
        provider_ms: the summed cumulative time of top-level imports of our package's modules.
        self_ms: each module's own (self) time.
    """

    total_ms: float = 0.0
    provider_ms: float = 0.0
    self_ms: dict[str, float] = field(default_factory=dict)


def parse_importtime(stderr: str) -> ImportProfile:
    """Parse ``-X importtime`` output (``import time: self [us] | cumulative | package``).

    Raises:
        BenchmarkError: the output has no import-time lines.
    """
    profile = ImportProfile()
    for line in stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        self_us, cumulative_us, name = line[len("import time:") :].split("|", 2)
        module = name.strip()
        profile.self_ms[module] = profile.self_ms.get(module, 0.0) + int(self_us) / 1000
        if name[1:].startswith(" "):  # nested: indented beyond the one space after '|'
            continue
        profile.total_ms += int(cumulative_us) / 1000
        if module.split(".")[0] == PROVIDER_PACKAGE:
            profile.provider_ms += int(cumulative_us) / 1000
    if not profile.self_ms:
        raise BenchmarkError(f"no -X importtime output; stderr was:\n{stderr[-2000:]}")
    return profile


def profile_imports(statement: str, env: dict[str, str]) -> ImportProfile:
    """Run ``statement`` in a fresh interpreter under ``-X importtime``.

    Raises:
        BenchmarkError: the statement failed.
    """
    finished = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", statement],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if finished.returncode != 0:
        tail = "\n".join(finished.stderr.splitlines()[-15:])
        raise BenchmarkError(f"`python -c {statement!r}` failed:\n{tail}")
    return parse_importtime(finished.stderr)


def kind_base(module: str) -> str:
    """The baseline statement of ``module``'s kind (operators, sensors, triggers)."""
    return KIND_BASES[module.split(".")[1]]


def run(options: RunOptions) -> ScenarioResult:
    """Profile each statement ``repeats`` times (after a warm-up run) and compare medians."""
    repeats = 1 if options.smoke else 7
    env = options.child_env({})
    statements = [BASE, *KIND_BASES.values()]
    statements += [f"{kind_base(module)}; import {module}" for module in MODULES]
    for statement in statements:  # warm-up: bytecode cache, page cache
        profile_imports(statement, env)
    profiles: dict[str, list[ImportProfile]] = defaultdict(list)
    for _ in range(repeats):  # interleaved, so load changes hit every statement alike
        for statement in statements:
            profiles[statement].append(profile_imports(statement, env))
    total = {s: statistics.median(p.total_ms for p in runs) for s, runs in profiles.items()}
    result = ScenarioResult(
        name=NAME,
        title="6. DAG parse cost: what our operator, sensor and trigger modules add",
        command=options.command(NAME),
        headers=[
            "Module",
            "Baseline (Airflow's base of its kind)",
            "Our top-level imports (ms)",
            "Modules added",
            "Heaviest added (self ms, median run)",
        ],
    )
    for kind, statement in KIND_BASES.items():
        base_modules = new_modules(median_run(profiles[statement]), median_run(profiles[BASE]))
        result.notes.append(
            f"Baseline of {kind}: `{statement}` loads {len(base_modules)} module(s) beyond "
            f"`{BASE}` ({', '.join(base_modules) or 'none'}); `{BASE}` alone takes "
            f"{total[BASE]:.0f} ms of top-level imports."
        )
    for module in MODULES:
        base = kind_base(module)
        runs = profiles[f"{base}; import {module}"]
        ours_ms = statistics.median(p.provider_ms for p in runs)
        middle = median_run(runs)
        added = new_modules(middle, median_run(profiles[base]))
        short = module.removeprefix(f"{PROVIDER_PACKAGE}.")
        result.rows.append(
            [
                f"`{short}`",
                f"`{base.removeprefix(BASE + '; ')}`",
                f"{ours_ms:.1f}",
                str(len(added)),
                heaviest_new_modules(middle, median_run(profiles[base])),
            ]
        )
        result.target(
            f"`{short}` adds under {TARGET_MS:g} ms and {TARGET_MODULES} modules",
            ours_ms < TARGET_MS and len(added) < TARGET_MODULES,
            f"{ours_ms:.1f} ms, {len(added)} modules: {', '.join(added)}",
            judged=not options.smoke,
        )
    result.notes.append(
        f"Median of {repeats} run(s) per statement after one warm-up run each, runs "
        "interleaved; bytecode cached (as in a deployed Airflow) under a scratch prefix."
    )
    return result


def new_modules(profile: ImportProfile, base: ImportProfile) -> list[str]:
    """The modules ``profile`` imported that ``base`` did not, sorted."""
    return sorted(module for module in profile.self_ms if module not in base.self_ms)


def median_run(runs: list[ImportProfile]) -> ImportProfile:
    """The run whose time for our modules is the median one (the upper median for even counts)."""
    return sorted(runs, key=lambda profile: profile.provider_ms)[len(runs) // 2]


def heaviest_new_modules(profile: ImportProfile, base: ImportProfile, top: int = 6) -> str:
    """The packages ``profile`` imports beyond ``base``, by summed self time (ms), heaviest first."""
    by_package: dict[str, float] = defaultdict(float)
    for module, ms in profile.self_ms.items():
        if module not in base.self_ms:
            by_package[".".join(module.split(".")[:2])] += ms
    heavy = sorted(by_package.items(), key=lambda item: item[1], reverse=True)[:top]
    return ", ".join(f"{name} {ms:.0f} ms" for name, ms in heavy if ms >= HEAVY_MODULE_MS) or "none"
