"""`sentiment-batch export`: a trained model folder to a parity-checked ONNX bundle."""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import logging
import shutil
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import onnx
import onnxruntime
import torch
import transformers
from tokenizers import Tokenizer
from transformers import AutoModelForSequenceClassification

from sentiment_batch.bundle import MODEL_FILE, TOKENIZER_FILE, Manifest, open_session
from sentiment_batch.errors import UserError
from sentiment_batch.preprocessing import load_tokenizer
from sentiment_batch.publish import check_output, staged_folder
from sentiment_batch.train import SentimentBagConfig

from .onnx_graph import (
    DEFAULT_OPSET,
    check_opset_writable,
    export_onnx,
    move_weights_to_data_file,
    seal_bundle,
)
from .parity import MAX_LOGIT_DIFF, builtin_texts, check_parity, read_texts
from .quantize import HALF_MAX_LOGIT_DIFF, HALF_MIN_LABEL_AGREEMENT, quantize_in_place

logger = logging.getLogger(__name__)

CONFIG_FILE = "config.json"
METRICS_FILE = "all_results.json"
WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin")
KNOWN_MODEL_TYPES = (SentimentBagConfig.model_type,)
PREPROCESSING = {
    "tokenizer": TOKENIZER_FILE,
    "add_special_tokens": False,
    "input_form": "flat input_ids + offsets (EmbeddingBag)",
}


def read_model_config(model_dir: Path) -> dict:
    """The folder's config.json, after checking the folder holds a trained model the exporter knows.

    Args:
        model_dir (`Path`): the Hugging Face model folder.
    """
    config_path = model_dir / CONFIG_FILE
    if not config_path.is_file():
        raise UserError(f"{model_dir} is not a trained model folder (no {CONFIG_FILE})")
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise UserError(f"{config_path} is not valid JSON: {error}") from error
    model_type = config.get("model_type")
    if model_type not in KNOWN_MODEL_TYPES:
        raise UserError(f"model type {model_type!r} in {model_dir} cannot be exported; known: {KNOWN_MODEL_TYPES}")
    if not any((model_dir / name).is_file() for name in WEIGHT_FILES):
        raise UserError(f"{model_dir} has no weights ({', '.join(WEIGHT_FILES)})")
    if not (model_dir / TOKENIZER_FILE).is_file():
        raise UserError(f"{model_dir} has no {TOKENIZER_FILE}")
    return config


def load_model(model_dir: Path) -> torch.nn.Module:
    """The trained model in eval mode (importing `sentiment_batch.train` registered its Auto classes).

    Args:
        model_dir (`Path`): the Hugging Face model folder.
    """
    read_model_config(model_dir)
    return AutoModelForSequenceClassification.from_pretrained(model_dir).eval()


def check_output_dir(output_dir: Path, model_dir: Path, overwrite: bool) -> None:
    """Refuse to clobber an existing folder without `overwrite`, or ever the model folder itself.

    Args:
        output_dir (`Path`): the bundle folder to write.
        model_dir (`Path`): the model folder being exported.
        overwrite (`bool`): whether an existing bundle folder may be replaced.
    """
    if output_dir.resolve() == model_dir.resolve():
        raise UserError("the bundle folder must differ from the model folder")
    check_output(output_dir, overwrite=overwrite, folder=True)


def library_versions() -> dict:
    """Versions of everything that shaped the bundle, for reproducing it."""
    return {
        "torch": torch.__version__,
        "onnx": onnx.__version__,
        "onnxruntime": onnxruntime.__version__,
        "transformers": transformers.__version__,
        "sentiment_batch": importlib.metadata.version("sentiment-batch"),
    }


def source_metrics(model_dir: Path) -> dict:
    """The training run's all_results.json, or {} when the folder has none.

    Args:
        model_dir (`Path`): the Hugging Face model folder.
    """
    path = model_dir / METRICS_FILE
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def index_ordered_labels(model: torch.nn.Module) -> list[str]:
    """Label names in logit order.

    Args:
        model (`SentimentBagForSequenceClassification`): the model.
    """
    id2label = model.config.id2label
    return [id2label[index] for index in range(model.config.num_labels)]


def export_checked_graph(
    model: torch.nn.Module, tokenizer: Tokenizer, texts: list[str], model_path: Path, opset: int
) -> tuple[dict, float]:
    """Write the ONNX graph and return its parity report and the export time; raise when parity fails.

    Args:
        model (`SentimentBagForSequenceClassification`): the trained model, in eval mode.
        tokenizer (`Tokenizer`): its tokenizer.
        texts (`list[str]`): the parity reviews.
        model_path (`Path`): where model.onnx goes.
        opset (`int`): ONNX opset of the graph.
    """
    started = time.perf_counter()
    export_onnx(model, model_path, opset)
    export_seconds = time.perf_counter() - started
    parity = check_parity(model, open_session(model_path), tokenizer, texts)
    if not parity["passed"]:
        raise UserError(
            f"ONNX disagrees with PyTorch (max |Δlogit| {parity['max_abs_logit_diff']:.3g}, allowed "
            f"{parity['max_logit_diff_allowed']:g}; label agreement {parity['label_agreement']:.4f}); "
            "bundle not written"
        )
    return parity, export_seconds


