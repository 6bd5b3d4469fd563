"""The bundle format: an exported model folder that the runtime scores with, and its `bundle.json` manifest.

A bundle holds the ONNX graph (`model.onnx`, flat `input_ids` + `offsets` in, `logits` + `probabilities`
out), its weights (`model.onnx.data`, page-aligned), the tokenizer (`tokenizer.json`) and the manifest. The
exporter writes bundles, the scorer, parity check and `verify` read them; all of them take the names and the
manifest from here.

A bundle is verified as a whole: the manifest holds the SHA-256 of every file the runtime reads (`MEMBERS`), and
the graph's own metadata (`metadata_props`) repeats the labels, the tokenizer's hash and the weights file's name
and hash. `load_bundle` hashes every file; `open_bundle_session` then has onnxruntime read the graph's metadata
and its weights from the manifest's weights file only. Editing any one file, the manifest included, is therefore
refused: a file no longer matches its hash, or the manifest no longer matches the graph.
"""

from __future__ import annotations

import hashlib
import json
import re
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from importlib import resources
from pathlib import Path

from .errors import UserError, cannot, first_line, shown

MANIFEST_FILE = "bundle.json"
MODEL_FILE = "model.onnx"
DATA_FILE = "model.onnx.data"
TOKENIZER_FILE = "tokenizer.json"
FORMAT_VERSION = 2
READABLE_FORMAT_VERSIONS = (2,)
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
# The training run's model card (its data, sources and licences, metrics), copied for people; the runtime never
# reads it, so the manifest does not hash it.
CARD_FILE = "README.md"
DEFAULT_BUNDLE_NAME = "default_bundle"  # package data of `sentiment_batch`
# Keys of the graph's `metadata_props` that tie it to the rest of the bundle.
GRAPH_LABELS = "sentiment_batch.labels"
GRAPH_TOKENIZER_SHA256 = "sentiment_batch.tokenizer_sha256"
GRAPH_DATA_FILE = "sentiment_batch.data_file"
GRAPH_DATA_SHA256 = "sentiment_batch.data_sha256"
MAX_LABEL_CHARS = 100  # a label names an output column, prob_<label>
MAX_MANIFEST_BYTES = 1 << 20  # a manifest is a few kB; anything near this is not one
_HASH_CHUNK = 1 << 20
_SHA256 = re.compile(r"[0-9a-f]{64}")
# An ISO 639-1 code, or the ISO 639-2/3 code fastText's identifier gives a language that has none.
_LANGUAGE = re.compile(r"[a-z]{2,3}")
# onnxruntime reads external weights from its in-memory table only, and anything else from this folder: none.
_NO_WEIGHTS_FILE = "\0"
_EXTERNAL_DATA_FOLDER = "session.model_external_initializers_file_folder_path"
_OTHER_WEIGHTS = re.compile(r"External file: (.*?) not found from the table")


@dataclass(frozen=True)
class Member:
    """One file of a bundle as the manifest names it: the keys of its name and of its hash.

    Args:
        file_key (`str`): the manifest key holding the file's name.
        hash_key (`str`): the manifest key holding its hex SHA-256.
        required (`bool`): whether every bundle has it.
    """

    file_key: str
    hash_key: str
    required: bool


# Every file the runtime reads besides the manifest; a bundle's optional files have a name and hash or neither.
MEMBERS = (
    Member("model_file", "model_sha256", required=True),
    Member("data_file", "data_sha256", required=False),
    Member("tokenizer_file", "tokenizer_sha256", required=True),
    Member("explain_file", "explain_sha256", required=False),
)


