"""M5 of `bench.gpu`, in a process of its own so that a compilation past its cap can be stopped:
`python -m bench.gpu_compile MODEL TRAIN_SIZE BATCH STEPS` trains the M3 step with the model compiled by
`torch.compile(mode="reduce-overhead")` (Inductor's kernels, replayed as CUDA graphs) and prints one JSON
line: the seconds of the first 3 steps (compilation and graph recording) and ms/step after them."""

from __future__ import annotations

import json
import sys

import torch

from bench.gpu_steps import EagerStep, Flags, Setup, applied, batch_rows, synthetic, timed

FIRST_STEPS = 3


def main(argv: list[str]) -> None:
    model, size, batch_size, steps = argv[0], *map(int, argv[1:])
    device = torch.device("cuda")
    setup = Setup.on(model, *synthetic(size, device))
    rows = batch_rows(size, batch_size, FIRST_STEPS + steps, device, 0)
    with applied(Flags()):
        eager = EagerStep(setup, Flags(), fused=True)
        eager.net = torch.compile(eager.net, mode="reduce-overhead")

        def step(index: torch.Tensor) -> None:
            torch.compiler.cudagraph_mark_step_begin()  # a new iteration: earlier graph outputs may be reused
            eager(index)

        first = timed(device, lambda: [step(index) for index in rows[:FIRST_STEPS]])
        seconds = timed(device, lambda: [step(index) for index in rows[FIRST_STEPS:]])
    print(json.dumps({"compile_s": first, "ms_per_step": 1000 * seconds / steps}))


if __name__ == "__main__":
    main(sys.argv[1:])
