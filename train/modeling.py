"""The bag-of-n-grams sentiment classifier: EmbeddingBag, then an MLP, then logits.

The helpers first (n-gram rows, repeats, segment sums), then the models: `SentimentBagModel` pools each
review's weighted rows with `nn.EmbeddingBag` and runs the MLP; `SentimentBagForSequenceClassification` adds the
classifier and loss. The exported graph computes the same pooling in the form onnxruntime runs fast
(`sentiment_batch.export.scoring_module`), checked against this `forward` at every export.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import nn
from transformers import PreTrainedModel
from transformers import initialization as init
from transformers.modeling_outputs import SequenceClassifierOutput
from transformers.utils import ModelOutput

from .configuration import SentimentBagConfig

# Fewest hash slots per n-gram entry of a review in `distinct_columns`.
DISTINCT_SLOTS = 2
# Token roles (`token_roles`).
NEGATION_CUE, SCOPE_END, NEUTRAL = 1, 2, 3


def segment_sum(values: torch.Tensor, segments: torch.Tensor, num_segments: int) -> torch.Tensor:
    """Sum of `values` per segment id (1-D).

    scatter_add, not index_add: index_add exports to ONNX ScatterND(reduction="add"), which
    onnxruntime runs multi-threaded and which then loses updates.

    Args:
        values (`torch.Tensor` of shape `[N]`): what to sum.
        segments (`torch.LongTensor` of shape `[N]`): the segment of each value, in [0, num_segments).
        num_segments (`int`): number of segments.
    """
    sums = torch.zeros(num_segments, dtype=values.dtype, device=values.device)
    return sums.scatter_add(0, segments, values)  # [num_segments]


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


def review_ends(offsets: torch.Tensor, num_tokens: int) -> torch.Tensor:
    """One past the last token of each review: the next review's offset, the token count for the last.

    Args:
        offsets (`torch.LongTensor` of shape `[batch]`): start of each review in the flat ids.
        num_tokens (`int`): length of the flat ids.
    """
    return torch.cat([offsets[1:], offsets.new_full((1,), num_tokens)])  # [B]


class Ngrams(NamedTuple):
    """A batch's bag entries: the table row and weight of each n-gram, and the review of each token."""

    rows: list[torch.Tensor] | torch.Tensor  # N columns of [T], or [T, N] stacked
    weights: list[torch.Tensor] | torch.Tensor  # the same shape; 0 where no n-gram starts, -1 for a flipped word
    bags: torch.Tensor  # [T] review of every token (`bag_index`)


def ngram_columns(input_ids: torch.Tensor, offsets: torch.Tensor, config: SentimentBagConfig) -> Ngrams:
    """Table row and weight of every n-gram (n = 1..ngram_size) starting at every token, one column per n.

    Column n-1 holds the n-grams: the word itself, then the hashed n-grams into the rows after
    the vocabulary. An n-gram that runs past its review (or past the batch, whose ids are padded
    by n-1) reads the padding row, which stays zero, and gets weight 0, instead of being removed:
    every column has one entry per token, so a review's entries stay contiguous and the ONNX graph
    has only static shapes. The token → review index comes back too, for the callers' per-review sums.

    Args:
        input_ids (`torch.LongTensor` of shape `[T]`): all reviews' token ids, concatenated.
        offsets (`torch.LongTensor` of shape `[batch]`): start of each review.
        config (`SentimentBagConfig`): gives vocab_size, ngram_size, num_buckets, ngram_hash_multiplier, the
            negation settings and neutral_token_ids (n-grams holding one of them read the padding row, weight 0).
    """
    num_tokens, extra = input_ids.shape[0], config.ngram_size - 1
    bags = bag_index(offsets, num_tokens)  # [T]
    padded_ids = nn.functional.pad(input_ids, (0, extra))  # [T+n-1]
    padded_bags = nn.functional.pad(bags, (0, extra), value=-1)  # [T+n-1]
    roles = token_roles(input_ids, config) if config.negation_window or config.neutral_token_ids else None
    words = input_ids
    if config.negation_window and config.negation_flip:
        # Marked past the table until the repeats are dropped: a negated word is no repeat of the word itself.
        words = torch.where(negation_scope(roles, bags, config), input_ids + config.num_embeddings, input_ids)
    elif config.negation_window:
        # A word in a negation scope hashes like a bigram of itself and the id one past the vocabulary: a
        # bigram's second id is always below it, so the two never meet before the bucketing.
        negated = _bucket(input_ids * config.ngram_hash_multiplier + config.vocab_size, config) + config.vocab_size
        words = torch.where(negation_scope(roles, bags, config), negated, input_ids)  # [T]
    counted = torch.ones(num_tokens, dtype=torch.bool, device=input_ids.device)  # [T] tokens that weigh
    if config.neutral_token_ids:
        counted = roles != NEUTRAL
        words = torch.where(counted, words, config.pad_token_id)
    rows, weights = [words], [counted.to(torch.float32)]
    padded_counted = nn.functional.pad(counted, (0, extra), value=True) if config.neutral_token_ids else None
    hashed, clear = input_ids, counted  # [T] each; `clear`: no neutral word from here to the n-gram's end
    for n in range(2, config.ngram_size + 1):
        # The n-gram's hash extends the (n-1)-gram's by one word.
        hashed = _bucket(hashed * config.ngram_hash_multiplier + padded_ids[n - 1 : n - 1 + num_tokens], config)
        inside = padded_bags[n - 1 : n - 1 + num_tokens] == bags  # [T]
        if config.neutral_token_ids:
            clear = clear & padded_counted[n - 1 : n - 1 + num_tokens]
            inside = inside & clear
        rows.append(torch.where(inside, hashed + config.vocab_size, config.pad_token_id))
        weights.append(inside.to(torch.float32))
    if config.distinct_ngrams:
        rows, weights = distinct_columns(rows, offsets, bags, config.pad_token_id)
    if config.negation_window and config.negation_flip:
        flipped = (rows[0] >= config.num_embeddings).long()  # [T]
        rows[0] = rows[0] - flipped * config.num_embeddings
        weights[0] = weights[0] * (1 - 2 * flipped).to(torch.float32)  # -1: the word counts against its lean
    return Ngrams(rows, weights, bags)


