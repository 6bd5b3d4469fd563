"""Failure rates of bundles on the generated behavioural suite (`tests/behaviour_suite.py`), per capability.

Prints two Markdown tables: each capability's failure rate per bundle (by test type), then each template family's,
and, with `--examples`, a few failures of the first bundle per family.

    python tests/bench/bench_behaviour.py --bundle shipped=sentiment_batch/default_bundle \
        --bundle 0.2.0=/tmp/bundle-0.2.0/sentiment_batch/default_bundle
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

from sentiment_batch import Scorer

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from behaviour_suite import CAPABILITIES, Case, failed, generate  # noqa: E402


def positive_scores(scorer: Scorer, texts: list[str]) -> np.ndarray:
    """P(positive) of every text (NaN for one the scorer cannot score)."""
    column = scorer.score_values(texts)[scorer.output_columns().probabilities["positive"]]
    return column.to_numpy(zero_copy_only=False).astype(np.float64)


def case_scores(scorer: Scorer, cases: list[Case]) -> tuple[np.ndarray, np.ndarray]:
    """P(positive) of each case's text and of its variant (NaN where it has none)."""
    paired = [index for index, case in enumerate(cases) if case.variant is not None]
    scores = positive_scores(scorer, [case.text for case in cases])
    variant_scores = np.full(len(cases), np.nan)
    variant_scores[paired] = positive_scores(scorer, [cases[index].variant for index in paired])
    return scores, variant_scores


def failures(cases: list[Case], scores: np.ndarray, variant_scores: np.ndarray) -> np.ndarray:
    """Whether each case fails, given `case_scores`."""
    return np.array([failed(case, scores[k], variant_scores[k]) for k, case in enumerate(cases)])


def rate(wrong: np.ndarray) -> str:
    return f"{100 * wrong.mean():.1f}%" if len(wrong) else "—"


def table(cases: list[Case], wrong: dict[str, np.ndarray], key) -> list[str]:
    """Rows of failure rates, one per distinct `key(case)`, in first-seen order."""
    groups: dict[tuple, list[int]] = defaultdict(list)
    for index, case in enumerate(cases):
        groups[key(case)].append(index)
    rows = []
    for group, indices in groups.items():
        rates = " | ".join(rate(wrong[name][indices]) for name in wrong)
        rows.append(f"| {' | '.join(group)} | {len(indices)} | {rates} |")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bundle", action="append", required=True, metavar="NAME=PATH", help="a bundle to score")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--per-family", type=int, default=200, help="cases per template family")
    parser.add_argument("--examples", type=int, default=0, help="failures of the first bundle to show per family")
    parser.add_argument("--json", type=Path, default=None, help="also write the failure rates to this file")
    args = parser.parse_args()
    cases = generate(args.seed, args.per_family)
    wrong, first_scores = {}, None
    for name, _, path in (item.partition("=") for item in args.bundle):
        with Scorer.from_bundle(path, languages=None) as scorer:  # every case is English
            scores = case_scores(scorer, cases)
        wrong[name], first_scores = failures(cases, *scores), first_scores or scores
    names = " | ".join(wrong)
    print(f"{len(cases)} cases, seed {args.seed}\n\n| capability | test | cases | {names} |")
    print("|---|---|---:|" + "---:|" * len(wrong))
    print("\n".join(table(cases, wrong, lambda case: (case.capability, case.test))))
    totals = " | ".join(f"**{rate(flags)}**" for flags in wrong.values())
    print(f"| **all** | | {len(cases)} | {totals} |")
    people = [index for index, case in enumerate(cases) if case.capability in ("identity", "names")]
    print(
        f"| **identity + names** | inv | {len(people)} | " + " | ".join(rate(f[people]) for f in wrong.values()) + " |"
    )
    print(f"\n| capability | test | family | cases | {names} |\n|---|---|---|---:|" + "---:|" * len(wrong))
    print("\n".join(table(cases, wrong, lambda case: (case.capability, case.test, case.tag))))
    first = next(iter(wrong.values()))
    shown: dict[str, int] = defaultdict(int)
    for index, case in enumerate(cases):
        if first[index] and shown[case.tag] < args.examples:
            shown[case.tag] += 1
            example = f"- {case.capability} / {case.tag}: {case.text!r} {first_scores[0][index]:.2f}"
            if case.variant:
                example += f" → {case.variant!r} {first_scores[1][index]:.2f}"
            print(example)
    if args.json:
        by_capability = {
            name: {cap: float(flags[[c.capability == cap for c in cases]].mean()) for cap in CAPABILITIES}
            for name, flags in wrong.items()
        }
        args.json.write_text(json.dumps(by_capability, indent=2) + "\n")


if __name__ == "__main__":
    main()
