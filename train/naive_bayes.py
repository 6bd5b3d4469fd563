"""Naive Bayes log-count ratios of the table's rows, estimated on the training split (NBSVM's feature weights)."""

from __future__ import annotations

import logging
from collections.abc import Iterable

import torch

from .configuration import SentimentBagConfig
from .modeling import bag_index, ngram_rows

logger = logging.getLogger(__name__)

POSITIVE_LABEL = 1
Batch = tuple[torch.Tensor, torch.Tensor, torch.Tensor]


def log_count_ratios(batches: Iterable[Batch], config: SentimentBagConfig, alpha: float = 1.0) -> torch.Tensor:
    """log P(row | positive) - log P(row | negative) for every table row, with add-alpha smoothing.

    Counts every word and hashed n-gram occurrence the model's bag sees (`ngram_rows`), so the ratios
    index the same rows. Rows never seen get log(positive total / negative total), about zero.

    Args:
        batches (`Iterable[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]`): the training reviews, batch by
            batch, as flat `input_ids` [T], `offsets` [B] and `labels` [B] (1 = positive).
        config (`SentimentBagConfig`): gives the rows (vocab_size, ngram_size, num_buckets, hash).
        alpha (`float`): smoothing count added to every row of both classes.
    """
    counts = torch.zeros(2, config.num_embeddings, dtype=torch.float64)  # [class, R]
    reviews = 0
    for input_ids, offsets, labels in batches:
        rows, weights = ngram_rows(input_ids, offsets, config)  # [T, N] each
        positive = (labels == POSITIVE_LABEL)[bag_index(offsets, input_ids.shape[0])]  # [T]
        for label, tokens in enumerate((~positive, positive)):
            counts[label] += torch.bincount(rows[tokens][weights[tokens] > 0], minlength=config.num_embeddings)
        reviews += offsets.shape[0]
    counts += alpha
    shares = counts / counts.sum(dim=1, keepdim=True)  # [class, R]
    logger.info("naive Bayes ratios from %d reviews, %d rows seen", reviews, int((counts > alpha).any(0).sum()))
    return (shares[1].log() - shares[0].log()).float()  # [R]
