"""Analysis of lottery tickets pulled from MLflow: NNSTD, sign-aware NNSTD±, statistics, kernel patterns.

`python -m analysis` (or `make analyze`) runs it all and logs the results back; see docs/analysis.md.
The map, lowest first; each imports only those before it: `distances` (incoming-edge sets, NED, NNSTD and
NNSTD±) → `tickets` (trial runs and their signed tickets, from the store or the cache) → `patterns` (signed
3×3 kernels) → `statistics` (conditions, pairs, tests) → `pipeline` (the whole analysis in memory) →
`reporting` (tables, figures, MLflow) → `__main__`. From `lottery` it uses
only `errors`, `data.registry` and `tracking`.
"""
