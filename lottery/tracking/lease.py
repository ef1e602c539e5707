"""Leases: one driver trains a trial at a time, by construction, against any MLflow store.

A driver *claims* a trial's run before training it and renews the claim while the trial trains; a claim
that is not renewed (its driver died) expires, and the next driver takes the trial over and resumes it.

The only atomic write MLflow offers on every store (SQLite, a server over any database) is a param: a
param's value can never change, and of two processes logging the same key with different values exactly
one succeeds. So generation g of a run's lease is the param `lottery.lease.<g>` = `<holder> <claimed_ms>`:
claiming generation g + 1 is a compare-and-set that one driver wins. The holder then renews the tag
`lottery.lease` = `<g> <holder> <expires_ms>` every `ttl / 4` seconds; it is the only writer of that tag.
A lease is live while its expiry (the tag's, or `claimed_ms + ttl` before the first renewal) lies ahead,
unless its holder is a process of this machine that no longer exists (a re-run after a crash need not wait).
Expiry compares the holder's clock with the reader's: machines sharing a store must agree within `ttl / 2`.

A holder that was stalled longer than `ttl` (a suspended laptop) may find its trial taken over: writers
check `generation_of(run) == their generation` before every write, so it stops without writing.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
import uuid
from dataclasses import dataclass

from lottery.errors import UserError
from lottery.tracking.contract import LEASE_PARAM_PREFIX, TAG_LEASE
from lottery.tracking.store import now_ms, store_errors

TTL_ENV = "LOTTERY_LEASE_SECONDS"
DEFAULT_TTL_SECONDS = 60.0

HOLDER = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"  # this process, as a holder


def ttl_seconds() -> float:
    """How long a lease lives without renewal: `$LOTTERY_LEASE_SECONDS`, else 60 s."""
    return float(os.environ.get(TTL_ENV) or DEFAULT_TTL_SECONDS)


@dataclass(frozen=True)
class LeaseState:
    """A run's lease as the store holds it: the latest `generation` (0: never claimed), its `holder` and
    the time it `expires_ms` (epoch milliseconds)."""

    generation: int = 0
    holder: str = ""
    expires_ms: int = 0

    @classmethod
    def of(cls, run) -> LeaseState:
        """The lease of an MLflow `Run` (its params and tags)."""
        claims = {
            int(key[len(LEASE_PARAM_PREFIX) :]): value
            for key, value in run.data.params.items()
            if key.startswith(LEASE_PARAM_PREFIX) and key[len(LEASE_PARAM_PREFIX) :].isdigit()
        }
        if not claims:
            return cls()
        generation = max(claims)
        holder, _, claimed = claims[generation].partition(" ")
        expires = int(claimed) + int(ttl_seconds() * 1000) if claimed.isdigit() else 0
        renewed = run.data.tags.get(TAG_LEASE, "").split(" ")
        if len(renewed) == 3 and renewed[0] == str(generation) and renewed[2].lstrip("-").isdigit():
            expires = int(renewed[2])
        return cls(generation, holder, expires)

    def live(self) -> bool:
        """Whether another driver may be training the run now."""
        return self.generation > 0 and self.expires_ms > now_ms() and _may_be_alive(self.holder)

    def describe(self) -> str:
        host, pid = (self.holder.split(":") + ["", ""])[:2]
        return f"the driver {pid} on {host}, its lease renewed until {time.ctime(self.expires_ms / 1000)}"


def _may_be_alive(holder: str) -> bool:
    """False only for a holder known dead: a process of this machine that no longer exists."""
    host, _, rest = holder.partition(":")
    pid = rest.partition(":")[0]
    if holder == HOLDER or host != socket.gethostname() or not pid.isdigit():
        return True
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


def renewal(generation: int, holder: str, expires_ms: int) -> str:
    """The value of the tag `lottery.lease`: `holder`'s lease of `generation`, live until `expires_ms`."""
    return f"{generation} {holder} {expires_ms}"


class LeaseLost(UserError):
    """Another driver took over a run this process was training: it must stop without writing."""


def check_held(client, run_id: str, generation: int) -> None:
    """LeaseLost unless `generation` is still the run's latest lease generation."""
    state = LeaseState.of(client.get_run(run_id))
    if state.generation != generation:
        raise LeaseLost(
            f"run {run_id} was taken over by {state.describe()} after this driver's lease expired "
            "(was this machine suspended, or the store unreachable for long?); this driver stops training it"
        )


class Leases:
    """The leases this driver holds, renewed in a background thread; a context manager that releases them
    all on exit."""

    def __init__(self, client, ttl: float | None = None) -> None:
        self.client = client
        self.ttl = ttl_seconds() if ttl is None else ttl
        self.held: dict[str, int] = {}  # run id -> generation
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._renew_until_stopped, name="lease-renewal", daemon=True)

    def __enter__(self) -> Leases:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        for run_id in list(self.held):
            self.release(run_id)

    def claim(self, run) -> int | None:
        """Claim the run (an MLflow `Run`, as just read) for this driver: its new lease generation, or None
        if another driver holds it or claimed it first."""
        state = LeaseState.of(run)
        if state.live() and state.holder != HOLDER:
            return None
        generation, run_id = state.generation + 1, run.info.run_id
        key = f"{LEASE_PARAM_PREFIX}{generation}"
        try:
            self.client.log_param(run_id, key, f"{HOLDER} {now_ms()}")
        except store_errors():
            # Lost the race (the value differs, or the run was deleted), or the store failed: ask the store.
            current = self.client.get_run(run_id)
            if current.info.lifecycle_stage != "active":
                return None
            winner = current.data.params.get(key)
            if winner is None:
                raise
            if not winner.startswith(f"{HOLDER} "):
                return None
        with self._lock:
            self.held[run_id] = generation
        self._renew(run_id, generation)
        return generation

    def release(self, run_id: str) -> None:
        """Give the run's lease up now (it expires at once), if this driver holds it."""
        with self._lock:
            generation = self.held.pop(run_id, None)
        if generation is not None:
            # The store may be what failed: an unreleased lease expires by itself.
            with contextlib.suppress(*store_errors()):
                self.client.set_tag(run_id, TAG_LEASE, renewal(generation, HOLDER, 0))

    def forget(self, run_id: str) -> None:
        """Stop renewing the run's lease without writing to it (the run was deleted)."""
        with self._lock:
            self.held.pop(run_id, None)

    def _renew(self, run_id: str, generation: int) -> None:
        self.client.set_tag(run_id, TAG_LEASE, renewal(generation, HOLDER, now_ms() + int(self.ttl * 1000)))

    def _renew_until_stopped(self) -> None:
        while not self._stop.wait(self.ttl / 4):
            with self._lock:
                held = dict(self.held)
            for run_id, generation in held.items():
                try:
                    if LeaseState.of(self.client.get_run(run_id)).generation != generation:
                        self.forget(run_id)  # taken over: its writer stops at its next write
                        continue
                    self._renew(run_id, generation)
                except store_errors():  # a lost store surfaces in the training thread, with its message
                    pass
