"""Analysis of lottery tickets pulled from MLflow: NNSTD, sign-aware NNSTD±, statistics, kernel patterns.

`python -m analysis` (or `make analyze`) runs it all and logs the results back; see docs/analysis.md.
Each model's tickets are analysed on their own (one analysis run per model).
The map, lowest first; each imports only those before it: `parallel` (the thread pool) → `distances`
(incoming-edge sets, NED, NNSTD and NNSTD±) → `tickets` (trial runs, grouped by model, and their signed
tickets, read in place or through the cache) → `patterns` (signed 3×3 kernels) → `statistics` (conditions,
pairs, tests, the controls against the ticket) → `settings` (its options, declared once) → `pipeline` (the
whole analysis in memory) → `reporting` (tables, figures, MLflow) → `__main__`. From `lottery` it uses only
`errors`, `options`, `data.registry`, `tracking`, the torch-free registries `models` and
`pruning.controls`, and `seeds` (every seeded draw derives there).
"""
