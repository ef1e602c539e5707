"""How trials run on Ray (`EXECUTOR=ray`): which cluster, each trial's resources, its retries.

Ray itself loads only in `lottery.execution.ray_executor`, so settings are checked in a second.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass
from urllib.parse import urlparse

from lottery.errors import UserError
from lottery.options import check_bounds, hparam
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

    address: str | None = hparam(
        None,
        "the Ray cluster to use: $RAY_ADDRESS if set (None: start a local cluster)",
        flags=("--ray-address",),
        env="RAY_ADDRESS",
    )
    cpus_per_trial: float = hparam(
        1.0, "CPUs (and torch threads) each trial takes", minimum=0, strict=True, label="CPUS_PER_TRIAL"
    )
    gpus_per_trial: float | None = hparam(
        None,
        "GPUs each trial takes, a fraction in [0, 1] or a whole number (None: 0.25 when the cluster has "
        "GPUs, else 0)",
    )
    max_retries: int = hparam(
        3, "times a trial whose worker died is retried", minimum=0, label="the number of retries"
    )

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
        check_bounds(self)
        gpus = self.gpus_per_trial
        if not (gpus is None or (gpus >= 0 and (gpus <= 1 or gpus.is_integer()))):
            raise UserError(
                f"GPUS_PER_TRIAL must be a fraction in [0, 1] or a whole number of GPUs, got {gpus}"
            )

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
