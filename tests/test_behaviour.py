"""The shipped model's behaviour, CheckList style: everyday short reviews, negation, ratings in words, domains.

The cases (`behaviour_cases.py`) are texts we wrote. Each capability may miss a few; the bars below are what the
shipped bundle is held to, and a failure names the reviews it got wrong.
"""

from __future__ import annotations

import pytest

from behaviour_cases import CAPABILITIES, INVARIANCE
from sentiment_batch import Scorer

# Share of each capability's cases the shipped bundle must get right.
BARS = {"short": 0.95, "negation": 0.8, "ratings": 0.9, "domains": 0.95}


@pytest.fixture(scope="module")
def shipped():
    with Scorer.from_bundle() as scorer:
        yield scorer


@pytest.mark.parametrize("capability", sorted(CAPABILITIES))
def test_the_shipped_model_gets_each_capability_right(shipped, capability):
    cases = CAPABILITIES[capability]
    results = shipped.predict([text for text, _ in cases])
    wrong = [
        f"{text!r} ({result['score']:.2f} {result['label']})"
        for (text, expected), result in zip(cases, results, strict=True)
        if result["label"] != expected
    ]
    assert 1 - len(wrong) / len(cases) >= BARS[capability], f"{capability}: wrong on {', '.join(wrong)}"


def test_context_without_sentiment_changes_no_label(shipped):
    originals = shipped.predict([original for original, _ in INVARIANCE])
    variants = shipped.predict([variant for _, variant in INVARIANCE])
    changed = [pair for pair, a, b in zip(INVARIANCE, originals, variants, strict=True) if a["label"] != b["label"]]
    assert not changed, f"the label changed for {changed}"


def test_every_capability_is_balanced_and_labelled():
    for capability, cases in CAPABILITIES.items():
        labels = [label for _, label in cases]
        assert set(labels) == {"positive", "negative"}, capability
        assert abs(labels.count("positive") - labels.count("negative")) <= 2, capability
        assert len({text for text, _ in cases}) == len(cases), capability