def export_bundle(
    model_dir: str | Path,
    output_dir: str | Path,
    *,
    opset: int = DEFAULT_OPSET,
    texts: Sequence[str] | None = None,
    overwrite: bool = False,
    quantize: bool = False,
) -> Manifest:
    """Export a trained model folder to a bundle and return its manifest.

    The bundle holds model.onnx (the graph), model.onnx.data (its weights, memory-mapped by onnxruntime),
    tokenizer.json and bundle.json.

    Nothing is written at `output_dir` unless every check passes (parity included).

    Args:
        model_dir (`str | Path`): the trained Hugging Face model folder.
        output_dir (`str | Path`): the bundle folder to create.
        opset (`int`, *optional*, defaults to 18): ONNX opset of the graph.
        texts (`Sequence[str]`, *optional*): parity reviews; defaults to a built-in varied set.
        overwrite (`bool`, *optional*, defaults to False): replace an existing `output_dir`.
        quantize (`bool`, *optional*, defaults to False): try a float16 embedding table, kept only within the
            bounds of `sentiment_batch.export.quantize`.
    """
    model_dir, output_dir = Path(model_dir), Path(output_dir)
    check_opset_writable(opset)
    check_output_dir(output_dir, model_dir, overwrite)
    model = load_model(model_dir)
    tokenizer = load_tokenizer(model_dir)
    texts = builtin_texts() if texts is None else list(texts)
    if not texts:
        raise UserError("no parity texts given; pass at least one review")
    with staged_folder(output_dir, overwrite=overwrite) as staging:
        model_path = staging / MODEL_FILE
        parity, export_seconds = export_checked_graph(model, tokenizer, texts, model_path, opset)
        quantization = quantize_in_place(model_path, tokenizer, texts) if quantize else None
        data_path = move_weights_to_data_file(model_path)
        shutil.copyfile(model_dir / TOKENIZER_FILE, staging / TOKENIZER_FILE)
        info = {
            "preprocessing": PREPROCESSING,
            "opset": opset,
            "versions": library_versions(),
            "parity": parity,
            "source": {"model_dir": str(model_dir.resolve()), "metrics": source_metrics(model_dir)},
            "quantized": bool(quantization and quantization["kept"]),
            "export_seconds": round(export_seconds, 3),
            **({"quantization": quantization} if quantization is not None else {}),
        }
        labels = tuple(index_ordered_labels(model))
        manifest = seal_bundle(staging, labels, info, data_file=data_path.name if data_path else None)
    logger.info("bundle written to %s", output_dir)
    return manifest


def build_parser() -> argparse.ArgumentParser:
    """Options of `sentiment-batch export`."""
    parser = argparse.ArgumentParser(
        prog="sentiment-batch export",
        description="Export a trained model folder to a parity-checked ONNX bundle "
        f"(refused when any label differs from PyTorch or max |Δlogit| > {MAX_LOGIT_DIFF:g}).",
    )
    parser.add_argument("--model", required=True, type=Path, help="trained Hugging Face model folder")
    parser.add_argument("--output", "--bundle", required=True, type=Path, help="bundle folder to create")
    parser.add_argument("--opset", type=int, default=DEFAULT_OPSET, help="ONNX opset (default: %(default)s)")
    parser.add_argument(
        "--texts", type=Path, help="parity reviews, one per line (default: a built-in varied set, edge cases included)"
    )
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output folder")
    parser.add_argument(
        "--quantize",
        action="store_true",
        help="float16 embedding table (half the file); kept only if labels agree with the float32 model on "
        f"≥ {HALF_MIN_LABEL_AGREEMENT * 100:g}%% of the parity reviews and max |Δlogit| ≤ {HALF_MAX_LOGIT_DIFF:g}, "
        "otherwise the float model is kept",
    )
    return parser


def summary_lines(manifest: Manifest, output_dir: Path) -> list[str]:
    """What the CLI tells the user about a written bundle.

    Args:
        manifest (`Manifest`): the bundle's manifest.
        output_dir (`Path`): the bundle folder.
    """
    info = manifest.info
    parity = info["parity"]
    lines = [
        f"bundle: {output_dir} (opset {info['opset']}, export {info['export_seconds']:.1f}s)",
        f"parity: {parity['texts']} reviews at batch sizes {parity['batch_sizes']}, "
        f"max |Δlogit| {parity['max_abs_logit_diff']:.3g}, label agreement {parity['label_agreement']:.4f}",
    ]
    quantization = info.get("quantization")
    if quantization:
        verdict = "kept float16" if quantization["kept"] else "outside bounds, kept float32"
        lines.append(
            f"quantize: {quantization['float_bytes']:,} → {quantization['quantized_bytes']:,} bytes, "
            f"label agreement {quantization['label_agreement']:.4f}, "
            f"max |Δlogit| {quantization['max_abs_logit_diff']:.3g} vs float: {verdict}"
        )
    return lines


def quiet_exporter_logs() -> None:
    """Keep the exporter's known-harmless notices (no torchvision, graph optimizer details) out of the CLI's log."""
    for name in ("torch.onnx._internal.exporter._registration", "onnx_ir", "onnxscript"):
        logging.getLogger(name).setLevel(logging.ERROR)


def main(argv: list[str] | None = None) -> int:
    """Run `sentiment-batch export`.

    Args:
        argv (`list[str]`, *optional*): the command's arguments; defaults to `sys.argv[2:]`.
    """
    args = build_parser().parse_args(sys.argv[2:] if argv is None else argv)
    quiet_exporter_logs()
    if args.texts is not None and not args.texts.is_file():
        raise UserError(f"--texts {args.texts} is not a file")
    texts = read_texts(args.texts) if args.texts is not None else None
    manifest = export_bundle(
        args.model, args.output, opset=args.opset, texts=texts, overwrite=args.overwrite, quantize=args.quantize
    )
    print("\n".join(summary_lines(manifest, args.output)))
    return 0
