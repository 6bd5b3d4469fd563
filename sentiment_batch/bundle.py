"""The bundle format: an exported model folder that the runtime scores with, and its `bundle.json` manifest.

A bundle holds the ONNX graph (`model.onnx`, flat `input_ids` + `offsets` in, `logits` + `probabilities`
out), its weights (`model.onnx.data`, page-aligned so onnxruntime maps them), the tokenizer
(`tokenizer.json`) and the manifest. The exporter writes bundles, the scorer, parity check and `verify`
read them; all of them take the names and the manifest from here.

A bundle is verified as a whole: the manifest holds the SHA-256 of every file the runtime reads, and the
graph's own metadata (`metadata_props`) repeats the labels, the tokenizer's hash and the weights file's
name and hash. Editing any one file, the manifest included, is therefore refused: a file no longer matches
its hash, or the manifest no longer matches the graph.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import BinaryIO

from .errors import UserError, cannot, first_line

MANIFEST_FILE = "bundle.json"
MODEL_FILE = "model.onnx"
DATA_FILE = "model.onnx.data"
TOKENIZER_FILE = "tokenizer.json"
FORMAT_VERSION = 2
READABLE_FORMAT_VERSIONS = (2,)
# Format 1 hashed only the graph and its weights file, and did not tie the labels to the graph.
UPGRADABLE_FORMAT_VERSIONS = (1,)
INPUT_NAMES = ("input_ids", "offsets")
LOGITS = "logits"
PROBABILITIES = "probabilities"
OUTPUT_NAMES = (LOGITS, PROBABILITIES)
# The explain graph (`explain.onnx`, optional): the same outputs, then each n-gram's share of its review's label
# margin and the n-gram's table row, one per token and n-gram size.
EXPLAIN_FILE = "explain.onnx"
EVIDENCE = "evidence"
ROWS = "rows"
EXPLAIN_OUTPUT_NAMES = (*OUTPUT_NAMES, EVIDENCE, ROWS)
DEFAULT_BUNDLE_NAME = "default_bundle"  # package data of `sentiment_batch`
# Keys of the graph's `metadata_props` that tie it to the rest of the bundle.
GRAPH_LABELS = "sentiment_batch.labels"
GRAPH_TOKENIZER_SHA256 = "sentiment_batch.tokenizer_sha256"
GRAPH_DATA_FILE = "sentiment_batch.data_file"
GRAPH_DATA_SHA256 = "sentiment_batch.data_sha256"
MAX_MANIFEST_BYTES = 1 << 20  # a manifest is a few kB; anything near this is not one
MAX_LABELS = 1000
MAX_LABEL_CHARS = 100
_HASH_CHUNK = 1 << 20
_SHA256 = re.compile(r"[0-9a-f]{64}")


def _short(value: object, limit: int = 60) -> str:
    """`repr(value)`, cut to `limit` characters, so a huge value cannot flood a one-line message."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[: limit - 1]}…"


def _unique_keys(pairs: list[tuple[str, object]]) -> dict:
    keys = [key for key, _ in pairs]
    if len(set(keys)) != len(keys):
        repeated = next(key for key in keys if keys.count(key) > 1)
        raise UserError(f"key {_short(repeated)} appears more than once")
    return dict(pairs)


def read_manifest_json(folder: Path) -> dict:
    """`bundle.json`'s top-level object, read defensively: size-capped, one value per key, no deep nesting.

    Args:
        folder (`Path`): the bundle folder.
    """
    path = folder / MANIFEST_FILE
    if not path.is_file():
        raise UserError(f"{folder} is not a bundle: {MANIFEST_FILE} is missing")
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_MANIFEST_BYTES + 1)
    except OSError as error:
        raise cannot("read", path, error) from error
    if len(raw) > MAX_MANIFEST_BYTES:
        raise UserError(f"{path} is larger than {MAX_MANIFEST_BYTES} bytes: it is not a bundle manifest")
    try:
        values = json.loads(raw.decode("utf-8"), object_pairs_hook=_unique_keys)
    except UserError as error:
        raise UserError(f"{path}: {error}") from error
    # RecursionError: nesting too deep to parse; ValueError: JSON errors, integers too long to convert.
    except (UnicodeDecodeError, ValueError, RecursionError) as error:
        raise UserError(f"{path} is not valid JSON: {first_line(error)}") from error
    if not isinstance(values, dict):
        raise UserError(f"{path} must hold a JSON object")
    return values


