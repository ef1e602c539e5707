"""Training with IMP on Lightning: the IMP callback for any LightningModule (`imp`, the protocol it runs in
`imp_run`, its options, the prunable layers, restarting a round, its tickets in memory and in the trainer's
MLflow run), `make train`'s LightningModule (`classifier`), one `fit` (its progress bar in `progress`, the
random streams a checkpoint resumes in `random_state`), the device, and the verdict on a ticket. Imports
the foundations, `models`, `pruning`, `data`, `tracking`."""