def token_roles(input_ids: torch.Tensor, config: SentimentBagConfig) -> torch.Tensor:
    """Each token's role: `NEGATION_CUE`, `SCOPE_END`, `NEUTRAL` (a word that carries no weight) or 0.

    Args:
        input_ids (`torch.LongTensor` of shape `[T]`): all reviews' token ids, concatenated.
        config (`SentimentBagConfig`): gives negation_cue_ids, scope_end_ids and neutral_token_ids.
    """
    roles = torch.zeros(config.vocab_size, dtype=torch.int8, device=input_ids.device)
    for role, ids in (
        (NEGATION_CUE, config.negation_cue_ids),
        (SCOPE_END, config.scope_end_ids),
        (NEUTRAL, config.neutral_token_ids),
    ):
        roles[torch.tensor(ids, dtype=torch.long, device=input_ids.device)] = role
    return roles.index_select(0, input_ids)  # [T]; index_select exports to Gather, indexing to GatherND


def negation_scope(token_roles: torch.Tensor, bags: torch.Tensor, config: SentimentBagConfig) -> torch.Tensor:
    """Which tokens follow a negation cue of their review within `negation_window` tokens, no scope end between.

    Args:
        token_roles (`torch.Tensor` of shape `[T]`): each token's role (`token_roles`).
        bags (`torch.LongTensor` of shape `[T]`): review of every token (`bag_index`).
        config (`SentimentBagConfig`): gives negation_window.
    """
    num_tokens = token_roles.shape[0]
    scoped = torch.zeros(num_tokens, dtype=torch.bool, device=token_roles.device)  # [T]
    open_scope = torch.ones_like(scoped)  # no scope end met yet, looking back
    for distance in range(1, config.negation_window + 1):
        before = nn.functional.pad(token_roles, (distance, 0))[:num_tokens]  # [T] role `distance` back
        same_review = nn.functional.pad(bags, (distance, 0), value=-1)[:num_tokens] == bags  # [T]
        scoped |= (before == NEGATION_CUE) & same_review & open_scope
        open_scope &= before != SCOPE_END
    return scoped


