"""`sentiment-batch report`: one self-contained HTML page that shows a scored file at a glance.

Label counts and shares (per value of a column), a histogram of scores, the phrases that weigh most toward each
label across the file, errors by reason, and a sample of reviews with their phrases highlighted by side and
weight. Charts are inline SVG; the page loads nothing. The files are streamed batch by batch: memory stays bounded
on any number of rows (the phrase tally keeps its heaviest entries, the sample is a reservoir).
"""

from __future__ import annotations

import argparse
import html
import json
import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa

from .console import say
from .errors import UserError, shown
from .publish import check_output_path, staged_file
from .readers import InputFile, discover, open_source

NEEDED = ("label", "score", "error")
BINS = 20
MAX_GROUPS = 50  # values of --by shown; the rest are counted together
MAX_TALLY = 200_000  # distinct phrases tallied per label before the lightest are dropped
TOP_PHRASES = 15
SAMPLE_EXPLAIN = 5
OTHER_GROUP = "(other values)"
PALETTE = ("#c62828", "#2e7d32", "#1565c0", "#ef6c00", "#6a1b9a", "#00838f", "#5d4037", "#455a64")
FOR, AGAINST = (46, 125, 50), (198, 40, 40)  # highlight colours: toward the row's label, against it


@dataclass
class Tally:
    """What the report shows, gathered batch by batch."""

    sample_size: int
    rows: int = 0
    groups: dict[str, Counter] = field(default_factory=dict)
    scores: dict[str, np.ndarray] = field(default_factory=dict)
    errors: Counter = field(default_factory=Counter)
    phrases: dict[str, dict[str, list]] = field(default_factory=dict)
    sample: list[dict] = field(default_factory=list)
    scored: int = 0
    has_evidence: bool = False
    random: random.Random = field(default_factory=lambda: random.Random(0))

    def add(self, batch: pa.RecordBatch, by: str | None, text_column: str) -> None:
        """Count one batch of a scored file."""
        labels, scores, errors = (batch.column(name).to_pylist() for name in NEEDED)
        values = batch.column(by).cast(pa.string()).to_pylist() if by else ["all rows"] * batch.num_rows
        evidence = _evidence(batch.column("evidence")) if "evidence" in batch.schema.names else None
        self.has_evidence = evidence is not None
        texts = batch.column(text_column).to_pylist() if text_column in batch.schema.names else None
        for row in range(batch.num_rows):
            self.rows += 1
            if errors[row]:
                self.errors[errors[row]] += 1
                continue
            phrases = evidence[row] or [] if evidence else None
            self._count(labels[row], scores[row], values[row], phrases or [])
            if texts is not None:
                self._offer(
                    {
                        "text": texts[row],
                        "label": labels[row],
                        "score": scores[row],
                        "row": self.rows,
                        "evidence": phrases,
                    }
                )

    def _count(self, label: str, score: float, value: str | None, evidence: list) -> None:
        name = "(none)" if value is None else value
        if name not in self.groups and len(self.groups) >= MAX_GROUPS:
            name = OTHER_GROUP
        self.groups.setdefault(name, Counter())[label] += 1
        bins = self.scores.setdefault(label, np.zeros(BINS, np.int64))
        bins[min(int(score * BINS), BINS - 1)] += 1
        self.scored += 1
        for entry in evidence:
            self.tally(label, entry["phrase"], entry["weight"])

    def tally(self, label: str, phrase: str, weight: float) -> None:
        """Add one phrase's weight toward (or against) `label`; past `MAX_TALLY` phrases the lightest half go."""
        tally = self.phrases.setdefault(label, {})
        entry = tally.setdefault(phrase.lower(), [phrase, 0.0, 0])
        entry[1] += weight
        entry[2] += 1
        if len(tally) > MAX_TALLY:
            kept = sorted(tally.items(), key=lambda item: -abs(item[1][1]))[: MAX_TALLY // 2]
            self.phrases[label] = dict(kept)

    def _offer(self, row: dict) -> None:
        """Reservoir sampling: every scored row has the same chance to be in the sample."""
        if len(self.sample) < self.sample_size:
            self.sample.append(row)
            return
        slot = self.random.randrange(self.scored)
        if slot < self.sample_size:
            self.sample[slot] = row


def _evidence(column: pa.Array) -> list[list[dict] | None]:
    """An evidence column, nested (Parquet) or JSON text (CSV), as lists of `{"phrase", "weight"}`."""
    if pa.types.is_list(column.type):
        return column.to_pylist()
    return [json.loads(cell) if cell else None for cell in column.cast(pa.string()).to_pylist()]


def gather(files: Sequence[InputFile], by: str | None, sample: int, text_column: str) -> Tally:
    """Read every scored file once and tally it.

    Args:
        files (`Sequence[InputFile]`): the scored files (any format `score` writes), in order (`readers.discover`).
        by (`str`, *optional*): a column whose values split the label counts.
        sample (`int`): reviews to show.
        text_column (`str`): the column holding the review text.
    """
    tally = Tally(sample)
    for file in files:
        source = open_source(file)
        missing = [name for name in (*NEEDED, *([by] if by else [])) if name not in source.schema.names]
        if missing:
            raise UserError(f"{shown(file.name)} has no column(s) {missing}: is it a file that sentiment-batch scored?")
        for batch in source.batches(text_column=text_column):
            tally.add(batch, by, text_column)
    return tally


def explain_sample(tally: Tally) -> None:
    """Evidence for the sampled reviews of a file scored without it, from the shipped bundle; the phrase tally
    then comes from the sample."""
    from .scorer import Scorer

    with Scorer.from_bundle() as scorer:
        results = scorer.predict([row["text"] for row in tally.sample], explain=SAMPLE_EXPLAIN)
    for row, result in zip(tally.sample, results, strict=True):
        row["evidence"] = result["evidence"] or []
        for entry in row["evidence"]:
            tally.tally(row["label"], entry["phrase"], entry["weight"])


def render(tally: Tally, title: str) -> str:
    """The report as one HTML page."""
    labels = sorted({label for group in tally.groups.values() for label in group})
    colours = {label: PALETTE[index % len(PALETTE)] for index, label in enumerate(labels)}
    origin = "the files' evidence column" if tally.has_evidence else "the sampled reviews, explained for this report"
    sections = [
        _section("labels", "Labels", _label_table(tally, labels, colours)),
        _section("scores", "Scores", _histograms(tally, labels, colours)),
        _section("phrases", f"Phrases that weigh most (from {origin})", _phrase_charts(tally, labels)),
        _section("errors", "Rows not scored, by reason", _error_table(tally)),
        _section("sample", f"A sample of {len(tally.sample)} scored reviews", _sample(tally)),
    ]
    style = (
        "body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:1100px;color:#222}"
        "table{border-collapse:collapse}td,th{padding:3px 10px;border-bottom:1px solid #ddd;text-align:left}"
        "td.n{text-align:right;font-variant-numeric:tabular-nums}.review{margin:0 0 1em;padding:.6em;"
        "border-left:4px solid #999;background:#fafafa}.meta{color:#666;font-size:12px}svg{display:block}"
        "mark{border-radius:3px;padding:0 2px}"
    )
    summary = f"{tally.rows:,} rows: {tally.scored:,} scored, {sum(tally.errors.values()):,} not scored."
    body = "".join(sections)
    return (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
        f"<style>{style}</style></head><body><h1>{html.escape(title)}</h1><p>{summary}</p>{body}</body></html>"
    )


def _section(anchor: str, heading: str, content: str) -> str:
    return f'<section id="{anchor}"><h2>{html.escape(heading)}</h2>{content}</section>'


def _bar_chart(items: Sequence[tuple[str, float]], colour, width: int = 640, signed: bool = False) -> str:
    """Horizontal bars, one per (name, value); `colour` is one colour or one per item."""
    if not items:
        return "<p>None.</p>"
    largest = max(abs(value) for _, value in items) or 1
    height, label_width = 22, 260
    rows = []
    for index, (name, value) in enumerate(items):
        fill = colour[index] if isinstance(colour, list) else colour
        length = (width - label_width - 70) * abs(value) / largest
        y = index * height
        number = f"{value:+.2f}" if signed else f"{value:,.0f}"
        rows.append(
            f'<text x="{label_width - 6}" y="{y + 15}" text-anchor="end">{html.escape(_cut(name, 40))}</text>'
            f'<rect x="{label_width}" y="{y + 3}" width="{length:.1f}" height="{height - 6}" fill="{fill}"/>'
            f'<text x="{label_width + length + 4:.1f}" y="{y + 15}">{number}</text>'
        )
    return f'<svg width="{width}" height="{height * len(items)}" font-size="12" role="img">{"".join(rows)}</svg>'


def _label_table(tally: Tally, labels: list[str], colours: dict[str, str]) -> str:
    totals = Counter()
    for group in tally.groups.values():
        totals.update(group)
    chart = _bar_chart([(label, totals[label]) for label in labels], [colours[label] for label in labels])
    head = "".join(f"<th>{html.escape(label)}</th>" for label in labels)
    rows = []
    for name, group in sorted(tally.groups.items(), key=lambda item: -sum(item[1].values())):
        count = sum(group.values())
        cells = "".join(f'<td class="n">{group[label]:,} ({group[label] / count:.1%})</td>' for label in labels)
        rows.append(f'<tr><td>{html.escape(name)}</td><td class="n">{count:,}</td>{cells}</tr>')
    table = f"<table><tr><th></th><th>rows</th>{head}</tr>{''.join(rows)}</table>"
    return chart + table


def _histograms(tally: Tally, labels: list[str], colours: dict[str, str]) -> str:
    """Per label, how many rows got each score (the label's probability), in `BINS` bins."""
    width, height, pad = 640, 160, 30
    charts = []
    for label in labels:
        bins = tally.scores.get(label, np.zeros(BINS, np.int64))
        top = int(bins.max()) or 1
        step = (width - 2 * pad) / BINS
        bars = "".join(
            f'<rect x="{pad + index * step:.1f}" y="{height - pad - (height - 2 * pad) * count / top:.1f}" '
            f'width="{step - 1:.1f}" height="{(height - 2 * pad) * count / top:.1f}" fill="{colours[label]}">'
            f"<title>{index / BINS:.2f}–{(index + 1) / BINS:.2f}: {count:,}</title></rect>"
            for index, count in enumerate(bins.tolist())
        )
        ticks = "".join(
            f'<text x="{pad + tick * (width - 2 * pad):.1f}" y="{height - 10}" text-anchor="middle">{tick:.1f}</text>'
            for tick in np.linspace(0, 1, 6)
        )
        charts.append(
            f"<h3>{html.escape(label)}</h3>"
            f'<svg width="{width}" height="{height}" font-size="11" role="img">'
            f'{bars}{ticks}<text x="{pad}" y="14">most: {top:,} rows</text></svg>'
        )
    return "".join(charts) or "<p>No scored rows.</p>"


def _phrase_charts(tally: Tally, labels: list[str]) -> str:
    """Per label, the phrases whose summed weight pushes hardest toward it and against it."""
    charts = []
    for label in labels:
        entries = list(tally.phrases.get(label, {}).values())
        toward = sorted((e for e in entries if e[1] > 0), key=lambda e: -e[1])[:TOP_PHRASES]
        against = sorted((e for e in entries if e[1] < 0), key=lambda e: e[1])[:TOP_PHRASES]
        charts.append(
            f"<h3>{html.escape(label)}: toward it</h3>"
            + _bar_chart([(e[0], e[1]) for e in toward], _rgb(FOR), signed=True)
            + f"<h3>{html.escape(label)}: against it</h3>"
            + _bar_chart([(e[0], e[1]) for e in against], _rgb(AGAINST), signed=True)
        )
    note = "<p>Each bar: the sum of a phrase's weights (shares of the label's logit margin) over the rows.</p>"
    return note + "".join(charts)


def _error_table(tally: Tally) -> str:
    if not tally.errors:
        return "<p>Every row was scored.</p>"
    rows = "".join(
        f'<tr><td>{html.escape(reason)}</td><td class="n">{count:,}</td></tr>'
        for reason, count in tally.errors.most_common()
    )
    return f"<table><tr><th>reason</th><th>rows</th></tr>{rows}</table>"


def _sample(tally: Tally) -> str:
    legend = (
        f'<p><mark style="background:{_rgb(FOR, 0.6)}">toward the label</mark> '
        f'<mark style="background:{_rgb(AGAINST, 0.6)}">against it</mark>; the stronger the colour, the heavier.</p>'
    )
    reviews = "".join(
        f'<div class="review"><div class="meta">row {row["row"]:,}: {html.escape(str(row["label"]))} '
        f"({row['score']:.2f})</div>{highlighted(row['text'] or '', row.get('evidence') or [])}</div>"
        for row in sorted(tally.sample, key=lambda row: row["row"])
    )
    return legend + (reviews or "<p>The files have no text column to sample.</p>")


def highlighted(text: str, evidence: list[dict]) -> str:
    """The review as HTML, each phrase of its evidence marked where it first stands (heaviest first, never two
    marks overlapping), in the colour of its side, as strong as its weight."""
    largest = max((abs(entry["weight"]) for entry in evidence), default=0) or 1
    marks: list[tuple[int, int, dict]] = []
    for entry in sorted(evidence, key=lambda entry: -abs(entry["weight"])):
        start = text.find(entry["phrase"])
        end = start + len(entry["phrase"])
        if start >= 0 and all(end <= a or start >= b for a, b, _ in marks):
            marks.append((start, end, entry))
    pieces, at = [], 0
    for start, end, entry in sorted(marks, key=lambda mark: mark[0]):
        colour = _rgb(FOR if entry["weight"] > 0 else AGAINST, 0.15 + 0.6 * abs(entry["weight"]) / largest)
        pieces.append(html.escape(text[at:start]))
        pieces.append(
            f'<mark style="background:{colour}" title="{entry["weight"]:+.3f}">{html.escape(text[start:end])}</mark>'
        )
        at = end
    pieces.append(html.escape(text[at:]))
    return "".join(pieces)


def _rgb(colour: tuple[int, int, int], alpha: float = 1.0) -> str:
    return f"rgba({colour[0]},{colour[1]},{colour[2]},{alpha:.2f})"


def _cut(text: str, length: int) -> str:
    return text if len(text) <= length else text[: length - 1] + "…"


def build_parser() -> argparse.ArgumentParser:
    """The `report` subcommand's arguments."""
    parser = argparse.ArgumentParser(
        prog="sentiment-batch report",
        description="Write one self-contained HTML page about scored files: labels, scores, the phrases that "
        "weigh most, errors, and a sample of reviews with their phrases highlighted.",
    )
    parser.add_argument("inputs", nargs="+", metavar="SCORED", help="scored CSV or Parquet files or globs")
    parser.add_argument("--output", type=Path, required=True, help="the HTML file to write")
    parser.add_argument("--by", default=None, help="a column whose values split the label counts")
    parser.add_argument("--sample", type=int, default=30, help="reviews to show (default: 30)")
    parser.add_argument("--text-column", default="text", help="column holding the review text (default: text)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    return parser


def main(argv: list[str]) -> int:
    """Run `sentiment-batch report` with the arguments that follow `report`."""
    args = build_parser().parse_args(argv)
    if args.sample < 0:
        raise UserError(f"the sample must be at least 0 reviews, got {args.sample}")
    files = discover(args.inputs)
    check_output_path(args.output, [file.path for file in files if file.path is not None], args.overwrite)
    tally = gather(files, args.by, args.sample, args.text_column)
    if not tally.has_evidence and tally.sample:
        explain_sample(tally)
    page = render(tally, f"Sentiment report: {', '.join(Path(file.name).name for file in files)}")
    with staged_file(args.output, overwrite=args.overwrite) as handle:
        handle.write(page.encode("utf-8"))
    say(f"wrote {args.output} ({tally.rows:,} rows)")
    return 0
