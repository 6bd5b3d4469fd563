"""The columns scoring adds to every row, by role: the one description the scorer and both engines use."""

from __future__ import annotations

import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pyarrow as pa

from .errors import UserError, UserTypeError, shown
from .explain import EVIDENCE_TYPE, evidence_json


@dataclass(frozen=True)
class OutputColumns:
    """The names of the added columns, by role, in output order: label, score, one probability per class,
    evidence (when explaining), error.

    Args:
        label (`str`): the chosen class.
        score (`str`): its probability.
        probabilities (`Mapping[str, str]`): each class's probability column, `{label: name}`, in logit order.
        evidence (`str`, *optional*): each review's heaviest phrases; None when not explaining.
        error (`str`): why a row was not scored; null where it was.
    """

    label: str
    score: str
    probabilities: Mapping[str, str]
    evidence: str | None
    error: str

    @classmethod
    def of(cls, labels: Sequence[str], prefix: str = "", explain: int = 0) -> OutputColumns:
        """The added columns of a bundle's labels.

        Args:
            labels (`Sequence[str]`): class names in logit order.
            prefix (`str`, *optional*, defaults to ""): put before every added name, to avoid clashes.
            explain (`int`, *optional*, defaults to 0): phrases of evidence per review; 0 adds no evidence column.
        """
        if not isinstance(prefix, str):
            raise UserTypeError(f"prefix must be a str, got {type(prefix).__name__}")
        evidence = f"{prefix}evidence" if check_explain(explain) else None
        probabilities = {label: f"{prefix}prob_{label}" for label in labels}
        return cls(f"{prefix}label", f"{prefix}score", probabilities, evidence, f"{prefix}error")

    @property
    def names(self) -> list[str]:
        """Every added name, in output order."""
        evidence = [self.evidence] if self.evidence else []
        return [self.label, self.score, *self.probabilities.values(), *evidence, self.error]

    def fields(self, csv: bool = False) -> list[pa.Field]:
        """The added columns as Arrow fields, in output order.

        Args:
            csv (`bool`, *optional*, defaults to False): type evidence as JSON text, for formats without nested
                columns.
        """
        evidence = [pa.field(self.evidence, pa.string() if csv else EVIDENCE_TYPE)] if self.evidence else []
        return [
            pa.field(self.label, pa.string()),
            pa.field(self.score, pa.float32()),
            *(pa.field(name, pa.float32()) for name in self.probabilities.values()),
            *evidence,
            pa.field(self.error, pa.string()),
        ]

    def json_evidence(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        """A scored batch with its evidence as JSON text (`[{"phrase": …, "weight": …}]`), for formats without
        nested columns (CSV); unchanged when not explaining.

        Args:
            batch (`pa.RecordBatch`): a scored batch holding these columns.
        """
        if not self.evidence:
            return batch
        index = batch.schema.get_field_index(self.evidence)
        return batch.set_column(index, pa.field(self.evidence, pa.string()), evidence_json(batch.column(index)))

    def as_written(self, batch: pa.RecordBatch, schema: pa.Schema) -> pa.RecordBatch:
        """A scored batch in an output's schema: evidence as JSON text where the schema holds it so (CSV).

        Args:
            batch (`pa.RecordBatch`): a scored batch holding these columns.
            schema (`pa.Schema`): the output's schema, the input columns then `fields`.
        """
        if batch.schema.equals(schema):
            return batch
        if self.evidence and schema.field(self.evidence).type == pa.string():
            batch = self.json_evidence(batch)
        return pa.RecordBatch.from_arrays(batch.columns, schema=schema)


def check_explain(explain: object) -> int:
    """`explain` as an int: the most phrases of evidence per review, 0 for none."""
    if isinstance(explain, bool) or not isinstance(explain, numbers.Integral):
        raise UserTypeError(f"explain must be an int (phrases per review, 0 for none), got {type(explain).__name__}")
    if explain < 0:
        raise UserError(f"explain must be at least 0 (phrases per review), got {explain}")
    return int(explain)


MAX_NAMES_SHOWN = 20  # of an input's columns, in a message
MAX_NAME_CHARS = 40


def check_columns(columns: Sequence[str], text_column: str, added: Sequence[str], where: str = "the input") -> None:
    """Raise a one-line `UserError` when the text column is absent or an added column already exists.

    Args:
        columns (`Sequence[str]`): the input's column names.
        text_column (`str`): the column holding the text.
        added (`Sequence[str]`): the names scoring will add (`OutputColumns.names`).
        where (`str`): names the input in the message.
    """
    if not isinstance(text_column, str):
        raise UserTypeError(f"text_column must be a str, got {type(text_column).__name__}")
    columns = list(columns)
    if text_column not in columns:
        raise UserError(f"{where} has no column {_name(text_column)}; its columns are {names_shown(columns)}")
    if columns.count(text_column) > 1:
        raise UserError(f"{where} has {columns.count(text_column)} columns named {_name(text_column)}; keep one")
    clashes = [name for name in added if name in columns]
    if clashes:
        raise UserError(f"{where} already has column(s) {names_shown(clashes)}; give the added columns a prefix")


def kept_columns(columns: Sequence[str], keep_columns: Sequence[str] | None) -> list[str]:
    """The input columns the output keeps: all of them, or those named, in that order (each once).

    Args:
        columns (`Sequence[str]`): the inputs' column names.
        keep_columns (`Sequence[str]`, *optional*): the names to keep; all by default.
    """
    if keep_columns is None:
        return list(columns)
    keep_columns = [keep_columns] if isinstance(keep_columns, str) else keep_columns
    missing = [name for name in keep_columns if name not in columns]
    if missing:
        raise UserError(
            f"the inputs have no column(s) {shown(names_shown(missing))} to keep; "
            f"their columns are {shown(names_shown(columns))}"
        )
    return list(dict.fromkeys(keep_columns))


def names_shown(names: Sequence[str]) -> str:
    """Column names for a one-line message: the first `MAX_NAMES_SHOWN`, each cut to `MAX_NAME_CHARS`.

    Args:
        names (`Sequence[str]`): the names.
    """
    listed = ", ".join(_name(name) for name in names[:MAX_NAMES_SHOWN])
    more = f", … ({len(names) - MAX_NAMES_SHOWN} more)" if len(names) > MAX_NAMES_SHOWN else ""
    return f"[{listed}{more}]"


def _name(name: str) -> str:
    text = repr(name)
    return text if len(text) <= MAX_NAME_CHARS else f"{text[: MAX_NAME_CHARS - 1]}…"
