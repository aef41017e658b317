"""Weighting schemes: one file each, one contract (base.WeightingScheme.weights)."""

from rwkd.weighting.base import Signals, WeightingScheme

__all__ = ["Signals", "WeightingScheme"]
