"""The exported graph: flat token ids and offsets in, logits and probabilities out."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import onnx
import torch
from torch import nn

from sentiment_batch.errors import UserError
from train.modeling import ngram_features

logger = logging.getLogger(__name__)

INPUT_NAMES = ["input_ids", "offsets"]
OUTPUT_NAMES = ["logits", "probabilities"]
DEFAULT_OPSET = 18
PREFIX_BLOCK_ROWS = 64
PROTOBUF_LIMIT_BYTES = 2**31 - 2**20  # 2 GiB, less room for the graph itself
# Tracing example: three reviews, the middle one empty, so no dimension is specialised to 0 or 1.
EXAMPLE_IDS = [2, 3, 4, 5, 6, 7, 8]
EXAMPLE_OFFSETS = [0, 3, 3]


def padded_entries(rows: torch.Tensor, weights: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The bag entries behind one empty entry and padded with empty ones to whole blocks of PREFIX_BLOCK_ROWS.

    Slot i + 1 holds entry i, so a prefix of i entries ends at slot i. Padding the 1-D entries (not the
    gathered rows) keeps the graph to one gather and one multiply over the large [slots, D] tensor.

    Args:
        rows (`torch.LongTensor` of shape `[F]`): table row of each entry.
        weights (`torch.FloatTensor` of shape `[F]`): weight of each entry.
    """
    # Counted at run time: the exporter's symbolic length assumes reviews longer than the n-gram size.
    entry_count = torch.ones_like(rows).sum()
    blocks = (rows.shape[0] + 2 * PREFIX_BLOCK_ROWS) // PREFIX_BLOCK_ROWS  # a spare block covers that gap
    slots = torch.arange(blocks * PREFIX_BLOCK_ROWS, device=rows.device)
    take = torch.minimum(slots, entry_count)
    padded_rows = torch.cat([rows.new_zeros(1), rows])[take]
    padded_weights = torch.cat([weights.new_zeros(1), weights])[take] * (slots <= entry_count)
    return padded_rows, padded_weights  # [slots] each


