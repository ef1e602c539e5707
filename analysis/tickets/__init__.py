"""Tickets from the tracking store: finished trial runs, their signed tickets, and the local ticket cache
for a remote store."""
