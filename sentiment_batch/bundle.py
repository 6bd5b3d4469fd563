"""Find, validate and describe an exported ONNX bundle folder (manifest, model, tokenizer)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from .errors import UserError

MANIFEST_FILE = "bundle.json"
FORMAT_VERSIONS = (1,)
# sample_data/ is not a package: it sits next to the package in a source checkout.
DEFAULT_BUNDLE = Path(__file__).resolve().parent.parent / "sample_data" / "bundle"
_HASH_CHUNK = 1 << 20


@dataclass(frozen=True)
class Bundle:
    """A validated bundle: its folder, manifest, class labels and the paths of its model and tokenizer."""

    path: Path
    manifest: dict
    labels: tuple[str, ...]
    model_path: Path
    tokenizer_path: Path


def resolve_bundle_path(path: str | Path | None) -> Path:
    """The bundle folder to use: `path`, or the default `sample_data/bundle/` when None.

    Args:
        path (`str | Path | None`): a bundle folder, or None for the default one.
    """
    if path is not None:
        return Path(path)
    if not DEFAULT_BUNDLE.is_dir():
        raise UserError(f"no default bundle at {DEFAULT_BUNDLE}; pass --model BUNDLE_DIR (an exported bundle folder)")
    return DEFAULT_BUNDLE


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file, read in chunks.

    Args:
        path (`Path`): the file.
    """
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def read_manifest(folder: Path) -> dict:
    """The parsed `bundle.json` of a folder, checked to be a JSON object of a known format version.

    Args:
        folder (`Path`): the bundle folder.
    """
    if not folder.is_dir():
        raise UserError(f"bundle folder {folder} does not exist or is not a folder")
    manifest_path = folder / MANIFEST_FILE
    if not manifest_path.is_file():
        raise UserError(f"{folder} is not a bundle: {MANIFEST_FILE} is missing")
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise UserError(f"{manifest_path} is not valid JSON: {error}") from error
    if not isinstance(manifest, dict):
        raise UserError(f"{manifest_path} must hold a JSON object")
    version = manifest.get("format_version")
    if version not in FORMAT_VERSIONS:
        raise UserError(f"{manifest_path}: unknown format_version {version!r} (this runtime reads {FORMAT_VERSIONS})")
    return manifest


def _member(folder: Path, manifest: dict, key: str) -> Path:
    """A file the manifest names under `key`, checked to be a plain file name present in the folder."""
    name = manifest.get(key)
    if not isinstance(name, str) or not name or Path(name).name != name:
        raise UserError(f"{folder / MANIFEST_FILE}: {key} must be a file name inside the bundle, got {name!r}")
    path = folder / name
    if not path.is_file():
        raise UserError(f"bundle {folder} is incomplete: {name} ({key}) is missing")
    return path


def _labels(folder: Path, manifest: dict) -> tuple[str, ...]:
    labels = manifest.get("labels")
    valid = isinstance(labels, list) and len(labels) >= 2 and all(isinstance(label, str) and label for label in labels)
    if not valid or len(set(labels)) != len(labels):
        raise UserError(
            f"{folder / MANIFEST_FILE}: labels must be a list of at least two distinct names, got {labels!r}"
        )
    return tuple(labels)


def load_bundle(path: str | Path | None = None, *, verify_sha256: bool = True) -> Bundle:
    """Validate a bundle folder; every problem is a one-line `UserError`.

    Args:
        path (`str | Path | None`): the bundle folder; None for the default `sample_data/bundle/`.
        verify_sha256 (`bool`): check the model file (and its weights file, when the manifest names one)
            against the manifest's `model_sha256` (and `data_sha256`).
    """
    folder = resolve_bundle_path(path)
    manifest = read_manifest(folder)
    labels = _labels(folder, manifest)
    model_path = _member(folder, manifest, "model_file")
    tokenizer_path = _member(folder, manifest, "tokenizer_file")
    # Bundles of this runtime's exporter keep the weights apart; older ones hold them in model.onnx.
    data_path = _member(folder, manifest, "data_file") if "data_file" in manifest else None
    if verify_sha256:
        _check_sha256(model_path, manifest, "model_sha256")
        if data_path is not None:
            _check_sha256(data_path, manifest, "data_sha256")
    return Bundle(folder, manifest, labels, model_path, tokenizer_path)


def _check_sha256(path: Path, manifest: dict, key: str) -> None:
    expected = manifest.get(key)
    if not isinstance(expected, str) or sha256_file(path) != expected.lower():
        raise UserError(f"{path} does not match {key} in {MANIFEST_FILE}: the bundle is corrupt or edited")
