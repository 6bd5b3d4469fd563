"""`sentiment-batch train`: fit the tokenizer, tokenize with datasets, train with transformers.Trainer, save."""

from __future__ import annotations

import dataclasses
import json
import logging
import shutil
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from tokenizers import Tokenizer
from transformers import HfArgumentParser, Trainer, TrainingArguments, set_seed

from sentiment_batch.errors import UserError
from sentiment_batch.preprocessing import encode_ids, flatten

from . import tracking
from .configuration import SentimentBagConfig
from .data import load_splits
from .metrics import build_compute_metrics, load_metric
from .model_card import write_model_card
from .modeling import SentimentBagForSequenceClassification
from .naive_bayes import log_count_ratios
from .optimization import SparseAdagrad
from .tokenization import PAD_TOKEN, save_tokenizer, train_tokenizer

logger = logging.getLogger(__name__)


@dataclass
class DataArguments:
    dataset: str = field(
        default="stanfordnlp/imdb",
        metadata={
            "help": "Hub id, aclImdb folder, aclImdb_v1.tar.gz-shaped tarball, or parquet/csv/jsonl file(s) "
            "with text and label columns."
        },
    )
    validation_size: float = field(
        default=0.1, metadata={"help": "Validation share of train (0-1) or row count; grouped by movie when known."}
    )
    max_train_samples: int | None = field(default=None, metadata={"help": "Keep only this many training rows."})
    overwrite_output_dir: bool = field(default=False, metadata={"help": "Replace a non-empty --output_dir."})


@dataclass
class ModelArguments:
    vocab_size: int = field(default=50000, metadata={"help": "Most words in the tokenizer, special tokens included."})
    min_frequency: int = field(default=2, metadata={"help": "Fewest occurrences for a word to get its own id."})
    embedding_dim: int = field(default=8, metadata={"help": "Width of the EmbeddingBag rows."})
    hidden_dims: list[int] = field(
        default_factory=lambda: [16], metadata={"help": "One Linear-BatchNorm-ReLU-Dropout block per width."}
    )
    dropout: float = field(default=0.2, metadata={"help": "Dropout of the hidden blocks."})
    ngram_size: int = field(default=3, metadata={"help": "Longest word n-gram in the bag (1 = words only)."})
    num_buckets: int = field(default=1 << 22, metadata={"help": "Hashed rows shared by the n-grams."})
    pooling: str = field(default="sqrt", metadata={"help": "Bag sum divided by the n-gram count's sqrt, or mean."})
    feature_weighting: bool = field(
        default=True, metadata={"help": "Weigh rows by naive Bayes log-count ratios and start the table from them."}
    )
    feature_dropout: float = field(default=0.0, metadata={"help": "Share of bag entries dropped while training."})
    distinct_ngrams: bool = field(
        default=True, metadata={"help": "Count each word and n-gram once per review (binarized features)."}
    )


# TrainingArguments defaults of the best run found on the movie-grouped validation split.
TRAINING_DEFAULTS = {
    "num_train_epochs": 2.0,
    "learning_rate": 0.02,
    # Adagrad takes the table's sparse gradients; Adam does not.
    "optim": "adagrad",
    "weight_decay": 0.0,
    "per_device_train_batch_size": 64,
    "per_device_eval_batch_size": 1024,
    "eval_strategy": "epoch",
    "save_strategy": "epoch",
    "save_only_model": True,
    "save_total_limit": 1,
    "load_best_model_at_end": True,
    "metric_for_best_model": "accuracy",
    "logging_steps": 50,
    "report_to": "wandb",
    # Pinned memory only speeds copies to an accelerator; without one, torch warns on every run.
    "dataloader_pin_memory": torch.accelerator.is_available(),
}


def build_parser() -> HfArgumentParser:
    """The `train` parser: data, model and every TrainingArguments flag."""
    parser = HfArgumentParser(
        (DataArguments, ModelArguments, TrainingArguments),
        prog="sentiment-batch train",
        description="Train the sentiment model. Pass flags, or one JSON/YAML file holding them.",
    )
    parser.set_defaults(**TRAINING_DEFAULTS)
    return parser


def read_config(path: str) -> dict:
    """The arguments held in a JSON or YAML config file."""
    import yaml

    try:
        with open(path, encoding="utf-8") as file:
            values = json.load(file) if path.endswith(".json") else yaml.safe_load(file)
    except (OSError, ValueError, yaml.YAMLError) as error:
        raise UserError(f"cannot read config file {path}: {' '.join(str(error).split())}") from error
    if not isinstance(values, dict):
        raise UserError(f"config file {path} must hold a mapping of argument names to values")
    return values


