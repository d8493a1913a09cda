"""Print the record count and location of every JSONL file a demo run wrote."""

from __future__ import annotations

import sys
from pathlib import Path

from airflow_provider_inventory.records import read_records


def main(output_dir: str) -> int:
    """Summarise the files under ``output_dir``; fail if the run wrote none."""
    files = sorted(p for p in Path(output_dir).rglob("*") if p.is_file() and ".jsonl" in p.name)
    if not files:
        print(f"No output files under {output_dir}: the DAG wrote nothing.", file=sys.stderr)
        return 1
    for path in files:
        count = sum(1 for _ in read_records(str(path)))
        print(f"  {count:>6} records  {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
