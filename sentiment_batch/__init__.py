"""sentiment-batch: score reviews with an exported ONNX bundle (onnxruntime, tokenizers, pyarrow; no torch).

`sentiment_batch.train` and `sentiment_batch.export` (the training extra) make the model and its bundles.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

__version__ = "0.3.0"
__all__ = ["Scorer", "load_bundle", "__version__"]

if TYPE_CHECKING:
    from .bundle import load_bundle
    from .scorer import Scorer


def __getattr__(name: str):
    # Lazy, so `import sentiment_batch` stays cheap for the CLI dispatcher and the training side.
    if name == "Scorer":
        from .scorer import Scorer

        return Scorer
    if name == "load_bundle":
        from .bundle import load_bundle

        return load_bundle
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
