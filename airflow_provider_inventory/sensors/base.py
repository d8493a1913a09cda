"""``InventorySensor``: poke, reschedule and deferrable mode on one condition, written once.

Each sensor describes its condition once, as a trigger (:meth:`InventorySensor.build_trigger`),
and this base uses the same trigger object to check synchronously in ``poke``/``reschedule`` mode
and to defer in ``deferrable`` mode.
"""

from __future__ import annotations

import time
from abc import abstractmethod
from collections.abc import Mapping
from datetime import timedelta
from typing import TYPE_CHECKING, Any, NoReturn

from airflow_provider_inventory._compat import (
    AirflowException,
    AirflowSensorTimeout,
    BaseSensorOperator,
    PokeReturnValue,
    conf,
)
from airflow_provider_inventory.triggers._shared import (
    DEFAULT_MAX_CONSECUTIVE_ERRORS,
    DEFAULT_POLL_INTERVAL,
    ERROR,
    SUCCESS,
    TIMEOUT,
    Readiness,
    checked_count,
    describe_error,
    is_transient,
)

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_provider_inventory.triggers.polling import PollingTrigger

#: Extra time the scheduler gives a deferred sensor beyond its own deadline before failing it
#: itself: enough for the trigger's last check to finish and report the timeout in its words.
DEFERRAL_GRACE = timedelta(seconds=60)


class InventorySensor(BaseSensorOperator):
    """Base of the provider's sensors: poke, reschedule and deferrable modes on one condition.

    In deferrable mode the sensor checks once on the worker (and succeeds at once if the
    condition already holds), then frees the worker slot and defers to its trigger, which checks
    every ``poke_interval`` seconds until ``timeout``. When the trigger reports success the
    sensor checks once more on the worker to return fresh data (if the condition no longer holds
    it defers again, keeping the original deadline).

    Args:
        deferrable: defer to the triggerer instead of poking; default from the
            ``[operators] default_deferrable`` Airflow setting.
        max_consecutive_errors: in deferrable mode, how many checks in a row may fail
            transiently (5xx, 429, no response; each after the hook's own retries) before the
            sensor fails. In poke and reschedule mode a failed check fails the try, as usual
            (use ``retries``).
        **kwargs: ``BaseSensorOperator`` arguments (``poke_interval``, ``timeout``, ``mode``,
            ``soft_fail``...).

    Raises:
        InventoryConfigError: an argument is invalid.
    """

    def __init__(
        self,
        *,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        max_consecutive_errors: int = DEFAULT_MAX_CONSECUTIVE_ERRORS,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.deferrable = deferrable
        self.max_consecutive_errors = checked_count(
            "max_consecutive_errors", max_consecutive_errors
        )
        if deferrable and self.poke_interval <= 0:
            from airflow_provider_inventory.exceptions import InventoryConfigError

            raise InventoryConfigError(
                "poke_interval must be more than 0 seconds with deferrable=True: it is how often "
                "the trigger checks."
            )

    @property
    def poll_interval(self) -> float:
        """The trigger's ``poll_interval``: ``poke_interval`` (only deferral uses it, and there it
        must be positive; a zero ``poke_interval`` in poke mode maps to the default)."""
        return self.poke_interval if self.poke_interval > 0 else DEFAULT_POLL_INTERVAL

    @abstractmethod
    def build_trigger(self, end_time: float | None) -> PollingTrigger[Any]:
        """The trigger that checks this sensor's condition, with the rendered arguments.

        Raises:
            InventoryConfigError: an argument is invalid.
        """

    def check(self, trigger: PollingTrigger[Any] | None = None) -> Readiness:
        """Check the condition once, on the worker, with ``trigger``'s (or a new trigger's) rules."""
        trigger = trigger or self.build_trigger(end_time=None)
        hook = trigger.build_hook()
        try:
            return trigger.check(hook)
        finally:
            hook.close()

    def poke(self, context: Context) -> PokeReturnValue:
        """Check once; when met, the sensor's result goes to XCom."""
        readiness = self.check()
        self.log.info("%s: %s.", "Condition met" if readiness.met else "Not yet", readiness.detail)
        return PokeReturnValue(readiness.met, readiness.value if readiness.met else None)

    def execute(self, context: Context) -> Any:
        """Poke or reschedule as usual; in deferrable mode check once, then defer.

        Returns:
            The sensor's result (see the subclass) when the condition holds.

        Raises:
            TaskDeferred: deferrable mode and the condition does not hold yet.
            InventoryConfigError: an argument is invalid.
            InventoryApiError: a check failed and retrying cannot help.
        """
        if not self.deferrable:
            return super().execute(context)
        trigger = self.build_trigger(end_time=time.time() + self.timeout)
        try:
            readiness = self.check(trigger)
        except Exception as error:
            if not is_transient(error):
                raise
            self.log.warning("First check failed (%s); deferring anyway.", describe_error(error))
        else:
            if readiness.met:
                self.log.info("Condition met: %s.", readiness.detail)
                return readiness.value
            self.log.info("Not yet: %s. Deferring.", readiness.detail)
        self._defer(trigger)

    def execute_complete(self, context: Context, event: Mapping[str, Any]) -> Any:
        """Resume after the trigger's event.

        Returns:
            The sensor's result, from a fresh check, on a ``success`` event.

        Raises:
            AirflowSensorTimeout: a ``timeout`` event.
            AirflowException: an ``error`` event or an event this sensor does not know.
            TaskDeferred: the condition no longer holds on the fresh check: waiting goes on until
                the original deadline.
        """
        status = event.get("status") if isinstance(event, Mapping) else None
        if status == SUCCESS:
            trigger = self.build_trigger(end_time=event.get("end_time"))
            readiness = self.check(trigger)
            if readiness.met:
                self.log.info("Condition met: %s.", readiness.detail)
                return readiness.value
            self.log.warning(
                "The trigger saw the condition met, but it no longer holds (%s); waiting again.",
                readiness.detail,
            )
            self._defer(trigger)
        if status == TIMEOUT:
            raise AirflowSensorTimeout(f"{self.task_id}: {event.get('message')}")
        if status == ERROR:
            raise AirflowException(f"{self.task_id}: {event.get('message')}")
        raise AirflowException(f"{self.task_id}: unexpected trigger event {event!r}.")

    def _defer(self, trigger: PollingTrigger[Any]) -> NoReturn:
        timeout = None
        if trigger.end_time is not None:
            timeout = timedelta(seconds=max(trigger.end_time - time.time(), 0)) + DEFERRAL_GRACE
        self.defer(trigger=trigger, method_name="execute_complete", timeout=timeout)


__all__ = ["InventorySensor"]
