"""Tickets from the tracking store: finished trial runs (`store`), which of them an analysis takes
(`selection`), their signed tickets (`signed`) read from the runs' artifacts (`loading`): in place where those
are local files, else through the local ticket cache (`cache`)."""
