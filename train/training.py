"""`sentiment-batch train`: fit the tokenizer, tokenize with datasets, train with transformers.Trainer, save."""

from __future__ import annotations

import dataclasses
import json
import logging
import os
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
from sentiment_batch.publish import check_output, staged_folder

from . import tracking
from .configuration import SentimentBagConfig, config_defaults
from .data import DEFAULT_HUB_DATASET, load_splits
from .metrics import build_compute_metrics, load_metric
from .model_card import write_model_card
from .modeling import SentimentBagForSequenceClassification
from .naive_bayes import log_count_ratios
from .optimization import SparseAdagrad
from .tokenization import PAD_TOKEN, save_tokenizer, train_tokenizer

logger = logging.getLogger(__name__)


def config_field(name: str, help: str):
    """A dataclass field whose default is `SentimentBagConfig`'s, the one source of the model's defaults."""
    default = config_defaults()[name]
    if isinstance(default, (list, tuple)):
        return field(default_factory=lambda: list(default), metadata={"help": help})
    return field(default=default, metadata={"help": help})


@dataclass
class DataArguments:
    dataset: str = field(
        default=DEFAULT_HUB_DATASET,
        metadata={
            "help": "Hub id, aclImdb folder, aclImdb_v1.tar.gz-shaped tarball, or parquet/csv/jsonl file(s) "
            "with text and label columns."
        },
    )
    validation_size: float = field(
        default=0.1, metadata={"help": "Validation share of train (0-1) or row count; grouped by movie when known."}
    )
    max_train_samples: int | None = field(default=None, metadata={"help": "Keep only this many training rows."})
    overwrite: bool = field(
        default=False,
        metadata={"help": "Replace an existing output folder.", "aliases": ["--overwrite_output_dir"]},
    )


@dataclass
class ModelArguments:
    vocab_size: int = config_field("vocab_size", "Most words in the tokenizer, special tokens included.")
    min_frequency: int = field(default=2, metadata={"help": "Fewest occurrences for a word to get its own id."})
    embedding_dim: int = config_field("embedding_dim", "Width of the EmbeddingBag rows.")
    hidden_dims: list[int] = config_field("hidden_dims", "One Linear-BatchNorm-ReLU-Dropout block per width.")
    dropout: float = config_field("dropout", "Dropout of the hidden blocks.")
    ngram_size: int = config_field("ngram_size", "Longest word n-gram in the bag (1 = words only).")
    num_buckets: int = config_field("num_buckets", "Hashed rows shared by the n-grams.")
    pooling: str = config_field("pooling", "Bag sum divided by the n-gram count's sqrt, or mean.")
    feature_weighting: bool = config_field(
        "feature_weighting", "Weigh rows by naive Bayes log-count ratios and start the table from them."
    )
    feature_dropout: float = config_field("feature_dropout", "Share of bag entries dropped while training.")
    distinct_ngrams: bool = config_field(
        "distinct_ngrams", "Count each word and n-gram once per review (binarized features)."
    )