def prefix_sums_at(padded: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
    """Sum of the first i entries (slots 0..i of the padded layout) for every i in `positions`, float64, no scatter.

    Running sums restart every PREFIX_BLOCK_ROWS rows (float32, so errors stay at the size of one
    block) and the block totals are carried in float64.

    Args:
        padded (`torch.FloatTensor` of shape `[slots, C]`): rows from `padded_entries`' layout.
        positions (`torch.LongTensor` of shape `[M]`): entry counts, each in [0, F].
    """
    width = padded.shape[1]
    within = padded.reshape(-1, PREFIX_BLOCK_ROWS, width).cumsum(1)  # [blocks, K, C]
    totals = within[:, -1].double()  # [blocks, C]
    before = totals.cumsum(0) - totals
    return within.reshape(-1, width)[positions].double() + before[positions // PREFIX_BLOCK_ROWS]  # [M, C]


def range_sums(padded: torch.Tensor, low: torch.Tensor, high: torch.Tensor) -> torch.Tensor:
    """Per review, the sum of entries [low, high) over the n-gram parts.

    Args:
        padded (`torch.FloatTensor` of shape `[slots, C]`): rows from `padded_entries`' layout.
        low (`torch.LongTensor` of shape `[N, B]`): first entry of each review's range, per part.
        high (`torch.LongTensor` of shape `[N, B]`): entry after its last one, per part.
    """
    prefixes = prefix_sums_at(padded, torch.cat([low, high]).reshape(-1))
    prefixes = prefixes.reshape(2, low.shape[0], low.shape[1], padded.shape[1])
    return (prefixes[1] - prefixes[0]).sum(0)  # [B, C]


def bag_ranges(offsets: torch.Tensor, num_tokens: int, ngram_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Start and end of each review's entries in every part of `ngram_features`' output.

    `ngram_features` stacks the words, then the 2-grams, ... each part in review order, and an
    n-gram belongs to the review of its first word; so review b owns positions
    [offsets[b], ends[b]) of each part, cut to the part's length.

    Args:
        offsets (`torch.LongTensor` of shape `[B]`): start of each review.
        num_tokens (`int`): length of the flat ids.
        ngram_size (`int`): longest n-gram.
    """
    tokens = offsets.new_zeros(()) + num_tokens  # a tensor, so lengths below clamp at run time
    ends = torch.cat([offsets[1:], tokens.reshape(1)])
    lows, highs, part_start = [], [], offsets.new_zeros(())
    for n in range(1, ngram_size + 1):
        part_length = (tokens - (n - 1)).clamp(min=0)
        lows.append(part_start + torch.minimum(offsets, part_length))
        highs.append(part_start + torch.minimum(ends, part_length))
        part_start = part_start + part_length
    return torch.stack(lows), torch.stack(highs)  # [N, B] each


class OnnxScoringModule(nn.Module):
    """The model's bag mean as prefix sums over each review's contiguous entries, then its classifier and softmax.

    Not `segment_mean`: its index_add exports to ScatterND(reduction=add), which onnxruntime's CPU
    kernel runs with racing threads (onnxruntime#18048, #23396). With default session options that
    gave logit errors up to 1.9 on a 22,500-word review and 0.18 on batches of 500 IMDb reviews,
    different on every run. This form has no scatter with repeated indices and is deterministic.

    Args:
        model (`SentimentBagForSequenceClassification`): the trained model, in eval mode.
    """

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, input_ids: torch.Tensor, offsets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        config = self.model.config
        rows, _, weights = ngram_features(input_ids, offsets, config)  # [F] each
        rows, weights = padded_entries(rows, weights)  # [slots] each
        vectors = self.model.embeddings.weight[rows] * weights.unsqueeze(1)  # [slots, D]
        low, high = bag_ranges(offsets, input_ids.shape[0], config.ngram_size)  # [N, B] each
        sums = range_sums(vectors, low, high)  # [B, D]
        counts = range_sums(weights.unsqueeze(1), low, high)  # [B, 1]
        pooled = (sums / counts.clamp(min=1.0)).float()  # [B, D]
        logits = self.model.classify(pooled)  # [B, num_labels]
        return logits, torch.softmax(logits, dim=-1)


def max_writable_opset() -> int:
    """Newest default-domain opset the installed onnx package knows."""
    return onnx.defs.onnx_opset_version()


def check_opset_writable(opset: int) -> None:
    """Refuse an opset the installed onnx cannot write, before any work is done.

    Args:
        opset (`int`): the requested ONNX opset.
    """
    if not 1 <= opset <= max_writable_opset():
        raise UserError(f"opset {opset} cannot be written by onnx {onnx.__version__} (newest: {max_writable_opset()})")


def written_opset(path: Path) -> int:
    """Default-domain opset recorded in an ONNX file.

    Args:
        path (`Path`): the ONNX file.
    """
    model = onnx.load(str(path), load_external_data=False)
    return next(entry.version for entry in model.opset_import if entry.domain in ("", "ai.onnx"))


def check_fits_one_file(model: nn.Module) -> None:
    """Refuse weights past protobuf's 2 GiB limit: the bundle holds one self-contained model.onnx.

    Args:
        model (`nn.Module`): the model to export.
    """
    weight_bytes = sum(tensor.numel() * tensor.element_size() for tensor in model.state_dict().values())
    if weight_bytes >= PROTOBUF_LIMIT_BYTES:
        raise UserError(
            f"weights of {weight_bytes / 2**30:.1f} GiB exceed the 2 GiB limit of a single ONNX file; "
            "shrink num_buckets or embedding_dim"
        )


def export_onnx(model: nn.Module, path: Path, opset: int) -> None:
    """Export the scoring graph with the dynamo exporter into one self-contained file, then check it.

    Args:
        model (`SentimentBagForSequenceClassification`): the trained model, in eval mode.
        path (`Path`): where model.onnx goes.
        opset (`int`): the ONNX opset to write.
    """
    check_fits_one_file(model)
    example = (torch.tensor(EXAMPLE_IDS, dtype=torch.long), torch.tensor(EXAMPLE_OFFSETS, dtype=torch.long))
    dynamic_shapes = {"input_ids": {0: torch.export.Dim("tokens")}, "offsets": {0: torch.export.Dim("batch")}}
    logger.info("exporting to ONNX (opset %d) with the dynamo exporter", opset)
    with torch.no_grad(), warnings.catch_warnings():
        # torch.export's own use of a deprecated pytree API; nothing the caller can act on.
        warnings.filterwarnings("ignore", message=".*LeafSpec.*", category=FutureWarning)
        torch.onnx.export(
            OnnxScoringModule(model).eval(),
            example,
            str(path),
            dynamo=True,
            opset_version=opset,
            input_names=INPUT_NAMES,
            output_names=OUTPUT_NAMES,
            dynamic_shapes=dynamic_shapes,
            external_data=False,
            verbose=False,
        )
    # The exporter silently falls back to its own opset when it cannot convert down to the requested one.
    actual = written_opset(path)
    if actual != opset:
        raise UserError(
            f"opset {opset} cannot be written by the torch {torch.__version__} exporter (it wrote {actual})"
        )
    onnx.checker.check_model(str(path), full_check=True)
