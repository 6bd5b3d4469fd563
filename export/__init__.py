"""Export of a trained model folder to a parity-checked ONNX bundle, and `verify` of a bundle against its model.

`export_bundle(model_dir, output_dir, ...)` is the Python entry point of `sentiment-batch export`,
`upgrade_bundle(bundle_dir, output_dir)` that of `sentiment-batch upgrade`.
"""

from .exporter import export_bundle
from .upgrade import upgrade_bundle

__all__ = ["export_bundle", "upgrade_bundle"]
