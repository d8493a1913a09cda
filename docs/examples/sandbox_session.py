import os

from airflow_provider_inventory.hooks.pack import PackHook
from airflow_provider_inventory.sandbox import Sandbox


def list_through_two_failures() -> list[str]:
    with Sandbox(serial_numbers=300, seed=0) as sb:
        os.environ.update(sb.connection_env())  # both AIRFLOW_CONN_* variables
        sb.inject("status", status=503, times=2)  # the next two API requests fail
        with PackHook() as hook:  # pack_default, pointing at the sandbox
            codes = [record["code"] for record in hook.iter_serial_numbers()]
        # Retried, nothing lost or repeated: exactly the sandbox's serial numbers.
        assert sorted(codes) == sorted(record["code"] for record in sb.serial_numbers())
        return codes
