"""Helpers shared by the tests: review texts, the tiny aclImdb layout, and small file utilities."""

from __future__ import annotations

from pathlib import Path

SAMPLE_PARQUET = Path(__file__).resolve().parents[1] / "sample_data" / "reviews.parquet"
# The real IMDb training data, in the `shared/` folder beside the checkout (CI lays it out the same way).
REAL_TARBALL = Path(__file__).resolve().parents[2] / "shared" / "imdb" / "aclImdb_train.tar.gz"

REVIEWS = [
    ("A wonderful, moving film.<br /><br />The acting is superb and I loved every minute!", 1),
    ("Great story, great cast: a delight from start to finish.", 1),
    ("One of the best movies I have seen this year, brilliant and funny.", 1),
    ("Beautifully shot; the score is excellent. Highly recommended!!", 1),
    ("Terrible. The plot makes no sense and the acting is wooden.", 0),
    ("A boring, awful mess; I want my two hours back.", 0),
    ("Worst film of the decade: dull script, bad jokes, no ending.", 0),
    ("I fell asleep. Poorly written and badly directed.<br />Avoid.", 0),
]

VARIED_TEXTS = [
    "",
    "great",
    "Ein großartiger Film, wirklich sehr gut! Très bien, magnifique.",
    "😀😀 loved it 🎬 <b>bold</b> &amp; <br /><br />line breaks",
    "   \t\n  ",
    " ".join(["awful boring terrible great wonderful"] * 400),
]


def sample_reviews(count: int = 1000) -> list[str | None]:
    """`count` review cells cycled from sample_data/reviews.parquet: templated reviews and its edge cases (a null,
    empty and blank texts, markup, emoji, other languages, a long review)."""
    import pyarrow.parquet as pq

    texts = pq.read_table(SAMPLE_PARQUET, columns=["text"]).column("text").to_pylist()
    return [texts[row % len(texts)] for row in range(count)]


# A tiny aclImdb: (split, label) → [(review id, rating, movie id)]. Ids 10/11 check numeric (not text) order;
# movies tt0000001 and tt0000002 have reviews in both classes.
TINY_ACLIMDB = {
    ("train", "pos"): [(0, 10, "tt0000001"), (1, 8, "tt0000001"), (2, 7, "tt0000002"), (10, 9, "tt0000003")],
    ("train", "neg"): [(0, 1, "tt0000002"), (1, 4, "tt0000004"), (3, 2, "tt0000004"), (11, 3, "tt0000001")],
    ("test", "pos"): [(0, 9, "tt0000009"), (1, 7, "tt0000009")],
    ("test", "neg"): [(0, 2, "tt0000008")],
    ("train", "unsup"): [(0, 0, "tt0000005"), (2, 0, "tt0000006"), (1, 0, "tt0000005")],
}


def tiny_review_text(split: str, label: str, review_id: int) -> str:
    """The text of a TINY_ACLIMDB review: a conftest review of the right class, tagged so each text is unique."""
    texts = [text for text, positive in REVIEWS if positive == (label == "pos")] or [text for text, _ in REVIEWS]
    return f"{texts[review_id % len(texts)]} [{split}/{label}/{review_id}]"


def save_self_contained(model_path: Path, destination: Path) -> None:
    """A bundle's model as one ONNX file holding every weight: as bundles were before model.onnx.data, and as the
    exporter has it before moving the weights out."""
    import onnx

    onnx.save(onnx.load(str(model_path)), str(destination))


# `sentiment-batch` as a real process that pauses at one point of a run, announcing it by writing its PID to the
# file given, so a test can act (send a signal, start a rival run) at a known moment instead of by timing luck:
#   write    after the first scored batch is in the temporary output file, until a signal arrives;
#   model    after the temporary output file exists, before the model loads, until a signal arrives;
#   publish  once the output is complete, until $RUNS runs have announced themselves in the same folder.
# Usage: python -c PAUSING_CLI POINT ANNOUNCE_FILE score ARGS...
PAUSING_CLI = """
import os, sys, time
from pathlib import Path
from sentiment_batch import cli, publish, scorer, writers

point, announce = sys.argv[1], Path(sys.argv[2])


def pause_then(original, until=lambda: False):
    def paused(*args, **kwargs):
        if point == "write":
            original(*args, **kwargs)
        announce.write_text(str(os.getpid()))
        while not until():
            time.sleep(0.01)  # a signal interrupts the sleep, and its handler raises
        if point != "write":
            return original(*args, **kwargs)
    return paused


if point == "write":
    writers.OutputWriter.write = pause_then(writers.OutputWriter.write)
elif point == "model":
    scorer._session = pause_then(scorer._session)
elif point == "publish":
    runs = int(os.environ["RUNS"])
    publish._publish_file = pause_then(publish._publish_file, lambda: len(list(announce.parent.iterdir())) >= runs)
sys.exit(cli.main(sys.argv[3:]))
"""


def wait_for_file(path: Path, process, timeout: float = 120.0) -> None:
    """Wait until `path` exists (the process announced a pause); fail if the process ends first."""
    import time

    deadline = time.monotonic() + timeout
    while not path.exists():
        if process.poll() is not None:
            raise AssertionError(f"the run ended with {process.returncode} before pausing: {process.stderr.read()}")
        if time.monotonic() > deadline:
            process.kill()
            raise AssertionError(f"the run did not pause within {timeout} s")
        time.sleep(0.01)


def probabilities(scorer, texts):
    """Class probabilities (float32 `[len(texts), num_labels]`) of texts that must all be scorable, through
    `Scorer.score_values`."""
    import numpy as np

    columns, names = scorer.score_values(texts), scorer.output_columns()
    assert columns[names.error].null_count == len(columns[names.error]), columns[names.error]
    return np.column_stack([columns[name].to_numpy() for name in names.probabilities.values()])


SAMPLE_PARQUET = Path(__file__).resolve().parents[1] / "sample_data" / "reviews.parquet"


def etl_table(rows: int = 1000):
    """`rows` rows built from sample_data's reviews, with the column types ETL files hold: ints, floats, booleans,
    nulls, text that looks like a date or a number, and text holding the delimiter, quotes and a line break."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    texts = pq.read_table(SAMPLE_PARQUET).column("text").to_pylist()
    return pa.table(
        {
            "id": pa.array(range(rows), pa.int64()),
            "text": [texts[row % len(texts)] for row in range(rows)],
            "stars": pa.array([row % 5 + 1 for row in range(rows)], pa.int32()),
            "price": [None if row % 7 == 0 else row / 4 for row in range(rows)],
            "verified": [row % 3 == 0 for row in range(rows)],
            "day": [f"2026-01-{row % 28 + 1:02d}" for row in range(rows)],
            "note": [f'n{row}, "quoted"\nnext line; 😀' if row % 10 == 0 else f"0{row}" for row in range(rows)],
        }
    )
