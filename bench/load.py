"""Load on one tracking server: N trial drivers logging at once to one `make server`, over SQLite and over
PostgreSQL, with the server's default 2 workers.

The drivers are simulated: this machine cannot run 16 to 64 real drivers (each imports torch and trains).
A simulated driver makes the store calls a trial makes, in its order, with no training between them, so
the server sees its whole demand as fast as it can serve it (a closed loop): create the run with its tags,
params and lease, then per round the lease check (`get_run`), the next round's mask (a toy-model `.npz`,
proxied to the artifacts folder), the lease check, the round's metrics (`log_batch`: test_acc, test_loss,
sparsity, remaining.<layer> at step r) and the lease renewal (`set_tag`), then the verdict and FINISHED.
Drivers are threads, spread over a few processes (each a client as `lottery.tracking.store.connect` makes
it: no retries, a 10 s timeout); a failed call is counted and the driver goes on.

Per backend and N: writes acknowledged per second, p50 / p99 latency of a write, failed calls, and the
metric steps lost (acknowledged, then absent) or duplicated, read back after the load; for PostgreSQL the
most connections the server held. The servers are the test suite's (`tests/tracking_server.py`,
`tests/postgres_server.py`), started as users start them: PostgreSQL durable (fsync on), as in production.
"""

from __future__ import annotations

import multiprocessing
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from contextlib import nullcontext
from pathlib import Path

from lottery.tracking import contract

DRIVERS = (4, 16, 32, 64)
ROUNDS = 12  # the paper's: round 0 and 11 pruning rounds
PROCESSES = 4
LAYERS = ("conv1", "dense1", "output")  # the toy model's
MASK_BYTES = 8 * 27 + 32 * 128 + 10 * 32  # the toy model's mask, one byte a weight
BACKENDS = ("sqlite", "postgresql")
WORKERS = 2


def metrics(step: int):
    from mlflow.entities import Metric

    keys = (contract.TEST_ACC, contract.TEST_LOSS, contract.SPARSITY, *map(contract.remaining_metric, LAYERS))
    return [Metric(key, 0.5, int(time.time() * 1000), step) for key in keys]


class Recorder:
    """One process's measurements: write latencies, failed calls by kind, acknowledged metric steps."""

    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.failures: Counter = Counter()
        self.acknowledged: dict[str, list[int]] = {}
        self.lock = threading.Lock()

    def call(self, kind: str, write: bool, function, *args, **kwargs):
        began = time.perf_counter()
        try:
            result = function(*args, **kwargs)
        except Exception as error:
            cause = str(error).splitlines()[0]  # the request, then what failed: keep the end
            with self.lock:
                self.failures[f"{kind}: {type(error).__name__}: …{cause[-110:]}"] += 1
            return None
        if write:
            with self.lock:
                self.latencies.append(time.perf_counter() - began)
        return result if result is not None else True


def drive(client, experiment_id: str, index: int, mask: Path, recorder: Recorder) -> None:
    """What one trial does to the store, round by round, with no training between."""
    from mlflow.entities import Param, RunTag

    run = recorder.call(
        "create_run",
        True,
        client.create_run,
        experiment_id,
        tags={contract.TAG_ROLE: contract.ROLE_TRIAL, contract.TAG_TRIAL: str(index)},
        run_name=f"load/trial-{index:02d}",
    )
    if run is None:
        return
    run_id, steps = run.info.run_id, []
    params = [Param(f"hparam_{k}", str(k)) for k in range(17)] + [
        Param(f"{contract.LEASE_PARAM_PREFIX}1", f"load {index}")
    ]
    recorder.call("log_batch params", True, client.log_batch, run_id, params=params)
    recorder.call("update_run", True, client.update_run, run_id, status="RUNNING")
    for step in range(ROUNDS):
        recorder.call("get_run", False, client.get_run, run_id)
        recorder.call("log_artifact", True, client.log_artifact, run_id, str(mask), f"rounds/{step + 1}")
        recorder.call("get_run", False, client.get_run, run_id)
        if recorder.call("log_batch metrics", True, client.log_batch, run_id, metrics=metrics(step)):
            steps.append(step)
        recorder.call(
            "set_tag", True, client.set_tag, run_id, contract.TAG_LEASE, f"1 load {time.time():.0f}"
        )
    recorder.call(
        "log_batch tags", True, client.log_batch, run_id, tags=[RunTag(contract.TAG_WINNING, "true")]
    )
    recorder.call("set_terminated", True, client.set_terminated, run_id, "FINISHED")
    with recorder.lock:
        recorder.acknowledged[run_id] = steps


