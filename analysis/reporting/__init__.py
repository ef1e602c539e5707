"""Results for people: Table 1 and the appendix tables (`tables`), the paper's published values next to ours
(`published`), figures (`figures`), and the analysis logged back into MLflow (`report`), its runs named
(`names`) and described in the UI (`descriptions`). Imports any package of `analysis`; only `__main__`
imports it."""
