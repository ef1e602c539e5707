"""The tracking contract (README, "Tracking contract"): every name that trial runs and analysis runs carry in
the store — tags and their roles, params, metrics and artifact paths (a control's built by one scheme), the
lease's and the provenance's names, the analysis experiment — which scripts, resumption and the analysis rely
on. Nothing else spells one of them (`tests/test_contract.py` holds it). The values never change: stores
written before read the same.

Constants and pure functions of them only, importing nothing of ours (and no torch): a leaf that every layer
may import to name what it writes — the hyperparameters the protocol's params, the controls their metrics and
artifacts (`tests/test_layout.py` allows it, and holds that it stays a leaf).
"""

# --- Tags of a trial run, and the role that tells its kind of run.
TAG_ROLE = "lottery.role"
TAG_DATASET = "lottery.dataset"
TAG_TRIAL = "lottery.trial"
TAG_INIT = "lottery.init"  # a digest of θ0 (`trial_record.init_id`)
TAG_WINNING = "lottery.winning"  # `true` or `false`, set once the ticket is final
TAG_VERDICT = "lottery.verdict"
TAG_CONFIG = "lottery.config"  # the configuration's digest (`lottery.hparams.config_digest`)
TAG_CATEGORY = "lottery.category"  # of an analysis's condition run
TAG_REWIND_STEP = "lottery.rewind_step"  # k of late rewinding; absent on runs that predate it: 0
ROLE_TRIAL = "trial"
ROLE_ANALYSIS = "analysis"
ROLE_CONDITION = "condition"
ROLE_PATTERNS = "patterns"

# --- Tags MLflow itself reads: a child run's parent, a run's description, an experiment's kind.
TAG_PARENT = "mlflow.parentRunId"
TAG_NOTE = "mlflow.note.content"
# Marks our experiments as model training (runs, metrics), not GenAI, for MLflow UIs that open an experiment
# by it. The UI of MLflow 3.17 ignores it and opens every experiment by its GenAI / Model training switch:
# links to our runs carry `workflowType=machine_learning` instead (lottery.tracking.uris.browse_url).
EXPERIMENT_KIND = "mlflow.experimentKind"
MODEL_TRAINING = "custom_model_development"

# --- Params of a trial run beyond the hyperparameters' own (`ExperimentConfig.params`, named by its fields).
PARAM_MODEL = "model"
LEGACY_MODEL = "conv2"  # what trial runs that predate the `model` param trained
PARAM_TRIAL = "trial"  # the trial's index
PARAM_TRIALS = "trials"  # the number of trials: left out of the configuration's digest
PARAM_INIT = "init"  # θ0's initialisation, a fixed choice of the protocol (`lottery.hparams.PROTOCOL`)
PARAM_OPTIMIZER = "optimizer"  # the optimizer, a fixed choice of the protocol

# --- Metrics of a trial run at step r (round r); each control adds its own at step R (`control_metric`).
TEST_ACC = "test_acc"
TEST_LOSS = "test_loss"
TRAINING_SECONDS = "training_seconds"  # seconds spent training rounds 0..r, across resumptions, gaps excluded
SPARSITY = "sparsity"
REMAINING_PREFIX = "remaining."  # `remaining.<layer>`: the fraction of the layer's weights left


def remaining_metric(layer: str) -> str:
    """The metric of the fraction of `layer`'s weights a round trained."""
    return f"{REMAINING_PREFIX}{layer}"


# --- Artifacts of a trial run: .npz files, one array per layer.
INIT_ARTIFACT = "ticket/init.npz"
REWIND_ARTIFACT = "ticket/rewind.npz"  # θ_k, the weights every round resets to; only when k > 0
WINNING_MASK_ARTIFACT = "ticket/winning_mask.npz"


def round_mask_artifact(round_index: int) -> str:
    """The mask trained in round `round_index` (≥ 1)."""
    return f"rounds/{round_index}/mask.npz"


# --- What each control (`lottery.pruning.controls`) adds to a trial run: its metrics at step R, and the .npz
# of what it changed, its mask or its initial weights. Each control declares its name and which of these it
# logs; the names are built here.
CONTROL_MASK = "mask"  # `ticket/<control>_mask.npz`: the control's mask
CONTROL_INIT = "init"  # `ticket/<control>_init.npz`: the control's initial weights


def control_metric(control: str, metric: str) -> str:
    """Control `control`'s `metric` (TEST_ACC or TEST_LOSS) at step R: `<control>_test_acc`, …"""
    return f"{control}_{metric}"


