"""How trials run on Ray (`EXECUTOR=ray`): which cluster, each trial's resources, its retries.

Ray itself loads only in `lottery.execution.ray_executor`, so settings are checked in a second.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass
from urllib.parse import urlparse

from lottery.errors import UserError
from lottery.tracking.uris import is_loopback, is_remote

_CONNECT_SECONDS = 5
_UNSPECIFIED = "0.0.0.0"  # as a destination, this machine


def is_this_machine(host: str | None) -> bool:
    return host is None or is_loopback(host) or host in (_UNSPECIFIED, socket.gethostname())


def check_store_shared(tracking_uri: str, cluster: str) -> None:
    """UserError unless workers on other machines can reach the store: an http(s) server that is not on
    this machine's loopback. A SQLite file or a loopback server only exists for this machine."""
    host = urlparse(tracking_uri).hostname
    if not is_remote(tracking_uri) or (host is not None and (is_loopback(host) or host == _UNSPECIFIED)):
        raise UserError(
            f"EXECUTOR=ray on {cluster} cannot use the tracking store {tracking_uri}: workers on other "
            "machines cannot write to this machine's store; start a shared server (`make server "
            "HOST=0.0.0.0`) and set MLFLOW_TRACKING_URI=http://<this machine's hostname>:5000"
        )


@dataclass(frozen=True)
class RaySettings:
    """Every trial a Ray task on the cluster at `address` (None: a local cluster started on this machine).

    A trial asks for `cpus_per_trial` CPUs and trains with as many torch threads, so trials sharing a
    machine don't oversubscribe its cores, and `gpus_per_trial` GPUs (None: 0.25 when the cluster has
    GPUs — Conv-2 is small, four trials share a GPU well — else none). A worker that dies mid-trial is
    retried up to `max_retries` times; the retry resumes the trial in its run.
    """

    address: str | None = None
    cpus_per_trial: float = 1.0
    gpus_per_trial: float | None = None
    max_retries: int = 3

    @property
    def cluster(self) -> str:
        return f"the Ray cluster at {self.address}" if self.address else "a local Ray cluster"

    def endpoint(self) -> tuple[str, int | None] | None:
        """(host, port) of `address`; None for a local cluster or `auto` (found through this machine)."""
        if self.address in (None, "", "auto", "local"):
            return None
        parsed = urlparse(self.address if "://" in self.address else f"ray://{self.address}")
        return parsed.hostname, parsed.port

    def points_elsewhere(self) -> bool:
        """Whether `address` names another machine (`auto` is checked once connected, by its nodes)."""
        endpoint = self.endpoint()
        return endpoint is not None and not is_this_machine(endpoint[0])

    def __post_init__(self) -> None:
        """UserError for a bad setting: settings that exist are valid, checked once, where built."""
        gpus = self.gpus_per_trial
        checks = [
            (self.cpus_per_trial > 0, f"CPUS_PER_TRIAL must be > 0, got {self.cpus_per_trial}"),
            (
                gpus is None or (gpus >= 0 and (gpus <= 1 or gpus.is_integer())),
                f"GPUS_PER_TRIAL must be a fraction in [0, 1] or a whole number of GPUs, got {gpus}",
            ),
            (self.max_retries >= 0, f"the number of retries must be >= 0, got {self.max_retries}"),
        ]
        for ok, message in checks:
            if not ok:
                raise UserError(message)

    def check_reachable(self, tracking_uri: str) -> None:
        """UserError for a store the cluster's workers cannot reach, or a cluster address nothing answers at
        (Ray itself would retry it for minutes)."""
        if self.points_elsewhere():
            check_store_shared(tracking_uri, self.cluster)
        endpoint = self.endpoint()
        if endpoint is not None and endpoint[1] is not None:
            try:
                socket.create_connection(endpoint, timeout=_CONNECT_SECONDS).close()
            except OSError as error:
                raise UserError(
                    f"cannot reach {self.cluster} ({error.strerror or error}); check RAY_ADDRESS, or unset "
                    "it to start a local cluster"
                ) from None
