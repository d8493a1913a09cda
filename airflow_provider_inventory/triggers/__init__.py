"""Triggers for deferrable sensors and event-driven scheduling.

- :mod:`airflow_provider_inventory.triggers.pack`: ``PackSerialNumberTrigger`` (deferral) and
  ``PackSerialNumberChangesTrigger`` (asset watcher).
- :mod:`airflow_provider_inventory.triggers.commercelayer`: ``CommerceLayerResourceTrigger``
  (deferral) and ``CommerceLayerChangesTrigger`` (asset watcher).
- :mod:`airflow_provider_inventory.triggers.polling`: the polling machinery of the deferral
  triggers, and what every trigger shares (running hooks in threads, argument checks).
- :mod:`airflow_provider_inventory.triggers.changes`: the watermark machinery of the asset
  watchers, and :class:`~airflow_provider_inventory.triggers.changes.ChangeBatch`, which a DAG
  scheduled on a watched asset uses to fetch exactly the records of one change event.
"""
