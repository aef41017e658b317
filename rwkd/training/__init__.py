"""The training step and its Lightning modules: the student's distillation module (one manual-optimization step
for every weighting scheme), the teacher's fine-tuning module, the teacher's signal per batch, checkpoints, and
the per-sample weight log."""
