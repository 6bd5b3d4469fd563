"""Export of a trained model folder to a parity-checked ONNX bundle, and `verify` of a bundle against its model.

`export_bundle(model_dir, output_dir, ...)` is the Python entry point of `sentiment-batch export`.
"""

from .exporter import export_bundle

__all__ = ["export_bundle"]
