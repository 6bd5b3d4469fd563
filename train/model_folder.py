"""A trained model folder (`config.json`, weights, `tokenizer.json`), read back with its checks: what `export`,
`verify` and `train`'s start from a trained model load."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors import SafetensorError
from transformers import AutoModelForSequenceClassification
from transformers.utils import logging as hf_logging

from sentiment_batch.bundle import TOKENIZER_FILE
from sentiment_batch.errors import UserError, cannot, first_line, shown

from .configuration import SentimentBagConfig

CONFIG_FILE = "config.json"
WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin")
KNOWN_MODEL_TYPES = (SentimentBagConfig.model_type,)
# What `from_pretrained(output_loading_info=True)` reports of weights and config that do not fit each other.
LOADING_PROBLEMS = ("missing_keys", "unexpected_keys", "mismatched_keys")


def read_model_config(model_dir: Path) -> dict:
    """The folder's config.json, after checking the folder holds a trained model of a known type.

    Args:
        model_dir (`Path`): the Hugging Face model folder.
    """
    config_path = model_dir / CONFIG_FILE
    if not config_path.is_file():
        raise UserError(f"{shown(model_dir)} is not a trained model folder (no {CONFIG_FILE})")
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
    except (ValueError, RecursionError) as error:  # not UTF-8, not JSON
        raise UserError(f"{shown(config_path)} is not valid JSON: {first_line(error)}") from error
    except OSError as error:
        raise cannot("read", config_path, error) from error
    model_type = config.get("model_type") if isinstance(config, dict) else None
    if model_type not in KNOWN_MODEL_TYPES:
        raise UserError(
            f"model type {model_type!r} in {shown(model_dir)} is not one this package trains; "
            f"known: {KNOWN_MODEL_TYPES}"
        )
    if not any((model_dir / name).is_file() for name in WEIGHT_FILES):
        raise UserError(f"{shown(model_dir)} has no weights ({', '.join(WEIGHT_FILES)})")
    if not (model_dir / TOKENIZER_FILE).is_file():
        raise UserError(f"{shown(model_dir)} has no {TOKENIZER_FILE}")
    return config


def load_model(model_dir: Path) -> torch.nn.Module:
    """The trained model in eval mode (importing `sentiment_batch.train` registered its Auto classes); a folder
    whose weights cannot be read, or do not match its config.json, is a one-line `UserError`.

    Args:
        model_dir (`Path`): the Hugging Face model folder.
    """
    read_model_config(model_dir)
    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # its multi-line load report; the mismatch is said in one line below
    try:
        model, found = AutoModelForSequenceClassification.from_pretrained(
            model_dir, output_loading_info=True, ignore_mismatched_sizes=True
        )
    # A damaged folder: safetensors' own error for a truncated file, ValueError/RuntimeError/KeyError/OSError
    # from transformers and the config's checks.
    except (SafetensorError, ValueError, RuntimeError, KeyError, OSError) as error:
        raise UserError(f"cannot load the model in {shown(model_dir)}: {first_line(error)}") from error
    finally:
        hf_logging.set_verbosity(verbosity)
    problems = [f"{len(found[key])} {key.replace('_', ' ')}" for key in LOADING_PROBLEMS if found.get(key)]
    if problems:
        first = sorted(str(next(iter(found[key]))) for key in LOADING_PROBLEMS if found.get(key))[0]
        raise UserError(
            f"{shown(model_dir / CONFIG_FILE)} does not match the weights ({', '.join(problems)}, e.g. {first}); "
            "the folder is damaged or edited"
        )
    return model.eval()
