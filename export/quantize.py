"""Optional int8 weights for the bundle, kept only when they score like the float model."""

from __future__ import annotations

import logging
from dataclasses import asdict
from pathlib import Path

import onnx
from onnx import numpy_helper
from onnxruntime.quantization import QuantType, quantize_dynamic
from tokenizers import Tokenizer

from sentiment_batch.scorer import open_session

from .parity import LogitComparison, onnx_scorer, score_texts

logger = logging.getLogger(__name__)

# The int8 model replaces the float one only inside these bounds, measured against the float ONNX model: a guard
# against a broken quantization, not an accuracy estimate (run `sentiment-batch verify` for that). A trained IMDb
# model gave max |Δlogit| 0.03 on 2,500 reviews (accuracy -0.08 pt) and 0.14 on the built-in parity texts.
INT8_MIN_LABEL_AGREEMENT = 0.99
INT8_MAX_LOGIT_DIFF = 0.25
# Gather covers the embedding table (most of the file); MatMul the MLP.
QUANTIZED_OPS = ["Gather", "MatMul"]


def row_lookups_as_gathers(model: onnx.ModelProto) -> int:
    """Rewrite `GatherND(table, Unsqueeze(rows, -1))` on weight tables as `Gather(table, rows)`, in place.

    The dynamo exporter writes `weight[rows]` as GatherND, which quantize_dynamic skips; as Gather it
    quantizes the embedding table. Returns the number of rewritten lookups.

    Args:
        model (`onnx.ModelProto`): the float model.
    """
    graph = model.graph
    tables = {initializer.name for initializer in graph.initializer}
    constants = {initializer.name: numpy_helper.to_array(initializer) for initializer in graph.initializer}
    producers = {output: node for node in graph.node for output in node.output}
    rewritten = 0
    for index, node in enumerate(graph.node):
        unsqueeze = producers.get(node.input[1]) if node.op_type == "GatherND" else None
        if unsqueeze is None or node.input[0] not in tables or unsqueeze.op_type != "Unsqueeze":
            continue
        batch_dims = next((attribute.i for attribute in node.attribute if attribute.name == "batch_dims"), 0)
        last_axis_only = unsqueeze.input[1] in constants and constants[unsqueeze.input[1]].tolist() == [-1]
        if batch_dims == 0 and last_axis_only:
            gather = onnx.helper.make_node("Gather", [node.input[0], unsqueeze.input[0]], list(node.output), axis=0)
            graph.node[index].CopyFrom(gather)
            rewritten += 1
    return rewritten


def compare_sessions(float_path: Path, int8_path: Path, tokenizer: Tokenizer, texts: list[str]) -> LogitComparison:
    """Logit and label agreement of the int8 model against the float one.

    Args:
        float_path (`Path`): the float ONNX file.
        int8_path (`Path`): the quantized ONNX file.
        tokenizer (`Tokenizer`): the bundle's tokenizer.
        texts (`list[str]`): the reviews to compare on.
    """
    batch_size = max(len(texts), 1)
    reference = score_texts(onnx_scorer(open_session(float_path)), tokenizer, texts, batch_size)
    candidate = score_texts(onnx_scorer(open_session(int8_path)), tokenizer, texts, batch_size)
    return LogitComparison.of(reference, candidate)


def quantize_in_place(model_path: Path, tokenizer: Tokenizer, texts: list[str]) -> dict:
    """Quantize the weights to int8 and swap the file in when within bounds; report sizes and agreement.

    Args:
        model_path (`Path`): the float ONNX file, replaced by the int8 one when kept.
        tokenizer (`Tokenizer`): the bundle's tokenizer.
        texts (`list[str]`): the reviews to compare on (the parity set).
    """
    int8_path = model_path.with_name(model_path.stem + ".int8.onnx")
    model = onnx.load(str(model_path))
    logger.info("embedding lookups rewritten as Gather for quantization: %d", row_lookups_as_gathers(model))
    quantize_dynamic(model, int8_path, weight_type=QuantType.QInt8, op_types_to_quantize=QUANTIZED_OPS)
    comparison = compare_sessions(model_path, int8_path, tokenizer, texts)
    kept = comparison.within(INT8_MAX_LOGIT_DIFF, INT8_MIN_LABEL_AGREEMENT)
    report = {
        "kept": kept,
        "float_bytes": model_path.stat().st_size,
        "int8_bytes": int8_path.stat().st_size,
        **asdict(comparison),
        "max_logit_diff_allowed": INT8_MAX_LOGIT_DIFF,
        "min_label_agreement": INT8_MIN_LABEL_AGREEMENT,
    }
    if kept:
        int8_path.replace(model_path)
    else:
        int8_path.unlink()
        logger.warning("int8 model outside bounds (%s); keeping the float model", comparison)
    return report
