"""The bundle format: an exported model folder that the runtime scores with, and its `bundle.json` manifest.

A bundle holds the ONNX graph (`model.onnx`, flat `input_ids` + `offsets` in, `logits` + `probabilities`
out), its weights (`model.onnx.data`, page-aligned so onnxruntime maps them), the tokenizer
(`tokenizer.json`) and the manifest. The exporter writes bundles, the scorer, parity check and `verify`
read them; all of them take the names and the manifest from here.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from .errors import UserError, first_line

MANIFEST_FILE = "bundle.json"
MODEL_FILE = "model.onnx"
DATA_FILE = "model.onnx.data"
TOKENIZER_FILE = "tokenizer.json"
FORMAT_VERSION = 1
READABLE_FORMAT_VERSIONS = (1,)
INPUT_NAMES = ("input_ids", "offsets")
LOGITS = "logits"
PROBABILITIES = "probabilities"
OUTPUT_NAMES = (LOGITS, PROBABILITIES)
DEFAULT_BUNDLE_NAME = "default_bundle"  # package data of `sentiment_batch`
_HASH_CHUNK = 1 << 20


@dataclass(frozen=True)
class Manifest:
    """`bundle.json`: what the runtime needs to load a bundle, plus `info` on how it was made.

    Args:
        labels (`tuple[str, ...]`): class names in logit order.
        model_sha256 (`str`): hex SHA-256 of the graph file.
        data_sha256 (`str | None`): hex SHA-256 of the weights file; None when the graph holds its weights.
        model_file (`str`): the graph's file name.
        data_file (`str | None`): the weights' file name; None when the graph holds its weights.
        tokenizer_file (`str`): the tokenizer's file name.
        format_version (`int`): the bundle format's version.
        info (`dict`): everything else (opset, library versions, parity figures, source metrics, quantization);
            written at the top level of `bundle.json`, never needed to score.
    """

    labels: tuple[str, ...]
    model_sha256: str
    data_sha256: str | None = None
    model_file: str = MODEL_FILE
    data_file: str | None = None
    tokenizer_file: str = TOKENIZER_FILE
    format_version: int = FORMAT_VERSION
    info: dict = field(default_factory=dict)

    @classmethod
    def read(cls, folder: Path) -> Manifest:
        """The manifest of a bundle folder, checked to be of a known format version and shape.

        Args:
            folder (`Path`): the bundle folder.
        """
        path = folder / MANIFEST_FILE
        if not path.is_file():
            raise UserError(f"{folder} is not a bundle: {MANIFEST_FILE} is missing")
        try:
            values = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
            raise UserError(f"{path} is not valid JSON: {first_line(error)}") from error
        if not isinstance(values, dict):
            raise UserError(f"{path} must hold a JSON object")
        version = values.get("format_version")
        if version not in READABLE_FORMAT_VERSIONS:
            raise UserError(
                f"{path}: unknown format_version {version!r} (this runtime reads {READABLE_FORMAT_VERSIONS})"
            )
        known = {name: values.pop(name) for name in _RUNTIME_KEYS if name in values}
        if "model_sha256" not in known:
            raise UserError(f"{path}: model_sha256 is missing")
        manifest = cls(**{**known, "labels": _labels(path, known.get("labels"))}, info=values)
        manifest.check(path)
        return manifest

    def check(self, path: Path) -> None:
        """Raise a one-line `UserError` unless every field the runtime reads has the right type."""
        names = {"model_file": self.model_file, "tokenizer_file": self.tokenizer_file}
        if self.data_file is not None:
            names["data_file"] = self.data_file
        for key, name in names.items():
            if not isinstance(name, str) or not name or Path(name).name != name:
                raise UserError(f"{path}: {key} must be a file name inside the bundle, got {name!r}")
        hashes = {"model_sha256": self.model_sha256}
        if self.data_file is not None:
            hashes["data_sha256"] = self.data_sha256
        for key, value in hashes.items():
            if not isinstance(value, str) or len(value) != 64:
                raise UserError(f"{path}: {key} must be a hex SHA-256, got {value!r}")

    def to_json(self) -> str:
        """`bundle.json`'s text: the runtime's keys first, then `info`'s."""
        values = {name: getattr(self, name) for name in _RUNTIME_KEYS}
        values["labels"] = list(self.labels)
        values = {key: value for key, value in values.items() if value is not None}
        return json.dumps({**values, **self.info}, indent=2) + "\n"

    def write(self, folder: Path) -> None:
        """Write `bundle.json` into a folder.

        Args:
            folder (`Path`): the bundle folder.
        """
        (folder / MANIFEST_FILE).write_text(self.to_json(), encoding="utf-8")


_RUNTIME_KEYS = (
    "format_version",
    "labels",
    "model_file",
    "model_sha256",
    "data_file",
    "data_sha256",
    "tokenizer_file",
)