def distinct_columns(
    rows: list[torch.Tensor], offsets: torch.Tensor, bags: torch.Tensor, pad_token_id: int
) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """`ngram_columns`' rows with the repeats of a row inside its review turned into the padding row.

    Each review hashes its rows into its own power-of-two run of slots (a bit mask of the row), so
    reviews never share a slot and a review's result does not depend on its batch. The earliest entry
    of a slot owns it; a later entry with the owner's row is a repeat. A row whose slot an earlier,
    different row owns keeps all its entries, a small share of repeats. One scatter-min and four element
    gathers: no sort, which onnxruntime runs (as TopK) several times slower than the whole graph.

    Args:
        rows (`list[torch.LongTensor]`): N columns of shape `[T]`, as `ngram_columns` builds them.
        offsets (`torch.LongTensor` of shape `[batch]`): start of each review.
        bags (`torch.LongTensor` of shape `[T]`): review of every token (`bag_index`).
        pad_token_id (`int`): the padding row, which stays zero.
    """
    num_tokens, width = rows[0].shape[0], len(rows)
    entries_per_review = (review_ends(offsets, num_tokens) - offsets) * width  # [B]
    sizes = torch.exp2(torch.ceil(torch.log2((entries_per_review * DISTINCT_SLOTS).clamp(min=1).double())))
    sizes = sizes.long()  # [B], powers of two
    # gather, not index_select: onnxruntime's GatherElements reads 1-D tensors faster than Gather.
    masks = (sizes - 1).gather(0, bags)  # [T]
    firsts = (sizes.cumsum(0) - sizes).gather(0, bags)  # [T]
    slots = torch.cat([firsts + (column & masks) for column in rows])  # [E], column after column
    flat = torch.cat(rows)  # [E]
    entries = torch.arange(flat.shape[0], dtype=torch.int32, device=flat.device)  # [E]
    # Rounding up to powers of two at most doubles the slots: 2 * DISTINCT_SLOTS * E hold them all.
    owners = torch.full((2 * DISTINCT_SLOTS * flat.shape[0],), flat.shape[0], dtype=torch.int32, device=flat.device)
    owner = owners.scatter_reduce(0, slots, entries, "amin").gather(0, slots)  # [E]
    first = (owner == entries) | (flat.gather(0, owner.long()) != flat)  # [E]
    # Arithmetic, not torch.where: onnxruntime's Where with a scalar branch is slower.
    kept = ((flat - pad_token_id) * first + pad_token_id).reshape(width, num_tokens).unbind(0)  # N x [T]
    return list(kept), [(column != pad_token_id).to(torch.float32) for column in kept]


def _bucket(values: torch.Tensor, config: SentimentBagConfig) -> torch.Tensor:
    """Non-negative hash values modulo num_buckets; a bit mask when that is a power of two (cheaper in ONNX)."""
    if config.num_buckets & (config.num_buckets - 1) == 0:
        return values & (config.num_buckets - 1)
    return values % config.num_buckets


def ngram_rows(input_ids: torch.Tensor, offsets: torch.Tensor, config: SentimentBagConfig) -> Ngrams:
    """`ngram_columns` stacked: rows and weights of shape `[T, ngram_size]`, token-major.

    Args:
        input_ids (`torch.LongTensor` of shape `[T]`): all reviews' token ids, concatenated.
        offsets (`torch.LongTensor` of shape `[batch]`): start of each review.
        config (`SentimentBagConfig`): gives vocab_size, ngram_size, num_buckets, ngram_hash_multiplier.
    """
    rows, weights, bags = ngram_columns(input_ids, offsets, config)
    return Ngrams(torch.stack(rows, dim=1), torch.stack(weights, dim=1), bags)  # [T, ngram_size] each