@dataclass
class SentimentTrainingArguments(TrainingArguments):
    output_dir: str | None = field(
        default=None, metadata={"help": "The model folder to write.", "aliases": ["--output"]}
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


ARGUMENT_CLASSES = (DataArguments, ModelArguments, SentimentTrainingArguments)


def build_parser() -> HfArgumentParser:
    """The `train` parser: data, model and every TrainingArguments flag."""
    parser = HfArgumentParser(
        ARGUMENT_CLASSES,
        prog="sentiment-batch train",
        description="Train the sentiment model. Pass flags, or one JSON/YAML file holding them. "
        "The output folder appears complete or not at all; an existing one is only replaced with --overwrite.",
    )
    parser.set_defaults(**TRAINING_DEFAULTS)
    return parser


def read_config(path: str) -> dict:
    """The arguments held in a JSON or YAML config file."""
    import yaml

    if not Path(path).is_file():
        raise UserError(f"config file {path} does not exist")
    try:
        with open(path, encoding="utf-8") as file:
            values = json.load(file) if path.endswith(".json") else yaml.safe_load(file)
    except (OSError, ValueError, yaml.YAMLError) as error:
        raise UserError(f"cannot read config file {path}: {' '.join(str(error).split())}") from error
    if not isinstance(values, dict):
        raise UserError(f"config file {path} must hold a mapping of argument names to values")
    return values


def arguments_from_dict(values: dict) -> tuple[DataArguments, ModelArguments, TrainingArguments]:
    """The three argument dataclasses from argument names and values; unknown names are an error.

    Args:
        values (`dict`): argument names (as in a config file) and values; the rest take their defaults.
    """
    try:
        return build_parser().parse_dict({**TRAINING_DEFAULTS, **values})
    except ValueError as error:  # unknown keys, and TrainingArguments' own checks in __post_init__
        raise UserError(" ".join(str(error).split())) from error


def parse_arguments(argv: list[str]) -> tuple[DataArguments, ModelArguments, TrainingArguments]:
    """Parse flags, or a single JSON/YAML config file, into the three argument dataclasses.

    Args:
        argv (`list[str]`): the arguments after `train`.
    """
    if len(argv) == 1 and argv[0].endswith((".json", ".yaml", ".yml")):
        return arguments_from_dict(read_config(argv[0]))
    try:
        return build_parser().parse_args_into_dataclasses(args=argv)
    except ValueError as error:  # TrainingArguments checks its own flags in __post_init__
        raise UserError(" ".join(str(error).split())) from error


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
    """A fresh model sized to the tokenizer's vocabulary, with every other config value from `model_args`."""
    settings = {name: getattr(model_args, name) for name in config_defaults() if hasattr(model_args, name)}
    settings.update(vocab_size=tokenizer.get_vocab_size(), pad_token_id=tokenizer.token_to_id(PAD_TOKEN))
    return SentimentBagForSequenceClassification(SentimentBagConfig(**settings))


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


def run_training(data_args, model_args, training_args, output_dir: Path) -> dict:
    """Everything between parsed arguments and a finished model in `training_args.output_dir`; returns the metrics."""
    staging = Path(training_args.output_dir)
    set_seed(training_args.seed)
    splits = load_splits(data_args.dataset, data_args.validation_size, training_args.seed)
    if data_args.max_train_samples is not None:
        splits["train"] = splits["train"].shuffle(seed=training_args.seed).select(range(data_args.max_train_samples))
    tokenizer = fit_tokenizer(splits["train"], model_args)
    encoded = tokenize_splits(splits, tokenizer)
    model = build_model(model_args, tokenizer)
    if model.config.feature_weighting:
        ratios = log_count_ratios(bag_batches(encoded["train"]), model.config)
        model.bag.init_from_naive_bayes(ratios, torch.Generator().manual_seed(training_args.seed))
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
    for checkpoint in staging.glob("checkpoint-*"):  # the best one is loaded and saved above
        shutil.rmtree(checkpoint)
    metrics, reported = evaluate_and_save(trainer, encoded, train_result)
    settings = {**dataclasses.asdict(data_args), **dataclasses.asdict(model_args), "seed": training_args.seed}
    settings.update({name: getattr(training_args, name) for name in ("learning_rate", "num_train_epochs", "optim")})
    sizes = {name: len(split) for name, split in splits.items()}
    write_model_card(staging, output_dir.name, model.config, data_args.dataset, sizes, settings, metrics)
    if "wandb" in training_args.report_to:
        labels = list(model.config.id2label.values())
        tracking.log_final_results(metrics, reported.predictions.argmax(-1), reported.label_ids, labels)
    return metrics


def train_from_arguments(data_args, model_args, training_args) -> dict:
    """Train into a staging folder beside `training_args.output_dir` and publish it there; returns the metrics."""
    if not training_args.output_dir:
        raise UserError("no output folder given")
    output_dir = Path(training_args.output_dir).resolve()
    check_output(output_dir, overwrite=data_args.overwrite, folder=True)
    with staged_folder(output_dir, overwrite=data_args.overwrite) as staging:
        training_args.output_dir = str(staging)
        with tracking.wandb_run_folder(staging, enabled="wandb" in training_args.report_to):
            metrics = run_training(data_args, model_args, training_args, output_dir)
    training_args.output_dir = str(output_dir)
    if "wandb" in training_args.report_to:
        tracking.print_sync_hint(output_dir)
    return metrics


def train(dataset: str, output_dir: str | Path, **settings) -> dict:
    """Train a model on labelled reviews and save it, the Hugging Face way, in `output_dir`.

    As fastText's `train_supervised`: the data and plain keyword settings, each with the CLI's default.
    The folder appears complete or not at all.

    Args:
        dataset (`str`): a Hub id, an aclImdb folder (or its parent) or tarball, or Parquet/CSV/JSONL file(s)
            with `text` and `label` columns.
        output_dir (`str | Path`): the model folder to write; it must not exist unless `overwrite=True`.
        **settings: any `sentiment-batch train` setting by its name: model settings (`embedding_dim`,
            `hidden_dims`, `distinct_ngrams`, ...), data settings (`validation_size`, `overwrite`, ...) and
            `transformers.TrainingArguments` (`num_train_epochs`, `learning_rate`, `seed`, `report_to`, ...).

    Returns:
        `dict`: the final metrics (`eval_accuracy`, `eval_f1`, ... and `test_*` when the data has a test split),
        as saved in `all_results.json`.
    """
    if not isinstance(dataset, (str, os.PathLike)):
        raise TypeError(f"dataset must be a str or Path, got {type(dataset).__name__}")
    if not isinstance(output_dir, (str, os.PathLike)):
        raise TypeError(f"output_dir must be a str or Path, got {type(output_dir).__name__}")
    values = {**settings, "dataset": str(dataset), "output_dir": str(output_dir)}
    return train_from_arguments(*arguments_from_dict(values))


def main(argv: list[str] | None = None) -> int:
    """Run `sentiment-batch train`.

    Args:
        argv (`list[str]`, *optional*): the arguments after `train`; defaults to `sys.argv[2:]`.
    """
    data_args, model_args, training_args = parse_arguments(sys.argv[2:] if argv is None else list(argv))
    metrics = train_from_arguments(data_args, model_args, training_args)
    summary = ", ".join(f"{name} {metrics[name]:.4f}" for name in ("eval_accuracy", "test_accuracy") if name in metrics)
    print(f"Model saved to {training_args.output_dir} ({summary})")
    return 0
