"""Results for people: Table 1 and the appendix tables (`tables`), figures (`figures`), and the analysis
logged back into MLflow (`report`). Imports any package of `analysis`; only `__main__` imports it."""
