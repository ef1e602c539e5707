"""Find winning tickets: `python -m experiments.train --dataset cinic` (what `make train` runs)."""

from __future__ import annotations

import argparse
import os

from lottery.data.registry import canonical_name
from lottery.errors import ArgumentParser, exit_on_user_error
from lottery.hparams import ExperimentConfig, PruningHparams, TrainingHparams


def parse(argv: list[str] | None) -> tuple[ExperimentConfig, str, str | None, bool]:
    defaults_t, defaults_p = TrainingHparams(), PruningHparams()
    p = ArgumentParser(
        prog="python -m experiments.train",
        description=__doc__,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--dataset", required=True, help="digits, cifar10, cinic10 (cinic) or svhn")
    p.add_argument("--trials", type=int, default=20, help="independent IMP trials")
    p.add_argument("--rounds", type=int, default=defaults_p.rounds, help="pruning rounds after round 0")
    p.add_argument("--epochs", type=int, default=defaults_t.epochs, help="epochs per round")
    p.add_argument("--batch-size", type=int, default=defaults_t.batch_size)
    p.add_argument("--lr", type=float, default=defaults_t.lr)
    p.add_argument("--seed", type=int, default=0, help="trial k's θ0 derives from (seed, k) only")
    p.add_argument(
        "--conv-rate", type=float, default=defaults_p.conv_rate, help="per-round fraction, conv layers"
    )
    p.add_argument(
        "--dense-rate", type=float, default=defaults_p.dense_rate, help="per-round fraction, dense"
    )
    p.add_argument(
        "--output-rate", type=float, default=defaults_p.output_rate, help="per-round fraction, output"
    )
    p.add_argument(
        "--winning-tolerance",
        type=float,
        default=1.0,
        help="a ticket wins if its accuracy >= the dense network's minus this many points",
    )
    p.add_argument(
        "--train-splits",
        choices=["train", "train+valid"],
        default="train",
        help="which splits to train on (train+valid: CINIC-10 only)",
    )
    p.add_argument("--bf16", action="store_true", help="bf16 autocast (mixed precision)")
    p.add_argument("--data-dir", default=os.environ.get("DATA_DIR", "data"))
    p.add_argument(
        "--tracking-uri", default=None, help="default: $MLFLOW_TRACKING_URI or sqlite:///mlruns/mlflow.db"
    )
    p.add_argument("--no-progress-bar", action="store_true", help="only the per-round summary lines")
    args = p.parse_args(argv)
    config = ExperimentConfig(
        dataset=canonical_name(args.dataset),
        trials=args.trials,
        seed=args.seed,
        training=TrainingHparams(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, bf16=args.bf16),
        pruning=PruningHparams(
            rounds=args.rounds,
            conv_rate=args.conv_rate,
            dense_rate=args.dense_rate,
            output_rate=args.output_rate,
        ),
        winning_tolerance=args.winning_tolerance,
        train_splits=args.train_splits,
    )
    config.validate()
    return config, args.data_dir, args.tracking_uri, not args.no_progress_bar


@exit_on_user_error
def main(argv: list[str] | None = None) -> None:
    config, data_dir, tracking_uri, progress = parse(argv)
    # Lightning and MLflow load only once the arguments are valid: a typo fails in a second.
    from lottery.experiment import run_experiment

    verdicts = run_experiment(config, data_dir, tracking_uri, show_progress=progress)
    if verdicts:
        print(f"{config.dataset}: {sum(verdicts.values())} of {len(verdicts)} trials found a winning ticket")


if __name__ == "__main__":
    main()