def _short(value: object, limit: int = 60) -> str:
    """`repr(value)`, cut to `limit` characters, so a huge value cannot flood a one-line message."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[: limit - 1]}…"


def read_manifest_json(folder: Path) -> dict:
    """`bundle.json`'s top-level object, read with a size cap.

    Args:
        folder (`Path`): the bundle folder.
    """
    path = folder / MANIFEST_FILE
    if not path.is_file():
        raise UserError(f"{shown(folder)} is not a bundle: {MANIFEST_FILE} is missing")
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_MANIFEST_BYTES + 1)
    except OSError as error:
        raise cannot("read", path, error) from error
    if len(raw) > MAX_MANIFEST_BYTES:
        raise UserError(f"{shown(path)} is larger than {MAX_MANIFEST_BYTES} bytes: it is not a bundle manifest")
    try:
        values = json.loads(raw.decode("utf-8"))
    # RecursionError: nesting too deep to parse; ValueError: JSON errors, integers too long to convert.
    except (UnicodeDecodeError, ValueError, RecursionError) as error:
        raise UserError(f"{shown(path)} is not valid JSON: {first_line(error)}") from error
    if not isinstance(values, dict):
        raise UserError(f"{shown(path)} must hold a JSON object")
    return values


@dataclass(frozen=True)
class Manifest:
    """`bundle.json`: what the runtime needs to load a bundle, plus `info` on how it was made.

    Args:
        labels (`tuple[str, ...]`): class names in logit order.
        languages (`tuple[str, ...]`): ISO 639-1 codes of the languages the bundle reads (its training reviews'):
            the scorer does not score rows confidently identified as another (`sentiment_batch.language`).
        model_sha256 (`str`): hex SHA-256 of the graph file.
        tokenizer_sha256 (`str`): hex SHA-256 of the tokenizer file.
        vocab_size (`int`): rows of the graph's word table: every token id must be below it.
        data_sha256 (`str | None`): hex SHA-256 of the weights file; None when the graph holds its weights.
        model_file (`str`): the graph's file name.
        data_file (`str | None`): the weights' file name; None when the graph holds its weights.
        tokenizer_file (`str`): the tokenizer's file name.
        explain_file (`str | None`): the explain graph's file name (same inputs, and each n-gram's share of the
            label's margin); None when the bundle has none.
        explain_sha256 (`str | None`): hex SHA-256 of the explain graph.
        format_version (`int`): the bundle format's version.
        quantized (`bool`): whether the word table is stored in float16.
        quantization (`dict | None`): the float16 check's report (`export.quantize`), with the bounds `verify`
            holds the bundle to when `quantized` (`max_logit_diff_allowed`, `min_label_agreement`); None when
            float16 storage was not tried.
        info (`dict`): everything else (opset, library versions, parity figures, source metrics); written at the
            top level of `bundle.json`, never read by the runtime.
    """

    labels: tuple[str, ...]
    languages: tuple[str, ...]
    model_sha256: str
    tokenizer_sha256: str
    vocab_size: int
    data_sha256: str | None = None
    model_file: str = MODEL_FILE
    data_file: str | None = None
    tokenizer_file: str = TOKENIZER_FILE
    explain_file: str | None = None
    explain_sha256: str | None = None
    format_version: int = FORMAT_VERSION
    quantized: bool = False
    quantization: dict | None = None
    info: dict = field(default_factory=dict)

    @classmethod
    def read(cls, folder: Path) -> Manifest:
        """The manifest of a bundle folder, checked to be of a known format version and shape.

        Args:
            folder (`Path`): the bundle folder.
        """
        path = folder / MANIFEST_FILE
        values = read_manifest_json(folder)
        version = values.get("format_version")
        if type(version) is not int or version not in READABLE_FORMAT_VERSIONS:  # not True, 2.0 or "2"
            raise UserError(
                f"{shown(path)}: unknown format_version {_short(version)} (this runtime reads "
                f"{READABLE_FORMAT_VERSIONS}: export the bundle again from its model folder, or score it with the "
                "sentiment-batch version that wrote it)"
            )
        members = [key for member in MEMBERS if member.required for key in (member.file_key, member.hash_key)]
        required = ["labels", "languages", "vocab_size", *members]
        missing = [name for name in required if name not in values]
        if missing:
            raise UserError(
                f"{shown(path)}: {', '.join(missing)} missing (bundles before 0.3.0 lack languages and vocab_size: "
                "export the bundle again from its model folder)"
            )
        for member in MEMBERS:
            if (member.file_key in values) != (member.hash_key in values):
                raise UserError(f"{shown(path)}: {member.file_key} and {member.hash_key} go together; one is missing")
        known = {name: values.pop(name) for name in MANIFEST_KEYS if name in values}
        labels, languages = check_labels(path, known["labels"]), check_languages(path, known["languages"])
        manifest = cls(**{**known, "labels": labels, "languages": languages}, info=values)
        manifest.check(path)
        return manifest

    def members(self) -> list[tuple[Member, str, str]]:
        """Every file the bundle has besides the manifest: (member, its name, its hash)."""
        found = [(member, getattr(self, member.file_key), getattr(self, member.hash_key)) for member in MEMBERS]
        return [(member, name, sha256) for member, name, sha256 in found if name is not None or sha256 is not None]

    def check(self, path: Path) -> None:
        """Raise a one-line `UserError` unless every field the runtime reads has the right type.

        Args:
            path (`Path`): the manifest, for the message.
        """
        members = self.members()
        for member, name, sha256 in members:
            valid = isinstance(name, str) and 0 < len(name) <= 255 and name.isprintable() and name not in (".", "..")
            if not valid or Path(name).name != name or name == MANIFEST_FILE:
                raise UserError(
                    f"{shown(path)}: {member.file_key} must be a file name inside the bundle, got {_short(name)}"
                )
            if not isinstance(sha256, str) or not _SHA256.fullmatch(sha256):
                raise UserError(
                    f"{shown(path)}: {member.hash_key} must be a lowercase hex SHA-256, got {_short(sha256)}"
                )
        if len({name for _, name, _ in members}) != len(members):
            raise UserError(
                f"{shown(path)}: {', '.join(member.file_key for member, _, _ in members)} must name different files"
            )
        if type(self.vocab_size) is not int or self.vocab_size < 1:
            raise UserError(f"{shown(path)}: vocab_size must be a positive integer, got {_short(self.vocab_size)}")
        if type(self.quantized) is not bool:
            raise UserError(f"{shown(path)}: quantized must be true or false, got {_short(self.quantized)}")
        if self.quantized and self.float16_bounds() is None:
            raise UserError(
                f"{shown(path)}: a quantized bundle's quantization must hold max_logit_diff_allowed and "
                f"min_label_agreement, got {_short(self.quantization)}"
            )

    def float16_bounds(self) -> tuple[float, float] | None:
        """Largest |Δlogit| and smallest label agreement a float16 table was kept within, or None."""
        report = self.quantization if isinstance(self.quantization, dict) else {}
        bounds = (report.get("max_logit_diff_allowed"), report.get("min_label_agreement"))
        if not all(type(bound) in (int, float) for bound in bounds):
            return None
        return bounds

    def graph_metadata(self) -> dict[str, str]:
        """The `metadata_props` the bundle's graph must carry (see `graph_metadata`)."""
        return graph_metadata(self.labels, self.tokenizer_sha256, self.data_file, self.data_sha256)

    def to_json(self) -> str:
        """`bundle.json`'s text: the runtime's keys first, then `info`'s."""
        values = {name: getattr(self, name) for name in MANIFEST_KEYS}
        values["labels"], values["languages"] = list(self.labels), list(self.languages)
        values = {key: value for key, value in values.items() if value is not None}
        return json.dumps({**values, **self.info}, indent=2) + "\n"

    def write(self, folder: Path) -> None:
        """Write `bundle.json` into a folder.

        Args:
            folder (`Path`): the bundle folder.
        """
        (folder / MANIFEST_FILE).write_text(self.to_json(), encoding="utf-8")


# The keys of bundle.json that a `Manifest` field holds; the others (parity, versions, source) are its `info`.
MANIFEST_KEYS = tuple(item.name for item in fields(Manifest) if item.name != "info")


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


def is_label_name(label: object) -> bool:
    """Whether `label` can name a class of a bundle: a printable string of 1 to `MAX_LABEL_CHARS` characters.

    Args:
        label (`object`): the candidate name.
    """
    return isinstance(label, str) and 0 < len(label) <= MAX_LABEL_CHARS and label.isprintable()


def is_language_code(code: object) -> bool:
    """Whether `code` names a language as the bundle and the language check do: an ISO 639-1 code (or, for a
    language without one, the ISO 639-2/3 code fastText gives it), in lower case.

    Args:
        code (`object`): the candidate code.
    """
    return isinstance(code, str) and _LANGUAGE.fullmatch(code) is not None


def check_languages(path: Path, languages: object) -> tuple[str, ...]:
    """`languages` as a tuple, when it is a non-empty list of language codes (`is_language_code`).

    Args:
        path (`Path`): the manifest, for the message.
        languages (`object`): the manifest's `languages`.
    """
    if not isinstance(languages, list) or not languages or not all(map(is_language_code, languages)):
        raise UserError(
            f'{shown(path)}: languages must be a non-empty list of ISO 639-1 codes such as ["en"], '
            f"got {_short(languages)}"
        )
    return tuple(languages)


def check_labels(path: Path, labels: object) -> tuple[str, ...]:
    """`labels` as a tuple, when it is a list of at least 2 distinct printable names of 1 to `MAX_LABEL_CHARS`.

    Args:
        path (`Path`): where the labels come from, for the message.
        labels (`object`): the value read.
    """
    valid = isinstance(labels, list) and all(is_label_name(label) for label in labels)
    if not valid or len(labels) < 2 or len(set(labels)) != len(labels):
        raise UserError(
            f"{shown(path)}: labels must be a list of at least 2 distinct printable names of 1 to "
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
    def explain_path(self) -> Path | None:
        """The explain graph, or None when the bundle has none."""
        return None if self.manifest.explain_file is None else self.path / self.manifest.explain_file

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
        """Every file of the bundle: the manifest, then each member (graph, weights when separate, tokenizer)."""
        return (self.path / MANIFEST_FILE, *(self.path / name for _, name, _ in self.manifest.members()))

    def sha256(self) -> str:
        """One hex SHA-256 for the whole bundle: its manifest's, which holds every other file's hash.

        For a bundle loaded with `verify_sha256=True` and scored through `open_bundle_session` it names every byte
        the scorer reads.
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

    The manifest, every file's presence and hash, and the tokenizer's contract (its unknown token, its ids within
    the word table) are checked here; the graph's own metadata when its session opens (`open_bundle_session`).

    Args:
        path (`str | Path | None`): the bundle folder; None for the default bundle shipped with the package.
        verify_sha256 (`bool`): check every file against the manifest's hashes.
    """
    folder = default_bundle_path() if path is None else Path(path)
    if not folder.is_dir():
        raise UserError(f"bundle folder {shown(folder)} does not exist or is not a folder")
    bundle = Bundle(folder, Manifest.read(folder))
    check_members(folder, bundle.manifest, verify_sha256)
    check_tokenizer(bundle.tokenizer_path, read_tokenizer_json(bundle.tokenizer_path)[1], bundle.manifest.vocab_size)
    return bundle


def check_members(folder: Path, manifest: Manifest, verify_sha256: bool = True) -> None:
    """Refuse a bundle folder that lacks a file its manifest names, or (with `verify_sha256`) whose file does not
    match its hash.

    Args:
        folder (`Path`): the bundle folder.
        manifest (`Manifest`): its manifest.
        verify_sha256 (`bool`, *optional*, defaults to True): check every file against the manifest's hashes.
    """
    for member, name, sha256 in manifest.members():
        file = folder / name
        if not file.is_file():
            raise UserError(f"bundle {shown(folder)} is incomplete: {shown(name)} ({member.file_key}) is missing")
        if verify_sha256:
            _check_sha256(file, sha256, member.hash_key)


def read_tokenizer_json(path: Path) -> tuple[str, object]:
    """A `tokenizer.json`'s text and parsed JSON; a file that cannot be read or parsed is a one-line `UserError`.

    Args:
        path (`Path`): the tokenizer file.
    """
    try:
        text = path.read_bytes().decode("utf-8")
        return text, json.loads(text)
    except OSError as error:
        raise cannot("read", path, error) from error
    # RecursionError: nesting too deep to parse; ValueError: not UTF-8, not JSON.
    except (ValueError, RecursionError) as error:
        raise UserError(f"cannot load the tokenizer {shown(path)}: {first_line(error)}") from error


def check_tokenizer(path: Path, config: object, vocab_size: int | None = None) -> None:
    """Refuse in one line a parsed `tokenizer.json` unfit for a bundle: it must be a word-level tokenizer whose
    unknown token is in its vocabulary and whose every id (added tokens too) is below `vocab_size`.

    Args:
        path (`Path`): the tokenizer file, for the message.
        config (`object`): its parsed JSON.
        vocab_size (`int`, *optional*): rows of the model's word table; defaults to the tokenizer's own number of
            tokens, which bounds its ids all the same.
    """
    model = config.get("model") if isinstance(config, dict) else None
    problem = None
    if not isinstance(model, dict) or not isinstance(model.get("vocab"), dict):
        problem = "it has no word vocabulary (model.vocab)"
    elif model.get("type") != "WordLevel":
        problem = f"its model is {model.get('type')!r}, not the WordLevel model a bundle's tokenizer has"
    elif not isinstance(model.get("unk_token"), str) or model["unk_token"] not in model["vocab"]:
        problem = f"its unknown token {model.get('unk_token')!r} is not in its vocabulary"
    elif not isinstance(added := config.get("added_tokens") or [], list) or not all(
        isinstance(token, dict) for token in added
    ):
        problem = "added_tokens must be a list of tokens"
    else:
        bound = vocab_size if vocab_size is not None else len(model["vocab"]) + len(added)
        for value in [*model["vocab"].values(), *(token.get("id") for token in added)]:
            if type(value) is not int or not 0 <= value < bound:
                problem = f"token id {value!r} is not between 0 and {bound - 1}, the rows of the model's word table"
                break
    if problem:
        raise UserError(f"cannot load the tokenizer {shown(path)}: {problem}")


def _check_sha256(path: Path, expected: str, key: str) -> None:
    try:
        actual = sha256_file(path)
    except OSError as error:
        raise cannot("read", path, error) from error
    if actual != expected:
        raise UserError(f"{shown(path)} does not match {key} in {MANIFEST_FILE}: the bundle is corrupt or edited")


def check_graph_metadata(found: Mapping[str, str], bundle: Bundle, graph: Path | None = None) -> None:
    """Refuse a graph whose `metadata_props` disagree with the manifest (labels, tokenizer, weights file).

    Args:
        found (`Mapping[str, str]`): the graph's metadata, as onnxruntime reads it.
        bundle (`Bundle`): the bundle, whose manifest holds the expected values.
        graph (`Path`, *optional*): the graph file, for the message; defaults to the scoring graph.
    """
    graph = graph or bundle.model_path
    found = {key: value for key, value in found.items() if key.startswith("sentiment_batch.")}
    expected = bundle.manifest.graph_metadata()
    for key in sorted(expected.keys() | found.keys()):
        if found.get(key) != expected.get(key):
            raise UserError(
                f"{shown(graph.name)} and {MANIFEST_FILE} disagree on {key} (graph: "
                f"{_short(found.get(key))}, manifest: {_short(expected.get(key))}): the bundle is corrupt or edited"
            )


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
        raise UserError(f"onnxruntime {ort.__version__} cannot load {shown(path)}: {first_line(error)}") from error


def open_bundle_session(bundle: Bundle, options=None, *, explain: bool = False):
    """An onnxruntime session over a bundle's graph that reads weights from the manifest's weights file only, its
    metadata, inputs and outputs checked against the manifest; every refusal is a one-line `UserError`.

    The graph goes to onnxruntime as bytes with the weights file as its one in-memory external file, and an empty
    folder for any other: a graph whose weights point anywhere else, subgraphs included, does not load.

    Args:
        bundle (`Bundle`): from `load_bundle`.
        options (`onnxruntime.SessionOptions | None`): session options; onnxruntime's defaults when None.
        explain (`bool`, *optional*, defaults to False): the explain graph instead of the scoring graph.
    """
    import numpy as np
    import onnxruntime as ort

    path = bundle.explain_path if explain else bundle.model_path
    if path is None:
        raise UserError(f"bundle {shown(bundle.path)} has no explain graph; export the model again to explain")
    options = options or ort.SessionOptions()
    try:
        graph = path.read_bytes()
        if bundle.data_path is None:
            weights, name = np.zeros(1, dtype=np.uint8), _NO_WEIGHTS_FILE
        else:  # mapped, not read: onnxruntime copies what it needs
            weights, name = np.memmap(bundle.data_path, dtype=np.uint8, mode="r"), bundle.manifest.data_file
    except OSError as error:
        raise cannot("read", bundle.path, error) from error
    except ValueError as error:  # numpy cannot map an empty file
        raise UserError(f"{shown(bundle.data_path)} is empty: it holds no weights") from error
    options.add_external_initializers_from_files_in_memory([name], [weights], [len(weights)])
    with tempfile.TemporaryDirectory(prefix="sentiment-batch-no-weights-") as empty:
        options.add_session_config_entry(_EXTERNAL_DATA_FOLDER, empty)
        try:
            session = ort.InferenceSession(graph, options, providers=["CPUExecutionProvider"])
        except Exception as error:  # onnxruntime raises untyped errors for graphs it cannot load
            raise _unloadable(bundle, path, error) from error
    check_graph_metadata(session.get_modelmeta().custom_metadata_map, bundle, path)
    check_graph_io(session, path, bundle.labels, EXPLAIN_OUTPUT_NAMES if explain else OUTPUT_NAMES)
    return session


def _unloadable(bundle: Bundle, path: Path, error: Exception) -> UserError:
    """The one line for a bundle graph onnxruntime refused: weights read from another file, or its own reason."""
    import onnxruntime as ort

    other = _OTHER_WEIGHTS.search(str(error))
    if other is None:
        return UserError(f"onnxruntime {ort.__version__} cannot load {shown(path)}: {first_line(error)}")
    data_file = bundle.manifest.data_file
    where = f"not from {shown(data_file)}" if data_file else f"which {MANIFEST_FILE} does not name"
    return UserError(
        f"{shown(path.name)} reads its weights from {shown(other.group(1))}, {where}: the bundle is corrupt or edited"
    )


def check_graph_io(
    session, path: Path, labels: tuple[str, ...] | None = None, output_names: tuple[str, ...] = OUTPUT_NAMES
) -> None:
    """Refuse a graph whose inputs and outputs are not the bundle format's, or not one column per label.

    Args:
        session (`onnxruntime.InferenceSession`): a session over the graph.
        path (`Path`): the graph file, for the message.
        labels (`tuple[str, ...]`, *optional*): the bundle's labels; when given, the outputs' declared width
            must be their number.
        output_names (`tuple[str, ...]`, *optional*): the outputs the graph must have; the scoring graph's by
            default, `EXPLAIN_OUTPUT_NAMES` for the explain graph.
    """
    inputs = tuple(node.name for node in session.get_inputs())
    outputs = {node.name: node for node in session.get_outputs()}
    if inputs != INPUT_NAMES or not set(output_names) <= set(outputs):
        raise UserError(
            f"{shown(path)}: expected inputs {INPUT_NAMES} and outputs {output_names}, got {inputs} and "
            f"{tuple(outputs)}"
        )
    for name in OUTPUT_NAMES:
        shape = outputs[name].shape
        width = shape[-1] if shape else None
        if labels is not None and isinstance(width, int) and width != len(labels):
            raise UserError(f"{shown(path)}: {name} has {width} columns but the bundle has {len(labels)} labels")
