"""The exported scoring graph as a torch module: the model's eval `forward` in the form onnxruntime runs.

`SentimentBagModel.forward` pools with `nn.EmbeddingBag`, which exports to a slow Loop over bags. Here each
token's word and n-gram rows are gathered and added, and every review's sum is the difference of two prefix sums
over the batch. The prefix sums are exact: the token sums are rounded once to a fixed-point grid (int64 with
`fraction_bits` bits after the point, the same grid for every batch), so a review's sum does not depend on the
reviews around it and its probabilities are bit-identical alone, in any batch, or on Spark. A float prefix sum
would carry the rounding of every earlier review into later ones.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from sentiment_batch.train.modeling import ngram_columns, review_ends, segment_sum

# Prefix sums run over at most this many tokens per call (a batch of 2**31 int64 ids alone needs 16 GiB).
MAX_TOKENS_BITS = 31
INT64_BITS = 63


def fraction_bits(table: torch.Tensor, ngram_size: int) -> int:
    """Bits after the fixed-point of the prefix sums: as many as int64 holds for any batch of this table.

    A token adds at most `ngram_size` rows, so its sum is below `ngram_size * max|table|`, and a batch of
    2**MAX_TOKENS_BITS such tokens must stay below 2**63.

    Args:
        table (`torch.Tensor` of shape `[R, D]`): the rows the graph reads.
        ngram_size (`int`): rows added per token.
    """
    largest = float(table.abs().max()) * ngram_size
    integer_bits = max(math.ceil(math.log2(largest)), 0) if largest > 0 else 0
    return INT64_BITS - MAX_TOKENS_BITS - 1 - integer_bits


class ScoringModule(nn.Module):
    """Flat `input_ids` + `offsets` → `logits`, `probabilities`, with the pooling of the model's eval `forward`.

    The table is the model's with the fixed feature weights folded in (`scaled_table`): the graph reads one table
    instead of multiplying two on every run.

    Args:
        model (`SentimentBagForSequenceClassification`): the trained model, in eval mode.
    """

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model
        self.config = model.config
        self.table = nn.Parameter(model.bag.scaled_table().detach().clone(), requires_grad=False)  # [R, D]
        self.fraction_bits = fraction_bits(self.table, self.config.ngram_size)

    def pool(self, input_ids: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
        """Each review's pooled rows `[B, D]`, as `SentimentBagModel.bag_pool` computes them in eval mode."""
        num_tokens = input_ids.shape[0]
        columns, weights, bags = ngram_columns(input_ids, offsets, self.config)  # N x [T] each, [T]
        # Every column has one entry per token (n-grams that leave their review read the zero padding row), so
        # the token sums are elementwise and a review's tokens stay contiguous. F.embedding exports to Gather.
        token_sums = sum(nn.functional.embedding(rows, self.table) for rows in columns)  # [T, D] float32
        fixed = torch.round(token_sums * 2.0**self.fraction_bits).long()  # [T, D] int64
        prefix = nn.functional.pad(fixed.cumsum(0), (0, 0, 1, 0))  # [T+1, D], prefix[i]: the tokens before i
        ends = review_ends(offsets, num_tokens)  # [B]
        # index_select exports to Gather; fancy indexing becomes the much slower GatherND.
        sums = prefix.index_select(0, ends) - prefix.index_select(0, offsets)  # [B, D] int64, exact
        sums = sums.float() * 2.0**-self.fraction_bits  # [B, D]
        return self.model.bag.scale_sums(sums, self.counts(weights, bags, offsets, ends))  # [B, D]

    def counts(
        self, weights: list[torch.Tensor], bags: torch.Tensor, offsets: torch.Tensor, ends: torch.Tensor
    ) -> torch.Tensor:
        """Each review's bag entries `[B, 1]` (whole numbers, exact in float32)."""
        if self.config.distinct_ngrams:  # the entries left once repeats are dropped
            return segment_sum(sum(weights), bags, offsets.shape[0]).unsqueeze(1)  # [B, 1]
        # Without repeats dropped, a review of L tokens has max(L - n + 1, 0) n-grams of each size n: no scatter.
        lengths = (ends - offsets).unsqueeze(1)  # [B, 1]
        sizes = torch.arange(1, self.config.ngram_size + 1, device=lengths.device)  # [N]
        return (lengths - sizes + 1).clamp(min=0).sum(dim=1, keepdim=True).float()  # [B, 1]

    def forward(self, input_ids: torch.Tensor, offsets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        pooled = self.pool(input_ids, offsets)  # [B, D]
        logits = self.model.classifier(self.model.bag.mlp(pooled))  # [B, num_labels]
        return logits, torch.softmax(logits, dim=-1)
