"""The added columns by role, and the one-line refusals of an input's columns."""

from __future__ import annotations

import pyarrow as pa
import pytest

from sentiment_batch.columns import OutputColumns, check_columns
from sentiment_batch.errors import UserError
from sentiment_batch.explain import EVIDENCE_TYPE


def test_output_columns_name_every_role_in_output_order():
    added = OutputColumns.of(("neg", "pos"), "s_", explain=2)
    assert (added.label, added.score, added.evidence, added.error) == ("s_label", "s_score", "s_evidence", "s_error")
    assert added.probabilities == {"neg": "s_prob_neg", "pos": "s_prob_pos"}
    assert added.names == ["s_label", "s_score", "s_prob_neg", "s_prob_pos", "s_evidence", "s_error"]
    assert [field.name for field in added.fields()] == added.names
    assert added.fields()[4].type == EVIDENCE_TYPE and added.fields(csv=True)[4].type == pa.string()
    assert OutputColumns.of(("neg", "pos")).evidence is None


def test_as_written_turns_evidence_into_json_text_where_the_output_holds_text():
    added = OutputColumns.of(("neg", "pos"), explain=1)
    evidence = pa.array([[{"phrase": "great", "weight": 0.5}], None], EVIDENCE_TYPE)
    probs = pa.array([0.5, None], pa.float32())
    columns = [pa.array(["pos", None]), probs, probs, probs, evidence, pa.array([None, "null text"])]
    batch = pa.RecordBatch.from_arrays(columns, names=added.names)
    assert added.as_written(batch, batch.schema) is batch
    written = added.as_written(batch, pa.schema(added.fields(csv=True)))
    assert written.column("evidence").to_pylist() == ['[{"phrase": "great", "weight": 0.5}]', None]


def test_a_missing_text_column_lists_the_first_20_columns_each_cut_short():
    columns = [f"column_{index}" for index in range(500)] + ["x" * 10_000]
    with pytest.raises(UserError) as raised:
        check_columns(columns, "text", [])
    message = str(raised.value)
    assert "'column_0', 'column_1'" in message and "'column_19'" in message and "'column_20'" not in message
    assert message.endswith("… (481 more)]") and len(message) < 600 and "\n" not in message
    with pytest.raises(UserError) as raised:
        check_columns(["y" * 10_000, "text"], "z" * 10_000, [])
    assert len(str(raised.value)) < 200


def test_clashes_are_listed_the_same_way():
    with pytest.raises(UserError, match=r"already has column\(s\) \['label', 'error'\]; give the added columns"):
        check_columns(["text", "label", "error"], "text", OutputColumns.of(("neg", "pos")).names)
