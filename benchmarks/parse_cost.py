"""Scenario 6: what importing our operator modules adds to DAG parsing.

Each operator module is imported right after ``import airflow.sdk`` in a fresh interpreter under
``python -X importtime``. Its added cost is the cumulative time of its own top-level import lines
(the ``airflow_provider_inventory...`` lines at the top level, which include everything they
pull in that ``airflow.sdk`` had not loaded yet), median of several runs. As a cross-check the
table also shows the difference of the summed top-level times against ``import airflow.sdk``
alone, which is noisier (two independent totals of several seconds). A second variant imports
``BaseOperator`` and ``BaseHook`` from ``airflow.sdk`` first: ``airflow.sdk`` loads them lazily,
so any DAG with any operator pays for them, and what remains is our modules' own cost.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
from collections import defaultdict
from dataclasses import dataclass, field

from benchmarks.harness import REPO_ROOT, BenchmarkError, RunOptions, ScenarioResult

NAME = "parse-cost"
TARGET_MS = 50.0
BASE = "import airflow.sdk"
AIRFLOW_BASES = "import airflow.sdk; from airflow.sdk import BaseOperator, BaseHook"
PROVIDER_PACKAGE = "airflow_provider_inventory"
MODULES = (
    "airflow_provider_inventory.operators.pack",
    "airflow_provider_inventory.operators.commercelayer",
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


def run(options: RunOptions) -> ScenarioResult:
    """Profile each statement ``repeats`` times (after a warm-up run) and compare medians."""
    repeats = 1 if options.smoke else 7
    env = options.child_env({})
    statements = [BASE, AIRFLOW_BASES]
    for module in MODULES:
        statements += [f"{BASE}; import {module}", f"{AIRFLOW_BASES}; import {module}"]
    for statement in statements:  # warm-up: bytecode cache, page cache
        profile_imports(statement, env)
    profiles: dict[str, list[ImportProfile]] = defaultdict(list)
    for _ in range(repeats):  # interleaved, so load changes hit every statement alike
        for statement in statements:
            profiles[statement].append(profile_imports(statement, env))
    total = {s: statistics.median(p.total_ms for p in runs) for s, runs in profiles.items()}
    provider = {s: statistics.median(p.provider_ms for p in runs) for s, runs in profiles.items()}
    result = ScenarioResult(
        name=NAME,
        title="6. DAG parse cost: import time added by our operator modules",
        command=options.command(NAME),
        headers=[
            "Statement",
            "All top-level imports (ms)",
            "Difference to `import airflow.sdk` (ms)",
            "Our modules' top-level imports (ms)",
        ],
    )
    for statement in statements:
        result.rows.append(
            [
                f"`{statement}`",
                f"{total[statement]:.0f}",
                f"{total[statement] - total[BASE]:+.0f}" if statement != BASE else "",
                f"{provider[statement]:.0f}" if provider[statement] else "",
            ]
        )
    for module in MODULES:
        after_sdk = f"{BASE}; import {module}"
        after_bases = f"{AIRFLOW_BASES}; import {module}"
        heavy = heaviest_new_modules(median_run(profiles[after_sdk]), median_run(profiles[BASE]))
        result.target(
            f"`{module.rsplit('.', 1)[1]}` adds under {TARGET_MS:g} ms over `{BASE}`",
            provider[after_sdk] < TARGET_MS,
            f"{provider[after_sdk]:.0f} ms, {provider[after_bases]:.0f} ms once Airflow's own "
            f"BaseOperator/BaseHook are loaded; modules it loads that `{BASE}` does not, by "
            f"self time in the median run: {heavy}",
            judged=not options.smoke,
        )
    result.notes.append(
        f"Median of {repeats} run(s) per statement after one warm-up run each, runs "
        "interleaved; bytecode cached (as in a deployed Airflow) under a scratch prefix."
    )
    return result


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
