"""The one place that knows where each Airflow 3 release keeps what the provider uses.

Import Airflow's public classes from here, never from ``airflow.sdk`` directly, where the release
matters::

    from airflow_provider_inventory._compat import BaseHook, BaseSensorOperator, conf

Names resolve lazily, on first access, to the first location that exists (newest first), so
importing this module loads nothing of Airflow's beyond what ``airflow.sdk`` already loaded (it
reads ``airflow.__version__``) and a DAG file pays only for what it uses. Airflow releases
differ as follows (checked on 3.0.6, 3.1.8, 3.2.2 and 3.3.2):

========================== ======================================================================
name                        where, by release
========================== ======================================================================
``BaseHook``                ``airflow.sdk`` from 3.1; ``airflow.hooks.base`` in 3.0
``conf``                    ``airflow.sdk`` from 3.2; ``airflow.configuration`` before
``AirflowException``        ``airflow.sdk.exceptions`` from 3.1; ``airflow.exceptions`` in 3.0
``AirflowSensorTimeout``,   ``airflow.sdk.exceptions`` from 3.2; ``airflow.exceptions`` before
``TaskDeferred``, ...
``CronDataIntervalTimetable`` ``airflow.sdk`` from 3.2; ``airflow.timetables.interval`` before
``mask_secret``, ``redact`` ``airflow.sdk.log`` from 3.1; ``airflow.sdk.execution_time.secrets_masker``
``DagBag``                  ``airflow.dag_processing.dagbag`` from 3.1; ``airflow.models.dagbag``
``ObjectStoragePath``       same class, but universal-pathlib < 0.3 (Airflow 3.0/3.1) roots a
                            relative path at ``/`` and has no ``conn_id``: :func:`storage_path_of`
``get_hook_lineage_collector`` ``airflow.sdk.lineage`` from 3.2; ``airflow.lineage.hook`` before
the asset state store       asset watchers get one from 3.3 (:func:`asset_state_store_of`)
connection form fields      provider info from 3.2; hook class methods before
                            (:func:`install_legacy_connection_form`)
========================== ======================================================================

The provider supports Airflow >= :data:`MIN_AIRFLOW_VERSION`; :func:`check_airflow_version` refuses
older releases with one clear message.
"""

from __future__ import annotations

import importlib
import os
from typing import TYPE_CHECKING, Any

MIN_AIRFLOW_VERSION = (3, 0, 2)
"""The oldest Airflow release the whole test suite passes on (``make test-matrix`` tests it).

3.0.0 and 3.0.1 lack ``DAG.test()`` in the Task SDK, which the DAG-run tests need."""

ASSET_STATE_STORE_VERSION = (3, 3, 0)
"""The first Airflow release that gives asset watchers (event triggers) an asset state store."""

#: name -> candidate ``(module, attribute)`` locations, newest release first.
_LOCATIONS: dict[str, tuple[tuple[str, str], ...]] = {
    "BaseHook": (("airflow.sdk", "BaseHook"), ("airflow.hooks.base", "BaseHook")),
    "BaseOperator": (("airflow.sdk", "BaseOperator"),),
    "BaseSensorOperator": (("airflow.sdk", "BaseSensorOperator"),),
    "PokeReturnValue": (("airflow.sdk", "PokeReturnValue"),),
    "ObjectStoragePath": (("airflow.sdk", "ObjectStoragePath"),),
    "Asset": (("airflow.sdk", "Asset"),),
    "conf": (("airflow.sdk", "conf"), ("airflow.configuration", "conf")),
    **{
        name: (("airflow.sdk.exceptions", name), ("airflow.exceptions", name))
        for name in (
            "AirflowException",
            "AirflowRescheduleException",
            "AirflowSensorTimeout",
            "AirflowSkipException",
            "TaskDeferred",
        )
    },
    "CronDataIntervalTimetable": (
        ("airflow.sdk", "CronDataIntervalTimetable"),
        ("airflow.timetables.interval", "CronDataIntervalTimetable"),
    ),
    **{
        name: (("airflow.sdk.log", name), ("airflow.sdk.execution_time.secrets_masker", name))
        for name in ("mask_secret", "redact")
    },
    "get_hook_lineage_collector": (
        ("airflow.sdk.lineage", "get_hook_lineage_collector"),
        ("airflow.lineage.hook", "get_hook_lineage_collector"),
    ),
    "DagBag": (("airflow.dag_processing.dagbag", "DagBag"), ("airflow.models.dagbag", "DagBag")),
    "BaseTrigger": (("airflow.triggers.base", "BaseTrigger"),),
    "BaseEventTrigger": (("airflow.triggers.base", "BaseEventTrigger"),),
    "TriggerEvent": (("airflow.triggers.base", "TriggerEvent"),),
}

