"""`sentiment-batch train`'s settings: data, model, distillation and TrainingArguments, from flags or a file."""

from __future__ import annotations

import argparse
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from textwrap import shorten

import torch
from transformers import HfArgumentParser, TrainingArguments

from sentiment_batch.bundle import is_language_code
from sentiment_batch.errors import UserError

from .configuration import SentimentBagConfig, config_defaults
from .data import DEFAULT_HUB_DATASET
from .distillation import DistillationArguments
from .labels import label_names
from .splits import AUTO, balance_setting


def config_field(name: str, help: str):
    """A dataclass field whose default is `SentimentBagConfig`'s, the one source of the model's defaults."""
    default = config_defaults()[name]
    if isinstance(default, (list, tuple)):
        return field(default_factory=lambda: list(default), metadata={"help": help})
    return field(default=default, metadata={"help": help})


@dataclass
class DataArguments:
    dataset: list[str] = field(
        default_factory=lambda: [DEFAULT_HUB_DATASET],
        metadata={
            "help": "One or more datasets: Hub id, aclImdb folder, aclImdb_v1.tar.gz-shaped tarball, or parquet/csv/"
            "jsonl file(s) with text and label columns (and optionally source). Each source gets its own validation "
            "split and accuracy."
        },
    )
    dataset_weights: list[float] | None = field(
        default=None,
        metadata={
            "help": "One weight per dataset (default 1 each): how many times each of its training rows is used, "
            "after balancing; 0.5 uses a seeded half."
        },
    )
    balance_classes: str = field(
        default=AUTO,
        metadata={
            "help": "Cut each source's classes to its smallest class's count (training and validation): auto (when "
            "there is more than one source), true or false."
        },
    )
    max_rows_per_source: list[int] | None = field(
        default=None,
        metadata={
            "help": "Most training rows of each source, after balancing: one cap for every dataset, or one per "
            "dataset (0: no cap)."
        },
    )
    labels: str | None = field(
        default=None,
        metadata={
            "help": "The class names in order, comma-separated (a list in a config file); by default the data's: "
            "0/1 or neg/pos as negative,positive, whole numbers sorted numerically, other names sorted."
        },
    )
    source_licences: str | None = field(
        default=None,
        metadata={"help": "JSON/YAML file mapping source names to their licences, listed in the model card."},
    )
    validation_size: float = field(
        default=0.1,
        metadata={"help": "Validation share of each source (0-1) or row count; grouped by movie when known."},
    )
    validation_seed: int | None = field(
        default=None,
        metadata={"help": "Seed of the validation split and the balancing; defaults to the training seed (--seed)."},
    )
    max_train_samples: int | None = field(default=None, metadata={"help": "Keep only this many training rows."})
    overwrite: bool = field(
        default=False,
        metadata={"help": "Replace an existing output folder.", "aliases": ["--overwrite_output_dir"]},
    )

    def __post_init__(self):
        # A config file may give one dataset (or weight, or cap) as a plain value.
        self.dataset = _as_list(self.dataset)
        self.dataset_weights = _as_list(self.dataset_weights)
        self.max_rows_per_source = _as_list(self.max_rows_per_source)
        self.balance_classes = balance_setting(self.balance_classes)
        self.labels = label_names(self.labels)
        if not self.dataset:
            raise UserError("no dataset given")


def _as_list(value) -> list | None:
    """None, or the value as a list: a config file may give one value where a list is meant."""
    if value is None or isinstance(value, list):
        return value
    return list(value) if isinstance(value, tuple) else [value]


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
    table_init: str = config_field(
        "table_init",
        "How the table starts: naive_bayes, random, or auto (naive_bayes for two classes; for more, both trained "
        "and the better on validation kept).",
    )
    feature_dropout: float = config_field("feature_dropout", "Share of bag entries dropped while training.")
    distinct_ngrams: bool = config_field(
        "distinct_ngrams", "Count each word and n-gram once per review (binarized features)."
    )
    negation_window: int = config_field(
        "negation_window", "Words up to this many tokens after a negation cue read rows of their own (0: off)."
    )
    negation_flip: bool = config_field(
        "negation_flip", "A word in a negation scope reads its own row with the sign turned, not a row of its own."
    )
    neutral_words: bool = field(
        default=False,
        metadata={
            "help": "Give identity and name words (nationalities, ethnicities, religions, genders, sexualities, "
            "countries, first names: train/neutral_words.py) no weight, alone or in an n-gram."
        },
    )
    calibrate: bool = field(
        default=True,
        metadata={"help": "Fit a temperature on validation after training, so probabilities are calibrated."},
    )
    init_from: str | None = field(
        default=None,
        metadata={
            "help": "Start from a trained model: shipped (the package's bundle), a bundle folder or a trained model "
            "folder. Its tokenizer, table and table settings are kept, its hidden blocks where the widths agree; "
            "the output layer is new."
        },
    )
    added_columns: int = field(
        default=14, metadata={"help": "With init_from: table columns added beside the start model's, free to learn."}
    )

    languages: list[str] = field(
        default_factory=lambda: list(config_defaults()["languages"]),
        metadata={
            "help": "ISO 639-1 code(s) of the reviews' language; rows in others are not scored.",
            "aliases": ["--language"],
        },
    )

    def __post_init__(self):
        # Refused now, in one line, rather than after the data is read and tokenized.
        SentimentBagConfig(**self.config_settings())
        if not all(map(is_language_code, self.languages)):
            raise ValueError(f"languages must be ISO 639-1 codes such as en, got {self.languages}")

    def config_settings(self) -> dict:
        """The settings that are `SentimentBagConfig` arguments, by name."""
        return {name: getattr(self, name) for name in config_defaults() if hasattr(self, name)}


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


