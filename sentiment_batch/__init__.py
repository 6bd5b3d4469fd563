"""sentiment-batch runtime: score reviews with an exported ONNX bundle (onnxruntime, tokenizers, pandas; no torch)."""

__version__ = "0.1.0"
