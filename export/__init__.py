"""Export of a trained model folder to a self-contained, parity-checked ONNX bundle."""
