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
from typing import NamedTuple

import torch
from torch import nn

from sentiment_batch.train.modeling import ngram_columns, review_ends

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


def review_sums(values: torch.Tensor, offsets: torch.Tensor, ends: torch.Tensor) -> torch.Tensor:
    """Each review's sum `[B, K]` of integer token values `[T, K]`, as the difference of two prefix sums: exact,
    so a review's sum does not depend on the reviews around it.

    Args:
        values (`torch.Tensor`): int64 values, one row per token.
        offsets (`torch.Tensor`): where each review starts.
        ends (`torch.Tensor`): where each review ends (`review_ends`).
    """
    prefix = nn.functional.pad(values.cumsum(0), (0, 0, 1, 0))  # [T+1, K], prefix[i]: the tokens before i
    # index_select exports to Gather; fancy indexing becomes the much slower GatherND.
    return prefix.index_select(0, ends) - prefix.index_select(0, offsets)  # [B, K]


class Bag(NamedTuple):
    """A batch's bag as the graph builds it: each n-gram's table row, the rows read, and each review's pooling."""

    columns: list[torch.Tensor]  # N x [T]: table row of the n-gram of each size starting at each token
    weights: list[torch.Tensor]  # N x [T]: 1 where that n-gram is in the bag, else 0
    gathered: list[torch.Tensor]  # N x [T, D]: those rows of the table (zero where no n-gram)
    bags: torch.Tensor  # [T]: review of each token
    scales: torch.Tensor  # [B, 1]: what the pooling multiplies a review's sum by
    pooled: torch.Tensor  # [B, D]


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

    def bag(self, input_ids: torch.Tensor, offsets: torch.Tensor) -> Bag:
        """The batch's rows and each review's pooled rows, as `SentimentBagModel.bag_pool` computes them."""
        num_tokens = input_ids.shape[0]
        columns, weights, bags = ngram_columns(input_ids, offsets, self.config)  # N x [T] each, [T]
        # Every column has one entry per token (n-grams that leave their review read the zero padding row), so
        # the token sums are elementwise and a review's tokens stay contiguous. F.embedding exports to Gather.
        gathered = [nn.functional.embedding(rows, self.table) for rows in columns]  # N x [T, D]
        if self.config.negation_window and self.config.negation_flip:  # a negated word's row, sign turned
            gathered[0] = gathered[0] * weights[0].unsqueeze(1)
        fixed = torch.round(sum(gathered) * 2.0**self.fraction_bits).long()  # [T, D] int64
        ends = review_ends(offsets, num_tokens)  # [B]
        sums = review_sums(fixed, offsets, ends).float() * 2.0**-self.fraction_bits  # [B, D]
        counts = self.counts(weights, offsets, ends)  # [B, 1]
        scale_sums = self.model.bag.scale_sums
        scales = scale_sums(torch.ones_like(counts), counts)  # [B, 1]
        return Bag(columns, weights, gathered, bags, scales, scale_sums(sums, counts))

    def pool(self, input_ids: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
        """Each review's pooled rows `[B, D]`."""
        return self.bag(input_ids, offsets).pooled

    def counts(self, weights: list[torch.Tensor], offsets: torch.Tensor, ends: torch.Tensor) -> torch.Tensor:
        """Each review's bag entries `[B, 1]` (whole numbers, exact in float32)."""
        # The entries left once repeats or neutral words' n-grams are dropped, by prefix sums (no scatter).
        if self.config.distinct_ngrams or self.config.neutral_token_ids:
            if self.config.negation_window and self.config.negation_flip:  # a flipped word weighs -1, counts once
                weights = [weights[0].abs(), *weights[1:]]
            return review_sums(sum(weights).long().unsqueeze(1), offsets, ends).float()  # [B, 1]
        # Without repeats dropped, a review of L tokens has max(L - n + 1, 0) n-grams of each size n: no scatter.
        lengths = (ends - offsets).unsqueeze(1)  # [B, 1]
        sizes = torch.arange(1, self.config.ngram_size + 1, device=lengths.device)  # [N]
        return (lengths - sizes + 1).clamp(min=0).sum(dim=1, keepdim=True).float()  # [B, 1]

    def head(self, pooled: torch.Tensor) -> torch.Tensor:
        """Logits `[B, num_labels]` of pooled reviews `[B, D]`: the model's MLP and calibrated classifier."""
        return self.model.classify(self.model.bag.mlp(pooled))

    def forward(self, input_ids: torch.Tensor, offsets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        logits = self.head(self.pool(input_ids, offsets))  # [B, num_labels]
        return logits, torch.softmax(logits, dim=-1)


class ExplainModule(ScoringModule):
    """`ScoringModule` plus `evidence` and `rows`: what each n-gram of a review adds to its label's logit margin.

    After pooling the network is piecewise linear (eval-mode BatchNorm is affine, ReLU a mask), so at a review's
    pooled point the margin of its label, `z_label - mean(z_other)`, moves by `gradient · pooled`, and pooled is
    `scale * sum(rows)`: each row's share, `scale * row · gradient`, is exact, and a review's shares add up to
    `gradient · pooled`. `rows` names the table row of each share, -1 where no n-gram is in the bag (past the
    review's end, or a repeat that a bag of distinct n-grams drops).

    Args:
        model (`SentimentBagForSequenceClassification`): the trained model, in eval mode.
    """

    def __init__(self, model: nn.Module):
        super().__init__(model)
        # Each block's Linear and BatchNorm as one affine map, for the masks and the gradient. Kept apart from the
        # model's own parameters, which `head` reads: shared, they would stop the exporter from folding BatchNorm
        # into the Linear before it as it does in the scoring graph, and the logits would differ in the last bit.
        layers = list(model.bag.mlp)
        self.affine_weights, self.affine_biases = nn.ParameterList(), nn.ParameterList()
        for linear, norm in zip(layers[0::4], layers[1::4], strict=True):
            scale = norm.weight / torch.sqrt(norm.running_var + norm.eps)  # [H]
            weight = (linear.weight * scale.unsqueeze(1)).detach().clone()  # [H, H_previous]
            bias = ((linear.bias - norm.running_mean) * scale + norm.bias).detach().clone()  # [H]
            self.affine_weights.append(nn.Parameter(weight, requires_grad=False))
            self.affine_biases.append(nn.Parameter(bias, requires_grad=False))

    def forward(
        self, input_ids: torch.Tensor, offsets: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        bag = self.bag(input_ids, offsets)
        logits = self.head(bag.pooled)  # [B, C], the same operations as ScoringModule's
        gradient = self.margin_gradient(bag.pooled, logits.argmax(dim=-1))  # [B, D]
        per_token = (gradient * bag.scales).index_select(0, bag.bags)  # [T, D]
        evidence = torch.stack([(rows * per_token).sum(dim=1) for rows in bag.gathered], dim=1)  # [T, N]
        kept = zip(bag.columns, bag.weights, strict=True)
        rows = torch.stack([torch.where(weight != 0, column, -1) for column, weight in kept], dim=1)  # [T, N]
        return logits, torch.softmax(logits, dim=-1), evidence, rows  # [B, C], [B, C], [T, N], [T, N]

    def margin_gradient(self, pooled: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """d(z_label - mean of the other logits) / d pooled `[B, D]`, through each review's ReLU masks.

        Args:
            pooled (`torch.Tensor` of shape `[B, D]`): the pooled reviews.
            labels (`torch.LongTensor` of shape `[B]`): the label whose margin is explained.
        """
        hidden, masks = pooled, []
        for weight, bias in zip(self.affine_weights, self.affine_biases, strict=True):
            active = hidden @ weight.T + bias  # [B, H]
            masks.append(active > 0)
            hidden = active.clamp(min=0)
        weight = self.model.classifier.weight  # [C, H]
        num_labels = weight.shape[0]
        gradient = (num_labels * weight.index_select(0, labels) - weight.sum(dim=0)) / (num_labels - 1)  # [B, H]
        gradient = gradient / self.config.calibration_temperature
        for affine, mask in zip(reversed(self.affine_weights), reversed(masks), strict=True):
            gradient = (gradient * mask) @ affine  # [B, H_previous]
        return gradient
