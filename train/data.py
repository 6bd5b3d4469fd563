"""Read labelled and unlabelled reviews (Hub id, aclImdb folder or tarball, Parquet/CSV/JSONL files) as `datasets`."""

from __future__ import annotations

import itertools
import json
import logging
import os
import re
import socket
import tarfile
import zlib
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from urllib.parse import urlsplit

import datasets
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet
from datasets import ClassLabel, Dataset, DatasetDict, Features, Value
from datasets.exceptions import DatasetGenerationError
from datasets.table import InMemoryTable
from huggingface_hub.constants import ENDPOINT as HUB_ENDPOINT
from tqdm.auto import tqdm

from sentiment_batch.errors import UserError, cannot, first_line
from sentiment_batch.labels import SOURCE_COLUMN
from sentiment_batch.text import row_error

logger = logging.getLogger(__name__)

DEFAULT_HUB_DATASET = "stanfordnlp/imdb"
# `load_unlabeled`'s choices besides a path.
AUTO, NONE = "auto", "none"
LABEL_NAMES = ["neg", "pos"]
FEATURES = Features(
    {
        "text": Value("string"),
        "label": ClassLabel(names=LABEL_NAMES),
        "rating": Value("int32"),
        "movie_id": Value("string"),
    }
)
# aclImdb reviews carry their split so that one archive pass serves train and test.
ACLIMDB_FEATURES = Features({"split": Value("string"), **FEATURES})
UNSUPERVISED_FEATURES = Features({"text": Value("string")})
# Every labelled split, whatever its origin; "label" keeps the source's own type until the run's labels are known.
LABELLED_FEATURES = {
    "text": Value("string"),
    "label": Value("string"),
    "rating": Value("int32"),
    "movie_id": Value("string"),
    SOURCE_COLUMN: Value("string"),
}
FILE_BUILDERS = {".parquet": "parquet", ".csv": "csv", ".jsonl": "json"}
FILE_SPLITS = ("train", "test")
# Matched on the path's tail so that any top folder name (or none) in a tarball works.
REVIEW_PATH = re.compile(r"(?:^|/)(train|test)/(pos|neg|unsup)/(\d+)_(\d+)\.txt$")
URLS_PATH = re.compile(r"(?:^|/)(train|test)/urls_(pos|neg|unsup)\.txt$")
MOVIE_URL = re.compile(r"/title/(tt\d+)")
HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*/[\w.-]+")
HUB_CONNECT_TIMEOUT_S = 3
TARBALL_SUFFIXES = (".tar.gz", ".tgz", ".tar")
ACLIMDB_EXPECTED = "an aclImdb folder (train/pos/*.txt, train/neg/*.txt), its parent, or train.parquet/csv/jsonl files"


class NoReviewsError(UserError):
    """An aclImdb source holds none of the requested reviews (raised inside a generator, which cannot be empty)."""


def read_labelled(source: str) -> DatasetDict:
    """One dataset argument's labelled reviews: `train`, and `test` when the source has one, labels as written.

    Args:
        source (`str`): a Hub dataset id, an aclImdb folder (or its parent), an aclImdb tarball, a Parquet/CSV/JSONL
            file (the train split) or a folder of `train.*`/`test.*` files.

    Returns:
        `datasets.DatasetDict`: columns text, label (as written, or a `ClassLabel`), rating (-1 unknown), movie_id
        ("" unknown) and source (the file's `source` column, else `source_name(source)`).
    """
    splits = _load_labelled(source)
    if "train" not in splits:
        raise UserError(f"{source} has no train split")
    name = source_name(source)
    return DatasetDict({split: _normalized(dataset, f"{source}[{split}]", name) for split, dataset in splits.items()})


def source_name(source: str) -> str:
    """A dataset argument's short name, used for its metrics: "imdb" for aclImdb, else the file or folder name.

    Args:
        source (`str`): the dataset argument.
    """
    path = Path(source).expanduser()
    if not path.exists():
        name = source.rstrip("/").rsplit("/", 1)[-1]
    elif _is_aclimdb(path):
        name = "imdb"
    else:
        name = path.name
        for suffix in (*TARBALL_SUFFIXES, *FILE_BUILDERS):
            name = name.removesuffix(suffix)
    return safe_name(name)


