"""Sensors that wait for inventory data, in poke, reschedule or deferrable mode.

- :class:`airflow_provider_inventory.sensors.pack.PackSerialNumberSensor`
- :class:`airflow_provider_inventory.sensors.commercelayer.CommerceLayerResourceSensor` and
  :class:`~airflow_provider_inventory.sensors.commercelayer.CommerceLayerPackageSensor`
- :class:`airflow_provider_inventory.sensors.base.InventorySensor`: the base both build on.

Import them from their modules: this package imports nothing.
"""
