"""Browse the tracking store in the MLflow UI: `python -m experiments.ui` (what `make ui` runs).

The store is `MLFLOW_TRACKING_URI`, else the local SQLite store. A light `make server`: one process serves
the UI (WORKERS=1), MLflow's GenAI jobs stay off, and the experiments MLflow creates itself (Default) keep
their artifacts in the store's own artifacts folder, not in the folder `make ui` was started from.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from experiments.preflight import check_artifacts, check_backend, check_port, store_experiments
from experiments.serving import (
    DEFAULT_ARTIFACTS_DESTINATION,
    add_listen_options,
    checked,
    run,
    settings,
    stand_out,
)
from lottery.errors import ArgumentParser, UserError, exit_on_user_error
from lottery.tracking.uris import (
    is_remote,
    local_artifact_root,
    redacted,
    resolve_tracking_uri,
    runs_route,
    ui_url,
)

UI_WORKERS = 1  # one person browsing
LISTED = 20  # experiments whose runs `make ui` links to


def parse(argv: list[str] | None) -> argparse.Namespace:
    p = ArgumentParser(
        prog="python -m experiments.ui",
        description=__doc__,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    add_listen_options(p, workers=UI_WORKERS)
    p.add_argument(
        "--tracking-uri",
        dest="backend_store_uri",
        default=None,
        help="the store to browse: sqlite:///… or a database URL (default: MLFLOW_TRACKING_URI, else "
        "sqlite:///mlruns/mlflow.db)",
    )
    args = checked(p.parse_args(argv))
    args.backend_store_uri = resolve_tracking_uri(args.backend_store_uri)
    return args


def ui_settings(args: argparse.Namespace) -> dict[str, str]:
    """The variables of the `mlflow server` that serves the UI over `args.backend_store_uri`: artifacts of
    experiments created through it (MLflow's Default) in the store's artifacts folder, where `make train`
    puts ours; those of a store `make server` filled, under the same folder, proxied."""
    uri = args.backend_store_uri
    if is_remote(uri):
        raise UserError(
            f"MLFLOW_TRACKING_URI is the tracking server {redacted(uri)}, which serves the UI itself: "
            "open it in a browser (unset MLFLOW_TRACKING_URI to browse the local store)"
        )
    root = local_artifact_root(uri)  # raises for a file store
    check_backend(uri, setting="make ui MLFLOW_TRACKING_URI")
    folder = check_artifacts(str(root if root is not None else DEFAULT_ARTIFACTS_DESTINATION))
    return settings(args, folder, default_artifact_root=Path(folder).as_uri())


def announcement(args: argparse.Namespace) -> str:
    """Where the UI is, and a link to each experiment's runs table (the UI would open it on GenAI pages)."""
    url = ui_url(args.host, args.port)
    lines = [stand_out(f"MLflow UI over {redacted(args.backend_store_uri)} at {url}")]
    experiments = store_experiments(args.backend_store_uri)
    lines += [f"  {name}: {url}/{runs_route(experiment)}" for experiment, name, _ in experiments[:LISTED]]
    if len(experiments) > LISTED:
        lines.append(f"  … and {len(experiments) - LISTED} more")
    return "\n".join(lines)


@exit_on_user_error
def main(argv: list[str] | None = None) -> None:
    args = parse(argv)
    chosen = ui_settings(args)
    check_port(args.host, args.port, target="ui")
    run(args, chosen, announcement(args))


if __name__ == "__main__":
    main()
