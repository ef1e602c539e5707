"""The tracking contract (README, "Tracking contract"): the tag names, roles and artifact paths that trial
runs and analysis runs carry, which scripts and the analysis rely on. Constants only (no torch: the CLI and
the analysis read them without it)."""

from lottery.pruning.controls import random_ticket

# The tags of the tracking contract (README, "Tracking contract").
TAG_ROLE = "lottery.role"
TAG_DATASET = "lottery.dataset"
TAG_TRIAL = "lottery.trial"
TAG_INIT = "lottery.init"
TAG_WINNING = "lottery.winning"
TAG_VERDICT = "lottery.verdict"
TAG_CONFIG = "lottery.config"
TAG_CATEGORY = "lottery.category"
TAG_REWIND_STEP = "lottery.rewind_step"  # k of late rewinding; absent on runs that predate it: 0
ROLE_TRIAL = "trial"
ROLE_ANALYSIS = "analysis"
ROLE_CONDITION = "condition"
ROLE_PATTERNS = "patterns"

# The metrics of a trial run at step r (README, "Tracking contract"); each control adds its own at step R.
TEST_ACC = "test_acc"
TEST_LOSS = "test_loss"
TRAINING_SECONDS = "training_seconds"  # seconds spent training rounds 0..r, across resumptions, gaps excluded

# Marks our experiments as model training (runs, metrics), not GenAI, for MLflow UIs that open an experiment
# by it. The UI of MLflow 3.17 ignores it and opens every experiment by its GenAI / Model training switch:
# links to our runs carry `workflowType=machine_learning` instead (lottery.tracking.uris.browse_url).
EXPERIMENT_KIND = "mlflow.experimentKind"
MODEL_TRAINING = "custom_model_development"

# The artifacts of a trial run (README, "Tracking contract"): .npz files, one array per layer.
INIT_ARTIFACT = "ticket/init.npz"
REWIND_ARTIFACT = "ticket/rewind.npz"  # θ_k, the weights every round resets to; only when k > 0
WINNING_MASK_ARTIFACT = "ticket/winning_mask.npz"
RANDOM_MASK_ARTIFACT = random_ticket.CONTROL.artifact  # declared by the control; so are its metrics


def round_mask_artifact(round_index: int) -> str:
    """The mask trained in round `round_index` (≥ 1)."""
    return f"rounds/{round_index}/mask.npz"
