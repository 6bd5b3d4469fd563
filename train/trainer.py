"""Trainer pieces of the bag model: the batch collator, the Trainer subclass, and batch reading without it."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch
from transformers import Trainer

from sentiment_batch.preprocessing import flatten

from .optimization import SparseAdagrad


class BagCollator:
    """Batch of reviews → EmbeddingBag's flat `input_ids` + `offsets`, and the `labels` when the reviews have them
    (class ids `[B]`, or class probabilities `[B, C]` for the student of a distillation)."""

    def __call__(self, features: list[dict]) -> dict[str, torch.Tensor]:
        input_ids, offsets = flatten([feature["input_ids"] for feature in features])
        batch = {"input_ids": torch.from_numpy(input_ids), "offsets": torch.from_numpy(offsets)}  # [T], [B]
        if "labels" in features[0]:
            batch["labels"] = torch.tensor([feature["labels"] for feature in features])  # [B] or [B, C]
        return batch


class SentimentTrainer(Trainer):
    """Trainer for the bag model: whole training batches, and clipping of dense gradients only (sparse ones fail)."""

    def create_optimizer(self):
        # Sparse optimizers build their update tensors unchecked; saying so explicitly silences torch's warning.
        torch.sparse.check_sparse_tensor_invariants.disable()
        return super().create_optimizer()

    def get_train_dataloader(self):
        # BatchNorm cannot train on a batch of one review: drop the last batch when it would be that.
        keep = self.args.dataloader_drop_last
        self.args.dataloader_drop_last = keep or len(self.train_dataset) % self._train_batch_size == 1
        try:
            return super().get_train_dataloader()
        finally:
            self.args.dataloader_drop_last = keep

    def _dense_parameters(self, model) -> list[torch.nn.Parameter]:
        return [p for p in model.parameters() if p.grad is not None and not p.grad.is_sparse]

    def _clip_grad_norm(self, model):
        return torch.nn.utils.clip_grad_norm_(self._dense_parameters(model), self.args.max_grad_norm)

    def _get_grad_norm(self, model, grad_norm=None):
        if grad_norm is None:
            grad_norm = torch.nn.utils.clip_grad_norm_(self._dense_parameters(model), float("inf"))
        return float(grad_norm)


def bag_batches(split, batch_size: int = 4096) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]]:
    """Flat `input_ids`, `offsets` and `labels` (None without a labels column) of a tokenized split, from Arrow.

    Args:
        split (`datasets.Dataset`): with an `input_ids` column, and `labels` of class ids or probabilities.
        batch_size (`int`): reviews per batch.
    """
    for batch in split.with_format("arrow").iter(batch_size=batch_size):
        token_lists = batch.column("input_ids").combine_chunks()
        bounds = token_lists.offsets.to_numpy().astype(np.int64)  # [B+1]; a slice's need not start at 0
        yield (
            torch.from_numpy(token_lists.flatten().to_numpy().astype(np.int64)),  # [T]
            torch.from_numpy(bounds[:-1] - bounds[0]),  # [B]
            _labels(batch.column("labels")) if "labels" in batch.column_names else None,  # [B] or [B, C]
        )


def _labels(column) -> torch.Tensor:
    """Class ids `[B]` (int64) or, from a column of probability lists, class probabilities `[B, C]` (float32)."""
    column = column.combine_chunks()
    if not hasattr(column, "flatten"):
        return torch.from_numpy(column.to_numpy().astype(np.int64))
    return torch.from_numpy(column.flatten().to_numpy().astype(np.float32).reshape(len(column), -1))


@torch.inference_mode()
def class_probabilities(model, split) -> np.ndarray:
    """Class probabilities `[reviews, classes]` of a tokenized split, by the model's own `forward`.

    Args:
        model (`SentimentBagForSequenceClassification`): the model, in eval mode.
        split (`datasets.Dataset`): with an `input_ids` column.
    """
    batches = (model(ids, offsets).logits for ids, offsets, _ in bag_batches(split, 1024))
    return torch.cat([torch.softmax(logits, dim=-1) for logits in batches]).numpy()


def make_trainer(model, training_args, train_dataset, eval_dataset, processing_class, callbacks, compute_metrics):
    """The `SentimentTrainer` of one model, with the project's Adagrad and collator, and the run's metrics."""
    # Adagrad's arithmetic with a faster sparse step; any other optimizer comes from TrainingArguments.optim.
    adagrad = (SparseAdagrad, {"lr": training_args.learning_rate}) if training_args.optim == "adagrad" else None
    return SentimentTrainer(
        model=model,
        args=training_args,
        optimizer_cls_and_kwargs=adagrad,
        train_dataset=train_dataset,
        eval_dataset=eval_dataset,
        data_collator=BagCollator(),
        compute_metrics=compute_metrics,
        processing_class=processing_class,
        callbacks=callbacks,
    )
