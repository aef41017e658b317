"""One error type for everything a user can get wrong; the CLI prints it as one line and exits non-zero."""

from __future__ import annotations

import sys
from collections.abc import Callable


class RwkdError(Exception):
    """A problem with the user's input (config, data, checkpoint), reported without a traceback."""


class NotApplicable(RwkdError):
    """A combination that is undefined rather than wrong (a rule that needs class probabilities, on a
    regression task): one run stops with the reason; a sweep job records it and the sweep is not failed."""

    def __init__(self, reason: str, *, task: str, scheme: str):
        super().__init__(reason)
        self.task, self.scheme = task, scheme


def find_rwkd_error(exc: BaseException | None) -> RwkdError | None:
    """The RwkdError behind exc, if any: Hydra and Lightning wrap errors raised in user code."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, RwkdError):
            return exc
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return None


def run_as_command(main: Callable[[], int]) -> None:
    """Runs a module's `main` as a command (`python -m rwkd.study.units ...`): its exit code, and an RwkdError as
    one line on stderr and exit 2, as the CLI gives it."""
    try:
        code = main()
    except RwkdError as err:
        print(f"rwkd: {err}", file=sys.stderr)
        raise SystemExit(2) from None
    raise SystemExit(code)
