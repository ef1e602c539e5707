"""The MLflow client the library talks to the store through: a store call, once started, completes."""

from __future__ import annotations

import functools
from collections.abc import Callable

from mlflow import MlflowClient

from lottery.errors import stops_deferred

# The store calls of the library, the analysis and the entry points (a test holds this list to the sources).
DEFERRED = (
    "create_experiment",
    "create_run",
    "delete_run",
    "get_experiment_by_name",
    "get_metric_history",
    "get_run",
    "log_artifact",
    "log_artifacts",
    "log_batch",
    "log_inputs",
    "log_param",
    "search_experiments",
    "search_runs",
    "set_tag",
    "set_terminated",
    "update_run",
)


def _deferring(name: str) -> Callable:
    """MlflowClient's method `name`, looked up at each call, run with Ctrl-C and SIGTERM deferred to its
    end."""

    @functools.wraps(getattr(MlflowClient, name))
    def deferring(self, *args, **kwargs):
        with stops_deferred():
            return getattr(MlflowClient, name)(self, *args, **kwargs)

    return deferring


class StopSafeClient(MlflowClient):
    """An `MlflowClient` whose store calls (`DEFERRED`) run with Ctrl-C and SIGTERM deferred to their end
    (`lottery.errors.stops_deferred`): a store call is never interrupted halfway, so the clean-up that
    follows a stop (marking runs KILLED, releasing leases) finds the store as the last call left it."""


for _name in DEFERRED:  # wrapped once, here
    setattr(StopSafeClient, _name, _deferring(_name))
