"""What one IMP run found, in memory: θ0 and θ_k, the mask each round trained, each round's evaluation, each
control's, and the verdict — `IterativeMagnitudePruning.tickets`, and the callback's state in a checkpoint.

The masks are nested (a pruned weight never returns), so one small integer per weight holds them all: one
more than the last round that trained it, `KEPT` while it survives. The mask round r trained is
{trained_until > r}.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from lottery.pruning import mask as masks
from lottery.tracking import contract
from lottery.training.verdict import Verdict

KEPT = 255  # `trained_until` of a surviving weight; rounds are at most lottery.hparams.MAX_ROUNDS = 100


@dataclass(frozen=True)
class RoundResult:
    """Round `round` trained `mask` to `test_acc` (the monitored metric) and `test_loss` (None where no loss
    is monitored); `next_mask` is what round + 1 trains (None after the last round); `seconds` is the time
    spent training rounds 0..round."""

    round: int
    mask: masks.Mask
    test_acc: float
    test_loss: float | None
    next_mask: masks.Mask | None
    seconds: float

    @property
    def evaluation(self) -> dict[str, float]:
        """The round's metrics as the tracking contract names them."""
        values = {contract.TEST_ACC: self.test_acc, contract.TRAINING_SECONDS: self.seconds}
        return values if self.test_loss is None else {**values, contract.TEST_LOSS: self.test_loss}


@dataclass(frozen=True)
class Evaluation:
    """The monitored accuracy (fraction) and loss (None where none is monitored) at the end of a round or a
    control."""

    acc: float
    loss: float | None


class Tickets:
    """The prunable `layers` in forward order; `theta0` and `rewind_point` (θ_k, None until step k) hold each
    one's weights (CPU). Known from round `first_round` on: a run resumed from a tracked round knows
    neither earlier masks nor earlier evaluations."""

    def __init__(
        self, theta0: dict[str, torch.Tensor] | None, start: masks.Mask | None = None, first_round: int = 0
    ) -> None:
        """From θ0 and the mask of round `first_round` (None: θ0's full mask; θ0 None: unknown, e.g. to a
        trial resumed at its controls)."""
        start = start if start is not None else masks.full(theta0)
        self.layers = tuple(start)
        self.theta0, self.rewind_point = theta0, None
        self.first_round = first_round
        # a weight pruned before `first_round` was last trained in a round not known here: before it
        self.trained_until = {
            name: torch.where(start[name], KEPT, first_round).to(torch.uint8) for name in self.layers
        }
        self.rounds: dict[int, Evaluation] = {}
        self.seconds: dict[int, float] = {}  # round r -> seconds spent training rounds 0..r
        self.controls: dict[str, Evaluation] = {}
        self.verdict: Verdict | None = None

    @property
    def shapes(self) -> dict[str, torch.Size]:
        """Each prunable layer's weight shape."""
        return {name: until.shape for name, until in self.trained_until.items()}

    def mask(self, round_index: int) -> masks.Mask:
        """The mask round `round_index` trained (or trains); ValueError for a round before `first_round`."""
        if round_index < self.first_round:
            raise ValueError(f"round {round_index} precedes round {self.first_round}, where this run resumed")
        return {name: until > round_index for name, until in self.trained_until.items()}

    @property
    def current_mask(self) -> masks.Mask:
        return {name: until == KEPT for name, until in self.trained_until.items()}

    def add_round(
        self, round_index: int, evaluation: Evaluation, seconds: float, next_mask: masks.Mask | None
    ) -> RoundResult:
        """Record round `round_index` — its evaluation, the seconds spent training rounds 0..r — and the mask
        the next round trains (nested in this one's; None after the last round)."""
        trained = self.current_mask
        self.rounds[round_index], self.seconds[round_index] = evaluation, seconds
        if next_mask is not None:
            for name, until in self.trained_until.items():
                until[trained[name] & ~next_mask[name]] = round_index + 1
        return RoundResult(round_index, trained, evaluation.acc, evaluation.loss, next_mask, seconds)

    def result(self, round_index: int, last: bool) -> RoundResult:
        """Round `round_index` as it ended, from the history; `last`: the protocol's last round."""
        evaluation = self.rounds[round_index]
        following = None if last else self.mask(round_index + 1)
        mask = self.mask(round_index)
        return RoundResult(
            round_index, mask, evaluation.acc, evaluation.loss, following, self.seconds[round_index]
        )

    def state(self) -> dict:
        """Plain tensors, numbers and strings (a checkpoint loads it with `weights_only=True`)."""
        return {
            "theta0": self.theta0,
            "rewind_point": self.rewind_point,
            "first_round": self.first_round,
            "trained_until": self.trained_until,
            "rounds": {r: [e.acc, e.loss, self.seconds[r]] for r, e in self.rounds.items()},
            "controls": {name: [e.acc, e.loss] for name, e in self.controls.items()},
        }

    @classmethod
    def from_state(cls, state: dict) -> Tickets:
        tickets = cls(state["theta0"], first_round=state["first_round"])
        tickets.rewind_point, tickets.trained_until = state["rewind_point"], state["trained_until"]
        tickets.rounds = {int(r): Evaluation(acc, loss) for r, (acc, loss, _) in state["rounds"].items()}
        tickets.seconds = {int(r): seconds for r, (_, _, seconds) in state["rounds"].items()}
        tickets.controls = {name: Evaluation(*values) for name, values in state["controls"].items()}
        return tickets
