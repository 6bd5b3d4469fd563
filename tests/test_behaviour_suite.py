"""The generated behavioural suite itself (`behaviour_suite.py`): its size, balance, pairs and determinism."""

from __future__ import annotations

import re
from collections import Counter

import pytest
from behaviour_suite import CAPABILITIES, NEGATIVE, POSITIVE, Case, article, failed, generate


@pytest.fixture(scope="module")
def cases() -> list[Case]:
    return generate()


def test_every_capability_has_hundreds_of_cases_and_thousands_in_all(cases):
    counts = Counter(case.capability for case in cases)
    assert set(counts) == set(CAPABILITIES)
    assert min(counts.values()) >= 300, counts
    assert len(cases) >= 5000
    tests = Counter(case.test for case in cases)
    assert set(tests) == {"mft", "inv", "dir"}


def test_each_family_is_full_balanced_and_free_of_repeats(cases):
    families: dict[tuple[str, str], list[Case]] = {}
    for case in cases:
        families.setdefault((case.capability, case.tag), []).append(case)
    for family, members in families.items():
        assert len(members) >= 60, family
        assert len({(case.text, case.variant) for case in members}) == len(members), family
        if members[0].test == "mft":
            labels = Counter(case.expected for case in members)
            assert abs(labels[POSITIVE] - labels[NEGATIVE]) <= 1, family
        assert len({case.domain for case in members}) >= 4, family


def test_invariance_pairs_differ_only_in_the_swapped_span(cases):
    pairs = [case for case in cases if case.test == "inv"]
    assert len(pairs) >= 1500
    for case in pairs:
        start, end = case.span
        assert case.text[:start] + case.replacement + case.text[end:] == case.variant, case
        assert case.text[start:end] != case.replacement, case


def test_directional_cases_change_the_text_and_name_a_direction(cases):
    for case in (case for case in cases if case.test == "dir"):
        assert case.variant != case.text and case.direction in (1, -1), case
    directions = Counter(case.direction for case in cases if case.test == "dir")
    assert abs(directions[1] - directions[-1]) <= 4


def test_texts_are_filled_and_articles_agree(cases):
    texts = [text for case in cases for text in (case.text, case.variant) if text is not None]
    for text in texts:
        assert "{" not in text and "}" not in text and "  " not in text and "\x00" not in text, text
        assert text[:1].isupper(), text
    # "u" may sound either way: `article` is checked on such words below.
    wrong_article = re.compile(r"\ba [aeio]|\ban [^aeiou]", re.IGNORECASE)
    assert not [text for text in texts if wrong_article.search(text)]


@pytest.mark.parametrize(
    ("word", "expected"),
    [
        ("Ukrainian", "a"),
        ("useless", "a"),
        ("Ethiopian", "an"),
        ("umbrella", "an"),
        ("Chinese", "a"),
        ("atheist", "an"),
    ],
)
def test_article_follows_the_sound(word, expected):
    assert article(word) == expected


@pytest.mark.parametrize("seed", [1, 2])
def test_every_seed_gives_a_full_suite(seed):
    counts = Counter((case.capability, case.tag) for case in generate(seed))
    assert counts == Counter((case.capability, case.tag) for case in generate(0))


def test_the_same_seed_gives_the_same_suite_and_another_seed_another():
    assert generate(3, 20) == generate(3, 20)
    assert [case.text for case in generate(3, 20)] != [case.text for case in generate(4, 20)]


@pytest.mark.parametrize(
    ("case", "score", "variant_score", "expected"),
    [
        (Case("negation", "mft", "t", "films", "x", expected=POSITIVE), 0.7, None, False),
        (Case("negation", "mft", "t", "films", "x", expected=POSITIVE), 0.3, None, True),
        (Case("negation", "mft", "t", "films", "x", expected=NEGATIVE), 0.3, None, False),
        (Case("names", "inv", "t", "films", "x", variant="y"), 0.6, 0.69, False),
        (Case("names", "inv", "t", "films", "x", variant="y"), 0.6, 0.75, True),
        (Case("names", "inv", "t", "films", "x", variant="y"), 0.55, 0.47, True),  # the label flips
        (Case("vocabulary", "dir", "t", "films", "x", variant="y", direction=1), 0.6, 0.61, False),
        (Case("vocabulary", "dir", "t", "films", "x", variant="y", direction=1), 0.6, 0.59, True),
        (Case("vocabulary", "dir", "t", "films", "x", variant="y", direction=-1), 0.6, 0.2, False),
    ],
)
def test_failed_applies_each_test_types_rule(case, score, variant_score, expected):
    assert failed(case, score, variant_score) is expected
