#!/usr/bin/env bash
# `make check-wheel`: install the built wheel (dist/) into a fresh virtualenv per Airflow release
# (from that release's lock, ci/locks/airflow-<release>.txt), import every public module, and check that Airflow lists the
# provider and both connection types without import errors.
# Usage: scripts/check_wheel.sh UV RELEASE...
set -euo pipefail

uv="$1"
shift
root="$(cd "$(dirname "$0")/.." && pwd)"
wheel="$(ls "$root"/dist/airflow_provider_inventory-*-py3-none-any.whl)"
modules="hooks.pack hooks.commercelayer operators.pack operators.commercelayer sensors.pack
  sensors.commercelayer triggers.pack triggers.commercelayer records exceptions"

for release in "$@"; do
  venv="$root/.matrix/wheel-$release"
  lock="$root/ci/locks/airflow-$release.txt"
  echo "==> $(basename "$wheel") on Airflow $release"
  rm -rf "$venv"
  "$uv" venv --quiet --python "${PYTHON:-python3}" "$venv"
  # Every dependency at its locked version, then the wheel; pip check proves the lock covers it.
  "$uv" pip install --quiet --python "$venv/bin/python" --no-deps -r "$lock"
  "$uv" pip install --quiet --python "$venv/bin/python" --no-deps "$wheel"
  "$uv" pip check --quiet --python "$venv/bin/python"
  home="$(mktemp -d)"
  (
    cd "$home"
    export AIRFLOW_HOME="$home"
    for module in $modules; do
      "$venv/bin/python" -c "import airflow_provider_inventory.$module" \
        || { echo "importing airflow_provider_inventory.$module failed" >&2; exit 1; }
    done
    "$venv/bin/python" -c "from airflow_provider_inventory.hooks._commercelayer_schema import api_schema; assert len(api_schema().resources) == 132" \
      || { echo "the bundled Commerce Layer schema is missing from the wheel" >&2; exit 1; }
    # Package data: the fleet budget's Lua script must ship in the wheel.
    "$venv/bin/python" -c "from airflow_provider_inventory._http.fleet import budget_script; assert 'redis.call' in budget_script()" \
      || { echo "the wheel lacks airflow_provider_inventory/_http/fleet.lua" >&2; exit 1; }
    "$venv/bin/airflow" providers list 2>/dev/null | grep -q "^airflow-provider-inventory " \
      || { echo "airflow providers list does not show the provider" >&2; exit 1; }
    hooks="$("$venv/bin/airflow" providers hooks 2>&1)"
    if grep -qi "error" <<<"$hooks"; then
      grep -i "error" <<<"$hooks" >&2
      exit 1
    fi
    for conn_type in pack commercelayer; do
      grep -q "^$conn_type .*airflow-provider-inventory" <<<"$hooks" \
        || { echo "airflow providers hooks does not show $conn_type" >&2; exit 1; }
    done
    echo "    $("$venv/bin/python" -c 'import airflow; print("airflow", airflow.__version__)' 2>/dev/null | tail -n 1):" \
      "modules import; providers list and hooks show the provider and both connection types"
  )
  rm -rf "$home"
done
