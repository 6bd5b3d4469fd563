"""`sentiment-batch train`: fit the tokenizer, tokenize with datasets, train with transformers.Trainer, save."""

from __future__ import annotations

import dataclasses
import logging
import os
import shutil
import sys
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from tokenizers import Tokenizer
from transformers import Trainer, set_seed

from sentiment_batch.errors import UserError
from sentiment_batch.preprocessing import encode_ids
from sentiment_batch.publish import check_output, staged_folder

from . import tracking
from .arguments import ModelArguments, arguments_from_dict, parse_arguments
from .configuration import SentimentBagConfig, config_defaults
from .data import load_splits, load_unlabeled
from .distillation import pseudo_labels, student_set, without_texts
from .model_card import write_model_card
from .modeling import SentimentBagForSequenceClassification
from .naive_bayes import log_count_ratios
from .tokenization import PAD_TOKEN, save_tokenizer, train_tokenizer
from .trainer import bag_batches, class_probabilities, make_trainer

logger = logging.getLogger(__name__)


@lru_cache(maxsize=2)
def _tokenizer_from_json(tokenizer_json: str) -> Tokenizer:
    return Tokenizer.from_str(tokenizer_json)


def tokenize_batch(batch: dict, tokenizer_json: str) -> dict:
    """`Dataset.map` function; the tokenizer travels as JSON so the cache key follows its content."""
    return {"input_ids": encode_ids(_tokenizer_from_json(tokenizer_json), batch["text"])}


def tokenize_texts(texts, tokenizer: Tokenizer):
    """Token ids of every review of a `datasets` split or dict of splits (a `text` column), cached by `datasets`.

    Args:
        texts (`datasets.Dataset | datasets.DatasetDict`): the reviews.
        tokenizer (`Tokenizer`): the trained tokenizer.
    """
    return texts.map(
        tokenize_batch,
        batched=True,
        batch_size=2000,
        fn_kwargs={"tokenizer_json": tokenizer.to_str()},
        desc="Tokenizing",
    )


def tokenize_splits(splits, tokenizer: Tokenizer):
    """Token ids and `labels` of every split.

    Args:
        splits (`datasets.DatasetDict`): from `load_splits`.
        tokenizer (`Tokenizer`): the trained tokenizer.
    """
    encoded = tokenize_texts(splits, tokenizer).rename_column("label", "labels")
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


def evaluate_and_save(trainer: Trainer, encoded, train_result, distilled: dict) -> tuple[dict, object]:
    """Final validation and test metrics into the HF metrics files; returns them and the reported split's output.

    The distillation's figures (`distilled`: teachers, unlabelled reviews, the teachers' validation accuracy)
    go with the training metrics.
    """
    metrics = {**train_result.metrics, **distilled}
    trainer.save_metrics("train", metrics)
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


def new_model(model_args: ModelArguments, tokenizer: Tokenizer, labelled, seed: int):
    """A fresh model, its table started from the naive Bayes ratios of the labelled reviews when it weighs rows."""
    model = build_model(model_args, tokenizer)
    if model.config.feature_weighting:
        ratios = log_count_ratios(bag_batches(labelled), model.config)
        model.bag.init_from_naive_bayes(ratios, torch.Generator().manual_seed(seed))
    return model


def train_teachers(distill_args, model_args, training_args, tokenizer, encoded, unlabeled, processing_class):
    """Train the teachers on the labelled reviews, as the plain recipe trains a model, one seed each.

    Returns:
        `tuple[list[np.ndarray], list[np.ndarray], list[float]]`: each teacher's class probabilities on the
        unlabelled and on the validation reviews, and its validation accuracy.
    """
    on_unlabeled, on_validation, accuracies = [], [], []
    for index in range(distill_args.num_teachers):
        seed = training_args.seed + index
        teacher_args = dataclasses.replace(
            training_args, seed=seed, output_dir=str(Path(training_args.output_dir) / f"teacher-{index}"), report_to=[]
        )
        set_seed(seed)
        teacher = new_model(model_args, tokenizer, encoded["train"], seed)
        callbacks = [tracking.PhaseLogger(f"teacher_{index}")] if "wandb" in training_args.report_to else None
        trainer = make_trainer(
            teacher, teacher_args, encoded["train"], encoded["validation"], processing_class, callbacks
        )
        trainer.train()
        teacher.eval()
        on_unlabeled.append(class_probabilities(teacher, unlabeled))
        on_validation.append(class_probabilities(teacher, encoded["validation"]))
        accuracies.append(trainer.state.best_metric)
        shutil.rmtree(teacher_args.output_dir, ignore_errors=True)
    return on_unlabeled, on_validation, accuracies