if TYPE_CHECKING:  # the newest release's locations, for type checkers
    from airflow.dag_processing.dagbag import DagBag
    from airflow.sdk import (
        Asset,
        BaseHook,
        BaseOperator,
        BaseSensorOperator,
        CronDataIntervalTimetable,
        ObjectStoragePath,
        PokeReturnValue,
        conf,
    )
    from airflow.sdk.exceptions import (
        AirflowException,
        AirflowRescheduleException,
        AirflowSensorTimeout,
        AirflowSkipException,
        TaskDeferred,
    )
    from airflow.sdk.lineage import get_hook_lineage_collector
    from airflow.sdk.log import mask_secret, redact
    from airflow.triggers.base import BaseEventTrigger, BaseTrigger, TriggerEvent


def _resolve(name: str) -> Any:
    """The first existing location of ``name``.

    Raises:
        ImportError: no location exists in the installed Airflow, naming the supported floor.
    """
    errors = []
    for module_name, attribute in _LOCATIONS[name]:
        try:
            return getattr(importlib.import_module(module_name), attribute)
        except (ImportError, AttributeError) as error:
            errors.append(f"{module_name}.{attribute}: {error}")
    raise ImportError(
        f"airflow-provider-inventory cannot find {name!r} in the installed Airflow "
        f"{airflow_version_text()} (needs Airflow >= {_dotted(MIN_AIRFLOW_VERSION)}); tried "
        + "; ".join(errors)
    )


def __getattr__(name: str) -> Any:
    if name not in _LOCATIONS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = _resolve(name)
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_LOCATIONS])


# ---------------------------------------------------------------------- versions


def _dotted(version: tuple[int, ...]) -> str:
    return ".".join(map(str, version))


def airflow_version_text() -> str:
    """The installed Airflow's version string (``"unknown"`` when it cannot be read)."""
    import airflow

    return str(getattr(airflow, "__version__", "unknown"))


def parse_version(text: str) -> tuple[int, ...]:
    """``"3.1.8"`` -> ``(3, 1, 8)``; pre-release and local parts are dropped (``"3.2.0rc1"`` ->
    ``(3, 2, 0)``); an unreadable version gives ``()``."""
    parts: list[int] = []
    for piece in text.split(".")[:3]:
        digits = ""
        for character in piece:
            if not character.isdigit():
                break
            digits += character
        if not digits:
            break
        parts.append(int(digits))
        if len(digits) < len(piece):
            break
    return tuple(parts)


def airflow_version() -> tuple[int, ...]:
    """The installed Airflow's version as a tuple (``()`` when unknown)."""
    return parse_version(airflow_version_text())


def airflow_at_least(minimum: tuple[int, ...]) -> bool:
    """Whether the installed Airflow is ``minimum`` or newer (an unknown version counts as new)."""
    installed = airflow_version()
    return not installed or installed >= minimum


def check_airflow_version() -> None:
    """Refuse an Airflow older than :data:`MIN_AIRFLOW_VERSION` with one clear message.

    Raises:
        RuntimeError: the installed Airflow is too old.
    """
    if not airflow_at_least(MIN_AIRFLOW_VERSION):
        raise RuntimeError(
            f"airflow-provider-inventory needs apache-airflow >= {_dotted(MIN_AIRFLOW_VERSION)}; "
            f"{airflow_version_text()} is installed. Upgrade Airflow."
        )


# ---------------------------------------------------------------------- features by release


def asset_state_store_of(trigger: object) -> Any:
    """The asset state store the triggerer gave ``trigger``, or ``None``.

    Airflow gives asset watchers a store from 3.3 (``BaseEventTrigger.asset_state_store``);
    older releases have no such attribute, and a trigger run by hand has ``None``.
    """
    return getattr(trigger, "asset_state_store", None)


def storage_path_of(text: str, conn_id: str | None = None) -> ObjectStoragePath:
    """``ObjectStoragePath(text, conn_id=conn_id)``, with a relative local path kept relative to
    the working directory (universal-pathlib < 0.3, used by Airflow 3.0/3.1, roots it at ``/``).
    """
    from airflow.sdk import ObjectStoragePath

    if "://" not in text and not text.startswith("/"):
        text = os.path.abspath(text)
    if conn_id is None:  # a conn_id=None argument would drop one given in the URL
        return ObjectStoragePath(text)
    return ObjectStoragePath(text, conn_id=conn_id)


