"""One "task process" for the parallel Pack listing test: ``python -m tests.hooks.pack_worker P``.

It builds a ``PackHook`` from the ``AIRFLOW_CONN_PACK_DEFAULT`` it inherited, prints ``READY``,
waits for a line on stdin (so that every process starts at once, after its imports), lists the
serial numbers of the products in ``P`` (JSON: products, max_workers, per_page) and prints
``RESULT {json}`` with the ids.
"""

from __future__ import annotations

import json
import sys


def main(argv: list[str]) -> int:
    """List the products' serial numbers in parallel and report the ids."""
    params = json.loads(argv[1])
    from airflow_provider_inventory.hooks.pack import PackHook

    hook = PackHook()
    hook.client  # noqa: B018 - reads the connection and the host settings before the start
    print("READY", flush=True)
    sys.stdin.readline()
    with hook:
        stream = hook.iter_serial_numbers(
            product_id=params["products"],
            per_page=params["per_page"],
            max_workers=params["max_workers"],
        )
        ids = [record["id"] for record in stream]
    print("RESULT " + json.dumps({"ids": ids}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