ARGUMENT_CLASSES = (DataArguments, ModelArguments, DistillationArguments, SentimentTrainingArguments)
SEED_RANGE = (0, 2**32 - 1, True)  # what numpy's and torch's seeding take
# The range of each numeric setting that nothing else checks before the data is read (SentimentBagConfig and
# DistillationArguments check theirs): (lowest, highest, whether the lowest itself is allowed), None unbounded.
RANGES = {
    "validation_size": (0, None, False),
    "validation_seed": SEED_RANGE,
    "max_train_samples": (1, None, True),
    "min_frequency": (0, None, True),
    "added_columns": (0, None, True),
    "seed": SEED_RANGE,
    "data_seed": SEED_RANGE,
    "learning_rate": (0, None, False),
    "num_train_epochs": (0, None, False),
    "max_steps": (-1, None, True),
    "per_device_train_batch_size": (1, None, True),
    "per_device_eval_batch_size": (1, None, True),
    "gradient_accumulation_steps": (1, None, True),
    "weight_decay": (0, None, True),
    "max_grad_norm": (0, None, True),
    "warmup_steps": (0, None, True),
    "adam_beta1": (0, 1, True),
    "adam_beta2": (0, 1, True),
    "adam_epsilon": (0, None, True),
    "label_smoothing_factor": (0, 1, True),
    "logging_steps": (0, None, False),
    "eval_steps": (0, None, False),
    "save_steps": (0, None, False),
    "save_total_limit": (0, None, True),
    "eval_delay": (0, None, True),
    "dataloader_num_workers": (0, None, True),
}


def build_parser() -> HfArgumentParser:
    """The `train` parser: data, model and every TrainingArguments flag."""
    parser = HfArgumentParser(
        ARGUMENT_CLASSES,
        prog="sentiment-batch train",
        description="Train a text classifier on labelled texts (two classes or more; movie reviews or any other). "
        "Pass flags, or one JSON/YAML file holding them, parsed and checked as the flags are. "
        "The output folder appears complete or not at all; an existing one is only replaced with --overwrite.",
    )
    parser.set_defaults(**TRAINING_DEFAULTS)
    return parser


def read_config(path: str, what: str = "config file", holding: str = "argument names to values") -> dict:
    """The mapping held in a JSON or YAML file: the arguments of a config file, by default.

    Args:
        path (`str`): the file.
        what (`str`, *optional*): what the file is, for the messages.
        holding (`str`, *optional*): what the mapping maps, for the messages.
    """
    import yaml

    if not Path(path).is_file():
        raise UserError(f"{what} {path} does not exist")
    try:
        with open(path, encoding="utf-8") as file:
            values = json.load(file) if path.endswith(".json") else yaml.safe_load(file)
    except (OSError, ValueError, yaml.YAMLError) as error:
        raise UserError(f"cannot read {what} {path}: {' '.join(str(error).split())}") from error
    if not isinstance(values, dict):
        raise UserError(f"{what} {path} must hold a mapping of {holding}")
    return values


def read_licences(source_licences: str | dict | None) -> dict[str, str]:
    """Each source's licence, from a JSON/YAML file (or a config file's own mapping) of source names to licences.

    Args:
        source_licences (`str | dict | None`): the file, the mapping, or None for none.
    """
    if source_licences is None:
        return {}
    if not isinstance(source_licences, dict):
        source_licences = read_config(str(source_licences), "licence file", "source names to licences")
    return {str(name): str(licence) for name, licence in source_licences.items()}


