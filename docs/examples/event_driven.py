from airflow.sdk import Asset, AssetWatcher, dag

from airflow_provider_inventory.triggers.commercelayer import CommerceLayerChangesTrigger

packages_changed = Asset(
    "commercelayer://yourdomain/packages",
    watchers=[
        AssetWatcher(
            name="packages_changed",
            trigger=CommerceLayerChangesTrigger(resource="packages", poll_interval=60),
        )
    ],
)


@dag(schedule=[packages_changed])
def on_package_change(): ...


on_package_change()
