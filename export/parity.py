"""PyTorch-vs-onnxruntime agreement of logits and labels: the gate every bundle passes."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch
from tokenizers import Tokenizer
from tqdm.auto import tqdm

from sentiment_batch.bundle import EVIDENCE, INPUT_NAMES, LOGITS
from sentiment_batch.preprocessing import encode

MAX_LOGIT_DIFF = 1e-4
# The "many" side of the parity check: all texts in one batch, up to this many.
MANY_BATCH_SIZE = 256
# The "one at a time" side takes the first texts only: a call per review is the slow half of the check, and a
# review's answer cannot depend on its batch (the graph's sums are exact), which the batched side checks on all.
MAX_SINGLE_TEXTS = 2_000
# IMDb's longest review is about 2,500 words; the parity set goes twice past it.
LONG_REVIEW_SENTENCE = "the film was great but the ending felt awful , boring and yet wonderful ."
LONG_REVIEW_REPEATS = 350  # 5,250 words

BatchScorer = Callable[[np.ndarray, np.ndarray], np.ndarray]


def builtin_texts() -> list[str]:
    """Reviews that have broken bag exports: empty, one word, blank, non-English, emoji, HTML and very long."""
    long_review = " ".join([LONG_REVIEW_SENTENCE] * LONG_REVIEW_REPEATS)
    return [
        "",
        "great",
        "   \t\n  ",
        "Ein großartiger Film, wirklich sehr gut! Très bien, magnifique. 素晴らしい映画でした。",
        "😀😀 loved it 🎬 but 👎 for the ending",
        '<p>A <b>bold</b> &amp; <a href="x">linked</a> review<br /><br />with line breaks</p>',
        "Terrible. The plot makes no sense and the acting is wooden.",
        "A wonderful, moving film. The acting is superb and I loved every minute!",
        long_review,
    ]


def read_texts(path: str | Path) -> list[str]:
    """One review per line of a UTF-8 file; blank lines are kept as empty reviews.

    Args:
        path (`str | Path`): the text file.
    """
    return Path(path).read_text(encoding="utf-8").splitlines()


def torch_scorer(model: torch.nn.Module) -> BatchScorer:
    """Logits of the model's own eval-mode `forward`, computed in float64: the reference for parity.

    float64, because `nn.EmbeddingBag`'s float32 sums drift on long reviews (thousands of repeated n-grams)
    by more than the bound; the graph's sums are exact, so both are held to the model's exact answer.

    Args:
        model (`SentimentBagForSequenceClassification`): the model, in eval mode.
    """
    exact = copy.deepcopy(model).double()

    def score(input_ids: np.ndarray, offsets: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            output = exact(input_ids=torch.from_numpy(input_ids), offsets=torch.from_numpy(offsets))
        return output.logits.numpy()

    return score


def onnx_scorer(session: ort.InferenceSession) -> BatchScorer:
    """Logits of the exported graph.

    Args:
        session (`ort.InferenceSession`): a session over the bundle's model.
    """

    def score(input_ids: np.ndarray, offsets: np.ndarray) -> np.ndarray:
        return session.run([LOGITS], dict(zip(INPUT_NAMES, (input_ids, offsets), strict=True)))[0]

    return score


def chunks(texts: Sequence[str], batch_size: int) -> Iterator[Sequence[str]]:
    """Consecutive batches of at most `batch_size` texts.

    Args:
        texts (`Sequence[str]`): the reviews.
        batch_size (`int`): reviews per batch.
    """
    for start in range(0, len(texts), batch_size):
        yield texts[start : start + batch_size]


def progress_chunks(texts: Sequence[str], batch_size: int, progress: str | None) -> Iterator[Sequence[str]]:
    """`chunks` behind a progress bar labelled `progress`, shown once the work has taken two seconds.

    Args:
        texts (`Sequence[str]`): the reviews.
        batch_size (`int`): reviews per batch.
        progress (`str | None`): label of the bar; no bar when None.
    """
    total = -(-len(texts) // batch_size)
    return tqdm(chunks(texts, batch_size), total=total, desc=progress, disable=progress is None, unit="batch", delay=2)


def score_texts(
    scorer: BatchScorer, tokenizer: Tokenizer, texts: Sequence[str], batch_size: int, progress: str | None = None
) -> np.ndarray:
    """Logits `[len(texts), num_labels]` of every text, tokenized by the shared preprocessing path.

    Args:
        scorer (`BatchScorer`): maps flat ids + offsets to logits.
        tokenizer (`Tokenizer`): the bundle's tokenizer.
        texts (`Sequence[str]`): the reviews.
        batch_size (`int`): reviews per call.
        progress (`str | None`): label of a progress bar; no bar when None.
    """
    batches = progress_chunks(texts, batch_size, progress)
    return np.concatenate([scorer(*encode(tokenizer, batch)) for batch in batches])


@dataclass
class LogitComparison:
    """How far a candidate's logits are from a reference's over the same rows."""

    rows: int
    max_abs_logit_diff: float
    mean_abs_logit_diff: float
    label_agreement: float

    @classmethod
    def of(cls, reference: np.ndarray, candidate: np.ndarray) -> LogitComparison:
        """Compare two `[rows, num_labels]` logit arrays.

        Args:
            reference (`np.ndarray`): the logits held as correct.
            candidate (`np.ndarray`): the logits under test.
        """
        diff = np.abs(reference.astype(np.float64) - candidate.astype(np.float64))
        agreement = np.mean(reference.argmax(axis=1) == candidate.argmax(axis=1)) if len(reference) else 1.0
        return cls(len(reference), float(diff.max(initial=0.0)), float(diff.mean()), float(agreement))

    def within(self, max_logit_diff: float, min_label_agreement: float) -> bool:
        """Whether both figures are inside their bounds.

        Args:
            max_logit_diff (`float`): largest allowed |Δlogit|.
            min_label_agreement (`float`): smallest allowed share of identical labels.
        """
        return self.max_abs_logit_diff <= max_logit_diff and self.label_agreement >= min_label_agreement


def parity_runs(texts: Sequence[str]) -> list[tuple[int, Sequence[str]]]:
    """Each batch size parity is checked at, with its reviews: the first `MAX_SINGLE_TEXTS` one at a time, and all
    of them `MANY_BATCH_SIZE` per batch (fewer when there are fewer).

    Args:
        texts (`Sequence[str]`): the parity reviews.
    """
    many = min(len(texts), MANY_BATCH_SIZE)
    singles = (1, texts[:MAX_SINGLE_TEXTS])
    return [singles] if many == 1 else [singles, (many, texts)]


def check_parity(
    model: torch.nn.Module, session: ort.InferenceSession, tokenizer: Tokenizer, texts: Sequence[str]
) -> dict:
    """Compare PyTorch and onnxruntime one review at a time and many reviews per batch (`parity_runs`).

    Args:
        model (`SentimentBagForSequenceClassification`): the model, in eval mode.
        session (`ort.InferenceSession`): a session over the exported graph.
        tokenizer (`Tokenizer`): the model's tokenizer.
        texts (`Sequence[str]`): the parity reviews, at least one.
    """
    runs = parity_runs(texts)
    reference, candidate = torch_scorer(model), onnx_scorer(session)
    references, candidates = [], []
    for batch_size, run_texts in runs:
        progress = f"parity, {batch_size} per batch"
        references.append(score_texts(reference, tokenizer, run_texts, batch_size, f"{progress}: PyTorch"))
        candidates.append(score_texts(candidate, tokenizer, run_texts, batch_size, f"{progress}: onnxruntime"))
    comparison = LogitComparison.of(np.concatenate(references), np.concatenate(candidates))
    batch_sizes = [batch_size for batch_size, _ in runs]
    report = {"texts": len(texts), "texts_one_at_a_time": len(runs[0][1]), "batch_sizes": batch_sizes}
    report.update(asdict(comparison))
    del report["rows"]
    return {**report, "max_logit_diff_allowed": MAX_LOGIT_DIFF, "passed": comparison.within(MAX_LOGIT_DIFF, 1.0)}


def evidence_reference(model: torch.nn.Module) -> BatchScorer:
    """Each n-gram's share of its review's label margin `[T, ngram_size]`, by autograd on the float64 model.

    The reference for the explain graph, computed another way: the margin's gradient at the pooled point from
    autograd, times each n-gram's row of the table and its review's pooling scale. The float64 copy and its
    weighted table are made once, as a parity run calls this for every review.

    Args:
        model (`SentimentBagForSequenceClassification`): the model, in eval mode.
    """
    from sentiment_batch.train.modeling import ngram_rows, segment_sum

    exact = copy.deepcopy(model).double()
    table = exact.bag.scaled_table().detach()  # [R, D]

    def evidence(input_ids: np.ndarray, offsets: np.ndarray) -> np.ndarray:
        ids, starts = torch.from_numpy(input_ids), torch.from_numpy(offsets)
        rows, weights, bags = ngram_rows(ids, starts, exact.config)  # [T, N] each, [T]
        pooled = exact.bag.bag_pool(ids, starts).detach().requires_grad_()  # [B, D]
        logits = exact.classify(exact.bag.mlp(pooled))  # [B, C]
        num_labels = logits.shape[1]
        labelled = logits.gather(1, logits.argmax(dim=1, keepdim=True)).squeeze(1)  # [B]
        margins = (num_labels * labelled - logits.sum(dim=1)) / (num_labels - 1)  # [B]
        (gradient,) = torch.autograd.grad(margins.sum(), pooled)  # [B, D]; reviews are independent in eval mode
        counts = segment_sum(weights.abs().sum(dim=1), bags, starts.shape[0]).unsqueeze(1)  # [B, 1]
        scales = exact.bag.scale_sums(torch.ones_like(counts), counts)  # [B, 1]
        shares = (table[rows] * (gradient * scales)[bags].unsqueeze(1)).sum(dim=2)  # [T, N]
        return (shares * weights).numpy()  # a flipped word's share has its sign turned

    return evidence


def check_explain_parity(
    model: torch.nn.Module,
    explain_session: ort.InferenceSession,
    scoring_session: ort.InferenceSession,
    tokenizer: Tokenizer,
    texts: Sequence[str],
) -> dict:
    """The explain graph against the autograd reference, and its logits against the scoring graph's, bit for bit.

    Args:
        model (`SentimentBagForSequenceClassification`): the model, in eval mode.
        explain_session (`ort.InferenceSession`): a session over the explain graph.
        scoring_session (`ort.InferenceSession`): a session over the scoring graph.
        tokenizer (`Tokenizer`): the model's tokenizer.
        texts (`Sequence[str]`): the parity reviews, at least one.
    """
    largest, identical, reference = 0.0, True, evidence_reference(model)
    for batch_size, run_texts in parity_runs(texts):
        for batch in progress_chunks(run_texts, batch_size, f"explain parity, {batch_size} per batch"):
            inputs = dict(zip(INPUT_NAMES, encode(tokenizer, batch), strict=True))
            logits, evidence = explain_session.run([LOGITS, EVIDENCE], inputs)
            expected = reference(*inputs.values())
            largest = max(largest, float(np.abs(evidence - expected).max(initial=0.0)))
            identical &= np.array_equal(logits, scoring_session.run([LOGITS], inputs)[0])
    return {
        "max_abs_evidence_diff": largest,
        "logits_identical": bool(identical),
        "max_evidence_diff_allowed": MAX_LOGIT_DIFF,
        "passed": identical and largest <= MAX_LOGIT_DIFF,
    }