def flatten_padded(input_ids: torch.Tensor, attention_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Turn padded `[batch, seq]` ids, as HF tokenizers and pipelines give them, into flat ids + offsets.

    Args:
        input_ids (`torch.LongTensor` of shape `[batch, seq]`): padded ids.
        attention_mask (`torch.Tensor` of shape `[batch, seq]`): 1 for real tokens, 0 for padding.
    """
    keep = attention_mask.bool()  # [B, S]
    lengths = keep.sum(dim=1)  # [B]
    return input_ids[keep], lengths.cumsum(0) - lengths  # [T], [B]


@dataclass
class SentimentBagModelOutput(ModelOutput):
    """The bag model's output.

    Args:
        pooled (`torch.FloatTensor` of shape `[batch, embedding_dim]`): each review's pooled, weighted rows.
        features (`torch.FloatTensor` of shape `[batch, hidden_dims[-1]]`): the MLP's output, what the head reads.
    """

    pooled: torch.FloatTensor | None = None
    features: torch.FloatTensor | None = None


class SentimentBagPreTrainedModel(PreTrainedModel):
    config_class = SentimentBagConfig
    base_model_prefix = "bag"
    main_input_name = "input_ids"

    def _init_weights(self, module: nn.Module) -> None:
        # Every module type is handled here: v5's default init does not know EmbeddingBag.
        if isinstance(module, nn.EmbeddingBag):
            bound = 1.0 / self.config.embedding_dim
            init.uniform_(module.weight, -bound, bound)
            # The padding row stands for "no n-gram here" in the exported graph; padding_idx keeps it zero. Neutral
            # words' rows are never read (their n-grams read the padding row): zero, they stay so.
            for row in [self.config.pad_token_id, *self.config.neutral_token_ids]:
                init.zeros_(module.weight[row])
        elif isinstance(module, SentimentBagModel) and module.feature_weights is not None:
            # Neutral until `init_from_naive_bayes` sets the trained ratios.
            init.ones_(module.feature_weights)
        elif isinstance(module, nn.Linear):
            init.normal_(module.weight, mean=0.0, std=self.config.initializer_range)
            init.zeros_(module.bias)
        elif isinstance(module, nn.BatchNorm1d):
            init.ones_(module.weight)
            init.zeros_(module.bias)
            init.zeros_(module.running_mean)
            init.ones_(module.running_var)
            init.zeros_(module.num_batches_tracked)


class SentimentBagModel(SentimentBagPreTrainedModel):
    """Pooled, weighted word and n-gram rows of each review → [Linear, BatchNorm1d, ReLU, Dropout]* features."""

    def __init__(self, config: SentimentBagConfig):
        super().__init__(config)
        self.embeddings = nn.EmbeddingBag(
            config.num_embeddings,
            config.embedding_dim,
            mode="sum",
            sparse=config.sparse_embeddings,
            padding_idx=config.pad_token_id,
        )
        # Fixed per-row scale (not trained): the naive Bayes log-count ratio of the row's word or n-gram.
        weights = torch.ones(config.num_embeddings) if config.feature_weighting else None
        self.register_buffer("feature_weights", weights)
        layers: list[nn.Module] = []
        width = config.embedding_dim
        for hidden in config.hidden_dims:
            layers += [nn.Linear(width, hidden), nn.BatchNorm1d(hidden), nn.ReLU(), nn.Dropout(config.dropout)]
            width = hidden
        self.mlp = nn.Sequential(*layers)
        self.post_init()

    @torch.no_grad()
    def init_from_naive_bayes(self, log_count_ratios: torch.Tensor, generator: torch.Generator | None = None) -> None:
        """Set the fixed row weights to the ratios, and start every table column at ± the ratios (random signs).

        Rows then weigh in by how strongly their n-gram leans to one class, as in NBSVM (Wang & Manning 2012),
        and each column starts as a different signed copy of that evidence for the MLP to combine. With one
        ratio per class (C > 2), a row weighs its strongest |ratio| and column j starts at ± class (j mod C)'s.
        With `config.table_init == "random"` only the row weights are set: the table keeps its random start.

        Args:
            log_count_ratios (`torch.Tensor` of shape `[num_embeddings]` or `[C, num_embeddings]`): log P(row | pos)
                - log P(row | neg), or one-vs-rest ratios, one row per class.
            generator (`torch.Generator`, *optional*): draws the column signs.
        """
        if self.feature_weights is None:
            raise ValueError("init_from_naive_bayes needs a model built with feature_weighting=True")
        ratios = log_count_ratios.to(self.feature_weights).clone()
        # The padding row stands for "no n-gram" and stays zero; neutral words' rows are never read.
        ratios[..., [self.config.pad_token_id, *self.config.neutral_token_ids]] = 0.0
        per_class = ratios.dim() == 2
        self.feature_weights.copy_(ratios.abs().amax(dim=0) if per_class else ratios)
        if self.config.table_init == "random":
            return
        signs = torch.randint(0, 2, (self.config.embedding_dim,), generator=generator) * 2.0 - 1.0  # [D]
        columns = ratios[torch.arange(self.config.embedding_dim) % len(ratios)].T if per_class else ratios.unsqueeze(1)
        self.embeddings.weight.copy_(columns * signs.to(ratios))  # [R, D]

    def scaled_table(self) -> torch.Tensor:
        """The table with each row times its fixed feature weight: the rows a review's bag adds up."""
        table = self.embeddings.weight  # [R, D]
        return table if self.feature_weights is None else table * self.feature_weights.unsqueeze(1)

    def _drop_features(self, weights: torch.Tensor) -> torch.Tensor:
        if not self.training or self.config.feature_dropout <= 0:
            return weights
        keep = torch.rand_like(weights) >= self.config.feature_dropout
        return weights * keep

    def scale_sums(self, sums: torch.Tensor, counts: torch.Tensor) -> torch.Tensor:
        """Bag sums [B, D] scaled by their n-gram counts [B, 1]: by the count's square root, or the mean."""
        counts = counts.clamp(min=1)
        return sums / (counts.sqrt() if self.config.pooling == "sqrt" else counts)

    def bag_pool(self, input_ids: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
        """Pooled rows of each review through nn.EmbeddingBag (sparse gradients for the table), float32 sums."""
        rows, weights, bags = ngram_rows(input_ids, offsets, self.config)  # [T, N] each, [T]
        weights = self._drop_features(weights)
        scales = weights if self.feature_weights is None else weights * self.feature_weights[rows]  # [T, N]
        scales = scales.to(self.embeddings.weight)  # the parity check runs a float64 copy of the model
        # Token-major flattening keeps each review's n-grams contiguous: bag b starts at offsets[b] * N.
        sums = self.embeddings(rows.reshape(-1), offsets * rows.shape[1], per_sample_weights=scales.reshape(-1))
        counts = segment_sum(weights.abs().sum(dim=1), bags, offsets.shape[0])  # [B]; a negated word counts once
        return self.scale_sums(sums, counts.unsqueeze(1))  # [B, D]

    def forward(
        self,
        input_ids: torch.Tensor,
        offsets: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
    ) -> SentimentBagModelOutput:
        """Pool and transform a batch of reviews.

        Args:
            input_ids (`torch.LongTensor`): flat `[T]` ids of all reviews with `offsets`, or padded
                `[batch, seq]` ids without them (as HF tokenizers and pipelines give them).
            offsets (`torch.LongTensor` of shape `[batch]`, *optional*): start of each review in the flat ids.
            attention_mask (`torch.Tensor` of shape `[batch, seq]`, *optional*): with padded ids, 1 for real
                tokens; defaults to every id but `config.pad_token_id`.
        """
        if offsets is None:
            if input_ids.dim() != 2:
                raise ValueError("flat input_ids need offsets; pass [batch, seq] ids to go without")
            mask = attention_mask if attention_mask is not None else input_ids != self.config.pad_token_id
            input_ids, offsets = flatten_padded(input_ids, mask)
        elif input_ids.dim() != 1:
            raise ValueError("with offsets, input_ids must be 1-D (all reviews concatenated)")
        pooled = self.bag_pool(input_ids, offsets)  # [B, D]
        return SentimentBagModelOutput(pooled=pooled, features=self.mlp(pooled))  # [B, D], [B, H]


class SentimentBagForSequenceClassification(SentimentBagPreTrainedModel):
    """`SentimentBagModel`'s features → Linear → logits, and the cross-entropy loss when labels are given."""

    def __init__(self, config: SentimentBagConfig):
        super().__init__(config)
        # Built before the bag, whose constructor initializes it: every seeded init draw then falls in the
        # order that the recipe's published accuracies were measured with.
        classifier = nn.Linear(
            config.hidden_dims[-1] if config.hidden_dims else config.embedding_dim, config.num_labels
        )
        self.bag = SentimentBagModel(config)
        self.classifier = classifier
        self.post_init()

    def forward(
        self,
        input_ids: torch.Tensor,
        offsets: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
    ) -> SequenceClassifierOutput:
        """Classify a batch of reviews.

        Args:
            input_ids (`torch.LongTensor`): flat `[T]` ids with `offsets`, or padded `[batch, seq]` ids.
            offsets (`torch.LongTensor` of shape `[batch]`, *optional*): start of each review in the flat ids.
            attention_mask (`torch.Tensor` of shape `[batch, seq]`, *optional*): with padded ids, 1 for real tokens.
            labels (`torch.Tensor`, *optional*): class ids `[batch]`, or class probabilities `[batch, num_labels]`
                (soft targets); either gives a cross-entropy loss.
        """
        logits = self.classify(self.bag(input_ids, offsets, attention_mask).features)  # [B, num_labels]
        loss = nn.functional.cross_entropy(logits, labels) if labels is not None else None
        return SequenceClassifierOutput(loss=loss, logits=logits)

    def classify(self, features: torch.Tensor) -> torch.Tensor:
        """Logits `[B, num_labels]` of the bag's features `[B, H]`, divided by the calibration temperature.

        Args:
            features (`torch.Tensor` of shape `[B, H]`): `SentimentBagModel`'s output.
        """
        return self.classifier(features) / self.config.calibration_temperature
