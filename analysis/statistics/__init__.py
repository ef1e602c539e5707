"""The paper's conditions and their seeded pairs (`conditions`), and Welch tests and Cohen's d against the
random condition (`stats`). Imports `analysis.tickets` only."""
