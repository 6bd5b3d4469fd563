"""Configuration of the bag-of-n-grams sentiment classifier."""

from __future__ import annotations

import inspect
from collections.abc import Sequence

from transformers import PretrainedConfig

DEFAULT_ID2LABEL = {0: "negative", 1: "positive"}
POOLINGS = ("sqrt", "mean")
TABLE_INITS = ("auto", "naive_bayes", "random")


class SentimentBagConfig(PretrainedConfig):
    r"""Everything needed to turn token ids into logits, so a saved folder rebuilds the model alone.

    The defaults are those of `sentiment-batch train`: the model it trains when given no settings.

    Args:
        vocab_size (`int`, *optional*, defaults to 50000):
            Rows of the word table, equal to the tokenizer's vocabulary size (and the tokenizer's cap when training).
        embedding_dim (`int`, *optional*, defaults to 8):
            Width of every table row.
        hidden_dims (`Sequence[int]`, *optional*, defaults to `(16,)`):
            One Linear → BatchNorm1d → ReLU → Dropout block per entry.
        dropout (`float`, *optional*, defaults to 0.2):
            Dropout probability of those blocks.
        ngram_size (`int`, *optional*, defaults to 3):
            Longest word n-gram fed to the bag (1 = words only).
        num_buckets (`int`, *optional*, defaults to 4194304):
            Hashed rows (2²²) shared by all n-grams of 2 words or more.
        ngram_hash_multiplier (`int`, *optional*, defaults to 1000003):
            Multiplier of the polynomial n-gram hash, recorded so every implementation of the hash
            (training, ONNX) computes the same rows.
        pooling (`str`, *optional*, defaults to `"sqrt"`):
            How a review's bag sum is scaled: `"sqrt"` divides by the square root of its n-gram count,
            `"mean"` by the count.
        feature_weighting (`bool`, *optional*, defaults to `True`):
            Scale each table row by a fixed weight held in the model: the naive Bayes log-count ratio of its
            word or n-gram, estimated on the training split.
        table_init (`str`, *optional*, defaults to `"auto"`):
            How the table starts when `feature_weighting` is on (the rows are weighed by the ratios either way):
            `"naive_bayes"`, each column at ± one class's log-count ratios; `"random"`, uniform in ±1/dim; `"auto"`,
            the naive Bayes start for two classes, and for more both starts, trained one after the other, the one
            with the better validation figure kept (`table_starts`). A trained model records the start it kept.
        feature_dropout (`float`, *optional*, defaults to 0.0):
            Share of bag entries dropped per review while training.
        distinct_ngrams (`bool`, *optional*, defaults to `True`):
            A review's bag holds each of its words and n-grams once, however often they occur (binarized
            features, as NBSVM has them).
        sparse_embeddings (`bool`, *optional*, defaults to `True`):
            Produce sparse gradients for the table (pair with a sparse-aware optimizer).
        initializer_range (`float`, *optional*, defaults to 0.02):
            Standard deviation of the normal init of Linear layers; table rows start uniform in ±1/dim.
        pad_token_id (`int`, *optional*, defaults to 0):
            The padding row: it stands for "no n-gram here" and stays zero.
        label_values (`list[int]`, *optional*):
            The number each label stands for, in class-id order, when the labels are whole numbers (star ratings):
            they are then ordinal, and an expected rating is the probability-weighted sum of these values.
        calibration_temperature (`float`, *optional*, defaults to 1.0):
            Every logit is divided by it, so that the probabilities are calibrated; training runs at 1.0 and
            `sentiment-batch train` sets the value fitted on the validation split afterwards.
        negation_window (`int`, *optional*, defaults to 0):
            A word up to this many tokens after a negation cue ("not", "never", the "t" of "don't", ...), with no
            scope end between them, reads a row of its own, hashed like a bigram of the word and the id one past
            the vocabulary: "bad" in "not bad" is not "bad". 0 turns negation scopes off.
        negation_flip (`bool`, *optional*, defaults to `False`):
            A word in a negation scope reads its own row with the sign turned (weight -1) instead of a row of its
            own: "not bad" counts against "bad"'s lean, however rare the negated word is; the n-grams beside it
            ("not bad") learn what the flip gets wrong.
        negation_cue_ids (`Sequence[int]`, *optional*, defaults to `()`):
            Token ids of the negation cues (`train.tokenization.negation_ids` finds them in a vocabulary).
        scope_end_ids (`Sequence[int]`, *optional*, defaults to `()`):
            Token ids that end a negation scope: punctuation runs such as "." and ",".
        neutral_token_ids (`Sequence[int]`, *optional*, defaults to `()`):
            Token ids of words that carry no weight, alone or in an n-gram: every n-gram holding one reads the
            padding row and is not counted in the bag (identity and name words, `train.neutral_words`).
        languages (`Sequence[str]`, *optional*, defaults to `("en",)`):
            ISO 639-1 codes of the languages of the training reviews: the bundle reads them, and rows
            confidently in another language are not scored (`sentiment_batch.language`).
    """

    model_type = "sentiment-bag"

    def __init__(
        self,
        vocab_size: int = 50000,
        embedding_dim: int = 8,
        hidden_dims: Sequence[int] = (16,),
        dropout: float = 0.2,
        ngram_size: int = 3,
        num_buckets: int = 1 << 22,
        ngram_hash_multiplier: int = 1_000_003,
        pooling: str = "sqrt",
        feature_weighting: bool = True,
        table_init: str = "auto",
        feature_dropout: float = 0.0,
        distinct_ngrams: bool = True,
        sparse_embeddings: bool = True,
        initializer_range: float = 0.02,
        pad_token_id: int = 0,
        label_values: Sequence[int] | None = None,
        calibration_temperature: float = 1.0,
        negation_window: int = 0,
        negation_flip: bool = False,
        negation_cue_ids: Sequence[int] = (),
        scope_end_ids: Sequence[int] = (),
        neutral_token_ids: Sequence[int] = (),
        languages: Sequence[str] = ("en",),
        **kwargs,
    ):
        kwargs.setdefault("id2label", DEFAULT_ID2LABEL)
        kwargs.setdefault("label2id", {label: int(index) for index, label in kwargs["id2label"].items()})
        self.vocab_size = vocab_size
        self.embedding_dim = embedding_dim
        self.hidden_dims = list(hidden_dims)
        self.dropout = dropout
        self.ngram_size = ngram_size
        self.num_buckets = num_buckets if ngram_size > 1 else 0
        self.ngram_hash_multiplier = ngram_hash_multiplier
        self.pooling = pooling
        self.feature_weighting = feature_weighting
        self.table_init = table_init
        self.feature_dropout = feature_dropout
        self.distinct_ngrams = distinct_ngrams
        self.sparse_embeddings = sparse_embeddings
        self.initializer_range = initializer_range
        self.label_values = None if label_values is None else [int(value) for value in label_values]
        # Not `temperature`: transformers reads that name as a text-generation setting.
        self.calibration_temperature = calibration_temperature
        self.negation_window = negation_window
        self.negation_flip = negation_flip
        self.negation_cue_ids = list(negation_cue_ids)
        self.scope_end_ids = list(scope_end_ids)
        self.neutral_token_ids = list(neutral_token_ids)
        self.languages = list(languages)
        super().__init__(pad_token_id=pad_token_id, **kwargs)
        self._check_sizes()
        if self.label_values is not None and len(self.label_values) != self.num_labels:
            raise ValueError(f"label_values has {len(self.label_values)} values for {self.num_labels} labels")
        if not self.calibration_temperature > 0:
            raise ValueError(f"calibration_temperature must be positive, got {self.calibration_temperature}")
        if self.negation_window < 0 or (self.negation_window and not self.num_buckets):
            raise ValueError(f"negation_window must be 0, or positive with hashed rows, got {self.negation_window}")
        # The code rule itself is the runtime's (`sentiment_batch.bundle.is_language_code`), checked when the
        # settings are parsed and when a bundle is sealed: this file travels with saved models, importing nothing.
        if not self.languages or not all(isinstance(code, str) and code for code in self.languages):
            raise ValueError(f"languages must be language codes such as en, got {self.languages}")
        if self.pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {', '.join(POOLINGS)}, got {self.pooling!r}")
        if self.table_init not in TABLE_INITS:
            raise ValueError(f"table_init must be one of {', '.join(TABLE_INITS)}, got {self.table_init!r}")
        # The hash keeps h < num_buckets, so h * multiplier + token id must fit in int64.
        if (self.num_buckets + 1) * self.ngram_hash_multiplier + self.vocab_size >= 1 << 62:
            raise ValueError("num_buckets * ngram_hash_multiplier overflows int64")

    def _check_sizes(self) -> None:
        """Refuse sizes and shares no model can be built or trained with, each in one line."""
        for name in ("vocab_size", "embedding_dim", "ngram_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if any(width < 1 for width in self.hidden_dims):
            raise ValueError(f"every hidden_dims width must be at least 1, got {self.hidden_dims}")
        if self.ngram_size > 1 and self.num_buckets < 1:
            raise ValueError(f"num_buckets must be at least 1 with n-grams (ngram_size > 1), got {self.num_buckets}")
        for name in ("dropout", "feature_dropout"):
            if not 0 <= getattr(self, name) < 1:
                raise ValueError(f"{name} must be in [0, 1), got {getattr(self, name)}")

    def table_starts(self) -> list[str]:
        """The table starts to train from, best on validation kept: `table_init`, or with `"auto"` the naive Bayes
        start alone for two classes and both starts for more (on small multi-class sets the naive Bayes start
        wins on some and loses on others, and the validation split tells which)."""
        if self.table_init != "auto":
            return [self.table_init]
        return ["naive_bayes"] if self.num_labels == 2 else ["naive_bayes", "random"]

    @property
    def num_embeddings(self) -> int:
        """Rows of the table: words first, then the hashed n-gram buckets."""
        return self.vocab_size + self.num_buckets


def config_defaults() -> dict:
    """Every `SentimentBagConfig` argument's default, by name: the one source of the model's defaults."""
    parameters = inspect.signature(SentimentBagConfig.__init__).parameters.values()
    return {p.name: p.default for p in parameters if p.default is not inspect.Parameter.empty}
