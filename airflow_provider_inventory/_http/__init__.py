"""Shared HTTP mechanics for both hooks: the one request loop (``client``, ``loop``, ``transport``),
URL checks (``urls``), auth objects (``auth``), pacing, paging, redaction and errors. Imports no
Airflow: hooks hand in what it needs from Airflow (the secrets masker) as callbacks.

Internal: hooks build on it, users import the hooks and the error classes (re-exported from
``airflow_provider_inventory.exceptions``).
"""
