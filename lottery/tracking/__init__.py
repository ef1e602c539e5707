"""Everything MLflow: which store (`uris`), reaching it (`store`) through a client whose calls a stop never
cuts in half (`client`), the database behind it and how it fails (`database`), the tracking contract's names
(`contract`, a leaf every layer may import), `.npz` arrays (`arrays`), a trial's run (`trial_record`) and its
name (`run_names`), what trained it (`provenance`) and the leases that give each run one trainer (`lease`).
Imports the foundations, `models`, `pruning`, `data`; never `training` or `execution`."""
