"""Operators: list Pack serial numbers and Commerce Layer resources, filter, project, publish.

- :class:`~airflow_provider_inventory.operators.pack.PackSerialNumbersOperator`
- :class:`~airflow_provider_inventory.operators.commercelayer.CommerceLayerListOperator`,
  :class:`~airflow_provider_inventory.operators.commercelayer.CommerceLayerPackagesOperator`,
  :class:`~airflow_provider_inventory.operators.commercelayer.CommerceLayerPartitionPlanOperator`

Import them from their modules: this package imports nothing, so a DAG file pays only for the
operator it uses.
"""
