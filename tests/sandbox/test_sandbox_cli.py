"""``python -m airflow_provider_inventory.sandbox``: the export lines, serving, SIGTERM."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time

import pytest
import requests

from airflow_provider_inventory.sandbox.__main__ import build_parser


def read_lines(process: subprocess.Popen[str], count: int, timeout: float) -> list[str]:
    """The first ``count`` stdout lines, read on a helper thread so a hang cannot block."""
    assert process.stdout is not None
    stdout = process.stdout
    lines: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        for line in stdout:
            lines.put(line.rstrip("\n"))

    threading.Thread(target=pump, daemon=True).start()
    deadline = time.monotonic() + timeout
    got: list[str] = []
    while len(got) < count:
        try:
            got.append(lines.get(timeout=max(0.01, deadline - time.monotonic())))
        except queue.Empty:
            raise AssertionError(f"only got {got!r} from the sandbox") from None
    return got


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT])
def test_cli_prints_exports_serves_and_stops(stop_signal: signal.Signals) -> None:
    command = [sys.executable, "-m", "airflow_provider_inventory.sandbox", "--port", "0"]
    command += ["--seed", "3", "--serial-numbers", "40", "--pack-links", "path"]
    command += ["--pack-body", "wrapped", "--rate-limit", "100/25", "--latency", "0"]
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(os.environ)
    )
    try:
        lines = read_lines(process, 3, timeout=30)
        url_line, pack_line, cl_line = lines
        assert url_line.startswith("export INVENTORY_SANDBOX_URL=http://127.0.0.1:")
        url = url_line.split("=", 1)[1]
        prefix = "export AIRFLOW_CONN_PACK_DEFAULT='"
        assert pack_line.startswith(prefix)
        assert pack_line.endswith("'")
        pack = json.loads(pack_line[len(prefix) : -1])
        assert pack["conn_type"] == "pack"
        assert pack["host"] == url
        prefix = "export AIRFLOW_CONN_COMMERCELAYER_DEFAULT='"
        assert cl_line.startswith(prefix)
        commercelayer = json.loads(cl_line[len(prefix) : -1])
        assert commercelayer["extra"]["auth_url"] == f"{url}/oauth/token"

        script = (
            "\n".join(lines) + '\necho "$INVENTORY_SANDBOX_URL"; echo "$AIRFLOW_CONN_PACK_DEFAULT"'
        )
        evaluated = subprocess.run(
            ["bash", "-c", script], capture_output=True, text=True, timeout=10, check=True
        ).stdout.splitlines()
        assert evaluated[0] == url
        assert json.loads(evaluated[1]) == pack

        response = requests.get(
            f"{url}/v1/organizations/{pack['extra']['organization_id']}/serial-numbers",
            headers={"Authorization": f"Bearer {pack['password']}"},
            params={"per_page": 30},
            timeout=5,
        )
        body = response.json()
        assert len(body["data"]) == 30
        assert body["links"]["next"].startswith("/v1/")

        process.send_signal(stop_signal)
        started = time.monotonic()
        assert process.wait(timeout=5) == 0
        assert time.monotonic() - started < 1.0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        assert process.stderr is not None
        process.stderr.close()


def test_parser_rate_limit_format() -> None:
    args = build_parser().parse_args(["--rate-limit", "200/50", "--token-lifetime", "60"])
    assert args.rate_limit == (200, 50)
    assert args.token_lifetime == 60
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--rate-limit", "200"])
