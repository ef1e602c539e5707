"""`python -m experiments.launch VAR MODULE ARGS…`: run `python -m MODULE ARGS…` followed by the words of the
environment variable VAR — what the Makefile uses for TRAIN_ARGS, ANALYZE_ARGS and PYTEST_ARGS.

VAR is split as a shell splits words (quotes honoured: PYTEST_ARGS="-m 'not ray'") but never evaluated: no
command substitution, no globbing, no variables, so any value is safe. The module replaces this process
(same exit status and signals).
"""

from __future__ import annotations

import os
import shlex
import sys

from lottery.errors import UserError, exit_on_user_error


@exit_on_user_error
def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) < 2:
        raise UserError("usage: python -m experiments.launch VAR MODULE [ARGS…]")
    variable, module, *fixed = argv
    try:
        extra = shlex.split(os.environ.get(variable, ""))
    except ValueError as error:
        raise UserError(f"{variable} cannot be split into arguments ({error}): balance its quotes") from None
    os.execv(sys.executable, [sys.executable, "-m", module, *fixed, *extra])


if __name__ == "__main__":
    main()
