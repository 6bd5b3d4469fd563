"""Helpers shared by the tests: review texts, the tiny aclImdb layout, and small file utilities."""

from __future__ import annotations

from pathlib import Path

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
