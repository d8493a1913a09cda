"""Triggers for deferrable sensors and event-driven scheduling.

- :mod:`airflow_provider_inventory.triggers.pack`: ``PackSerialNumberTrigger`` (deferral) and
  ``PackSerialNumberChangesTrigger`` (asset watcher).
- :mod:`airflow_provider_inventory.triggers.commercelayer`: ``CommerceLayerResourceTrigger``
  (deferral) and ``CommerceLayerChangesTrigger`` (asset watcher).
- :mod:`airflow_provider_inventory.triggers.base`: the shared polling and watermark machinery,
  and :class:`~airflow_provider_inventory.triggers.base.ChangeBatch`, which a DAG scheduled on a
  watched asset uses to fetch exactly the records of one change event.
"""
