"""Hand-run search over training settings on three movie-grouped splits; a plain loop that mirrors Trainer.

    python tests/bench/sweep_settings.py prepare --data sweep_data      # tokenized splits, CPU, ~1 min
    python tests/bench/sweep_settings.py run --data sweep_data --out sweep_out --worker 0 --workers 1
    python tests/bench/sweep_settings.py summarize --out sweep_out [--baseline 22]

The loop has Trainer's shuffling, linear learning-rate decay, clipping of dense gradients and the project's
SparseAdagrad; each run's validation accuracy per epoch goes to a JSON line. Several workers can share one GPU.
"""

from __future__ import annotations

import argparse
import glob
import inspect
import json
import math
import statistics
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch

from sentiment_batch.train.arguments import TRAINING_DEFAULTS
from sentiment_batch.train.configuration import SentimentBagConfig, config_defaults
from sentiment_batch.train.modeling import SentimentBagForSequenceClassification
from sentiment_batch.train.naive_bayes import log_count_ratios
from sentiment_batch.train.optimization import SparseAdagrad

SEEDS = (42, 1, 2)
# Settings 0-25 change the recipe as it was before distinct n-grams (`distinct_ngrams` off): their logged runs
# are paired with setting 0; the later ones change today's default and are paired with setting 22 (--baseline 22).
BEFORE_DISTINCT = [
    {}, {"epochs": 3}, {"binary": True}, {"lr": 0.01}, {"lr": 0.005}, {"batch_size": 128, "lr": 0.03},
    {"batch_size": 256, "lr": 0.05}, {"batch_size": 256, "lr": 0.02}, {"embedding_dim": 4}, {"embedding_dim": 16},
    {"hidden_dims": [32]}, {"dropout": 0.0}, {"dropout": 0.5}, {"ngram_size": 4}, {"num_buckets": 1 << 23},
    {"init_scale": 0.5}, {"init_scale": 0.1}, {"schedule": "constant"}, {"alpha": 0.5}, {"epochs": 1},
    {"feature_dropout": 0.3}, {"epochs": 3, "lr": 0.01}, None, {"embedding_dim": 2},
    {"embedding_dim": 3, "num_buckets": 3_600_000}, {"embedding_dim": 2, "epochs": 3},
]  # fmt: skip
SINCE_DISTINCT = [
    {"epochs": 3}, {"batch_size": 128, "lr": 0.03}, {"embedding_dim": 4}, {"lr": 0.03}, {"lr": 0.014},
    {"pooling": "mean"}, {"ngram_size": 4}, {"hidden_dims": [16, 16]}, {"alpha": 0.5}, {"dropout": 0.5},
    {"anchor": 1e-4}, {"anchor": 3e-4}, {"anchor": 1e-3}, {"anchor": 3e-3}, {"anchor": 3e-5}, {"anchor": 2e-4},
    {"embedding_dim": 16, "hidden_dims": [32]}, {"dropout": 0.1}, {"dropout": 0.3}, {"hidden_dims": [32]},
    {"mnb_column": True},
]  # fmt: skip
SETTINGS = [{} if s is None else {"distinct_ngrams": False, **s} for s in BEFORE_DISTINCT] + SINCE_DISTINCT
# Model knobs come from the model's config and the loop's from `train`'s TrainingArguments defaults; the rest are
# knobs of this script only.
MODEL_KNOBS = ("embedding_dim", "hidden_dims", "dropout", "ngram_size", "num_buckets", "feature_dropout",
               "distinct_ngrams", "pooling")  # fmt: skip
DEFAULTS = {
    **{name: config_defaults()[name] for name in MODEL_KNOBS},
    "lr": TRAINING_DEFAULTS["learning_rate"],
    "epochs": TRAINING_DEFAULTS["num_train_epochs"],
    "batch_size": TRAINING_DEFAULTS["per_device_train_batch_size"],
    "alpha": inspect.signature(log_count_ratios).parameters["alpha"].default,
    "binary": False,
    "init_scale": 1.0,
    "schedule": "linear",
    "anchor": 0.0,
    "mnb_column": False,
}
DEVICE = torch.device("cuda" if torch.cuda.is_available() else "cpu")


