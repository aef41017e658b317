"""One error type for everything a user can get wrong; the CLI prints it as one line and exits non-zero."""

from __future__ import annotations


class RwkdError(Exception):
    """A problem with the user's input (config, data, checkpoint), reported without a traceback."""


def find_rwkd_error(exc: BaseException | None) -> RwkdError | None:
    """The RwkdError behind exc, if any: Hydra and Lightning wrap errors raised in user code."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, RwkdError):
            return exc
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return None
