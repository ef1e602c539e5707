"""Lottery tickets by iterative magnitude pruning, and their signed structure, tracked in MLflow.

`from lottery import IterativeMagnitudePruning`: IMP as a Lightning callback for any LightningModule, its
tickets recorded in the trainer's MLflow run (docs/own-model.md). Importing `lottery` loads nothing heavy: the
callback (torch, Lightning, MLflow) loads on first use of the name.

The map, lowest layer first; a package imports only from those above it in this list, and from anywhere the
tracking contract (`tracking.contract`, a leaf of names that imports nothing of ours):
- `errors`, `options`, `hparams`, `seeds`: foundations — user errors, options declared with `hparam` and the
  command lines derived from them, typed hyperparameters, seeded random streams.
- `models`: the networks, each declaring its prunable layers, their groups and its input shape (a registry).
- `pruning`: masks, magnitude pruning, the controls (random ticket, re-initialised, signs kept or flipped).
- `data`: datasets by name, resident on the training device.
- `tracking`: the MLflow store, the tracking contract, `.npz` I/O, a trial's run, leases.
- `training`: the IMP callback, the LightningModule, fitting, the device, a ticket's verdict.
- `execution`: a trial, the scheduler, the experiment, and the executors (local, Ray).
"""

__all__ = ["IterativeMagnitudePruning"]


def __getattr__(name: str):
    if name == "IterativeMagnitudePruning":
        from lottery.training.imp import IterativeMagnitudePruning

        return IterativeMagnitudePruning
    raise AttributeError(f"module 'lottery' has no attribute {name!r}")
