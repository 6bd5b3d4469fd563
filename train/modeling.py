"""The bag-of-n-grams sentiment classifier: EmbeddingBag, then an MLP, then logits."""

from __future__ import annotations

import torch
from torch import nn
from transformers import PreTrainedModel
from transformers import initialization as init
from transformers.modeling_outputs import SequenceClassifierOutput

from .configuration import SentimentBagConfig


def segment_sum(values: torch.Tensor, segments: torch.Tensor, num_segments: int) -> torch.Tensor:
    """Sum of `values` rows per segment id.

    scatter_add, not index_add: index_add exports to ONNX ScatterND(reduction="add"), which
    onnxruntime runs multi-threaded and which then loses updates (logits off by up to 4 on
    batches of 512 reviews); ScatterElements(reduction="add") gives exact sums.

    Args:
        values (`torch.Tensor` of shape `[N]` or `[N, D]`): what to sum.
        segments (`torch.LongTensor` of shape `[N]`): the segment of each row, in [0, num_segments).
        num_segments (`int`): number of segments.
    """
    index = segments if values.dim() == 1 else segments.unsqueeze(1).expand(-1, values.shape[1])  # like values
    sums = torch.zeros((num_segments, *values.shape[1:]), dtype=values.dtype, device=values.device)
    return sums.scatter_add(0, index, values)  # [num_segments, ...]


def bag_index(offsets: torch.Tensor, num_tokens: int) -> torch.Tensor:
    """Index of the review each token belongs to, from EmbeddingBag offsets.

    A segment sum + cumsum instead of searchsorted/repeat_interleave, which do not export to
    ONNX; repeated offsets (empty reviews) come out right.

    Args:
        offsets (`torch.LongTensor` of shape `[batch]`): start of each review in the flat ids, offsets[0] == 0.
        num_tokens (`int`): length of the flat ids.
    """
    starts = segment_sum(torch.ones_like(offsets), offsets, num_tokens + 1)  # [T+1]
    return starts.cumsum(0)[:num_tokens] - 1  # [T]


