"""Analysis of lottery tickets pulled from MLflow: NNSTD, sign-aware NNSTD±, statistics, kernel patterns.

`python -m analysis` (or `make analyze`) runs it all and logs the results back; see docs/analysis.md.
"""