def check_format_version(path: Path, version: object) -> None:
    """Refuse a manifest of a format this runtime does not read, saying how to get one it does.

    Args:
        path (`Path`): the manifest, for the message.
        version (`object`): its `format_version` value.
    """
    if type(version) is int and version in READABLE_FORMAT_VERSIONS:  # not True, 2.0 or "2"
        return
    if type(version) is int and version in UPGRADABLE_FORMAT_VERSIONS:
        raise UserError(
            f"{path}: format_version {version} is not verified as a whole (tokenizer unhashed, labels not tied "
            "to the graph); export the model again, or upgrade the bundle with `sentiment-batch upgrade`"
        )
    raise UserError(f"{path}: unknown format_version {_short(version)} (this runtime reads {READABLE_FORMAT_VERSIONS})")


@dataclass(frozen=True)
class Manifest:
    """`bundle.json`: what the runtime needs to load a bundle, plus `info` on how it was made.

    Args:
        labels (`tuple[str, ...]`): class names in logit order.
        model_sha256 (`str`): hex SHA-256 of the graph file.
        tokenizer_sha256 (`str`): hex SHA-256 of the tokenizer file.
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
    tokenizer_sha256: str
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
        values = read_manifest_json(folder)
        check_format_version(path, values.get("format_version"))
        missing = [name for name in _REQUIRED_KEYS if name not in values]
        if missing:
            raise UserError(f"{path}: {', '.join(missing)} missing")
        if ("data_file" in values) != ("data_sha256" in values):
            raise UserError(f"{path}: data_file and data_sha256 go together; one of them is missing")
        known = {name: values.pop(name) for name in MANIFEST_KEYS if name in values}
        manifest = cls(**{**known, "labels": check_labels(path, known["labels"])}, info=values)
        manifest.check(path)
        return manifest

    def check(self, path: Path) -> None:
        """Raise a one-line `UserError` unless every field the runtime reads has the right type.

        Args:
            path (`Path`): the manifest, for the message.
        """
        names = {"model_file": self.model_file, "tokenizer_file": self.tokenizer_file}
        hashes = {"model_sha256": self.model_sha256, "tokenizer_sha256": self.tokenizer_sha256}
        if self.data_file is not None or self.data_sha256 is not None:
            names["data_file"], hashes["data_sha256"] = self.data_file, self.data_sha256
        for key, name in names.items():
            valid = isinstance(name, str) and 0 < len(name) <= 255 and name.isprintable() and name not in (".", "..")
            if not valid or Path(name).name != name or name == MANIFEST_FILE:
                raise UserError(f"{path}: {key} must be a file name inside the bundle, got {_short(name)}")
        if len(set(names.values())) != len(names):
            raise UserError(f"{path}: {', '.join(names)} must name different files")
        for key, value in hashes.items():
            if not isinstance(value, str) or not _SHA256.fullmatch(value):
                raise UserError(f"{path}: {key} must be a lowercase hex SHA-256, got {_short(value)}")

    def graph_metadata(self) -> dict[str, str]:
        """The `metadata_props` the bundle's graph must carry (see `graph_metadata`)."""
        return graph_metadata(self.labels, self.tokenizer_sha256, self.data_file, self.data_sha256)

    def to_json(self) -> str:
        """`bundle.json`'s text: the runtime's keys first, then `info`'s."""
        values = {name: getattr(self, name) for name in MANIFEST_KEYS}
        values["labels"] = list(self.labels)
        values = {key: value for key, value in values.items() if value is not None}
        return json.dumps({**values, **self.info}, indent=2) + "\n"

    def write(self, folder: Path) -> None:
        """Write `bundle.json` into a folder.

        Args:
            folder (`Path`): the bundle folder.
        """
        (folder / MANIFEST_FILE).write_text(self.to_json(), encoding="utf-8")


# The keys of bundle.json that the runtime reads; the others (parity, versions, source) inform people.
MANIFEST_KEYS = (
    "format_version",
    "labels",
    "model_file",
    "model_sha256",
    "data_file",
    "data_sha256",
    "tokenizer_file",
    "tokenizer_sha256",
)
_REQUIRED_KEYS = ("labels", "model_file", "model_sha256", "tokenizer_file", "tokenizer_sha256")


