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
ROLE_TRIAL = "trial"
ROLE_ANALYSIS = "analysis"
ROLE_CONDITION = "condition"
ROLE_PATTERNS = "patterns"

# Opens our experiments in the MLflow UI's model-training view (runs, metrics), not the GenAI one.
EXPERIMENT_KIND = "mlflow.experimentKind"
MODEL_TRAINING = "custom_model_development"

# The artifacts of a trial run (README, "Tracking contract"): .npz files, one array per layer.
INIT_ARTIFACT = "ticket/init.npz"
WINNING_MASK_ARTIFACT = "ticket/winning_mask.npz"
RANDOM_MASK_ARTIFACT = random_ticket.CONTROL.artifact  # declared by the control; so are its metrics


def round_mask_artifact(round_index: int) -> str:
    """The mask trained in round `round_index` (≥ 1)."""
    return f"rounds/{round_index}/mask.npz"
