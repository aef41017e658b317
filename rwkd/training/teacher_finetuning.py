"""The teacher's fine-tuning on the task's labels: the plain supervised objective, with no teacher of its
own and no weighting. The teacher stage (rwkd/teacher/finetune.py) runs it once per task and caches the
result."""

from __future__ import annotations

from rwkd import losses
from rwkd.models import model_inputs
from rwkd.training.classifier_module import ClassifierModule


class TeacherFineTuning(ClassifierModule):
    model_attr = "teacher"

    def training_step(self, batch: dict, batch_idx: int):
        logits = self.teacher(**model_inputs(batch)).logits
        loss = losses.label_loss(logits, batch["labels"], self.task.is_regression).mean()
        if not self.stop_or_skip(loss):
            lr = self.apply_update(loss)
            self.log_dict({"train/loss": loss.detach(), "train/lr": lr}, on_step=True, on_epoch=False)
        self.count_step(batch)
        return loss.detach()