def parse_arguments(argv: list[str]) -> tuple[DataArguments, ModelArguments, TrainingArguments]:
    """Parse flags, or a single JSON/YAML config file, into the three argument dataclasses.

    Args:
        argv (`list[str]`): the arguments after `train`.
    """
    parser = build_parser()
    try:
        if len(argv) == 1 and argv[0].endswith((".json", ".yaml", ".yml")):
            if not Path(argv[0]).is_file():
                raise UserError(f"config file {argv[0]} does not exist")
            data_args, model_args, training_args = parser.parse_dict({**TRAINING_DEFAULTS, **read_config(argv[0])})
        else:
            data_args, model_args, training_args = parser.parse_args_into_dataclasses(args=argv)
    except ValueError as error:  # TrainingArguments checks its own flags in __post_init__
        raise UserError(" ".join(str(error).split())) from error
    if not training_args.output_dir:
        raise UserError("--output_dir is required")
    return data_args, model_args, training_args


class BagCollator:
    """Batch of reviews → EmbeddingBag's flat `input_ids` + `offsets` and the `labels`."""

    def __call__(self, features: list[dict]) -> dict[str, torch.Tensor]:
        input_ids, offsets = flatten([feature["input_ids"] for feature in features])
        return {
            "input_ids": torch.from_numpy(input_ids),  # [T]
            "offsets": torch.from_numpy(offsets),  # [B]
            "labels": torch.tensor([feature["labels"] for feature in features]),  # [B]
        }


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


def bag_batches(split, batch_size: int = 4096) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """Flat `input_ids`, `offsets` and `labels` of a tokenized split, read from its Arrow columns.

    Args:
        split (`datasets.Dataset`): with `input_ids` and `labels` columns.
        batch_size (`int`): reviews per batch.
    """
    for batch in split.with_format("arrow").iter(batch_size=batch_size):
        token_lists = batch.column("input_ids").combine_chunks()
        bounds = token_lists.offsets.to_numpy().astype(np.int64)  # [B+1]; a slice's need not start at 0
        yield (
            torch.from_numpy(token_lists.flatten().to_numpy().astype(np.int64)),  # [T]
            torch.from_numpy(bounds[:-1] - bounds[0]),  # [B]
            torch.from_numpy(batch.column("labels").to_numpy().astype(np.int64)),  # [B]
        )


@lru_cache(maxsize=2)
def _tokenizer_from_json(tokenizer_json: str) -> Tokenizer:
    return Tokenizer.from_str(tokenizer_json)


def tokenize_batch(batch: dict, tokenizer_json: str) -> dict:
    """`Dataset.map` function; the tokenizer travels as JSON so the cache key follows its content."""
    return {"input_ids": encode_ids(_tokenizer_from_json(tokenizer_json), batch["text"])}


def tokenize_splits(splits, tokenizer: Tokenizer):
    """Token ids and `labels` of every split, cached by `datasets`.

    Args:
        splits (`datasets.DatasetDict`): from `load_splits`.
        tokenizer (`Tokenizer`): the trained tokenizer.
    """
    encoded = splits.map(
        tokenize_batch,
        batched=True,
        batch_size=2000,
        fn_kwargs={"tokenizer_json": tokenizer.to_str()},
        desc="Tokenizing",
    )
    encoded = encoded.rename_column("label", "labels")
    return encoded.select_columns(["input_ids", "labels"])


def fit_tokenizer(train_split, model_args: ModelArguments) -> Tokenizer:
    """Train the tokenizer on the training split's texts only."""
    batches = (train_split[start : start + 2000]["text"] for start in range(0, len(train_split), 2000))
    return train_tokenizer(batches, model_args.vocab_size, model_args.min_frequency, length=len(train_split))


def build_model(model_args: ModelArguments, tokenizer: Tokenizer) -> SentimentBagForSequenceClassification:
    """A fresh model sized to the tokenizer's vocabulary."""
    config = SentimentBagConfig(
        vocab_size=tokenizer.get_vocab_size(),
        embedding_dim=model_args.embedding_dim,
        hidden_dims=model_args.hidden_dims,
        dropout=model_args.dropout,
        ngram_size=model_args.ngram_size,
        num_buckets=model_args.num_buckets,
        pooling=model_args.pooling,
        feature_weighting=model_args.feature_weighting,
        feature_dropout=model_args.feature_dropout,
        distinct_ngrams=model_args.distinct_ngrams,
        pad_token_id=tokenizer.token_to_id(PAD_TOKEN),
    )
    return SentimentBagForSequenceClassification(config)


