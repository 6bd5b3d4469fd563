"""Starting a new model from a trained one: the shipped bundle, an exported bundle or a trained model folder.

The start gives the tokenizer, the settings that shape the table (n-grams, hashing, negation, pooling) and the
table itself, word and n-gram rows with the fixed feature weights folded in (a bundle's float16 table read back
from its ONNX weights). The new table is the start's columns and `added_columns` more, at zero: what the start
knows is kept, and the new classes can learn directions of their own (a narrow start's few columns otherwise cap
what many labels can teach). The new model weighs no rows of its own: the start's weights are in its table. Where
the hidden widths agree, the hidden blocks come too, the first one reading the added columns with fresh weights;
the output layer is always new, sized to the new classes.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tokenizers import Tokenizer

from sentiment_batch import info
from sentiment_batch.bundle import MANIFEST_FILE, Bundle, check_graph_metadata, load_bundle
from sentiment_batch.errors import UserError, shown
from sentiment_batch.preprocessing import load_tokenizer

from .configuration import config_defaults
from .model_folder import CONFIG_FILE, load_model
from .tokenization import new_tokenizer

SHIPPED = "shipped"  # the bundle shipped inside the package
# The settings a start model fixes: those that decide which table row an n-gram reads and what the rows mean.
TABLE_SETTINGS = ("embedding_dim", "ngram_size", "num_buckets", "pooling", "distinct_ngrams", "negation_window")
# Those a bundle records (its manifest's `RECORDED_SETTINGS`, else its model card); its table's shape gives the
# others.
CARD_SETTINGS = ("ngram_size", "pooling", "distinct_ngrams", "negation_window")
RECORDED_SETTINGS = "model_settings"
TABLE = "table"  # the scoring graph's table initializer (`ScoringModule.table`)
BLOCK_PREFIX = "model.bag.mlp."  # the scoring graph's hidden blocks' weights, named as the model's


@dataclass(frozen=True)
class StartModel:
    """What a new model starts from.

    Args:
        name (`str`): where it was read from, for messages.
        tokenizer (`Tokenizer`): its tokenizer; the new model's ids are its ids.
        settings (`dict`): its `TABLE_SETTINGS` values.
        table (`torch.Tensor` of shape `[rows, embedding_dim]`): its word and n-gram rows, feature weights folded in.
        hidden_dims (`list[int]`): its hidden blocks' widths.
        blocks (`dict[str, torch.Tensor]`): its hidden blocks' state, keyed as in `SentimentBagModel.mlp`.
    """

    name: str
    tokenizer: Tokenizer
    settings: dict
    table: torch.Tensor
    hidden_dims: list[int]
    blocks: dict[str, torch.Tensor]


def read_start_model(where: str) -> StartModel:
    """The start model at `where`: `shipped`, an exported bundle folder, or a trained model folder.

    Every problem is a one-line `UserError`: a bundle that fails `load_bundle`'s checks, a folder that is neither,
    a tokenizer that is not of the kind `train` builds or does not fit the table.

    Args:
        where (`str`): `shipped`, or the folder.
    """
    folder = Path(where)
    if where == SHIPPED or (folder / MANIFEST_FILE).is_file():
        start = bundle_start(load_bundle(None if where == SHIPPED else folder), where)
    elif (folder / CONFIG_FILE).is_file():
        start = model_folder_start(folder)
    else:
        raise UserError(f"{shown(where)} is neither a bundle ({MANIFEST_FILE}) nor a trained model ({CONFIG_FILE})")
    check_tokenizer(start)
    return start


def model_folder_start(folder: Path) -> StartModel:
    """The start model of a trained model folder (checked by `load_model`)."""
    model = load_model(folder)
    config = model.config
    tokenizer = load_tokenizer(folder, vocab_size=config.vocab_size)
    blocks = {name: tensor.detach().clone() for name, tensor in model.bag.mlp.state_dict().items()}
    settings = {name: getattr(config, name) for name in TABLE_SETTINGS}
    settings["ngram_hash_multiplier"] = config.ngram_hash_multiplier
    table = model.bag.scaled_table().detach().clone()
    return StartModel(str(folder), tokenizer, settings, table, list(config.hidden_dims), blocks)


def bundle_start(bundle: Bundle, name: str) -> StartModel:
    """The start model of a checked bundle: the table and blocks from its graph's weights, the settings from its
    model card (widths from the table itself)."""
    vocab_size = bundle.manifest.vocab_size
    tokenizer = load_tokenizer(bundle.tokenizer_path, vocab_size=vocab_size)
    weights, linears = graph_weights(bundle)
    if TABLE not in weights:
        raise UserError(f"bundle {shown(name)}: its graph has no {TABLE!r} weights; export the model again")
    table = torch.from_numpy(weights[TABLE].astype(np.float32))
    settings = bundle.manifest.info.get(RECORDED_SETTINGS) or card_settings(bundle, name)
    if not isinstance(settings, dict) or not set(CARD_SETTINGS) <= set(settings):
        raise UserError(f"bundle {shown(name)}: {RECORDED_SETTINGS} in {MANIFEST_FILE} is incomplete")
    vocab_size = vocab_size or tokenizer.get_vocab_size()
    settings.update(embedding_dim=table.shape[1], num_buckets=table.shape[0] - vocab_size)
    blocks, hidden_dims = {}, []
    for index, (weight, bias) in enumerate(linears):
        blocks |= {f"{4 * index}.weight": weight, f"{4 * index}.bias": bias}  # Linear, BatchNorm1d, ReLU, Dropout
        hidden_dims.append(weight.shape[0])
    return StartModel(name, tokenizer, settings, table, hidden_dims, blocks)


def graph_weights(bundle: Bundle) -> tuple[dict[str, np.ndarray], list[tuple[torch.Tensor, torch.Tensor]]]:
    """Every initializer of a bundle's scoring graph by name, external ones read from the manifest's weights file
    only, once the graph's metadata is checked against the manifest (labels, tokenizer, weights file); and the
    hidden blocks' weight `[out, in]` and bias, in order, from the graph's Gemm nodes (the exporter folds each
    BatchNorm into the Linear before it, so a block's norm starts neutral)."""
    import onnx
    from onnx import external_data_helper, numpy_helper

    model = onnx.load(str(bundle.model_path), load_external_data=False)
    check_graph_metadata({entry.key: entry.value for entry in model.metadata_props}, bundle)
    weights = {}
    for tensor in model.graph.initializer:
        if external_data_helper.uses_external_data(tensor):
            location = {entry.key: entry.value for entry in tensor.external_data}.get("location")
            if location != bundle.manifest.data_file:
                raise UserError(
                    f"bundle {shown(bundle.path)}: {tensor.name} is read from {shown(location)}, not from its "
                    "weights file: the bundle is corrupt or edited"
                )
            external_data_helper.load_external_data_for_tensor(tensor, str(bundle.path))
        weights[tensor.name] = numpy_helper.to_array(tensor)
    linears = []
    for node in model.graph.node:
        if node.op_type == "Gemm" and node.input[1].startswith(BLOCK_PREFIX) and node.input[1] in weights:
            transposed = any(attribute.name == "transB" and attribute.i for attribute in node.attribute)
            weight = torch.from_numpy(weights[node.input[1]].astype(np.float32))
            weight = weight if transposed else weight.T
            bias = weights.get(node.input[2]) if len(node.input) > 2 else None
            bias = torch.zeros(weight.shape[0]) if bias is None else torch.from_numpy(bias.astype(np.float32))
            linears.append((weight.contiguous(), bias))
    return weights, linears


def recorded_settings(config) -> dict:
    """What a bundle records of its model's settings for models started from it: those its table's shape does
    not give.

    Args:
        config (`SentimentBagConfig`): the exported model's.
    """
    return {name: getattr(config, name) for name in (*CARD_SETTINGS, "ngram_hash_multiplier")}


def card_settings(bundle: Bundle, name: str) -> dict:
    """The start model's n-gram, pooling and negation settings, from the model card its bundle carries (bundles
    exported before `recorded_settings` was)."""
    recorded = info.card_settings(info.read_card(bundle.path))
    missing = [setting for setting in CARD_SETTINGS if setting not in recorded]
    if missing:
        raise UserError(f"bundle {shown(name)} does not record its {', '.join(missing)}: it cannot start a model")
    multiplier = recorded.get("ngram_hash_multiplier", config_defaults()["ngram_hash_multiplier"])
    return {**{setting: recorded[setting] for setting in CARD_SETTINGS}, "ngram_hash_multiplier": multiplier}


def check_tokenizer(start: StartModel) -> None:
    """Refuse a start whose tokenizer is not of the kind `train` builds (the same normalizer and pre-tokenizer,
    word-level), or whose vocabulary is not the table's word rows."""
    fresh, found = (json.loads(tokenizer.to_str()) for tokenizer in (new_tokenizer(), start.tokenizer))
    if any(found.get(part) != fresh.get(part) for part in ("normalizer", "pre_tokenizer")) or (
        found["model"].get("type") != fresh["model"]["type"]
    ):
        raise UserError(f"{shown(start.name)} has another tokenizer than the word-level one this package trains")
    words, vocab_size = start.table.shape[0] - start.settings["num_buckets"], start.tokenizer.get_vocab_size()
    if vocab_size != words or start.settings["num_buckets"] < 0:
        raise UserError(f"{shown(start.name)}: its tokenizer has {vocab_size} words but its table {words} word rows")


def start_arguments(start: StartModel, model_args):
    """The model settings of a run that starts from `start`: its table settings, `added_columns` more columns
    than its table, unless others are asked its hidden widths, and rows not weighed (the start's weights are in its
    table).

    Args:
        start (`StartModel`): from `read_start_model`.
        model_args (`ModelArguments`): the run's; a table setting changed from its default to a value other than
            the start's is refused, in one line.
    """
    defaults = config_defaults()
    if start.settings["ngram_hash_multiplier"] != defaults["ngram_hash_multiplier"]:
        raise UserError(f"{shown(start.name)} hashes n-grams with a multiplier this package does not train with")
    for name in TABLE_SETTINGS:
        asked, kept = getattr(model_args, name), start.settings[name]
        if asked != defaults[name] and asked != kept:
            raise UserError(
                f"{name} {asked!r} was asked but the start model {shown(start.name)} has {kept!r}: it fixes the "
                "table's settings"
            )
    hidden_dims = start.hidden_dims if list(model_args.hidden_dims) == list(defaults["hidden_dims"]) else None
    return dataclasses.replace(
        model_args,
        **{name: start.settings[name] for name in TABLE_SETTINGS if name != "embedding_dim"},
        embedding_dim=start.settings["embedding_dim"] + model_args.added_columns,
        vocab_size=start.tokenizer.get_vocab_size(),
        hidden_dims=hidden_dims or list(model_args.hidden_dims),
        feature_weighting=False,
        table_init="random",
    )


@torch.no_grad()
def init_from_start(model, start: StartModel) -> None:
    """Set the first columns of a fresh model's table to the start's and the rest to zero, and its hidden
    blocks to the start's when the hidden widths agree.

    So the started features are the start's own at step 0, and few labels cannot drown them; the added columns
    still learn, since the first block's fresh weights on them pass a gradient. The output layer keeps its fresh
    init: the classes are the new run's.

    Args:
        model (`SentimentBagForSequenceClassification`): built with `start_arguments`' settings.
        start (`StartModel`): from `read_start_model`.
    """
    width = start.table.shape[1]
    model.bag.embeddings.weight[:, :width] = start.table
    model.bag.embeddings.weight[:, width:] = 0.0  # the start's answers at step 0: few labels cannot drown them
    if list(model.config.hidden_dims) == start.hidden_dims:
        first = model.bag.mlp[0].weight  # (hidden, embedding_dim): the start's inputs are its first columns
        blocks = {**start.blocks, "0.weight": torch.cat([start.blocks["0.weight"], first[:, width:]], dim=1)}
        model.bag.mlp.load_state_dict(blocks, strict=False)
