"""`sentiment-batch train`: fit the tokenizer, tokenize with datasets, train with transformers.Trainer, save."""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import logging
import math
import os
import shutil
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from datasets import Dataset, DatasetDict, concatenate_datasets
from tokenizers import Tokenizer
from transformers import TrainingArguments, set_seed

from sentiment_batch.errors import UserError
from sentiment_batch.preprocessing import encode_ids
from sentiment_batch.publish import check_apart, check_output, staged_folder

from . import tracking
from .arguments import ModelArguments, arguments_from_dict, parse_arguments, read_licences
from .configuration import SentimentBagConfig
from .data import AUTO, NONE, has_text, load_unlabeled
from .data_settings import DataSettings
from .distillation import pseudo_labels, sampled, student_set, without_texts
from .evaluation import evaluate_and_save, fit_model_temperature, metrics_for
from .initialization import StartModel, init_from_start, read_start_model, start_arguments
from .labels import LabelSet
from .model_card import write_model_card
from .modeling import SentimentBagForSequenceClassification
from .naive_bayes import log_count_ratios
from .neutral_words import neutral_words
from .splits import LabelledData, check_learnable
from .tokenization import PAD_TOKEN, negation_ids, save_tokenizer, train_tokenizer, word_ids
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
    neutral = neutral_words() if model_args.neutral_words else ()
    return train_tokenizer(batches, model_args.vocab_size, model_args.min_frequency, len(train_split), neutral)


def model_config(model_args: ModelArguments, tokenizer: Tokenizer, labels: LabelSet) -> SentimentBagConfig:
    """The config of a model sized to the tokenizer's vocabulary and the classes, every other value from
    `model_args`."""
    settings = model_args.config_settings()
    settings.update(vocab_size=tokenizer.get_vocab_size(), pad_token_id=tokenizer.token_to_id(PAD_TOKEN))
    if settings.get("negation_window"):
        settings["negation_cue_ids"], settings["scope_end_ids"] = negation_ids(tokenizer)
    if model_args.neutral_words:
        settings["neutral_token_ids"] = word_ids(tokenizer, neutral_words())
    settings.update(id2label=dict(enumerate(labels.names)), label_values=labels.values and list(labels.values))
    return SentimentBagConfig(**settings)


def naive_bayes_ratios(config: SentimentBagConfig, labelled):
    """The naive Bayes ratios of the labelled reviews for models of this config (one pass over the reviews, shared
    by every model trained from them), or None when the models weigh no rows."""
    return log_count_ratios(bag_batches(labelled), config) if config.feature_weighting else None


def new_model(config: SentimentBagConfig, table_init: str, ratios, seed: int, start: StartModel | None = None):
    """A fresh model of (a copy of) `config`, its rows weighed by the naive Bayes `ratios` (from
    `naive_bayes_ratios`) when it weighs rows, and its table started as `table_init` says (one of
    `SentimentBagConfig.table_starts`), or from the `start` model when there is one."""
    config = copy.deepcopy(config)
    config.table_init = table_init
    model = SentimentBagForSequenceClassification(config)
    if ratios is not None:
        model.bag.init_from_naive_bayes(ratios, torch.Generator().manual_seed(seed))
    if start is not None:
        init_from_start(model, start)
    return model


def check_converged(trainer, result) -> None:
    """Refuse a trained model whose loss or weights are no longer finite: the run diverged.

    Args:
        trainer (`Trainer`): the trainer, after `train()`.
        result (`TrainOutput`): what `train()` returned.
    """
    logged = [entry[key] for entry in trainer.state.log_history for key in ("loss", "eval_loss") if key in entry]
    losses_finite = all(math.isfinite(loss) for loss in [result.training_loss, *logged])
    weights = (tensor for tensor in trainer.model.state_dict().values() if tensor.is_floating_point())
    if not losses_finite or not all(bool(torch.isfinite(tensor).all()) for tensor in weights):
        raise UserError("training diverged: the loss or the weights became NaN or infinite; try a lower learning rate")


