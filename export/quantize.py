"""Optional int8 weights for the bundle, kept only when they score like the float model."""

from __future__ import annotations

import logging
from dataclasses import asdict
from pathlib import Path

from onnxruntime.quantization import QuantType, quantize_dynamic
from tokenizers import Tokenizer

from .parity import LogitComparison, onnx_scorer, open_session, score_texts

logger = logging.getLogger(__name__)

# The int8 model replaces the float one only inside these bounds, measured against the float ONNX model.
INT8_MIN_LABEL_AGREEMENT = 0.99
INT8_MAX_LOGIT_DIFF = 0.05
# Gather covers the embedding table (most of the file); MatMul the MLP.
QUANTIZED_OPS = ["Gather", "MatMul"]


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
    quantize_dynamic(model_path, int8_path, weight_type=QuantType.QInt8, op_types_to_quantize=QUANTIZED_OPS)
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
