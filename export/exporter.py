"""`sentiment-batch export`: a trained model folder to a parity-checked ONNX bundle."""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import logging
import shutil
import time
from collections.abc import Sequence
from pathlib import Path

import onnx
import onnxruntime
import torch
import transformers
from tokenizers import Tokenizer

from sentiment_batch.bundle import CARD_FILE, EXPLAIN_FILE, MODEL_FILE, TOKENIZER_FILE, Manifest, open_session
from sentiment_batch.errors import UserError, shown
from sentiment_batch.preprocessing import load_tokenizer
from sentiment_batch.publish import check_apart, check_output, staged_folder
from sentiment_batch.train.data_settings import DataSettings
from sentiment_batch.train.initialization import RECORDED_SETTINGS, recorded_settings
from sentiment_batch.train.model_folder import load_model

from .onnx_graph import (
    DEFAULT_OPSET,
    check_opset_writable,
    export_onnx,
    move_weights_to_data_file,
    seal_bundle,
)
from .parity import MAX_LOGIT_DIFF, builtin_texts, check_explain_parity, check_parity
from .quantize import (
    HALF_MAX_LOGIT_DIFF,
    HALF_MIN_LABEL_AGREEMENT,
    MIN_FLOAT16_SAMPLE,
    compare_sessions,
    quantize_in_place,
    store_tables_in_float16,
)
from .sample import dataset_texts, read_texts

logger = logging.getLogger(__name__)

METRICS_FILE = "all_results.json"
PREPROCESSING = {
    "tokenizer": TOKENIZER_FILE,
    "add_special_tokens": False,
    "input_form": "flat input_ids + offsets (EmbeddingBag)",
}


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


def export_explain_graph(
    model: torch.nn.Module, tokenizer: Tokenizer, texts: list[str], explain_path: Path, model_path: Path, opset: int
) -> dict:
    """Write the explain graph and return its parity report; raise when it disagrees with the autograd reference
    or its logits differ from the scoring graph's in any bit.

    Args:
        model (`SentimentBagForSequenceClassification`): the trained model, in eval mode.
        tokenizer (`Tokenizer`): its tokenizer.
        texts (`list[str]`): the parity reviews.
        explain_path (`Path`): where explain.onnx goes.
        model_path (`Path`): the scoring graph, already exported.
        opset (`int`): ONNX opset of the graph.
    """
    export_onnx(model, explain_path, opset, explain=True)
    parity = check_explain_parity(model, open_session(explain_path), open_session(model_path), tokenizer, texts)
    if not parity["passed"]:
        raise UserError(
            f"the explain graph disagrees with PyTorch (max |Δevidence| {parity['max_abs_evidence_diff']:.3g}, "
            f"allowed {parity['max_evidence_diff_allowed']:g}; logits identical to the scoring graph's: "
            f"{parity['logits_identical']}); bundle not written"
        )
    return parity


def store_explain_in_float16(explain_path: Path, model_path: Path, tokenizer: Tokenizer, texts: list[str]) -> None:
    """Store the explain graph's table in float16 as the scoring graph's is, and check their logits stay equal.

    Args:
        explain_path (`Path`): the explain graph, rewritten in place.
        model_path (`Path`): the scoring graph, its table already in float16.
        tokenizer (`Tokenizer`): the model's tokenizer.
        texts (`list[str]`): the reviews to compare on.
    """
    store_tables_in_float16(explain_path, explain_path)
    if not compare_sessions(model_path, explain_path, tokenizer, texts).within(0.0, 1.0):
        raise UserError("the float16 explain graph's logits differ from the scoring graph's; bundle not written")