def distil(distill_args, model_args, training_args, tokenizer, splits, encoded, unlabeled, processing_class):
    """The student's training set (labelled plus pseudo-labelled reviews) and the figures of the teacher phase."""
    held_out = [text for name in ("validation", "test") if name in splits for text in splits[name]["text"]]
    unlabeled = tokenize_texts(without_texts(unlabeled, held_out), tokenizer).select_columns(["input_ids"])
    on_unlabeled, on_validation, accuracies = train_teachers(
        distill_args, model_args, training_args, tokenizer, encoded, unlabeled, processing_class
    )
    targets, kept = pseudo_labels(on_unlabeled, distill_args.soft_targets, distill_args.min_confidence)
    num_labels = targets.shape[1]
    student = student_set(encoded["train"], unlabeled.select(kept), targets, num_labels)
    ensemble = np.mean(on_validation, axis=0).argmax(axis=1)
    report = {
        "teachers": distill_args.num_teachers,
        "unlabeled_reviews": len(kept),
        "teacher_eval_accuracy": float(np.mean(accuracies)),
        "teacher_ensemble_eval_accuracy": float(np.mean(ensemble == np.asarray(encoded["validation"]["labels"]))),
    }
    logger.info("distillation: %s", report)
    tracking.log_phase("teachers", report)
    return student, report


def read_splits(data_args, seed: int):
    """The labelled splits (validation carved with `validation_seed`, else `seed`), train cut to `max_train_samples`."""
    validation_seed = seed if data_args.validation_seed is None else data_args.validation_seed
    splits = load_splits(data_args.dataset, data_args.validation_size, validation_seed)
    if data_args.max_train_samples is not None:
        splits["train"] = splits["train"].shuffle(seed=seed).select(range(data_args.max_train_samples))
    return splits


def run_settings(data_args, model_args, distill_args, training_args) -> dict:
    """The settings that shaped a run, for the model card and the W&B run."""
    settings = {**dataclasses.asdict(data_args), **dataclasses.asdict(model_args), **dataclasses.asdict(distill_args)}
    names = ("seed", "learning_rate", "num_train_epochs", "optim")
    return {**settings, **{name: getattr(training_args, name) for name in names}}


def run_training(data_args, model_args, distill_args, training_args, output_dir: Path) -> dict:
    """Everything between parsed arguments and a finished model in `training_args.output_dir`; returns the metrics."""
    staging = Path(training_args.output_dir)
    set_seed(training_args.seed)
    splits = read_splits(data_args, training_args.seed)
    unlabeled = load_unlabeled(data_args.dataset, distill_args.unlabeled) if distill_args.num_teachers else None
    tokenizer = fit_tokenizer(splits["train"], model_args)
    encoded = tokenize_splits(splits, tokenizer)
    processing_class = save_tokenizer(tokenizer, staging)
    settings = run_settings(data_args, model_args, distill_args, training_args)
    train_dataset, distilled = encoded["train"], {}
    if unlabeled is not None:
        if "wandb" in training_args.report_to:
            tracking.start_run(training_args.run_name, settings)
        train_dataset, distilled = distil(
            distill_args, model_args, training_args, tokenizer, splits, encoded, unlabeled, processing_class
        )
        training_args = dataclasses.replace(training_args, num_train_epochs=distill_args.student_epochs)
        set_seed(training_args.seed)
    # The naive Bayes counts come from every review the model learns from, pseudo-labelled ones by their targets.
    model = new_model(model_args, tokenizer, train_dataset, training_args.seed)
    trainer = make_trainer(model, training_args, train_dataset, encoded["validation"], processing_class)
    train_result = trainer.train()
    trainer.save_model(str(staging))
    for checkpoint in staging.glob("checkpoint-*"):  # the best one is loaded and saved above
        shutil.rmtree(checkpoint)
    metrics, reported = evaluate_and_save(trainer, encoded, train_result, distilled)
    sizes = {name: len(split) for name, split in splits.items()}
    write_model_card(staging, output_dir.name, model.config, data_args.dataset, sizes, settings, metrics)
    if "wandb" in training_args.report_to:
        labels = list(model.config.id2label.values())
        tracking.log_final_results(metrics, reported.predictions.argmax(-1), reported.label_ids, labels)
    return metrics


def train_from_arguments(data_args, model_args, distill_args, training_args) -> dict:
    """Train into a staging folder beside `training_args.output_dir` and publish it there; returns the metrics."""
    if not training_args.output_dir:
        raise UserError("no output folder given")
    output_dir = Path(training_args.output_dir).resolve()
    check_output(output_dir, overwrite=data_args.overwrite, folder=True)
    with staged_folder(output_dir, overwrite=data_args.overwrite) as staging:
        training_args.output_dir = str(staging)
        with tracking.wandb_run_folder(staging, enabled="wandb" in training_args.report_to):
            metrics = run_training(data_args, model_args, distill_args, training_args, output_dir)
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
            `hidden_dims`, `distinct_ngrams`, ...), data settings (`validation_size`, `overwrite`, ...),
            distillation settings (`unlabeled`, `num_teachers`, `student_epochs`, ...) and
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
    arguments = parse_arguments(sys.argv[2:] if argv is None else list(argv))
    metrics = train_from_arguments(*arguments)
    training_args = arguments[-1]
    summary = ", ".join(f"{name} {metrics[name]:.4f}" for name in ("eval_accuracy", "test_accuracy") if name in metrics)
    print(f"Model saved to {training_args.output_dir} ({summary})")
    return 0
