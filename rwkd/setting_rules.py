"""What a setting accepts, as small rules with one-line errors (`problem` names the key, the bad value and what
is accepted). The config validator (rwkd/config/settings.py) holds the run's table of them; each weighting scheme
declares its own next to its code (`WeightingScheme.SETTINGS`)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from omegaconf import DictConfig, ListConfig, OmegaConf

from rwkd.errors import RwkdError


@dataclass(frozen=True)
class Number:
    integer: bool = False
    low: float | None = None
    high: float | None = None
    low_open: bool = False  # the low end itself is not accepted
    high_open: bool = False
    optional: bool = False  # null is accepted

    def accepted(self) -> str:
        kind = "an integer" if self.integer else "a number"
        if self.low is not None and self.high is not None:
            kind += f" in {'(' if self.low_open else '['}{self.low:g}, {self.high:g}{')' if self.high_open else ']'}"
        elif self.low is not None:
            kind += f" {'>' if self.low_open else '>='} {self.low:g}"
        elif self.high is not None:
            kind += f" {'<' if self.high_open else '<='} {self.high:g}"
        return f"null or {kind}" if self.optional else kind

    def problem(self, key: str, value) -> str | None:
        if value is None:
            return None if self.optional else f"{key} is null; accepted: {self.accepted()}"
        number = _as_number(value, self.integer)
        if number is None:
            return f"{key}={value!r} is not {self.accepted()}"
        below = self.low is not None and (number <= self.low if self.low_open else number < self.low)
        above = self.high is not None and (number >= self.high if self.high_open else number > self.high)
        if below or above:
            low = "-inf" if self.low is None else f"{self.low:g}"
            high = "inf" if self.high is None else f"{self.high:g}"
            interval = f"{'(' if self.low_open or self.low is None else '['}{low}, {high}{')' if self.high_open or self.high is None else ']'}"
            return f"{key}={value} is outside {interval}; accepted: {self.accepted()}"
        return None


def _as_number(value, integer: bool) -> float | None:
    if isinstance(value, bool):  # YAML's true/false are not numbers here
        return None
    if integer:
        return value if isinstance(value, int) else None
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):  # YAML reads 1e-4 (no dot) as a string
        try:
            number = float(value)
        except ValueError:
            return None
    else:
        return None
    return number if math.isfinite(number) else None


@dataclass(frozen=True)
class Flag:
    optional: bool = False

    def problem(self, key: str, value) -> str | None:
        if isinstance(value, bool) or (value is None and self.optional):
            return None
        return f"{key}={value!r} is not {'null, true or false' if self.optional else 'true or false'}"


@dataclass(frozen=True)
class OneOf:
    choices: tuple[str, ...]
    note: str = ""  # what else does the job, e.g. another key

    def problem(self, key: str, value) -> str | None:
        if value in self.choices:
            return None
        return f"{key}={value!r} is unknown; accepted: {', '.join(self.choices)}{self.note}"


@dataclass(frozen=True)
class SubsetOf:
    choices: tuple[str, ...]

    def problem(self, key: str, value) -> str | None:
        items = list(value) if isinstance(value, list | tuple | ListConfig) else None
        if not items or any(v not in self.choices for v in items):
            return f"{key}={_show(value)} is not a non-empty list of {', '.join(self.choices)}"
        return None


def _show(value) -> str:
    return str(OmegaConf.to_container(value)) if isinstance(value, ListConfig | DictConfig) else repr(value)


POSITIVE = Number(low=0, low_open=True)
NON_NEGATIVE = Number(low=0)
FRACTION = Number(low=0, high=1)
INTEGER = Number(integer=True)
COUNT = Number(integer=True, low=1)


def check_values(prefix: str, rules: Mapping, values: Mapping) -> None:
    """Raises RwkdError for the first of `values` its rule refuses; keys without a rule, or absent, are not checked."""
    for key, rule in rules.items():
        if key in values and (problem := rule.problem(f"{prefix}{key}", values[key])) is not None:
            raise RwkdError(problem)