def train_teachers(run: Run, distill_args, unlabeled):
    """Train the teachers on the labelled reviews, as the plain recipe trains a model, one seed each.

    Returns:
        `tuple[list[np.ndarray], list[np.ndarray], list[float]]`: each teacher's class probabilities on the
        unlabelled and on the validation reviews, and its best validation figure (`metric_for_best_model`).
    """
    on_unlabeled, on_validation, accuracies = [], [], []
    validation = run.encoded["validation"]
    ratios = naive_bayes_ratios(run.config, run.training)
    for index in range(distill_args.num_teachers):
        seed = run.training_args.seed + index
        teacher_args = dataclasses.replace(
            run.training_args,
            seed=seed,
            output_dir=str(Path(run.training_args.output_dir) / f"teacher-{index}"),
            report_to=[],
        )
        set_seed(seed)
        teacher = new_model(run.config, run.config.table_starts()[0], ratios, seed, run.start)
        trainer = run.trainer(teacher, teacher_args, run.training, run.tracking.phase_callbacks(f"teacher_{index}"))
        result = trainer.train()
        check_converged(trainer, result)
        teacher.eval()
        on_unlabeled.append(class_probabilities(teacher, unlabeled))
        on_validation.append(class_probabilities(teacher, validation))
        accuracies.append(trainer.state.best_metric)
        shutil.rmtree(teacher_args.output_dir, ignore_errors=True)
    return on_unlabeled, on_validation, accuracies


def distil(run: Run, distill_args, unlabeled):
    """The student's training set (labelled plus pseudo-labelled reviews) and the figures of the teacher phase."""
    unlabeled = tokenize_texts(without_texts(unlabeled, run.data.held_out), run.tokenizer).select_columns(["input_ids"])
    on_unlabeled, on_validation, accuracies = train_teachers(run, distill_args, unlabeled)
    targets, kept = pseudo_labels(on_unlabeled, distill_args.soft_targets, distill_args.min_confidence)
    student = student_set(run.encoded["train"], run.data.train_rows, unlabeled.select(kept), targets)
    ensemble = np.mean(on_validation, axis=0).argmax(axis=1)
    report = {
        "teachers": distill_args.num_teachers,
        "unlabeled_reviews": len(kept),
        "teacher_eval_accuracy": float(np.mean(accuracies)),
        "teacher_ensemble_eval_accuracy": float(np.mean(ensemble == np.asarray(run.encoded["validation"]["labels"]))),
    }
    logger.info("distillation: %s", report)
    run.tracking.log_phase("teachers", report)
    return student, report


def read_data(settings: DataSettings) -> LabelledData:
    """The labelled splits as `settings` carve them; refused when a model cannot learn and be validated on them."""
    data = settings.labelled()
    check_learnable(data)
    return data


def unlabeled_texts(data_args, distill_args, data: LabelledData, seed: int):
    """Every unlabelled review to distil with: the `unlabeled` setting's, and with `auto` the training reviews
    class balancing and the cap left out; a seeded sample of `max_unlabeled` of them when there are more."""
    texts = load_unlabeled(data_args.dataset, distill_args.unlabeled)
    if AUTO in distill_args.unlabeled and data.surplus is not None:
        surplus = data.surplus.filter(has_text, batched=True, desc="dropping blank left-out reviews")
        texts = surplus if texts is None else concatenate_datasets([texts, surplus])
    return None if texts is None else sampled(texts, distill_args.max_unlabeled, seed)


@dataclass
class Run:
    """One training run, as `prepare_run` lays it out: what every phase (teachers, table starts, student) reads.

    Args:
        training_args (`TrainingArguments`): the run's, checkpoints selected on the mean accuracy over sources
            when there are several.
        data (`LabelledData`): the labelled splits.
        tokenizer (`Tokenizer`): the tokenizer fitted on the training split.
        config (`SentimentBagConfig`): the config every model of the run starts from.
        encoded (`datasets.DatasetDict`): the tokenized splits.
        training (`datasets.Dataset`): the tokenized training set, repeats included.
        compute_metrics (`Callable`): the validation metrics.
        processing_class: the tokenizer saved with each checkpoint.
        tracking (`tracking.Tracking`): where the run reports.
        start (`StartModel`, *optional*): the model every model of the run starts from (`initialization`).
    """

    training_args: TrainingArguments
    data: LabelledData
    tokenizer: Tokenizer
    config: SentimentBagConfig
    encoded: DatasetDict
    training: Dataset
    compute_metrics: Callable
    processing_class: object
    tracking: tracking.Tracking
    start: StartModel | None = None

    def trainer(self, model, training_args, train_dataset, callbacks: list):
        """The trainer of one of the run's models, validated on the run's validation split."""
        validation = self.encoded["validation"]
        return make_trainer(
            model, training_args, train_dataset, validation, self.processing_class, callbacks, self.compute_metrics
        )