def graph_metadata(
    labels: tuple[str, ...], tokenizer_sha256: str, data_file: str | None = None, data_sha256: str | None = None
) -> dict[str, str]:
    """The `metadata_props` that tie a bundle's graph to its labels, its tokenizer and its weights file.

    Args:
        labels (`tuple[str, ...]`): class names in logit order.
        tokenizer_sha256 (`str`): hex SHA-256 of the tokenizer file.
        data_file (`str | None`, *optional*): the weights' file name; None when the graph holds its weights.
        data_sha256 (`str | None`, *optional*): hex SHA-256 of the weights file.
    """
    metadata = {GRAPH_LABELS: json.dumps(list(labels)), GRAPH_TOKENIZER_SHA256: tokenizer_sha256}
    if data_file is not None:
        metadata |= {GRAPH_DATA_FILE: data_file, GRAPH_DATA_SHA256: data_sha256}
    return metadata


def check_labels(path: Path, labels: object) -> tuple[str, ...]:
    """`labels` as a tuple, when it is a list of 2 to `MAX_LABELS` distinct, short, printable names.

    Args:
        path (`Path`): where the labels come from, for the message.
        labels (`object`): the value read.
    """
    valid = (
        isinstance(labels, list)
        and 2 <= len(labels) <= MAX_LABELS
        and all(
            isinstance(label, str) and 0 < len(label) <= MAX_LABEL_CHARS and label.isprintable() for label in labels
        )
    )
    if not valid or len(set(labels)) != len(labels):
        raise UserError(
            f"{path}: labels must be a list of 2 to {MAX_LABELS} distinct printable names of at most "
            f"{MAX_LABEL_CHARS} characters, got {_short(labels)}"
        )
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
        """One hex SHA-256 for the whole bundle: its manifest's, which holds every other file's hash.

        For a bundle loaded with `verify_sha256=True` it names every byte the scorer reads.
        """
        return sha256_file(self.path / MANIFEST_FILE)


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
    """Validate a bundle folder as a whole, without loading its model; every problem is a one-line `UserError`.

    Args:
        path (`str | Path | None`): the bundle folder; None for the default bundle shipped with the package.
        verify_sha256 (`bool`): check every file against the manifest's hashes. The graph's metadata is
            checked against the manifest either way.
    """
    folder = default_bundle_path() if path is None else Path(path)
    if not folder.is_dir():
        raise UserError(f"bundle folder {folder} does not exist or is not a folder")
    bundle = Bundle(folder, Manifest.read(folder))
    manifest = bundle.manifest
    members = [
        ("model_file", bundle.model_path, "model_sha256", manifest.model_sha256),
        ("tokenizer_file", bundle.tokenizer_path, "tokenizer_sha256", manifest.tokenizer_sha256),
    ]
    if bundle.data_path is not None:
        members.append(("data_file", bundle.data_path, "data_sha256", manifest.data_sha256))
    for key, member, _, _ in members:
        if not member.is_file():
            raise UserError(f"bundle {folder} is incomplete: {member.name} ({key}) is missing")
    if verify_sha256:
        for _, member, key, expected in members:
            _check_sha256(member, expected, key)
    check_graph_metadata(bundle.model_path, manifest)
    return bundle


def _check_sha256(path: Path, expected: str, key: str) -> None:
    try:
        actual = sha256_file(path)
    except OSError as error:
        raise cannot("read", path, error) from error
    if actual != expected:
        raise UserError(f"{path} does not match {key} in {MANIFEST_FILE}: the bundle is corrupt or edited")


def check_graph_metadata(model_path: Path, manifest: Manifest) -> None:
    """Refuse a graph whose `metadata_props` disagree with the manifest (labels, tokenizer, weights file).

    Args:
        model_path (`Path`): the ONNX file.
        manifest (`Manifest`): the bundle's manifest.
    """
    found = {key: value for key, value in read_graph_metadata(model_path).items() if key.startswith("sentiment_batch.")}
    expected = manifest.graph_metadata()
    for key in sorted(expected.keys() | found.keys()):
        if found.get(key) != expected.get(key):
            raise UserError(
                f"{model_path.name} and {MANIFEST_FILE} disagree on {key} (graph: {_short(found.get(key))}, "
                f"manifest: {_short(expected.get(key))}): the bundle is corrupt or edited"
            )