def storage_conn_id(path: ObjectStoragePath) -> str | None:
    """The connection id of an ``ObjectStoragePath`` (``None``: none).

    Airflow 3.2+ has a ``conn_id`` attribute; 3.0/3.1 keep it in ``storage_options`` only.
    """
    conn_id = getattr(path, "conn_id", None)
    if conn_id is None:
        conn_id = (getattr(path, "storage_options", None) or {}).get("conn_id")
    return conn_id


DECLARATIVE_FORM_VERSION = (3, 2, 0)
"""The first Airflow release that builds connection forms from ``conn-fields`` in provider info."""

_WIDGET_TYPES = {"boolean": "BooleanField", "integer": "IntegerField"}


def install_legacy_connection_form(hook_class: type) -> None:
    """Give ``hook_class`` the form methods Airflow < 3.2 reads, built from ``get_provider_info()``.

    Airflow 3.2+ builds the connection form from the provider info (``conn-fields``,
    ``ui-field-behaviour``) and ignores these methods. Airflow 3.0 and 3.1 call
    ``get_connection_form_widgets`` and ``get_ui_field_behaviour`` on the hook class itself (its
    own ``__dict__``, so each hook class gets them); they need ``wtforms``, which the FAB
    provider brings, and without it Airflow shows the plain form for every provider.
    """
    conn_type = hook_class.__dict__.get("conn_type")
    if not conn_type or airflow_at_least(DECLARATIVE_FORM_VERSION):
        return
    from airflow_provider_inventory import get_provider_info

    config = next(
        (c for c in get_provider_info()["connection-types"] if c["connection-type"] == conn_type),
        None,
    )
    if config is None:
        return
    behaviour = config.get("ui-field-behaviour", {})
    fields: dict[str, Any] = config.get("conn-fields", {})

    def get_ui_field_behaviour(cls: type) -> dict[str, Any]:
        return {
            "hidden_fields": list(behaviour.get("hidden-fields", [])),
            "relabeling": dict(behaviour.get("relabeling", {})),
            "placeholders": dict(behaviour.get("placeholders", {})),
        }

    def get_connection_form_widgets(cls: type) -> dict[str, Any]:
        import wtforms
        from wtforms.validators import InputRequired, Optional

        widgets = {}
        for name, field in fields.items():
            kinds = field["schema"].get("type", "string")
            kinds = [kinds] if isinstance(kinds, str) else list(kinds)
            main = next((kind for kind in kinds if kind != "null"), "string")
            widget_class = getattr(wtforms, _WIDGET_TYPES.get(main, "StringField"))
            validator = Optional() if "null" in kinds else InputRequired()
            widgets[name] = widget_class(
                field["label"], description=field["description"], validators=[validator]
            )
        return widgets

    hook_class.get_ui_field_behaviour = classmethod(get_ui_field_behaviour)  # type: ignore[attr-defined]
    hook_class.get_connection_form_widgets = classmethod(get_connection_form_widgets)  # type: ignore[attr-defined]


def no_asset_state_store_reason() -> str:
    """Why a watcher has no asset state store, for the log line that says so."""
    needed = _dotted(ASSET_STATE_STORE_VERSION)
    if not airflow_at_least(ASSET_STATE_STORE_VERSION):
        return f"the asset state store needs Airflow >= {needed}; this is {airflow_version_text()}"
    return "the triggerer gave this trigger no asset state store (run outside an asset watcher?)"


check_airflow_version()

__all__ = [
    "ASSET_STATE_STORE_VERSION",
    "MIN_AIRFLOW_VERSION",
    "AirflowException",
    "AirflowRescheduleException",
    "AirflowSensorTimeout",
    "AirflowSkipException",
    "Asset",
    "BaseEventTrigger",
    "BaseHook",
    "BaseOperator",
    "BaseSensorOperator",
    "BaseTrigger",
    "CronDataIntervalTimetable",
    "DagBag",
    "ObjectStoragePath",
    "PokeReturnValue",
    "TaskDeferred",
    "TriggerEvent",
    "airflow_at_least",
    "airflow_version",
    "asset_state_store_of",
    "check_airflow_version",
    "conf",
    "get_hook_lineage_collector",
    "install_legacy_connection_form",
    "mask_secret",
    "no_asset_state_store_reason",
    "redact",
    "storage_conn_id",
    "storage_path_of",
]