def export_bundle(
    model_dir: str | Path,
    output_dir: str | Path,
    *,
    opset: int = DEFAULT_OPSET,
    texts: Sequence[str] | None = None,
    overwrite: bool = False,
    float16: bool = False,
) -> Manifest:
    """Export a trained model folder to a bundle and return its manifest.

    The bundle holds model.onnx (the graph), model.onnx.data (its weights), tokenizer.json and bundle.json.
    Nothing is written at `output_dir` unless every check passes (parity included).

    Args:
        model_dir (`str | Path`): the trained Hugging Face model folder.
        output_dir (`str | Path`): the bundle folder to create.
        opset (`int`, *optional*, defaults to 18): ONNX opset of the graph.
        texts (`Sequence[str]`, *optional*): real reviews; PyTorch parity is checked on them and on a built-in
            set of edge cases, and with `float16` they are the sample its agreement is measured on.
        overwrite (`bool`, *optional*, defaults to False): replace an existing `output_dir`.
        float16 (`bool`, *optional*, defaults to False): store the embedding table in float16 (half the file),
            kept only within the bounds of `sentiment_batch.export.quantize` on at least 1,000 `texts`.
    """
    model_dir, output_dir = Path(model_dir), Path(output_dir)
    sample = [] if texts is None else list(texts)
    if float16 and len(sample) < MIN_FLOAT16_SAMPLE:
        raise UserError(
            f"float16 storage is checked against float32 on at least {MIN_FLOAT16_SAMPLE:,} real reviews; "
            f"{len(sample):,} given"
        )
    check_opset_writable(opset)
    check_apart(output_dir, [model_dir])
    check_output(output_dir, overwrite=overwrite, folder=True)
    model = load_model(model_dir)
    tokenizer = load_tokenizer(model_dir, vocab_size=model.config.vocab_size)
    with staged_folder(output_dir, overwrite=overwrite) as staging:
        model_path = staging / MODEL_FILE
        parity_texts = builtin_texts() + sample
        parity, export_seconds = export_checked_graph(model, tokenizer, parity_texts, model_path, opset)
        explain_path = staging / EXPLAIN_FILE
        explain_parity = export_explain_graph(model, tokenizer, parity_texts, explain_path, model_path, opset)
        half = quantize_in_place(model_path, tokenizer, sample) if float16 else None
        if half and half["kept"]:
            store_explain_in_float16(explain_path, model_path, tokenizer, parity_texts)
        data_path = move_weights_to_data_file(model_path, explain_path)
        shutil.copyfile(model_dir / TOKENIZER_FILE, staging / TOKENIZER_FILE)
        if (model_dir / CARD_FILE).is_file():
            shutil.copyfile(model_dir / CARD_FILE, staging / CARD_FILE)
        info = {
            "preprocessing": PREPROCESSING,
            # What a model started from this bundle needs besides its table and blocks (`train --init-from`).
            RECORDED_SETTINGS: recorded_settings(model.config),
            "opset": opset,
            "versions": library_versions(),
            "parity": parity,
            "explain_parity": explain_parity,
            # The folder's name only: a bundle records no path of the machine that built it.
            "source": {"model_dir": model_dir.resolve().name, "metrics": source_metrics(model_dir)},
            "export_seconds": round(export_seconds, 3),
        }
        labels = tuple(index_ordered_labels(model))
        seal_bundle(
            staging,
            labels,
            info,
            languages=tuple(model.config.languages),
            vocab_size=model.config.vocab_size,
            quantization=half,
            data_file=data_path.name if data_path else None,
            explain_file=explain_path.name,
        )
        manifest = Manifest.read(staging)
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
    sample = parser.add_argument_group(
        "reviews",
        "real reviews: parity is checked on them besides built-in edge cases, and --float16 needs "
        f"at least {MIN_FLOAT16_SAMPLE:,}",
    )
    choice = sample.add_mutually_exclusive_group()
    choice.add_argument(
        "--texts", type=Path, help=".txt (one review per line), .csv or .parquet file of reviews (see --text-column)"
    )
    choice.add_argument(
        "--dataset",
        nargs="*",
        help="dataset(s) (aclImdb folder or tarball, files, Hub id): their --split, carved as the model records "
        "`train` carved it; with no value, the datasets the model was trained on",
    )
    sample.add_argument("--text-column", default="text", help="column of --texts' CSV/Parquet (default: text)")
    sample.add_argument(
        "--split", default="validation", help="split of --dataset, carved as `train` does (default: %(default)s)"
    )
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output folder")
    parser.add_argument(
        "--float16",
        action="store_true",
        help="store the embedding table in float16 (half the file); kept only if labels agree with float32 on "
        f"≥ {HALF_MIN_LABEL_AGREEMENT * 100:g}%% of the reviews and max |Δlogit| ≤ {HALF_MAX_LOGIT_DIFF:g}, "
        "otherwise the float32 table is kept",
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
        f"parity: {parity['texts']:,} reviews {parity['batch_sizes'][-1]} per batch, the first "
        f"{parity['texts_one_at_a_time']:,} one at a time, "
        f"max |Δlogit| {parity['max_abs_logit_diff']:.3g}, label agreement {parity['label_agreement']:.4f}",
    ]
    half = manifest.quantization
    if half:
        verdict = "kept float16" if half["kept"] else "outside bounds, kept float32"
        lines.append(
            f"float16: {half['float_bytes']:,} → {half['quantized_bytes']:,} bytes, on {half['rows']:,} reviews "
            f"label agreement {half['label_agreement']:.4f}, max |Δlogit| {half['max_abs_logit_diff']:.3g} vs "
            f"float32: {verdict}"
        )
    return lines


def quiet_exporter_logs() -> None:
    """Keep the exporter's known-harmless notices (no torchvision, graph optimizer details) out of the CLI's log."""
    for name in ("torch.onnx._internal.exporter._registration", "onnx_ir", "onnxscript"):
        logging.getLogger(name).setLevel(logging.ERROR)


def main(argv: list[str]) -> int:
    """Run `sentiment-batch export` with the arguments that follow `export`."""
    args = build_parser().parse_args(argv)
    quiet_exporter_logs()
    check_apart(args.output, [args.model, *([args.texts] if args.texts else []), *map(Path, args.dataset or [])])
    texts = None
    if args.texts is not None:
        texts = read_texts(args.texts, args.text_column)
        if not texts:
            raise UserError(f"{shown(args.texts)} holds no reviews")
    elif args.dataset is not None:
        texts = dataset_texts(DataSettings.of_model(args.model, args.dataset), args.split)
    manifest = export_bundle(
        args.model, args.output, opset=args.opset, texts=texts, overwrite=args.overwrite, float16=args.float16
    )
    print("\n".join(summary_lines(manifest, args.output)))
    return 0