def control_artifact(control: str, holds: str) -> str:
    """Where control `control` keeps what it changed, CONTROL_MASK or CONTROL_INIT (`holds`)."""
    return f"ticket/{control}_{holds}.npz"


# The mask of the random ticket (the control `random`, `lottery.pruning.controls.random_ticket`), which the
# analysis reads.
RANDOM_MASK_ARTIFACT = control_artifact("random", CONTROL_MASK)


# --- The lease on a trial run (`lottery.tracking.lease`): generation g is the param `lottery.lease.<g>`,
# renewed in the tag `lottery.lease`.
TAG_LEASE = "lottery.lease"
LEASE_PARAM_PREFIX = "lottery.lease."

# --- The provenance of a trial run (`lottery.tracking.provenance`): what trained it last, and every device.
TAG_DEVICE = "lottery.device"  # cuda:0, mps, cpu: the device of the session that trained the run last
TAG_DEVICE_NAME = "lottery.device_name"  # NVIDIA H100 80GB HBM3 (sm_90), Apple MPS, the CPU's architecture
TAG_TORCH = "lottery.torch"
TAG_CUDA = "lottery.cuda"  # the CUDA torch was built with; `none` for a build without
TAG_CUDNN = "lottery.cudnn"  # cuDNN's version as torch reports it (e.g. 92400); `none` without
TAG_PRECISION = "lottery.precision"  # `precision`: fp32, or on CUDA its TF32 and determinism
TAG_DEVICES = "lottery.devices"  # every `<device> (<name>)` that trained the run, in order, `; `-separated

# --- The analysis (`analysis.reporting.report`): its experiment, and the params of an analysis run beyond
# its settings' own (`analysis.pipeline.Settings`, named by their fields).
ANALYSIS_EXPERIMENT = "analysis"
PARAM_TICKETS_PER_GROUP = "K"  # the setting `k` (`-K`), under the name the paper gives it
NOTES_ARTIFACT = "notes.txt"  # what the analysis skipped or merged, a line each
PAIRS_ELIGIBLE = "pairs.eligible"  # a condition run's metric: the pairs the condition allows
PAIRS_USED = "pairs.used"  # a condition run's metric: the pairs drawn
PARAM_GROUP_TICKETS = "tickets"  # a patterns run's param: how many tickets its group holds
GROUP_TICKETS_ARTIFACT = "tickets.txt"  # a patterns run's artifact: which, `<label> <run id>` a line
SOURCE_RUNS = "source_runs"  # the param of the trial runs analysed (continued in `.2`, …), and their table
CONFIG_PARAM_PREFIX = "config."  # `config.<dataset>`: the configuration analysed
CONFIG_CHOICE_PARAM_PREFIX = "config_choice."  # `config_choice.<dataset>`: `--config` or `most runs`

# --- An analysis run's tables, each `tables/<name>.json` (as `mlflow.log_table` writes it: the UI shows it as
# a table) and `tables/<name>.csv`, and the figures of it and of its patterns runs, `figures/<name>.png`.
TABLES_FOLDER = "tables"
FIGURES_FOLDER = "figures"
TABLE_1 = "table_1"
TABLE_NNSTD_PM_LAYERS = "table_A1_nnstd_pm_layers"
TABLE_NNSTD_LAYERS = "table_A2_nnstd_layers"
TABLE_PAPER_COMPARISON = "paper_comparison"
TABLE_PATTERNS = "table_A3_patterns"
TOP_PATTERNS = "top_patterns"  # a table of the analysis run and a figure of each patterns run
TABLE_CONTROLS = "controls"
TABLE_PAIRS = "pair_distances"  # SOURCE_RUNS names the table of the source runs
FIGURE_DISTANCES = "fig1_distances"
FIGURE_NNSTD_LAYERS = "figA2_nnstd_layers"
FIGURE_NNSTD_PM_LAYERS = "figA4_nnstd_pm_layers"
FIGURE_FILTERS = "fig2_filters"
FIGURE_COOCCURRENCE_POS = "fig3_cooccurrence_pos"
FIGURE_COOCCURRENCE_NEG = "fig4_cooccurrence_neg"


def table_artifact(name: str, suffix: str = "json") -> str:
    """Where an analysis run keeps table `name`: `.json` (shown as a table in the UI) or `.csv`."""
    return f"{TABLES_FOLDER}/{name}.{suffix}"


def figure_artifact(name: str) -> str:
    return f"{FIGURES_FOLDER}/{name}.png"