def prepare(dataset: str, folder: Path) -> None:
    """Tokenize each seed's split with a tokenizer fitted on its training part; one .npz per seed."""
    from sentiment_batch.preprocessing import encode
    from sentiment_batch.train.arguments import ModelArguments
    from sentiment_batch.train.splits import load_splits
    from sentiment_batch.train.tokenization import PAD_TOKEN
    from sentiment_batch.train.training import fit_tokenizer

    folder.mkdir(parents=True, exist_ok=True)
    for seed in SEEDS:
        splits = load_splits(dataset, 0.1, seed)
        tokenizer = fit_tokenizer(splits["train"], ModelArguments())
        arrays = {"vocab_size": tokenizer.get_vocab_size(), "pad": tokenizer.token_to_id(PAD_TOKEN)}
        for name in ("train", "validation"):
            ids, offsets = encode(tokenizer, splits[name]["text"])
            small = ids.astype(np.uint16 if arrays["vocab_size"] <= 1 << 16 else np.int32)
            arrays.update({f"{name}_ids": small, f"{name}_offsets": offsets})
            arrays[f"{name}_labels"] = np.array(splits[name]["label"], dtype=np.int64)
        np.savez_compressed(folder / f"seed{seed}.npz", **arrays)


def load(folder: Path, seed: int) -> dict:
    arrays = np.load(folder / f"seed{seed}.npz")
    data = {"vocab_size": int(arrays["vocab_size"]), "pad": int(arrays["pad"])}
    for name in ("train", "validation"):
        ids = torch.from_numpy(arrays[f"{name}_ids"].astype(np.int64)).to(DEVICE)
        offsets = torch.from_numpy(arrays[f"{name}_offsets"]).to(DEVICE)
        lengths = torch.diff(offsets, append=offsets.new_tensor([len(ids)]))
        data[name] = (ids, offsets, lengths, torch.from_numpy(arrays[f"{name}_labels"]).to(DEVICE))
    return data