def process(url: str, indices: list[int], start, results) -> None:
    """Drivers `indices` as threads of this process, released together by `start`; their measurements put
    on `results`."""
    from lottery.tracking import store

    client = store.connect(url)
    experiment_id = store.experiment_id(client, "load")
    recorder = Recorder()
    with tempfile.TemporaryDirectory() as folder:
        mask = Path(folder) / "mask.npz"
        mask.write_bytes(bytes(MASK_BYTES))
        threads = [
            threading.Thread(target=drive, args=(client, experiment_id, index, mask, recorder))
            for index in indices
        ]
        start.wait()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    results.put((recorder.latencies, dict(recorder.failures), recorder.acknowledged))


def read_back(url: str, acknowledged: dict[str, list[int]]) -> tuple[int, int]:
    """(steps lost, steps duplicated) of every metric: acknowledged steps absent, steps stored twice."""
    from mlflow import MlflowClient

    client, lost, duplicated = MlflowClient(url), 0, 0
    for run_id, steps in acknowledged.items():
        for metric in metrics(0):
            stored = Counter(m.step for m in client.get_metric_history(run_id, metric.key))
            lost += sum(1 for step in steps if step not in stored)
            duplicated += sum(count - 1 for count in stored.values())
    return lost, duplicated


def connections(postgres, database: str, peak: list[int], stop: threading.Event) -> None:
    """The most client connections to `database` seen while the load runs, every 0.2 s, into `peak`."""
    query = f"SELECT count(*) FROM pg_stat_activity WHERE datname = '{database}'"
    while not stop.wait(0.2):
        peak[0] = max(peak[0], postgres.execute(query)[0][0])


def load(url: str, drivers: int) -> dict:
    """N = `drivers` simulated drivers against the server at `url`: the figures of one line."""
    context = multiprocessing.get_context("spawn")
    processes = min(PROCESSES, drivers)
    start, results = context.Barrier(processes + 1), context.Queue()
    groups = [list(range(drivers))[k::processes] for k in range(processes)]
    workers = [context.Process(target=process, args=(url, group, start, results)) for group in groups]
    for worker in workers:
        worker.start()
    start.wait()  # every process imported MLflow and connected: the load starts now
    began = time.perf_counter()
    gathered = [results.get() for _ in workers]
    seconds = time.perf_counter() - began
    for worker in workers:
        worker.join()
    latencies = sorted(latency for part, _, _ in gathered for latency in part)
    failures: Counter = Counter()
    acknowledged: dict[str, list[int]] = {}
    for _, failed, acked in gathered:
        failures.update(failed)
        acknowledged.update(acked)
    lost, duplicated = read_back(url, acknowledged)
    return {
        "drivers": drivers,
        "writes": len(latencies),
        "seconds": seconds,
        "writes/s": len(latencies) / seconds,
        "p50 ms": 1000 * statistics.median(latencies),
        "p99 ms": 1000 * latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))],
        "failed": sum(failures.values()),
        "failures": dict(failures),
        "lost": lost,
        "duplicated": duplicated,
    }


def report(backend: str, row: dict, peak: int | None) -> None:
    held = f", at most {peak} connections" if peak is not None else ""
    print(
        f"{backend:<10} N={row['drivers']:>2}: {row['writes']} writes in {row['seconds']:.1f} s, "
        f"{row['writes/s']:.1f} writes/s, p50 {row['p50 ms']:.0f} ms, p99 {row['p99 ms']:.0f} ms, "
        f"{row['failed']} failed, {row['lost']} lost, {row['duplicated']} duplicated{held}",
        flush=True,
    )
    for failure, count in sorted(row["failures"].items(), key=lambda item: -item[1])[:5]:
        print(f"    {count} × {failure}", flush=True)


def main(counts: tuple[int, ...] = DRIVERS) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))  # the suite's helpers
    from postgres_server import PostgresServer, missing
    from tracking_server import running_server

    print(f"simulated drivers of {ROUNDS} rounds against `make server` (WORKERS={WORKERS})", flush=True)
    backends = BACKENDS if missing() is None else ("sqlite",)
    if missing() is not None:
        print(f"postgresql skipped: {missing()}", flush=True)
    database = PostgresServer.started("max_connections=200") if "postgresql" in backends else nullcontext()
    with tempfile.TemporaryDirectory() as folder, database as postgres:
        for n in counts:
            for backend in backends:
                root = Path(folder) / f"{backend}-{n}"
                uri = postgres.database() if backend == "postgresql" else None
                with running_server(root, backend=uri, workers=WORKERS) as url:
                    peak, stop = [0], threading.Event()
                    watcher = None
                    if uri is not None:
                        args = (postgres, uri.rsplit("/", 1)[1], peak, stop)
                        watcher = threading.Thread(target=connections, args=args, daemon=True)
                        watcher.start()
                    row = load(url, n)
                    stop.set()
                    report(backend, row, peak[0] if watcher else None)


if __name__ == "__main__":
    main(tuple(int(n) for n in sys.argv[1:]) or DRIVERS)  # python -m bench.load [N …]