def prepare_run(
    model_args: ModelArguments,
    training_args,
    data: LabelledData,
    staging: Path,
    tracker,
    start: StartModel | None = None,
) -> Run:
    """Fit the tokenizer (saved in `staging`), tokenize the splits, and lay out the run's training set, model config
    and validation metrics."""
    tokenizer = fit_tokenizer(data.splits["train"], model_args) if start is None else start.tokenizer
    encoded = tokenize_splits(data.splits, tokenizer)
    training = encoded["train"] if data.train_rows is None else encoded["train"].select(data.train_rows)
    return Run(
        training_args=selection_metric(training_args, data),
        data=data,
        tokenizer=tokenizer,
        config=model_config(model_args, tokenizer, data.labels),
        encoded=encoded,
        training=training,
        compute_metrics=metrics_for(data.splits["validation"]),
        processing_class=save_tokenizer(tokenizer, staging),
        tracking=tracker,
        start=start,
    )


def selection_metric(training_args, data: LabelledData):
    """The training arguments, selecting checkpoints on the mean accuracy over sources when there are several."""
    if len(data.sources) > 1 and training_args.metric_for_best_model in ("accuracy", "eval_accuracy"):
        return dataclasses.replace(training_args, metric_for_best_model="mean_source_accuracy")
    return training_args


def run_settings(data_args, model_args, distill_args, training_args) -> dict:
    """The settings that shaped a run, for the model card and the W&B run."""
    settings = {**dataclasses.asdict(data_args), **dataclasses.asdict(model_args), **dataclasses.asdict(distill_args)}
    names = ("seed", "learning_rate", "num_train_epochs", "optim")
    return {**settings, **{name: getattr(training_args, name) for name in names}}


def run_training(data_args, model_args, distill_args, training_args, output_dir: Path, tracker) -> dict:
    """Everything between parsed arguments and a finished model in `training_args.output_dir`, reported to
    `tracker` (a `tracking.Tracking`); returns the metrics."""
    staging = Path(training_args.output_dir)
    set_seed(training_args.seed)
    start = read_start_model(model_args.init_from) if model_args.init_from else None
    model_args = model_args if start is None else start_arguments(start, model_args)
    licences = read_licences(data_args.source_licences)
    data_settings = DataSettings.of_arguments(data_args, training_args.seed)
    data = read_data(data_settings)
    unlabeled = (
        unlabeled_texts(data_args, distill_args, data, training_args.seed) if distill_args.num_teachers else None
    )
    run = prepare_run(model_args, training_args, data, staging, tracker, start)
    settings = run_settings(data_args, model_args, distill_args, run.training_args)
    train_dataset, distilled = run.training, {}
    if unlabeled is not None:
        run.tracking.start_run(run.training_args.run_name, settings)
        train_dataset, distilled = distil(run, distill_args, unlabeled)
        run.training_args = dataclasses.replace(run.training_args, num_train_epochs=distill_args.student_epochs)
        set_seed(run.training_args.seed)
    # The naive Bayes counts come from every review the model learns from, pseudo-labelled ones by their targets.
    trainer, train_result, starts = train_best_start(run, train_dataset)
    model = trainer.model
    if model_args.calibrate:
        model.config.calibration_temperature = fit_model_temperature(
            trainer, run.encoded["validation"], data.splits["validation"]
        )
    trainer.save_model(str(staging))
    for checkpoint in staging.glob("checkpoint-*"):  # the best one is loaded and saved above
        shutil.rmtree(checkpoint)
    train_metrics = {**train_result.metrics, **distilled, **starts, "temperature": model.config.calibration_temperature}
    metrics, reported = evaluate_and_save(trainer, data.splits, run.encoded, train_metrics)
    write_model_card(staging, output_dir.name, model.config, data, settings, metrics, licences)
    data_settings.save(staging, data)
    labels = list(model.config.id2label.values())
    run.tracking.log_final_results(metrics, reported.predictions.argmax(-1), reported.label_ids, labels)
    return metrics


def train_best_start(run: Run, train_dataset):
    """Train from each table start of the run's config (`SentimentBagConfig.table_starts`), one after the other,
    and keep the model with the best validation figure (`metric_for_best_model`; the first on a tie).

    Args:
        run (`Run`): the run; the first start draws from the seeded state as it stands, every later one after
            seeding again.
        train_dataset (`datasets.Dataset`): the reviews to learn from (and count the naive Bayes ratios on).

    Returns:
        `tuple[Trainer, TrainOutput, dict]`: the kept model's trainer and training output, and with several starts
        each one's best validation figure (`<start>_start_eval_<metric>`).
    """
    training_args = run.training_args
    starts = run.config.table_starts()
    ratios = naive_bayes_ratios(run.config, train_dataset)
    metric = training_args.metric_for_best_model.removeprefix("eval_")
    best, figures = None, {}
    for index, start in enumerate(starts):
        if index:  # the first start draws from the seeded state as a single start does
            set_seed(training_args.seed)
        model = new_model(run.config, start, ratios, training_args.seed, run.start)
        trainer = run.trainer(model, training_args, train_dataset, [])
        result = trainer.train()
        check_converged(trainer, result)
        figure = figures[f"{start}_start_eval_{metric}"] = trainer.state.best_metric
        if best is None or (figure > best[2] if training_args.greater_is_better else figure < best[2]):
            best = (trainer, result, figure)
    if len(starts) > 1:
        logger.info("table starts: %s", figures)
        run.tracking.log_phase("table_starts", figures)
    return best[0], best[1], figures if len(starts) > 1 else {}


