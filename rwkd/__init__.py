"""rwkd: knowledge distillation on GLUE with per-sample loss weighting (RW-KD)."""

__version__ = "0.1.0"
