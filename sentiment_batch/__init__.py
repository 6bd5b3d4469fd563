"""sentiment-batch runtime: score reviews with an exported ONNX bundle (onnxruntime, tokenizers, pandas; no torch)."""

from __future__ import annotations

from typing import TYPE_CHECKING

__version__ = "0.1.0"
__all__ = ["Scorer", "__version__"]

if TYPE_CHECKING:
    from .scorer import Scorer


def __getattr__(name: str):
    # Lazy, so `import sentiment_batch` stays cheap for the CLI dispatcher and the training side.
    if name == "Scorer":
        from .scorer import Scorer

        return Scorer
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