def _labels(path: Path, labels: object) -> tuple[str, ...]:
    valid = isinstance(labels, list) and len(labels) >= 2 and all(isinstance(label, str) and label for label in labels)
    if not valid or len(set(labels)) != len(labels):
        raise UserError(f"{path}: labels must be a list of at least two distinct names, got {labels!r}")
    return tuple(labels)


@dataclass(frozen=True)
class Bundle:
    """A validated bundle folder: its manifest and the paths of its files."""

    path: Path
    manifest: Manifest

    @property
    def labels(self) -> tuple[str, ...]:
        """Class names in logit order."""
        return self.manifest.labels

    @property
    def model_path(self) -> Path:
        """The ONNX graph."""
        return self.path / self.manifest.model_file

    @property
    def data_path(self) -> Path | None:
        """The graph's weights file, or None when the graph holds its weights."""
        return None if self.manifest.data_file is None else self.path / self.manifest.data_file

    @property
    def tokenizer_path(self) -> Path:
        """The tokenizer's JSON."""
        return self.path / self.manifest.tokenizer_file

    @property
    def files(self) -> tuple[Path, ...]:
        """Every file of the bundle: the manifest, the graph, its weights (when separate) and the tokenizer."""
        members = (self.path / MANIFEST_FILE, self.model_path, self.data_path, self.tokenizer_path)
        return tuple(member for member in members if member is not None)

    def sha256(self) -> str:
        """One hex SHA-256 for the whole bundle: of its manifest's and tokenizer's bytes.

        The manifest holds the graph's and the weights' hashes, so for a bundle loaded with
        `verify_sha256=True` this names every byte the scorer reads, at the cost of hashing two small files.
        """
        digest = hashlib.sha256()
        for member in (self.path / MANIFEST_FILE, self.tokenizer_path):
            digest.update(bytes.fromhex(sha256_file(member)))
        return digest.hexdigest()


def default_bundle_path() -> Path:
    """The bundle shipped inside the package, wherever and however it is installed."""
    return Path(str(resources.files(__package__) / DEFAULT_BUNDLE_NAME))


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


def load_bundle(path: str | Path | None = None, *, verify_sha256: bool = True) -> Bundle:
    """Validate a bundle folder; every problem is a one-line `UserError`.

    Args:
        path (`str | Path | None`): the bundle folder; None for the default bundle shipped with the package.
        verify_sha256 (`bool`): check the graph and weights files against the manifest's hashes.
    """
    folder = default_bundle_path() if path is None else Path(path)
    if not folder.is_dir():
        raise UserError(f"bundle folder {folder} does not exist or is not a folder")
    bundle = Bundle(folder, Manifest.read(folder))
    members = [("model_file", bundle.model_path), ("tokenizer_file", bundle.tokenizer_path)]
    if bundle.data_path is not None:
        members.append(("data_file", bundle.data_path))
    for key, member in members:
        if not member.is_file():
            raise UserError(f"bundle {folder} is incomplete: {member.name} ({key}) is missing")
    if verify_sha256:
        _check_sha256(bundle.model_path, bundle.manifest.model_sha256, "model_sha256")
        if bundle.data_path is not None:
            _check_sha256(bundle.data_path, bundle.manifest.data_sha256, "data_sha256")
    return bundle


def _check_sha256(path: Path, expected: str, key: str) -> None:
    if sha256_file(path) != expected.lower():
        raise UserError(f"{path} does not match {key} in {MANIFEST_FILE}: the bundle is corrupt or edited")


def open_session(path: str | Path, options=None):
    """An onnxruntime session on the CPU; a graph it cannot load is a one-line `UserError`.

    Args:
        path (`str | Path`): the ONNX file.
        options (`onnxruntime.SessionOptions | None`): session options; onnxruntime's defaults when None.
    """
    import onnxruntime as ort  # here, so reading a manifest needs no runtime

    try:
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as error:  # onnxruntime raises untyped errors for graphs it cannot load
        raise UserError(f"onnxruntime {ort.__version__} cannot load {path}: {first_line(error)}") from error


def check_graph_io(session, path: Path) -> None:
    """Refuse a graph whose inputs and outputs are not the bundle format's.

    Args:
        session (`onnxruntime.InferenceSession`): a session over the graph.
        path (`Path`): the graph file, for the message.
    """
    inputs = tuple(node.name for node in session.get_inputs())
    outputs = tuple(node.name for node in session.get_outputs())
    if inputs != INPUT_NAMES or not set(OUTPUT_NAMES) <= set(outputs):
        raise UserError(f"{path}: expected inputs {INPUT_NAMES} and outputs {OUTPUT_NAMES}, got {inputs} and {outputs}")
