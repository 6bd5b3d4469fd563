"""A run's summary: counts by reason and label, the closing line, the JSON, and when a run counts as failed."""

from __future__ import annotations

import json

import pyarrow as pa
import pytest

from sentiment_batch.errors import UserError
from sentiment_batch.summary import Summary, check_error_rate


def counted(labels, errors):
    summary = Summary(inputs=["a.csv"], output="out.csv", bundle={"model_sha256": "ab", "version": "0.3.0"})
    summary.count(pa.array(labels, pa.string()), pa.array(errors, pa.string()))
    summary.seconds = 2.0
    return summary


def test_rows_are_counted_by_label_and_by_reason():
    summary = counted(["pos", None, "neg", "pos", None], [None, "null text", None, None, "empty text"])
    assert (summary.rows, summary.scored) == (5, 3)
    assert summary.labels == {"pos": 2, "neg": 1} and summary.errors == {"null text": 1, "empty text": 1}
    assert summary.line() == (
        "scored 3 of 5 rows from 1 file(s) into out.csv: 2 unscorable (null text: 1, empty text: 1); "
        "labels: pos 2, neg 1; 2.00 s, 2 rows/s"
    )
    record = summary.as_json()
    assert json.loads(json.dumps(record)) == record
    assert record["errors"] == {"null text": 1, "empty text": 1} and record["rows_per_second"] == 2.5


def test_a_run_fails_when_nothing_or_too_little_was_scored():
    assert counted([], []).failure() is None  # no rows: nothing to judge
    assert "no row could be scored" in counted([None], ["null text"]).failure()
    half = counted(["pos", None], [None, "null text"])
    assert half.failure() is None and half.failure(0.5) is None
    assert "50.0% of rows could not be scored" in half.failure(0.49)
    assert counted(["pos"], [None]).failure(0.0) is None


@pytest.mark.parametrize("rate", [-0.01, 1.01, float("nan"), True, "0.1"])
def test_error_rates_outside_0_to_1_are_refused(rate):
    with pytest.raises(UserError, match="from 0 to 1"):
        check_error_rate(rate)
    assert check_error_rate(None) is None and check_error_rate(1) == 1.0


def test_a_long_list_of_reasons_is_cut():
    reasons = [f"non-string text (type{index})" for index in range(1000)]
    summary = counted([None] * 1000, reasons)
    assert len(summary.line()) < 400 and len(summary.failure()) < 400