def batch(split: tuple, reviews: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Flat ids, offsets and labels of some reviews of a split."""
    ids, offsets, lengths, labels = split
    counts = lengths[reviews]
    starts = torch.cumsum(counts, 0) - counts
    positions = torch.repeat_interleave(offsets[reviews] - starts, counts) + torch.arange(
        int(counts.sum()), device=DEVICE
    )
    return ids[positions], starts, labels[reviews]


def bag_batches(split: tuple, size: int = 4096):
    """The whole split as `log_count_ratios` reads it: flat ids, offsets and labels, batch by batch."""
    for start in range(0, len(split[1]), size):
        yield batch(split, torch.arange(start, min(start + size, len(split[1])), device=DEVICE))


@torch.no_grad()
def accuracy(model, split: tuple) -> float:
    model.eval()
    correct = 0
    for start in range(0, len(split[1]), 1024):
        ids, offsets, labels = batch(split, torch.arange(start, min(start + 1024, len(split[1])), device=DEVICE))
        correct += int((model(ids, offsets).logits.argmax(-1) == labels).sum())
    model.train()
    return correct / len(split[1])


def train_once(data: dict, seed: int, **settings) -> list[float]:
    """Validation accuracy after each epoch of one run."""
    s = {**DEFAULTS, **settings}
    torch.manual_seed(seed)
    shape = [name for name in MODEL_KNOBS if name != "embedding_dim"]
    # mnb_column: one more column, frozen at 1, so the MLP also reads the naive Bayes log-odds Σ ratio / √count.
    config = SentimentBagConfig(
        vocab_size=data["vocab_size"],
        pad_token_id=data["pad"],
        feature_weighting=True,
        embedding_dim=s["embedding_dim"] + s["mnb_column"],
        **{key: s[key] for key in shape},
    )
    model = SentimentBagForSequenceClassification(config)
    ratios = log_count_ratios(bag_batches(data["train"]), config, s["alpha"], s["binary"]).cpu()
    model.bag.init_from_naive_bayes(ratios, torch.Generator().manual_seed(seed))
    model.bag.embeddings.weight.data.mul_(s["init_scale"])
    if s["mnb_column"]:
        model.bag.embeddings.weight.data[:, -1] = 1.0
        model.bag.embeddings.weight.data[data["pad"], -1] = 0.0
    model.to(DEVICE)
    # anchor: every step pulls the whole table a share of the way back to its naive Bayes start (L2 to the start).
    start_table = model.bag.embeddings.weight.detach().clone() if s["anchor"] else None
    optimizer = SparseAdagrad(model.parameters(), lr=s["lr"])
    count = len(data["train"][1])
    steps_per_epoch = count // s["batch_size"] + (count % s["batch_size"] > 1)  # Trainer drops a last batch of one
    total, step, order, accuracies = (
        math.ceil(s["epochs"] * steps_per_epoch),
        0,
        torch.Generator().manual_seed(seed),
        [],
    )
    while step < total:
        permutation = torch.randperm(count, generator=order).to(DEVICE)
        for start in range(0, steps_per_epoch * s["batch_size"], s["batch_size"]):
            if step == total:
                break
            ids, offsets, labels = batch(data["train"], permutation[start : start + s["batch_size"]])
            model.zero_grad(set_to_none=True)
            model(ids, offsets, labels=labels).loss.backward()
            if s["mnb_column"]:
                model.bag.embeddings.weight.grad._values()[:, -1] = 0.0
            dense = [p for p in model.parameters() if p.grad is not None and not p.grad.is_sparse]
            torch.nn.utils.clip_grad_norm_(dense, 1.0)
            optimizer.param_groups[0]["lr"] = s["lr"] * (1 - step / total if s["schedule"] == "linear" else 1)
            optimizer.step()
            if start_table is not None:
                model.bag.embeddings.weight.data.lerp_(start_table, s["anchor"])
            step += 1
        accuracies.append(accuracy(model, data["validation"]))
    return accuracies


def run(args: argparse.Namespace) -> None:
    args.out.mkdir(parents=True, exist_ok=True)
    indices = args.settings or range(len(SETTINGS))
    reps = range(args.first_rep, args.first_rep + args.reps)
    jobs = [(rep, seed, index) for rep in reps for seed in SEEDS for index in indices]
    deadline, data = time.time() + args.budget_s, {}
    with open(args.out / f"sweep_{args.worker}.jsonl", "w") as out:
        for rep, seed, index in jobs[args.worker :: args.workers]:
            if time.time() > deadline:
                break
            data.setdefault(seed, load(args.data, seed))
            accuracies = train_once(data[seed], seed + 1000 * rep, **SETTINGS[index])
            out.write(json.dumps({"setting": index, "seed": seed, "rep": rep, "accuracies": accuracies}) + "\n")
            out.flush()


def summarize(out: Path, baseline: int = 0) -> None:
    """Mean final accuracy per setting (splits weighted equally) and its paired difference with a baseline."""
    runs = [
        json.loads(line)
        for name in glob.glob(str(out / "sweep_*.jsonl"))
        for line in Path(name).read_text().splitlines()
    ]
    # A baseline run repeated in several batches (GPU runs are not bit-reproducible) counts as their mean.
    repeats = defaultdict(list)
    for r in runs:
        if r["setting"] == baseline:
            repeats[r["seed"], r["rep"]].append(r["accuracies"][-1])
    default = {key: statistics.mean(values) for key, values in repeats.items()}
    by_setting = defaultdict(list)
    for r in runs:
        by_setting[r["setting"]].append(r)
    print(f"| setting | runs | mean | vs {SETTINGS[baseline] or 'default'} |\n|---|---:|---:|---:|")
    for index, rs in sorted(by_setting.items()):
        per_split = [
            statistics.mean(r["accuracies"][-1] for r in rs if r["seed"] == seed) for seed in {r["seed"] for r in rs}
        ]
        paired = [r["accuracies"][-1] - default[r["seed"], r["rep"]] for r in rs if (r["seed"], r["rep"]) in default]
        error = statistics.pstdev(paired) / math.sqrt(len(paired)) if paired else float("nan")
        difference = statistics.mean(paired) if paired else float("nan")
        mean, name = 100 * statistics.mean(per_split), SETTINGS[index] or "default"
        print(f"| {name} | {len(rs)} | {mean:.2f}% | {100 * difference:+.2f} ± {100 * error:.2f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["prepare", "run", "summarize"])
    parser.add_argument(
        "--dataset", default=str(Path(__file__).resolve().parents[3] / "shared/imdb/aclImdb_train.tar.gz")
    )
    parser.add_argument("--data", type=Path, default=Path("sweep_data"))
    parser.add_argument("--out", type=Path, default=Path("sweep_out"))
    parser.add_argument("--worker", type=int, default=0)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--reps", type=int, default=4, help="training seeds per split")
    parser.add_argument("--first-rep", type=int, default=0, help="first training seed's index")
    parser.add_argument("--settings", type=int, nargs="+", help="indices into SETTINGS to run (default: all)")
    parser.add_argument("--baseline", type=int, default=0, help="setting the others are paired with in summarize")
    parser.add_argument("--budget-s", type=float, default=float("inf"), help="start no run after this many seconds")
    args = parser.parse_args()
    if args.command == "prepare":
        prepare(args.dataset, args.data)
    elif args.command == "run":
        run(args)
    else:
        summarize(args.out, args.baseline)


if __name__ == "__main__":
    main()
