"""The paper's conditions and their seeded pairs (`conditions`); Welch tests and Cohen's d against the random
condition, Holm-adjusted per family (`stats`), next to the ticket-level test that takes tickets, not pairs,
as the replicated unit (`ticket_level`); and the controls' accuracies against the ticket's (`controls`).
Imports `analysis.parallel` and `analysis.tickets`, and from `lottery` the controls' registry."""