def input_paths(data_args, distill_args) -> list[Path]:
    """Every path a run reads: the datasets, the unlabelled reviews and the licence file."""
    unlabeled = [item for item in distill_args.unlabeled if item not in (AUTO, NONE)]
    licences = [data_args.source_licences] if isinstance(data_args.source_licences, str) else []
    return [Path(item).expanduser() for item in [*data_args.dataset, *unlabeled, *licences]]


def train_from_arguments(data_args, model_args, distill_args, training_args) -> dict:
    """Train into a staging folder beside `training_args.output_dir` and publish it there; returns the metrics.

    Everything the libraries print while training goes to stderr: stdout carries the command's own lines.
    """
    if not training_args.output_dir:
        raise UserError("no output folder given")
    output_dir = Path(training_args.output_dir).resolve()
    check_apart(output_dir, input_paths(data_args, distill_args))
    check_output(output_dir, overwrite=data_args.overwrite, folder=True)
    tracker = tracking.for_report_to(training_args.report_to)
    with staged_folder(output_dir, overwrite=data_args.overwrite) as staging:
        training_args.output_dir = str(staging)
        with tracker.run_folder(staging), contextlib.redirect_stdout(sys.stderr):
            metrics = run_training(data_args, model_args, distill_args, training_args, output_dir, tracker)
    training_args.output_dir = str(output_dir)
    tracker.print_sync_hint(output_dir)
    return metrics


def train(dataset: str | os.PathLike | Sequence[str | os.PathLike], output_dir: str | Path, **settings) -> dict:
    """Train a model on labelled reviews and save it, the Hugging Face way, in `output_dir`.

    As fastText's `train_supervised`: the data and plain keyword settings, each with the CLI's default.
    The folder appears complete or not at all.

    Args:
        dataset (`str | os.PathLike | Sequence`): a Hub id, an aclImdb folder (or its parent) or tarball, or
            Parquet/CSV/JSONL file(s) with `text` and `label` columns (and optionally `source`); or a list of them,
            each a source of its own (`dataset_weights`, `balance_classes` and `max_rows_per_source` mix them).
        output_dir (`str | Path`): the model folder to write; it must not exist unless `overwrite=True`.
        **settings: any `sentiment-batch train` setting by its name: model settings (`embedding_dim`,
            `hidden_dims`, `distinct_ngrams`, ...), data settings (`validation_size`, `overwrite`, ...),
            distillation settings (`unlabeled`, `num_teachers`, `student_epochs`, ...) and
            `transformers.TrainingArguments` (`num_train_epochs`, `learning_rate`, `seed`, `report_to`, ...).

    Returns:
        `dict`: the final metrics (`eval_accuracy`, `eval_f1`, ... and `test_*` when the data has a test split),
        as saved in `all_results.json`.
    """
    datasets = [dataset] if isinstance(dataset, (str, os.PathLike)) else dataset
    if not isinstance(datasets, Sequence) or not all(isinstance(item, (str, os.PathLike)) for item in datasets):
        raise TypeError(f"dataset must be a str or Path, or a list of them, got {type(dataset).__name__}")
    if not isinstance(output_dir, (str, os.PathLike)):
        raise TypeError(f"output_dir must be a str or Path, got {type(output_dir).__name__}")
    values = {**settings, "dataset": [str(item) for item in datasets], "output_dir": str(output_dir)}
    return train_from_arguments(*arguments_from_dict(values))


def main(argv: list[str]) -> int:
    """Run `sentiment-batch train` with the arguments that follow `train`."""
    arguments = parse_arguments(argv)
    metrics = train_from_arguments(*arguments)
    training_args = arguments[-1]
    names = ("eval_accuracy", "eval_mean_source_accuracy", "test_accuracy")
    summary = ", ".join(f"{name} {metrics[name]:.4f}" for name in names if name in metrics)
    print(f"Model saved to {training_args.output_dir} ({summary})")
    return 0