def parsed_values(values: dict) -> dict:
    """Settings by name (a config file's, `train()`'s keywords) parsed as their flags are: text through the flag's
    own type (so `"false"` is false and `"8"` is 8), a number or boolean as its text would be, one value where a
    flag takes several as a list of one; a mapping, which no flag spells, as it is.

    Args:
        values (`dict`): setting names and values; names no flag has are left for the parser to refuse.
    """
    actions = {}
    for action in build_parser()._actions:  # a boolean's `--no_NAME` comes after its own flag
        actions.setdefault(action.dest, action)
    return {key: _parsed(actions[key], key, value) if key in actions else value for key, value in values.items()}


def _parsed(action: argparse.Action, key: str, value):
    if value is None:
        if action.default is not None:
            raise UserError(f"setting {key} needs a value")
        return None
    if isinstance(value, dict):
        return value
    many = action.nargs in ("+", "*")
    if isinstance(value, (list, tuple)) and not many and action.type is not str:
        raise UserError(f"setting {key} takes one value, got a list: {shorten(str(value), 80)}")
    items = list(value) if isinstance(value, (list, tuple)) else [value]
    parsed = [_parsed_item(action, key, item) for item in items]
    return parsed if many or isinstance(value, (list, tuple)) else parsed[0]


def _parsed_item(action: argparse.Action, key: str, item):
    if isinstance(item, (dict, list, tuple)):
        raise UserError(f"setting {key} takes {_kind(action)}, got {shorten(str(item), 80)}")
    text = ("true" if item else "false") if isinstance(item, bool) else str(item)
    try:
        parsed = action.type(text) if action.type else text
    except (TypeError, ValueError, argparse.ArgumentTypeError):
        raise UserError(f"setting {key} takes {_kind(action)}, got {shorten(repr(item), 80)}") from None
    if action.choices is not None and parsed not in action.choices:
        choices = shorten(", ".join(map(str, action.choices)), 100)
        raise UserError(f"setting {key} takes one of {choices}, got {shorten(repr(item), 80)}")
    return parsed


def _kind(action: argparse.Action) -> str:
    kinds = {int: "a whole number", float: "a number", str: "text"}
    return kinds.get(action.type, "true or false" if action.const is True else "a value of its kind")


def arguments_from_dict(values: dict) -> tuple:
    """The argument dataclasses (`ARGUMENT_CLASSES`) from argument names and values; unknown names are an error.

    Args:
        values (`dict`): argument names (as in a config file) and values; the rest take their defaults.
    """
    try:
        return check_ranges(build_parser().parse_dict({**TRAINING_DEFAULTS, **parsed_values(values)}))
    except ValueError as error:  # unknown keys, and TrainingArguments' own checks in __post_init__
        raise UserError(" ".join(str(error).split())) from error


def check_ranges(arguments: tuple) -> tuple:
    """The argument dataclasses, once every number among them is finite and each setting of `RANGES` in its range.

    Args:
        arguments (`tuple`): the parsed `ARGUMENT_CLASSES`.
    """
    for values in arguments:
        for name, value in vars(values).items():
            numbers = [item for item in (value if isinstance(value, list) else [value]) if _is_number(item)]
            if not all(math.isfinite(number) for number in numbers):
                raise UserError(f"{name} must be a finite number, got {value}")
            if name in RANGES and _is_number(value) and not _in_range(value, *RANGES[name]):
                raise UserError(f"{name} must be {_range_text(*RANGES[name])}, got {value}")
    return arguments


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _in_range(value: float, lowest: float, highest: float | None, lowest_allowed: bool) -> bool:
    above = value >= lowest if lowest_allowed else value > lowest
    return above and (highest is None or value <= highest)


def _range_text(lowest: float, highest: float | None, lowest_allowed: bool) -> str:
    if highest is not None:
        return f"between {lowest} and {highest}"
    return f"at least {lowest}" if lowest_allowed else f"greater than {lowest}"


def parse_arguments(argv: list[str]) -> tuple:
    """Parse flags, or a single JSON/YAML config file, into the argument dataclasses (`ARGUMENT_CLASSES`).

    Args:
        argv (`list[str]`): the arguments after `train`.
    """
    if len(argv) == 1 and argv[0].endswith((".json", ".yaml", ".yml")):
        return arguments_from_dict(read_config(argv[0]))
    try:
        return check_ranges(build_parser().parse_args_into_dataclasses(args=argv))
    except ValueError as error:  # TrainingArguments checks its own flags in __post_init__
        raise UserError(" ".join(str(error).split())) from error
