"""Naive Bayes log-count ratios of the table's rows, estimated on the training split (NBSVM's feature weights).

Two classes get one ratio per row (class 1 against class 0); more get one per class and row, each class against
all the others (one-vs-rest).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

import torch

from .configuration import SentimentBagConfig
from .modeling import ngram_rows

logger = logging.getLogger(__name__)

Batch = tuple[torch.Tensor, torch.Tensor, torch.Tensor]


def log_count_ratios(
    batches: Iterable[Batch], config: SentimentBagConfig, alpha: float = 1.0, binary: bool = False
) -> torch.Tensor:
    """log P(row | class) - log P(row | other classes) for every table row, with add-alpha smoothing.

    With two classes that is log P(row | class 1) - log P(row | class 0) (positive against negative), `[R]`;
    with C > 2 classes one row of ratios per class, `[C, R]`. Counts every word and hashed n-gram occurrence
    the model's bag sees (`ngram_rows`: once per review with `distinct_ngrams`), so the ratios index the
    same rows. A review with class probabilities (a pseudo-labelled one) counts in each class by its
    probability. Rows never seen get about zero. The counts live on the batches' device.

    Args:
        batches (`Iterable[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]`): the training reviews, batch by
            batch, as flat `input_ids` [T], `offsets` [B] and `labels`: class ids [B] (1 = positive) or class
            probabilities [B, C].
        config (`SentimentBagConfig`): gives the rows (vocab_size, ngram_size, num_buckets, hash) and the
            classes (num_labels).
        alpha (`float`, *optional*, defaults to 1.0): smoothing count added to every row of every class (of the
            class and of the rest, one-vs-rest).
        binary (`bool`, *optional*, defaults to False): count a row once per review however often it occurs there.
    """
    num_labels = config.num_labels
    counts = None  # [class, R], created on the first batch's device
    reviews = 0
    for input_ids, offsets, labels in batches:
        rows, weights, bags = ngram_rows(input_ids, offsets, config)  # [T, N] each, [T]
        present = weights > 0  # [T, N]
        bags = bags.unsqueeze(1).expand_as(rows)[present]  # [E]
        rows = rows[present]  # [E]
        if binary:
            keys = torch.unique(bags * config.num_embeddings + rows)  # one per (review, row)
            bags, rows = keys // config.num_embeddings, keys % config.num_embeddings
        shares = _class_shares(labels, num_labels)  # [B, C]
        if counts is None:
            counts = torch.zeros(num_labels, config.num_embeddings, dtype=torch.float64, device=rows.device)
        for label in range(num_labels):
            counts[label] += torch.bincount(rows, weights=shares[bags, label], minlength=config.num_embeddings)
        reviews += offsets.shape[0]
    if counts is None:
        counts = torch.zeros(num_labels, config.num_embeddings, dtype=torch.float64)
    logger.info("naive Bayes ratios from %d reviews, %d rows seen", reviews, int((counts > 0).any(0).sum()))
    if num_labels == 2:
        counts += alpha
        shares = counts / counts.sum(dim=1, keepdim=True)  # [class, R]
        return (shares[1].log() - shares[0].log()).float()  # [R]
    rest = counts.sum(dim=0, keepdim=True) - counts  # [C, R]
    within, outside = counts + alpha, rest + alpha
    ratios = (within / within.sum(dim=1, keepdim=True)).log() - (outside / outside.sum(dim=1, keepdim=True)).log()
    return ratios.float()  # [C, R]


def _class_shares(labels: torch.Tensor, num_labels: int) -> torch.Tensor:
    """Each review's share in each class, float64 `[B, C]`: one-hot for class ids, else the probabilities."""
    if labels.dim() == 1:
        return torch.nn.functional.one_hot(labels, num_labels).double()
    return labels.double()
