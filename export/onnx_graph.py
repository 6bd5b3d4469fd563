"""The exported graph: flat token ids and offsets in, logits and probabilities out."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import onnx
import torch
from onnx.external_data_helper import set_external_data
from torch import nn

from sentiment_batch.bundle import (
    DATA_FILE,
    EXPLAIN_OUTPUT_NAMES,
    INPUT_NAMES,
    MODEL_FILE,
    OUTPUT_NAMES,
    TOKENIZER_FILE,
    Manifest,
    graph_metadata,
    sha256_file,
)
from sentiment_batch.errors import UserError

from .scoring_module import ExplainModule, ScoringModule

logger = logging.getLogger(__name__)

DEFAULT_OPSET = 18
PROTOBUF_LIMIT_BYTES = 2**31 - 2**20  # 2 GiB, less room for the graph itself
# onnxruntime maps external weights that start on a page boundary instead of copying them.
PAGE_BYTES = 4096
# Tracing example: three reviews, the middle one empty, so no dimension is specialised to 0 or 1.
EXAMPLE_IDS = [2, 3, 4, 5, 6, 7, 8]
EXAMPLE_OFFSETS = [0, 3, 3]


def max_writable_opset() -> int:
    """Newest default-domain opset the installed onnx package knows."""
    return onnx.defs.onnx_opset_version()


def check_opset_writable(opset: int) -> None:
    """Refuse an opset the installed onnx cannot write, before any work is done.

    Args:
        opset (`int`): the requested ONNX opset.
    """
    if not 1 <= opset <= max_writable_opset():
        raise UserError(f"opset {opset} cannot be written by onnx {onnx.__version__} (newest: {max_writable_opset()})")


def written_opset(path: Path) -> int:
    """Default-domain opset recorded in an ONNX file.

    Args:
        path (`Path`): the ONNX file.
    """
    model = onnx.load(str(path), load_external_data=False)
    return next(entry.version for entry in model.opset_import if entry.domain in ("", "ai.onnx"))


def check_fits_one_file(model: nn.Module) -> None:
    """Refuse weights past protobuf's 2 GiB limit: the exporter writes one self-contained file first.

    Args:
        model (`nn.Module`): the model to export.
    """
    weight_bytes = sum(tensor.numel() * tensor.element_size() for tensor in model.state_dict().values())
    if weight_bytes >= PROTOBUF_LIMIT_BYTES:
        raise UserError(
            f"weights of {weight_bytes / 2**30:.1f} GiB exceed the 2 GiB limit of a single ONNX file; "
            "shrink num_buckets or embedding_dim"
        )


def export_onnx(model: nn.Module, path: Path, opset: int, explain: bool = False) -> None:
    """Export the scoring graph (or the explain graph) with the dynamo exporter into one self-contained file.

    Args:
        model (`SentimentBagForSequenceClassification`): the trained model, in eval mode.
        path (`Path`): where the graph goes.
        opset (`int`): the ONNX opset to write.
        explain (`bool`, *optional*, defaults to False): the explain graph (`ExplainModule`, whose outputs add
            `evidence` and `rows`) instead of the scoring graph.
    """
    check_fits_one_file(model)
    module, output_names = (ExplainModule, EXPLAIN_OUTPUT_NAMES) if explain else (ScoringModule, OUTPUT_NAMES)
    example = (torch.tensor(EXAMPLE_IDS, dtype=torch.long), torch.tensor(EXAMPLE_OFFSETS, dtype=torch.long))
    dynamic_shapes = {"input_ids": {0: torch.export.Dim("tokens")}, "offsets": {0: torch.export.Dim("batch")}}
    logger.info("exporting %s to ONNX (opset %d) with the dynamo exporter", path.name, opset)
    with torch.no_grad(), warnings.catch_warnings():
        # torch.export's own use of a deprecated pytree API; nothing the caller can act on.
        warnings.filterwarnings("ignore", message=".*LeafSpec.*", category=FutureWarning)
        torch.onnx.export(
            module(model).eval(),
            example,
            str(path),
            dynamo=True,
            opset_version=opset,
            input_names=list(INPUT_NAMES),
            output_names=list(output_names),
            dynamic_shapes=dynamic_shapes,
            external_data=False,
            verbose=False,
        )
    # The exporter silently falls back to its own opset when it cannot convert down to the requested one.
    actual = written_opset(path)
    if actual != opset:
        raise UserError(
            f"opset {opset} cannot be written by the torch {torch.__version__} exporter (it wrote {actual})"
        )
    onnx.checker.check_model(str(path), full_check=True)


def move_weights_to_data_file(model_path: Path, *other_graphs: Path) -> Path | None:
    """Move every initializer of a page or more into the bundle's weights file, each at a page-aligned offset.

    onnxruntime then maps the weights from that file instead of parsing and copying them out of the
    protobuf, so a session opens in a fraction of the time. The other graphs (the explain graph) share the file:
    an initializer whose bytes are already in it points there, so the weights are stored and read once. Returns
    the data file, or None when no initializer is that large (the graphs stay self-contained).

    Args:
        model_path (`Path`): a self-contained ONNX file, rewritten to reference the data file.
        *other_graphs (`Path`): more self-contained ONNX files beside it, rewritten likewise.
    """
    graphs = [(path, onnx.load(str(path))) for path in (model_path, *other_graphs)]
    if not any(_large_initializers(model) for _, model in graphs):
        return None
    data_path = model_path.with_name(DATA_FILE)
    written: dict[bytes, tuple[int, int]] = {}  # tensor bytes → (offset, length) in the data file
    with data_path.open("wb") as data:
        for _, model in graphs:
            for tensor in _large_initializers(model):
                if tensor.raw_data not in written:
                    offset = -(-data.tell() // PAGE_BYTES) * PAGE_BYTES
                    data.write(bytes(offset - data.tell()))
                    data.write(tensor.raw_data)
                    written[tensor.raw_data] = (offset, len(tensor.raw_data))
                set_external_data(tensor, data_path.name, *written[tensor.raw_data])
                tensor.ClearField("raw_data")
    for path, model in graphs:
        onnx.save(model, str(path))
        onnx.checker.check_model(str(path), full_check=True)
    return data_path


def _large_initializers(model: onnx.ModelProto) -> list[onnx.TensorProto]:
    return [tensor for tensor in model.graph.initializer if len(tensor.raw_data) >= PAGE_BYTES]


def write_graph_metadata(model_path: Path, metadata: dict[str, str]) -> None:
    """Set `metadata_props` entries of an ONNX file in place, leaving its graph and external weights untouched.

    Args:
        model_path (`Path`): the ONNX file.
        metadata (`dict[str, str]`): entries to set (an existing key is replaced).
    """
    model = onnx.load(str(model_path), load_external_data=False)
    kept = [entry for entry in model.metadata_props if entry.key not in metadata]
    del model.metadata_props[:]
    model.metadata_props.extend(kept)
    for key, value in metadata.items():
        model.metadata_props.add(key=key, value=value)
    onnx.save(model, str(model_path))


def seal_bundle(
    folder: Path,
    labels: tuple[str, ...],
    info: dict,
    *,
    vocab_size: int,
    quantization: dict | None = None,
    model_file: str = MODEL_FILE,
    data_file: str | None = None,
    tokenizer_file: str = TOKENIZER_FILE,
    explain_file: str | None = None,
) -> Manifest:
    """Tie a bundle folder's files together and write its `bundle.json`; returns the manifest.

    Each graph's metadata names the labels, the tokenizer's hash and the weights file with its hash, and the
    manifest hashes every file, so no file of the bundle can be swapped alone.

    Args:
        folder (`Path`): the bundle folder, its graph, weights and tokenizer already in place.
        labels (`tuple[str, ...]`): class names in logit order.
        info (`dict`): the manifest's other keys (how the bundle was made), which the runtime never reads.
        vocab_size (`int`): rows of the graph's word table.
        quantization (`dict`, *optional*): the float16 check's report (`quantize.quantize_in_place`); the table is
            float16 when its `kept` is true. None when float16 storage was not tried.
        model_file (`str`, *optional*, defaults to `"model.onnx"`): the graph's file name.
        data_file (`str`, *optional*): the weights' file name; None when the graph holds its weights.
        tokenizer_file (`str`, *optional*, defaults to `"tokenizer.json"`): the tokenizer's file name.
        explain_file (`str`, *optional*): the explain graph's file name; None when the bundle has none.
    """
    tokenizer_sha256 = sha256_file(folder / tokenizer_file)
    data_sha256 = sha256_file(folder / data_file) if data_file is not None else None
    metadata = graph_metadata(labels, tokenizer_sha256, data_file, data_sha256)
    for graph in (model_file, explain_file):
        if graph is not None:
            write_graph_metadata(folder / graph, metadata)
    manifest = Manifest(
        labels=labels,
        model_sha256=sha256_file(folder / model_file),
        tokenizer_sha256=tokenizer_sha256,
        data_sha256=data_sha256,
        model_file=model_file,
        data_file=data_file,
        tokenizer_file=tokenizer_file,
        explain_file=explain_file,
        explain_sha256=sha256_file(folder / explain_file) if explain_file is not None else None,
        vocab_size=vocab_size,
        quantized=bool(quantization and quantization.get("kept")),
        quantization=quantization,
        info=info,
    )
    manifest.write(folder)
    return manifest