def check_output_dir(output_dir: Path, overwrite: bool) -> None:
    """Refuse to mix a new model into a folder that already holds something."""
    if output_dir.exists() and not output_dir.is_dir():
        raise UserError(f"--output_dir {output_dir} is a file")
    if output_dir.is_dir() and any(output_dir.iterdir()) and not overwrite:
        raise UserError(f"--output_dir {output_dir} is not empty; pass --overwrite_output_dir to replace it")


def publish(staging: Path, output_dir: Path) -> None:
    """Move the finished model folder into place, dropping Trainer's checkpoints."""
    for checkpoint in staging.glob("checkpoint-*"):
        shutil.rmtree(checkpoint)
    if output_dir.exists():
        shutil.rmtree(output_dir)
    staging.rename(output_dir)


def evaluate_and_save(trainer: Trainer, encoded, train_result) -> tuple[dict, object]:
    """Final validation and test metrics into the HF metrics files; returns them and the reported split's output."""
    trainer.save_metrics("train", train_result.metrics)
    metrics = dict(train_result.metrics)
    reported = None
    for split, prefix in (("validation", "eval"), ("test", "test")):
        if split not in encoded:
            continue
        reported = trainer.predict(encoded[split], metric_key_prefix=prefix)
        trainer.log(reported.metrics)
        trainer.log_metrics(prefix, reported.metrics)
        trainer.save_metrics(prefix, reported.metrics)
        metrics.update(reported.metrics)
    return metrics, reported


def run_training(data_args, model_args, training_args, staging: Path, output_dir: Path) -> dict:
    """Everything between parsed arguments and a finished folder in `staging`; returns the final metrics."""
    set_seed(training_args.seed)
    splits = load_splits(data_args.dataset, data_args.validation_size, training_args.seed)
    if data_args.max_train_samples is not None:
        splits["train"] = splits["train"].shuffle(seed=training_args.seed).select(range(data_args.max_train_samples))
    tokenizer = fit_tokenizer(splits["train"], model_args)
    encoded = tokenize_splits(splits, tokenizer)
    model = build_model(model_args, tokenizer)
    if model.config.feature_weighting:
        ratios = log_count_ratios(bag_batches(encoded["train"]), model.config)
        model.init_from_naive_bayes(ratios, torch.Generator().manual_seed(training_args.seed))
    # Adagrad's arithmetic with a faster sparse step; any other optimizer comes from TrainingArguments.optim.
    adagrad = (SparseAdagrad, {"lr": training_args.learning_rate}) if training_args.optim == "adagrad" else None
    trainer = SentimentTrainer(
        model=model,
        args=training_args,
        optimizer_cls_and_kwargs=adagrad,
        train_dataset=encoded["train"],
        eval_dataset=encoded["validation"],
        data_collator=BagCollator(),
        compute_metrics=build_compute_metrics(load_metric()),
        processing_class=save_tokenizer(tokenizer, staging),
    )
    train_result = trainer.train()
    trainer.save_model(str(staging))
    metrics, reported = evaluate_and_save(trainer, encoded, train_result)
    settings = {**dataclasses.asdict(data_args), **dataclasses.asdict(model_args), "seed": training_args.seed}
    settings.update({name: getattr(training_args, name) for name in ("learning_rate", "num_train_epochs", "optim")})
    sizes = {name: len(split) for name, split in splits.items()}
    write_model_card(staging, output_dir.name, model.config, data_args.dataset, sizes, settings, metrics)
    if "wandb" in training_args.report_to:
        labels = list(model.config.id2label.values())
        tracking.log_final_results(metrics, reported.predictions.argmax(-1), reported.label_ids, labels)
    return metrics


def main(argv: list[str] | None = None) -> int:
    """Run `sentiment-batch train`.

    Args:
        argv (`list[str] | None`): the arguments after `train`; `sys.argv[2:]` when None.
    """
    data_args, model_args, training_args = parse_arguments(sys.argv[2:] if argv is None else list(argv))
    output_dir = Path(training_args.output_dir).resolve()
    check_output_dir(output_dir, data_args.overwrite_output_dir)
    # Everything is written to a sibling folder and renamed at the end: a failed run leaves nothing behind.
    staging = output_dir.parent / f".{output_dir.name}.partial"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    training_args.output_dir = str(staging)
    if "wandb" in training_args.report_to:
        tracking.prepare_wandb(staging)
    try:
        metrics = run_training(data_args, model_args, training_args, staging, output_dir)
        publish(staging, output_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    summary = ", ".join(f"{name} {metrics[name]:.4f}" for name in ("eval_accuracy", "test_accuracy") if name in metrics)
    print(f"Model saved to {output_dir} ({summary})")
    return 0