def ngram_features(
    input_ids: torch.Tensor, offsets: torch.Tensor, config: SentimentBagConfig
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Table rows, owning review and weight of every bag entry: the words, then their hashed n-grams.

    N-grams that would cross from one review into the next get weight 0 rather than being
    removed, so the shapes stay static and the ONNX graph has no NonZero.

    Args:
        input_ids (`torch.LongTensor` of shape `[T]`): all reviews' token ids, concatenated.
        offsets (`torch.LongTensor` of shape `[batch]`): start of each review.
        config (`SentimentBagConfig`): gives vocab_size, ngram_size, num_buckets, ngram_hash_multiplier.
    """
    num_tokens = input_ids.shape[0]
    bags = bag_index(offsets, num_tokens)  # [T]
    rows, owners = [input_ids], [bags]
    weights = [torch.ones(num_tokens, dtype=torch.float32, device=input_ids.device)]
    for n in range(2, config.ngram_size + 1):
        count = max(num_tokens - n + 1, 0)
        hashed = input_ids[:count]  # [T-n+1]
        for k in range(1, n):
            hashed = (hashed * config.ngram_hash_multiplier + input_ids[k : k + count]) % config.num_buckets
        same_review = bags[:count] == bags[n - 1 : n - 1 + count]  # [T-n+1]
        rows.append(hashed + config.vocab_size)
        owners.append(bags[:count])
        weights.append(same_review.to(torch.float32))
    return torch.cat(rows), torch.cat(owners), torch.cat(weights)  # [F] each


def flatten_padded(input_ids: torch.Tensor, pad_token_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Turn a padded [batch, seq] id matrix into EmbeddingBag's flat ids + offsets, dropping padding.

    Args:
        input_ids (`torch.LongTensor` of shape `[batch, seq]`): padded ids.
        pad_token_id (`int`): the padding id.
    """
    keep = input_ids != pad_token_id  # [B, S]
    lengths = keep.sum(dim=1)  # [B]
    return input_ids[keep], lengths.cumsum(0) - lengths  # [T], [B]


class SentimentBagPreTrainedModel(PreTrainedModel):
    config_class = SentimentBagConfig
    base_model_prefix = "sentiment_bag"
    main_input_name = "input_ids"

    def _init_weights(self, module: nn.Module) -> None:
        # Every module type is handled here: v5's default init does not know EmbeddingBag.
        if isinstance(module, nn.EmbeddingBag):
            bound = 1.0 / self.config.embedding_dim
            init.uniform_(module.weight, -bound, bound)
        elif isinstance(module, nn.Linear):
            init.normal_(module.weight, mean=0.0, std=self.config.initializer_range)
            init.zeros_(module.bias)
        elif isinstance(module, nn.BatchNorm1d):
            init.ones_(module.weight)
            init.zeros_(module.bias)
            init.zeros_(module.running_mean)
            init.ones_(module.running_var)
            init.zeros_(module.num_batches_tracked)


class SentimentBagForSequenceClassification(SentimentBagPreTrainedModel):
    """Mean of the review's word and n-gram rows → [Linear, BatchNorm1d, ReLU, Dropout]* → Linear."""

    def __init__(self, config: SentimentBagConfig):
        super().__init__(config)
        self.embeddings = nn.EmbeddingBag(
            config.num_embeddings, config.embedding_dim, mode="sum", sparse=config.sparse_embeddings
        )
        layers: list[nn.Module] = []
        width = config.embedding_dim
        for hidden in config.hidden_dims:
            layers += [nn.Linear(width, hidden), nn.BatchNorm1d(hidden), nn.ReLU(), nn.Dropout(config.dropout)]
            width = hidden
        self.mlp = nn.Sequential(*layers)
        self.classifier = nn.Linear(width, config.num_labels)
        self.post_init()

    def _drop_features(self, weights: torch.Tensor) -> torch.Tensor:
        if not self.training or self.config.feature_dropout <= 0:
            return weights
        keep = torch.rand_like(weights) >= self.config.feature_dropout
        return weights * keep

    def bag_mean(self, input_ids: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
        """Mean row of each review through nn.EmbeddingBag (training and eager inference)."""
        batch_size = offsets.shape[0]
        rows, owners, weights = ngram_features(input_ids, offsets, self.config)  # [F] each
        weights = self._drop_features(weights)
        # EmbeddingBag wants each review's entries contiguous: words and n-grams are stacked, so regroup.
        order = torch.argsort(owners, stable=True)  # [F]
        sizes = torch.bincount(owners, minlength=batch_size)  # [B]
        sums = self.embeddings(rows[order], sizes.cumsum(0) - sizes, per_sample_weights=weights[order])  # [B, D]
        counts = segment_sum(weights, owners, batch_size)  # [B]
        return sums / counts.clamp(min=1.0).unsqueeze(1)  # [B, D]

    def segment_mean(self, input_ids: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
        """The same mean as `bag_mean`, as a gather and a segment sum: the form that exports to fast ONNX."""
        batch_size = offsets.shape[0]
        rows, owners, weights = ngram_features(input_ids, offsets, self.config)  # [F] each
        vectors = self.embeddings.weight[rows] * weights.unsqueeze(1)  # [F, D]
        sums = segment_sum(vectors, owners, batch_size)  # [B, D]
        counts = segment_sum(weights, owners, batch_size)  # [B]
        return sums / counts.clamp(min=1.0).unsqueeze(1)  # [B, D]

    def classify(self, pooled: torch.Tensor) -> torch.Tensor:
        """Logits from the mean rows."""
        return self.classifier(self.mlp(pooled))  # [B, num_labels]

    def forward(
        self,
        input_ids: torch.Tensor,
        offsets: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
    ) -> SequenceClassifierOutput:
        """Classify a batch of reviews.

        Args:
            input_ids (`torch.LongTensor`): flat `[T]` ids of all reviews with `offsets`, or padded
                `[batch, seq]` ids (padding = `config.pad_token_id`) with `offsets=None`.
            offsets (`torch.LongTensor` of shape `[batch]`, *optional*): start of each review in the flat ids.
            labels (`torch.LongTensor` of shape `[batch]`, *optional*): targets; gives a cross-entropy loss.
        """
        if offsets is None:
            if input_ids.dim() != 2:
                raise ValueError("flat input_ids need offsets; pass [batch, seq] ids to go without")
            input_ids, offsets = flatten_padded(input_ids, self.config.pad_token_id)
        elif input_ids.dim() != 1:
            raise ValueError("with offsets, input_ids must be 1-D (all reviews concatenated)")
        logits = self.classify(self.bag_mean(input_ids, offsets))  # [B, num_labels]
        loss = nn.functional.cross_entropy(logits, labels) if labels is not None else None
        return SequenceClassifierOutput(loss=loss, logits=logits)
