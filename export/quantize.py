"""Optional float16 storage of the embedding table (`export --float16`), kept only when it scores like float32."""

from __future__ import annotations

import logging
from dataclasses import asdict
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from tokenizers import Tokenizer

from sentiment_batch.bundle import open_session

from .parity import LogitComparison, onnx_scorer, score_texts

logger = logging.getLogger(__name__)

# The float16 model replaces the float32 one only inside these bounds, measured against the float32 ONNX model on a
# sample of real reviews: a guard against a broken conversion, not an accuracy estimate (run `sentiment-batch verify`
# for that). Trained IMDb models stay well inside them; the figures are in tests/bench/results.
HALF_MIN_LABEL_AGREEMENT = 0.99
HALF_MAX_LOGIT_DIFF = 0.05
# Fewer reviews cannot show a 99% agreement: one disagreement in 100 is already 1%.
MIN_FLOAT16_SAMPLE = 1000


def row_lookups_as_gathers(model: onnx.ModelProto) -> int:
    """Rewrite `GatherND(table, Unsqueeze(rows, -1))` on weight tables as `Gather(table, rows)`, in place.

    The dynamo exporter may write `weight[rows]` as GatherND; as Gather, `half_precision_tables` can
    rewrite the lookup. Returns the number of rewritten lookups.

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


def compare_sessions(float_path: Path, half_path: Path, tokenizer: Tokenizer, texts: list[str]) -> LogitComparison:
    """Logit and label agreement of one graph against another: a float16-table model against the float32 one, or
    the float16 explain graph against the float16 scoring graph.

    Args:
        float_path (`Path`): the reference ONNX file.
        half_path (`Path`): the compared ONNX file.
        tokenizer (`Tokenizer`): the bundle's tokenizer.
        texts (`list[str]`): the reviews to compare on.
    """
    batch_size = max(len(texts), 1)
    reference = score_texts(onnx_scorer(open_session(float_path)), tokenizer, texts, batch_size)
    candidate = score_texts(onnx_scorer(open_session(half_path)), tokenizer, texts, batch_size)
    return LogitComparison.of(reference, candidate)


def half_precision_tables(model: onnx.ModelProto) -> int:
    """Store every float32 table (a matrix read only by Gather) in float16, in place; returns how many.

    Each `Gather(table, rows)` becomes `Cast(Gather(table16, rows), float32)`: the file halves and every
    value keeps 11 significant bits. Not 8 bits: the naive Bayes-scaled rows span four orders of magnitude,
    and BatchNorm amplifies the rounding into lost accuracy.

    Args:
        model (`onnx.ModelProto`): the float model, table lookups already written as Gather.
    """
    graph = model.graph
    readers: dict[str, list[onnx.NodeProto | None]] = {}
    for node in graph.node:
        for position, name in enumerate(node.input):
            readers.setdefault(name, []).append(node if node.op_type == "Gather" and position == 0 else None)
    converted = 0
    for initializer in list(graph.initializer):
        nodes = readers.get(initializer.name, [])
        table = initializer.data_type == TensorProto.FLOAT and len(initializer.dims) == 2
        if not table or not nodes or None in nodes:
            continue
        half = numpy_helper.from_array(numpy_helper.to_array(initializer).astype(np.float16), initializer.name)
        initializer.CopyFrom(half)
        # The exporter may have recorded the table's float32 type; shape inference then finds a conflict.
        for stale in [info for info in graph.value_info if info.name == initializer.name]:
            graph.value_info.remove(stale)
        for node in nodes:
            half_rows = f"{node.output[0]}.float16"
            graph.node.insert(
                list(graph.node).index(node) + 1,
                helper.make_node("Cast", [half_rows], [node.output[0]], to=TensorProto.FLOAT),
            )
            node.output[0] = half_rows
        converted += 1
    return converted


def store_tables_in_float16(path: Path, destination: Path) -> None:
    """Write a graph with its tables stored in float16 (`half_precision_tables`).

    Args:
        path (`Path`): the float ONNX file.
        destination (`Path`): where the converted graph goes (may be `path`).
    """
    model = onnx.load(str(path))
    logger.info("embedding lookups rewritten as Gather for quantization: %d", row_lookups_as_gathers(model))
    logger.info("tables stored in float16: %d", half_precision_tables(model))
    onnx.save(model, str(destination))


def quantize_in_place(model_path: Path, tokenizer: Tokenizer, texts: list[str]) -> dict:
    """Store the embedding table in float16 and swap the file in when within bounds; report sizes and agreement.

    Args:
        model_path (`Path`): the float32 ONNX file, replaced by the float16-table one when kept.
        tokenizer (`Tokenizer`): the bundle's tokenizer.
        texts (`list[str]`): the real reviews to compare on.
    """
    half_path = model_path.with_name(model_path.stem + ".float16.onnx")
    store_tables_in_float16(model_path, half_path)
    comparison = compare_sessions(model_path, half_path, tokenizer, texts)
    kept = comparison.within(HALF_MAX_LOGIT_DIFF, HALF_MIN_LABEL_AGREEMENT)
    report = {
        "kept": kept,
        "float_bytes": model_path.stat().st_size,
        "quantized_bytes": half_path.stat().st_size,
        **asdict(comparison),
        "max_logit_diff_allowed": HALF_MAX_LOGIT_DIFF,
        "min_label_agreement": HALF_MIN_LABEL_AGREEMENT,
    }
    if kept:
        half_path.replace(model_path)
    else:
        half_path.unlink()
        logger.warning("float16 model outside bounds (%s); keeping the float model", comparison)
    return report