def movie_reviews(source: str) -> bool:
    """Whether a dataset argument is IMDb's movie reviews (an aclImdb folder or tarball, or a Hub dataset named
    imdb), where a validation split that shares movies with training reads optimistic.

    Args:
        source (`str`): the dataset argument.
    """
    path = Path(source).expanduser()
    return _is_aclimdb(path) if path.exists() else source.rstrip("/").rsplit("/", 1)[-1].lower() == "imdb"


def safe_name(name: str) -> str:
    """`name` with every character other than letters, digits, `.`, `_` and `-` turned into `_` (metric keys)."""
    return re.sub(r"[^\w.-]", "_", name.strip()) or "_"


def load_unsupervised(source: str) -> Dataset | None:
    """Load the unlabelled reviews (aclImdb `train/unsup`, the Hub's `unsupervised` split) as one `text` column.

    Args:
        source (`str`): a Hub dataset id or an aclImdb folder or tarball; other sources have no unlabelled reviews.

    Returns:
        `datasets.Dataset | None`: the texts, or None when the source has none.
    """
    path = Path(source).expanduser()
    if not path.exists():
        unsupervised = _load_hub(source).get("unsupervised")
        return None if unsupervised is None else unsupervised.select_columns(["text"])
    if not _is_aclimdb(path):
        return None
    try:
        return _build(_generate_unsupervised, path, UNSUPERVISED_FEATURES)
    except NoReviewsError:
        return None


def load_unlabeled(sources: str | Sequence[str], unlabeled: str | Sequence[str] = (AUTO,)) -> Dataset | None:
    """The unlabelled reviews to distil with, as one `text` column with no blank texts.

    Args:
        sources (`str | Sequence[str]`): the labelled datasets, as given to `read_labelled`.
        unlabeled (`str | Sequence[str]`, *optional*, defaults to `("auto",)`): `"auto"` for the sources' own
            unlabelled reviews (aclImdb `train/unsup`, the Hub's `unsupervised` split; none for other sources),
            `"none"` alone, and any Parquet/CSV/JSONL files or folders of them with a `text` column, or aclImdb
            folders or tarballs.

    Returns:
        `datasets.Dataset | None`: the texts, or None when there are none to use.
    """
    sources = [sources] if isinstance(sources, str) else list(sources)
    unlabeled = [unlabeled] if isinstance(unlabeled, str) else list(unlabeled)
    if unlabeled == [NONE]:
        return None
    parts = []
    for item in unlabeled:
        if item == AUTO:
            parts += [texts for source in sources if (texts := load_unsupervised(source)) is not None]
        else:
            parts.append(_load_unlabeled_path(item))
    if not parts:
        return None
    texts = parts[0] if len(parts) == 1 else datasets.concatenate_datasets(parts)
    return texts.filter(has_text, batched=True, desc="dropping blank unlabelled reviews")


def _load_unlabeled_path(unlabeled: str) -> Dataset:
    path = Path(unlabeled).expanduser()
    if not path.exists():
        raise UserError(f"unlabelled reviews {unlabeled} do not exist")
    texts = load_unsupervised(str(path)) if _is_aclimdb(path) else _load_texts(path)
    if texts is None:
        raise UserError(f"{unlabeled} holds no unlabelled reviews")
    return texts


def has_text(batch: dict) -> list[bool]:
    """`Dataset.filter` function: which reviews of a batch hold text (not blank)."""
    return [row_error(text) is None for text in batch["text"]]


def _load_texts(path: Path) -> Dataset:
    """The `text` column of a Parquet/CSV/JSONL file, or of every such file in a folder (sorted by name)."""
    files = [path] if path.is_file() else sorted(file for file in path.iterdir() if file.suffix in FILE_BUILDERS)
    if not files:
        raise UserError(f"{path} holds no .parquet, .csv or .jsonl files")
    parts = []
    for file in files:
        dataset = _read_table(file)
        if "text" not in dataset.column_names:
            raise UserError(f"{file} has no text column; columns found: {', '.join(dataset.column_names) or 'none'}")
        parts.append(dataset.select_columns(["text"]).cast(UNSUPERVISED_FEATURES))
    return datasets.concatenate_datasets(parts)


def _load_labelled(source: str) -> DatasetDict:
    path = Path(source).expanduser()
    if not path.exists():
        hub = _load_hub(source)
        return DatasetDict({name: hub[name] for name in FILE_SPLITS if name in hub})
    if _is_aclimdb(path):
        return _load_aclimdb(path)
    return DatasetDict({split: _read_table(file) for split, file in _split_files(path).items()})


