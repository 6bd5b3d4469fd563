"""What a scoring run did, for its closing line, `--summary`'s JSON, and the judgement whether it failed.

A run fails when it had rows and scored none, or when more than the allowed share of rows could not be scored;
the CLI then exits 3 and publishes nothing, so a scheduler (cron, Airflow, dbt) sees a failed task.
"""

from __future__ import annotations

import json
import math
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from .bundle import Bundle
from .errors import UserError, cannot, cut, shown
from .formats import STDIO
from .publish import staged_file

EXIT_FAILED_RUN = 3


class RunFailed(UserError):
    """The run read its inputs but scored too few rows to be trusted; nothing was published. Exit code 3.

    Args:
        message (`str`): why.
        summary (`Summary`): what the run counted.
    """

    exit_code = EXIT_FAILED_RUN

    def __init__(self, message: str, summary: Summary):
        super().__init__(message)
        self.summary = summary


def check_error_rate(rate: object) -> float | None:
    """`rate` as the largest share of unscorable rows a run may have (0 to 1), or None for no limit.

    Args:
        rate (`object`): a number from 0 to 1, or None.
    """
    if rate is None:
        return None
    if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0 <= rate <= 1:
        raise UserError(f"the maximum error rate must be a number from 0 to 1, got {shown(repr(rate))}")
    return float(rate)


@dataclass
class Summary:
    """A scoring run's counts: rows, the unscorable ones by reason, the scored ones by label.

    Args:
        inputs (`list[str]`): the files read, in order.
        output (`str`): where the rows went (`-` for stdout).
        bundle (`dict`): the bundle's `model_sha256`, `version` and `labels`.
        rows (`int`): rows read and written.
        errors (`Counter`): unscorable rows, by the reason in their `error` cell.
        labels (`Counter`): scored rows, by label.
        seconds (`float`): wall time of the scoring itself.
    """

    inputs: list[str] = field(default_factory=list)
    output: str = ""
    bundle: dict = field(default_factory=dict)
    rows: int = 0
    errors: Counter = field(default_factory=Counter)
    labels: Counter = field(default_factory=Counter)
    seconds: float = 0.0

    @property
    def scored(self) -> int:
        """Rows that got a label."""
        return self.rows - sum(self.errors.values())

    @property
    def rows_per_second(self) -> float:
        """Rows read, scored and written per second."""
        return self.rows / self.seconds if self.seconds > 0 else 0.0

    def count(self, labels: pa.Array, errors: pa.Array) -> None:
        """Add one scored batch's rows.

        Args:
            labels (`pa.Array`): its label column (null where the row was not scored).
            errors (`pa.Array`): its error column (null where the row was scored).
        """
        self.rows += len(labels)
        for column, counter in ((labels, self.labels), (errors, self.errors)):
            for entry in pc.value_counts(column.drop_null()).to_pylist():
                counter[entry["values"]] += entry["counts"]

    def failure(self, max_error_rate: float | None = None) -> str | None:
        """Why the run must count as failed, or None: no row scored (of at least one), or too many errors.

        Args:
            max_error_rate (`float`, *optional*): the largest share of unscorable rows allowed; None for no limit.
        """
        share = (self.rows - self.scored) / self.rows if self.rows else 0.0
        if self.rows and not self.scored:
            return f"no row could be scored ({self.rows} rows; {self._reasons()})"
        if max_error_rate is not None and share > max_error_rate:
            allowed = f"more than the {max_error_rate:.1%} allowed"
            return f"{share:.1%} of rows could not be scored ({self._reasons()}), {allowed}"
        return None

    def _reasons(self) -> str:
        return cut(", ".join(f"{reason}: {count}" for reason, count in self.errors.most_common()) or "no errors")

    def line(self) -> str:
        """The closing line: scored and unscorable rows, errors by reason, labels, output, time and rate."""
        labels = ", ".join(f"{label} {count}" for label, count in self.labels.most_common())
        unscorable = self.rows - self.scored
        where = "stdout" if self.output == STDIO else self.output
        reasons = f" ({shown(self._reasons())})" if unscorable else ""
        return (
            f"scored {self.scored} of {self.rows} rows from {len(self.inputs)} file(s) into {shown(where)}: "
            f"{unscorable} unscorable{reasons}; labels: {labels or 'none'}; "
            f"{self.seconds:.2f} s, {self.rows_per_second:,.0f} rows/s"
        )

    def as_json(self) -> dict:
        """The summary as `--summary` writes it."""
        return {
            "rows": self.rows,
            "scored": self.scored,
            "errors": dict(self.errors.most_common()),
            "labels": dict(self.labels.most_common()),
            "seconds": round(self.seconds, 3),
            "rows_per_second": round(self.rows_per_second, 1) if math.isfinite(self.rows_per_second) else None,
            "inputs": self.inputs,
            "output": self.output,
            "bundle": self.bundle,
        }

    def save(self, path: str | os.PathLike) -> None:
        """Write `as_json` to a file, all or nothing.

        Args:
            path (`str | os.PathLike`): the JSON file, replaced if it exists.
        """
        path = Path(path)
        try:
            with staged_file(path, overwrite=True) as handle:
                handle.write(json.dumps(self.as_json(), indent=2, ensure_ascii=False, allow_nan=False).encode())
                handle.write(b"\n")
        except OSError as error:
            raise cannot("write", path, error) from error


def bundle_record(bundle: Bundle) -> dict:
    """What the summary says of the bundle: its model's hash as `bundle.json` records it, version, labels.

    Args:
        bundle (`Bundle`): the loaded bundle.
    """
    version = bundle.manifest.info.get("version") or bundle.manifest.info.get("versions", {}).get("sentiment_batch")
    return {"model_sha256": bundle.manifest.model_sha256, "version": version, "labels": list(bundle.labels)}
