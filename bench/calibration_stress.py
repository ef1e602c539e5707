"""The ticket-level test under stronger ticket effects than IMP gives: `python -m bench calibration_stress`.

As part 2 of `bench.calibration` (real-ticket-like masks through the real distance code, H0 true), but
with every ticket keeping its own fraction ~ U(0.3, 0.45) of every layer (the issue's stress test: its
ticket share for NNSTD is about 0.7, twice and more what 12 real digits trials show), or one such fraction
for the two tickets of a θ0 (a θ0-level effect). Not part of `make bench`: about half an hour on 2 cores.
"""

from __future__ import annotations

from bench.calibration import ALPHAS, real_table

STRESS_SETTINGS = ((8, "ticket", 1000), (20, "ticket", 1000), (20, "θ0", 400))


def main() -> None:
    header = " | ".join(f"α = {alpha:g}" for alpha in ALPHAS)
    print("Real-ticket-like masks with strong ticket effects, H0: false positives (%)\n")
    print(
        f"| tickets per group | kept fraction per | replications | condition | metric | median ticket share "
        f"| method | {header} |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    print("\n".join(real_table(STRESS_SETTINGS)), flush=True)
