"""The MLflow client the library talks to the store through: a store call, once started, completes."""

from __future__ import annotations

import functools

from mlflow import MlflowClient

from lottery.errors import stops_deferred


class StopSafeClient(MlflowClient):
    """An `MlflowClient` whose public methods run with Ctrl-C and SIGTERM deferred to their end
    (`lottery.errors.stops_deferred`): a store call is never interrupted halfway, so the clean-up that
    follows a stop (marking runs KILLED, releasing leases) finds the store as the last call left it."""

    def __getattribute__(self, name: str):
        attribute = super().__getattribute__(name)
        if name.startswith("_") or not callable(attribute):
            return attribute

        @functools.wraps(attribute)
        def deferring(*args, **kwargs):
            with stops_deferred():
                return attribute(*args, **kwargs)

        return deferring
