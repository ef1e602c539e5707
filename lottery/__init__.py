"""Lottery tickets by iterative magnitude pruning, and their signed structure, tracked in MLflow.

The map, lowest layer first; a package imports only from those above it in this list:
- `errors`, `hparams`, `seeds`: foundations — user errors, typed hyperparameters, seeded random streams.
- `models`: the networks, each declaring its prunable layers, their groups and its input shape (a registry).
- `pruning`: masks, magnitude pruning, and the controls (random tickets).
- `data`: datasets by name, resident on the training device.
- `training`: the LightningModule, the IMP callback, fitting, the device, a ticket's verdict.
- `tracking`: the MLflow store, the tracking contract, `.npz` I/O, a trial's run, leases.
- `execution`: a trial, the scheduler, the experiment, and the executors (local, Ray).
"""
