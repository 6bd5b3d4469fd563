"""`sentiment-batch upgrade`: a bundle of an older format rewritten in the current one, its predictions unchanged.

The graph, weights and tokenizer are copied byte for byte; only the graph's metadata (labels, tokenizer and
weights hashes) and the manifest are added, so every probability stays identical. A format-1 bundle never
hashed its tokenizer: upgrade only bundles you trust, since the upgraded one vouches for the files as found.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import logging
import shutil
import sys
from pathlib import Path

from sentiment_batch.bundle import (
    DATA_FILE,
    FORMAT_VERSION,
    MANIFEST_FILE,
    MANIFEST_KEYS,
    MODEL_FILE,
    TOKENIZER_FILE,
    UPGRADABLE_FORMAT_VERSIONS,
    Manifest,
    check_format_version,
    check_labels,
    check_members,
    load_bundle,
    open_bundle_session,
    read_manifest_json,
    read_tokenizer_json,
    sha256_file,
)
from sentiment_batch.errors import UserError
from sentiment_batch.publish import check_apart, check_output, staged_folder

from .onnx_graph import seal_bundle

logger = logging.getLogger(__name__)

_FORMAT_1_KEYS = tuple(name for name in MANIFEST_KEYS if name != "tokenizer_sha256")  # never hashed it
_UNSET_SHA256 = "0" * 64


def read_format_1(bundle_dir: Path) -> tuple[Manifest, dict]:
    """A format-1 bundle's manifest as the current format would hold it (tokenizer hash still unset), and its
    remaining keys; the graph and weights are checked against their format-1 hashes.

    Args:
        bundle_dir (`Path`): the format-1 bundle folder.
    """
    path = bundle_dir / MANIFEST_FILE
    values = read_manifest_json(bundle_dir)
    version = values.get("format_version")
    if not (type(version) is int and version in UPGRADABLE_FORMAT_VERSIONS):
        check_format_version(path, version)  # unknown versions are refused here
        raise UserError(f"{bundle_dir} is already of format {FORMAT_VERSION}; there is nothing to upgrade")
    if "model_sha256" not in values:
        raise UserError(f"{path}: model_sha256 missing")
    known = {name: values.pop(name) for name in _FORMAT_1_KEYS if name in values}
    tokenizer = bundle_dir / known.get("tokenizer_file", TOKENIZER_FILE)
    manifest = Manifest(
        labels=check_labels(path, known.get("labels")),
        model_sha256=known["model_sha256"],
        # Never hashed in format 1: the upgraded bundle vouches for the tokenizer as found.
        tokenizer_sha256=sha256_file(tokenizer) if tokenizer.is_file() else _UNSET_SHA256,
        vocab_size=known.get("vocab_size") or _tokenizer_size(tokenizer),
        data_sha256=known.get("data_sha256"),
        model_file=known.get("model_file", MODEL_FILE),
        data_file=known.get("data_file"),
        tokenizer_file=tokenizer.name,
        quantized=known.get("quantized", False),
        quantization=known.get("quantization"),
    )
    manifest.check(path)
    check_members(bundle_dir, manifest)
    return manifest, values


def _tokenizer_size(path: Path) -> int:
    """A tokenizer's own number of tokens, which bounded its ids where format 1 did not record the table's rows."""
    if not path.is_file():
        return 1  # the missing file is reported by `check_members`
    config = read_tokenizer_json(path)[1]
    model = config.get("model") if isinstance(config, dict) else None
    vocab = model.get("vocab") if isinstance(model, dict) else None
    return max(len(vocab or {}) + len(config.get("added_tokens") or []), 1)


def upgrade_bundle(bundle_dir: str | Path, output_dir: str | Path, *, overwrite: bool = False) -> Manifest:
    """Write the current format's bundle for a format-1 bundle, with the same graph, weights and tokenizer.

    Args:
        bundle_dir (`str | Path`): the format-1 bundle.
        output_dir (`str | Path`): the bundle folder to create.
        overwrite (`bool`, *optional*, defaults to False): replace an existing `output_dir`.
    """
    bundle_dir, output_dir = Path(bundle_dir), Path(output_dir)
    check_apart(output_dir, [bundle_dir])
    check_output(output_dir, overwrite=overwrite, folder=True)
    old, info = read_format_1(bundle_dir)
    with staged_folder(output_dir, overwrite=overwrite) as staging:
        for name in (old.model_file, old.tokenizer_file, old.data_file):
            if name is not None:
                shutil.copyfile(bundle_dir / name, staging / name)
        upgraded = {"from_format_version": 1, "sentiment_batch": importlib.metadata.version("sentiment-batch")}
        manifest = seal_bundle(
            staging,
            old.labels,
            {**info, "upgraded": upgraded},
            vocab_size=old.vocab_size,
            quantization=old.quantization,
            model_file=old.model_file,
            data_file=old.data_file,
            tokenizer_file=old.tokenizer_file,
        )
        open_bundle_session(load_bundle(staging))  # the result must pass the loader's checks before it is published
    logger.info("upgraded bundle written to %s", output_dir)
    return manifest


def build_parser() -> argparse.ArgumentParser:
    """Options of `sentiment-batch upgrade`."""
    parser = argparse.ArgumentParser(
        prog="sentiment-batch upgrade",
        description=f"Rewrite a format-1 bundle in format {FORMAT_VERSION}: the graph, {DATA_FILE} and the "
        "tokenizer are copied unchanged, the graph's metadata and bundle.json gain the hashes that tie them "
        "together. Upgrade only bundles you trust: format 1 never hashed its tokenizer.",
    )
    parser.add_argument("--bundle", required=True, type=Path, help="the format-1 bundle folder")
    parser.add_argument("--output", required=True, type=Path, help="bundle folder to create")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output folder")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run `sentiment-batch upgrade`.

    Args:
        argv (`list[str]`, *optional*): the command's arguments; defaults to `sys.argv[2:]`.
    """
    args = build_parser().parse_args(sys.argv[2:] if argv is None else argv)
    upgrade_bundle(args.bundle, args.output, overwrite=args.overwrite)
    print(f"bundle: {args.output} (format {FORMAT_VERSION}, upgraded from {args.bundle})")
    return 0