# ModelProto.metadata_props; StringStringEntryProto.key and .value (onnx.proto).
_MODEL_METADATA_PROPS = 14
_ENTRY_KEY, _ENTRY_VALUE = 1, 2
_LENGTH_DELIMITED = 2


def read_graph_metadata(path: Path) -> dict[str, str]:
    """The `metadata_props` of an ONNX file, read straight from its protobuf (no onnx, no session).

    Only the top-level fields are walked; the graph itself, weights and all, is skipped over unread.

    Args:
        path (`Path`): the ONNX file.
    """
    metadata: dict[str, str] = {}
    try:
        with path.open("rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            while handle.tell() < size:
                number, payload = _next_field(handle, size)
                if number == _MODEL_METADATA_PROPS and payload is not None:
                    entry = _entry_fields(payload)
                    metadata[entry.get(_ENTRY_KEY, "")] = entry.get(_ENTRY_VALUE, "")
    except OSError as error:
        raise cannot("read", path, error) from error
    except (ValueError, UnicodeDecodeError) as error:
        raise UserError(f"{path} is not an ONNX model: {first_line(error)}") from error
    return metadata


def _varint(read) -> int:
    value = 0
    for shift in range(0, 64, 7):
        byte = read(1)
        if not byte:
            raise ValueError("truncated varint")
        value |= (byte[0] & 0x7F) << shift
        if byte[0] < 0x80:
            return value
    raise ValueError("varint longer than 10 bytes")


def _next_field(handle: BinaryIO, size: int) -> tuple[int, bytes | None]:
    """The next top-level field's number, and its bytes when it is a metadata entry (else skipped)."""
    key = _varint(handle.read)
    number, wire_type = key >> 3, key & 7
    if wire_type == 0:
        _varint(handle.read)
        return number, None
    skip = {1: 8, 5: 4}.get(wire_type)
    if wire_type == _LENGTH_DELIMITED:
        skip = _varint(handle.read)
    if skip is None or handle.tell() + skip > size:
        raise ValueError(f"malformed protobuf field {number}")
    if wire_type == _LENGTH_DELIMITED and number == _MODEL_METADATA_PROPS:
        return number, handle.read(skip)
    handle.seek(skip, os.SEEK_CUR)
    return number, None


def _entry_fields(payload: bytes) -> dict[int, str]:
    """The string fields of one StringStringEntryProto."""
    fields, position = {}, 0

    def read(count: int) -> bytes:
        nonlocal position
        position += count
        return payload[position - count : position]

    while position < len(payload):
        key = _varint(read)
        if key & 7 != _LENGTH_DELIMITED:
            raise ValueError("malformed metadata entry")
        length = _varint(read)
        if position + length > len(payload):
            raise ValueError("malformed metadata entry")
        fields[key >> 3] = read(length).decode("utf-8")
    return fields


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


def check_graph_io(session, path: Path, labels: tuple[str, ...] | None = None) -> None:
    """Refuse a graph whose inputs and outputs are not the bundle format's, or not one column per label.

    Args:
        session (`onnxruntime.InferenceSession`): a session over the graph.
        path (`Path`): the graph file, for the message.
        labels (`tuple[str, ...]`, *optional*): the bundle's labels; when given, the outputs' declared width
            must be their number.
    """
    inputs = tuple(node.name for node in session.get_inputs())
    outputs = {node.name: node for node in session.get_outputs()}
    if inputs != INPUT_NAMES or not set(OUTPUT_NAMES) <= set(outputs):
        raise UserError(
            f"{path}: expected inputs {INPUT_NAMES} and outputs {OUTPUT_NAMES}, got {inputs} and {tuple(outputs)}"
        )
    for name in OUTPUT_NAMES:
        shape = outputs[name].shape
        width = shape[-1] if shape else None
        if labels is not None and isinstance(width, int) and width != len(labels):
            raise UserError(f"{path}: {name} has {width} columns but the bundle has {len(labels)} labels")