def _load_hub(source: str) -> DatasetDict:
    if not HUB_ID.fullmatch(source):
        raise UserError(f"{source} does not exist")
    advice = f"no local path {source!r} exists; pass a local aclImdb folder or tarball instead"
    offline = _hub_offline()
    if offline and not datasets.config.HF_HUB_OFFLINE:
        # Set after datasets was imported, which then still goes online: refuse here instead.
        raise UserError(f"cannot load {source!r} from the Hugging Face Hub in offline mode (HF_HUB_OFFLINE); {advice}")
    if not offline and not _hub_reachable():
        raise UserError(
            f"cannot load {source!r}: the Hugging Face Hub ({HUB_ENDPOINT}) is unreachable; {advice}"
            " (or set HF_HUB_OFFLINE=1 to use a cached copy)"
        )
    try:
        return datasets.load_dataset(source)  # offline, a cached copy may still load
    except Exception as error:  # unreachable, uncached, unknown or gated: all end the same way for the user
        mode = " in offline mode (HF_HUB_OFFLINE)" if offline else ""
        raise UserError(
            f"cannot load {source!r} from the Hugging Face Hub{mode}: {first_line(error)}; {advice}"
        ) from None


def _hub_offline() -> bool:
    # datasets reads these variables once at import; read them again so a later setting still fails fast.
    flags = (os.environ.get(name, "") for name in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"))
    return datasets.config.HF_HUB_OFFLINE or any(flag.upper() in ("1", "ON", "YES", "TRUE") for flag in flags)


def _hub_reachable() -> bool:
    # huggingface_hub retries an unreachable host for ~25 s; one short connection attempt answers at once.
    if any(os.environ.get(name) for name in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")):
        return True  # only the proxy knows; let the download try
    url = urlsplit(HUB_ENDPOINT)
    try:
        socket.create_connection((url.hostname, url.port or 443), timeout=HUB_CONNECT_TIMEOUT_S).close()
    except OSError:
        return False
    return True


def _is_aclimdb(path: Path) -> bool:
    return path.name.endswith(TARBALL_SUFFIXES) if path.is_file() else _aclimdb_root(path) is not None


def _aclimdb_root(folder: Path) -> Path | None:
    for candidate in (folder, folder / "aclImdb"):
        if (candidate / "train" / "pos").is_dir() and (candidate / "train" / "neg").is_dir():
            return candidate
    return None


def _load_aclimdb(path: Path) -> DatasetDict:
    reviews = _build(_generate_labelled, path, ACLIMDB_FEATURES)
    split_names = reviews.data.column("split").to_pylist()
    splits = DatasetDict()
    for name in sorted(set(split_names)):
        # Reviews come sorted by split, so each split is one contiguous range.
        start = split_names.index(name)
        stop = start + split_names.count(name)
        splits[name] = reviews.select(range(start, stop)).remove_columns("split")
    return splits


def _build(generator: Callable, path: Path, features: Features) -> Dataset:
    # Size and mtime in gen_kwargs make the datasets cache fingerprint change when the data does.
    size, mtime = _size_and_mtime(path)
    gen_kwargs = {"path": str(path.resolve()), "size": size, "mtime": mtime}
    try:
        return Dataset.from_generator(generator, features=features, gen_kwargs=gen_kwargs)
    except DatasetGenerationError as error:
        if isinstance(error.__cause__, UserError):
            raise error.__cause__ from None
        raise


def _size_and_mtime(path: Path) -> tuple[int, int]:
    if path.is_file():
        stat = path.stat()
        return stat.st_size, stat.st_mtime_ns
    stats = [os.stat(os.path.join(folder, name)) for folder, _, names in os.walk(_aclimdb_root(path)) for name in names]
    return sum(stat.st_size for stat in stats), max((stat.st_mtime_ns for stat in stats), default=0)


def _generate_labelled(path: str, size: int, mtime: int) -> Iterator[dict]:
    """Yield the labelled aclImdb reviews sorted by split, label and review id."""
    reviews, urls = _read_aclimdb(Path(path), labels=("neg", "pos"))
    if not reviews:
        raise NoReviewsError(
            f"{path} holds no labelled reviews; expected aclImdb/train/{{pos,neg}}/ID_RATING.txt files"
        )
    for (split, label, review_id), (name, rating, content) in sorted(reviews.items()):
        movie_urls = urls.get((split, label), [])
        movie_id = _movie_id(movie_urls[review_id]) if review_id < len(movie_urls) else ""
        text = _decode(name, content)
        yield {"split": split, "text": text, "label": label, "rating": rating, "movie_id": movie_id}


def _generate_unsupervised(path: str, size: int, mtime: int) -> Iterator[dict]:
    """Yield the unlabelled aclImdb train reviews sorted by review id."""
    reviews, _ = _read_aclimdb(Path(path), labels=("unsup",), splits=("train",))
    if not reviews:
        raise NoReviewsError(f"{path} holds no unlabelled reviews")
    for _, (name, _, content) in sorted(reviews.items()):
        yield {"text": _decode(name, content)}


def _read_aclimdb(
    path: Path, labels: tuple[str, ...], splits: tuple[str, ...] = FILE_SPLITS
) -> tuple[dict[tuple[str, str, int], tuple[str, int, bytes]], dict[tuple[str, str], list[str]]]:
    """Read reviews as {(split, label, id): (name, rating, bytes)} and URL lists as {(split, label): lines}."""

    def wanted(name: str) -> bool:
        match = REVIEW_PATH.search(name) or URLS_PATH.search(name)
        return match is not None and match[1] in splits and match[2] in labels

    reviews, urls = {}, {}
    for name, content in tqdm(_iter_files(path, wanted), desc=f"reading {path.name}", unit=" files", leave=False):
        if review := REVIEW_PATH.search(name):
            split, label, review_id, rating = review.groups()
            reviews[split, label, int(review_id)] = (name, int(rating), content)
        else:
            split, label = URLS_PATH.search(name).groups()
            urls[split, label] = _decode(name, content).splitlines()
    return reviews, urls


def _iter_files(path: Path, wanted: Callable[[str], bool]) -> Iterator[tuple[str, bytes]]:
    """Yield (path inside the dataset, bytes) of the wanted files of an aclImdb tarball or folder."""
    if path.is_file():
        yield from _iter_tarball(path, wanted)
        return
    root = _aclimdb_root(path)
    for file in sorted(root.rglob("*.txt")):
        name = file.relative_to(root.parent).as_posix()
        if wanted(name):
            yield name, _read_bytes(file, name)


def _iter_tarball(path: Path, wanted: Callable[[str], bool]) -> Iterator[tuple[str, bytes]]:
    try:
        with tarfile.open(path) as archive:
            for member in archive:
                if member.isfile() and wanted(member.name):
                    yield member.name, archive.extractfile(member).read()
    except (tarfile.TarError, EOFError, zlib.error, OSError) as error:
        raise UserError(f"cannot read {path} as a tarball: {error}") from None


def _read_bytes(file: Path, name: str) -> bytes:
    try:
        return file.read_bytes()
    except OSError as error:
        raise cannot("read", name, error) from None


def _decode(name: str, content: bytes) -> str:
    try:
        return content.decode("utf-8")
    except UnicodeDecodeError:
        raise UserError(f"{name} is not valid UTF-8") from None


def _movie_id(url: str) -> str:
    match = MOVIE_URL.search(url)
    return match[1] if match else ""


def _split_files(path: Path) -> dict[str, Path]:
    if path.is_file():
        return {"train": path}
    splits = {}
    for split in FILE_SPLITS:
        candidates = sorted(file for file in path.iterdir() if file.stem == split and file.suffix in FILE_BUILDERS)
        if len(candidates) > 1:
            raise UserError(
                f"{path} has several {split} files ({', '.join(file.name for file in candidates)}); keep one"
            )
        if candidates:
            splits[split] = candidates[0]
    if "train" not in splits:
        raise UserError(f"{path} is not a dataset folder; expected {ACLIMDB_EXPECTED}")
    return splits


def _read_table(file: Path) -> Dataset:
    """A Parquet/CSV/JSONL file as it is, any problem (an empty file too) in one line."""
    builder = FILE_BUILDERS.get(file.suffix.lower())
    if builder is None:
        raise UserError(f"{file} has an unknown file type; expected .parquet, .csv, .jsonl or an aclImdb .tar.gz")
    try:
        return datasets.load_dataset(builder, data_files=str(file), split="train")
    except Exception as error:  # datasets fails on bad or empty files with many types; the user needs one line
        if _has_no_rows(file):
            raise UserError(f"{file} holds no reviews") from None
        raise UserError(f"cannot read {file}: {first_line(error.__cause__ or error)}") from None


def _has_no_rows(file: Path) -> bool:
    # Only asked after datasets failed: it fails on empty files (not returning zero rows), each type differently.
    if file.suffix.lower() == ".parquet":
        return pyarrow.parquet.read_metadata(file).num_rows == 0
    header_lines = 1 if file.suffix.lower() == ".csv" else 0
    with file.open("rb") as handle:
        return sum(1 for line in itertools.islice(handle, header_lines + 1) if line.strip()) <= header_lines


def _normalized(dataset: Dataset, origin: str, name: str) -> Dataset:
    """The columns text, label (as it is), rating, movie_id and source of a labelled table, column by column."""
    missing = [column for column in ("text", "label") if column not in dataset.column_names]
    if missing:
        found = ", ".join(dataset.column_names) or "none"
        raise UserError(f"{origin} lacks column(s) {', '.join(missing)}; columns found: {found}")
    if len(dataset) == 0:
        raise UserError(f"{origin} holds no reviews")
    table = dataset.with_format("arrow")[:]
    count = table.num_rows
    try:
        text = pc.fill_null(pc.cast(table["text"], pa.string()), "")
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        raise UserError(f"{origin}: its text column holds {table['text'].type} values, not text") from None
    columns = {
        "text": text,
        "label": table["label"],
        "rating": _per_value(table["rating"], _rating, pa.int32()) if "rating" in table.column_names else None,
        "movie_id": _strings(table["movie_id"]) if "movie_id" in table.column_names else None,
        "source": _per_value(_strings(table["source"]), lambda value: safe_name(value or name), pa.string())
        if SOURCE_COLUMN in table.column_names
        else None,
    }
    defaults = {"rating": (-1, pa.int32()), "movie_id": ("", pa.string()), "source": (name, pa.string())}
    for column, (value, kind) in defaults.items():
        if columns[column] is None:
            columns[column] = pa.repeat(pa.scalar(value, kind), count)
    features = Features({**LABELLED_FEATURES, "label": dataset.features["label"]})
    return Dataset(InMemoryTable(pa.table(columns)), info=datasets.DatasetInfo(features=features))


def _strings(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """A column as strings, "" where missing."""
    try:
        return pc.fill_null(pc.cast(column, pa.string()), "")
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return _per_value(column, lambda value: "" if value is None else str(value), pa.string())


def _per_value(column: pa.ChunkedArray, function: Callable, kind: pa.DataType) -> pa.Array:
    """`function` of every value of a column, computed once per distinct value (a column has few)."""
    values, positions = distinct_values(column)
    return pa.array([function(value) for value in values], kind).take(pa.array(positions))


def distinct_values(column: pa.ChunkedArray) -> tuple[list, np.ndarray]:
    """The distinct values of a column, and each row's index among them (int64 `[N]`).

    Arrow finds them where it can; a column of mixed JSON values is read value by value. Values Arrow cannot
    match (NaN) count as None.

    Args:
        column (`pa.ChunkedArray`): the column.
    """
    try:
        values = pc.unique(column)
        positions = pc.fill_null(pc.index_in(column, value_set=values), len(values))
        return [*values.to_pylist(), None], positions.to_numpy().astype(np.int64)
    except (pa.ArrowNotImplementedError, pa.ArrowInvalid):
        keys: dict[str, int] = {}
        items = column.to_pylist()
        if getattr(column.type, "extension_name", None) == "arrow.json":  # mixed JSON values, stored as JSON text
            items = [None if item is None else json.loads(item) for item in items]
        positions = np.asarray([keys.setdefault(repr(item), len(keys)) for item in items], dtype=np.int64)
        values = list({repr(item): item for item in items}.values())
        return values, positions


def _rating(value: object) -> int:
    """A review's rating as an integer, -1 when it is none (missing, not a whole number, out of range)."""
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            return -1
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not float(value).is_integer():
        return -1
    return int(value) if abs(value) < 1 << 31 else -1


def split_sources(split) -> tuple[np.ndarray, list[str]]:
    """Each row's source id `[N]` and the source names, in order of first appearance.

    Args:
        split (`datasets.Dataset`): a split with a `source` column.
    """
    column = split.with_format("arrow")[:][SOURCE_COLUMN]
    names = pc.unique(column)
    return pc.index_in(column, value_set=names).to_numpy().astype(np.int64), names.to_pylist()
