"""A run's life: compose the objects a run needs (assemble), get a fine-tuned teacher and its logits, train
with resumable checkpoints in resumable folders, record what happened, export and evaluate."""
