"""Shared HTTP mechanics for both hooks: session, retry policy, pacing, paging, errors.

Internal: hooks build on it, users import the hooks and the error classes (re-exported from
``airflow_provider_inventory.exceptions``).
"""
