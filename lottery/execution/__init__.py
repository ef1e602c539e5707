"""Running experiments: a trial and its task (`trial`), the hooks told of its phases (`trial_hooks`, the
public seam for observing a trial and injecting faults), taking trials up under leases (`scheduler`), the
experiment (`experiment`), what a driver prints (`output`), and the executors behind one interface
(`executor`: `local`, `ray_executor`, with its settings in `ray_settings` and the workers' summary lines in
`worker_lines`).
The top of the library: imports any package of `lottery`, and nothing imports it but the entry points."""
