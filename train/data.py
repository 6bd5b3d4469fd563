"""Load IMDb-shaped reviews (Hub id, aclImdb folder or tarball, Parquet/CSV/JSONL files) as `datasets` splits."""

from __future__ import annotations

import itertools
import logging
import os
import random
import re
import socket
import tarfile
import zlib
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import datasets
import pyarrow.parquet
from datasets import ClassLabel, Dataset, DatasetDict, Features, Value
from datasets.exceptions import DatasetGenerationError
from huggingface_hub.constants import ENDPOINT as HUB_ENDPOINT
from tqdm.auto import tqdm

from sentiment_batch.errors import UserError, cannot, first_line

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

LABEL_IDS = {0: 0, 1: 1, "neg": 0, "pos": 1, "negative": 0, "positive": 1}
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


def load_splits(source: str, validation_size: float = 0.1, seed: int = 42) -> DatasetDict:
    """Load labelled reviews as `train`, `validation` (carved from train) and, when the source has one, `test`.

    Args:
        source (`str`): a Hub dataset id, an aclImdb folder (or its parent), an aclImdb tarball, a Parquet/CSV/JSONL
            file (the train split) or a folder of `train.*`/`test.*` files.
        validation_size (`float`): share of train (0 < x < 1) or number of reviews (>= 1) held out for validation;
            grouped by movie when movie ids are known, so that no movie is on both sides.
        seed (`int`): seed of the validation split.

    Returns:
        `datasets.DatasetDict`: columns text, label (ClassLabel neg/pos), rating (-1 unknown), movie_id ("" unknown).
    """
    splits = _load_labelled(source)
    if "train" not in splits:
        raise UserError(f"{source} has no train split")
    train, validation = _carve_validation(splits["train"], validation_size, seed)
    result = DatasetDict({"train": train, "validation": validation})
    if "test" in splits:
        result["test"] = splits["test"]
    logger.info("loaded %s: %s", source, ", ".join(f"{name} {len(split):,}" for name, split in result.items()))
    return result


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


def load_unlabeled(source: str, unlabeled: str = AUTO) -> Dataset | None:
    """The unlabelled reviews to distil with, as one `text` column with no blank texts.

    Args:
        source (`str`): the labelled dataset, as given to `load_splits`.
        unlabeled (`str`, *optional*, defaults to `"auto"`): `"auto"` for the source's own unlabelled reviews
            (aclImdb `train/unsup`, the Hub's `unsupervised` split; none for other sources), `"none"`, or a
            Parquet/CSV/JSONL file or folder of them with a `text` column, or an aclImdb folder or tarball.

    Returns:
        `datasets.Dataset | None`: the texts, or None when there are none to use.
    """
    if unlabeled == NONE:
        return None
    if unlabeled == AUTO:
        texts = load_unsupervised(source)
    else:
        path = Path(unlabeled).expanduser()
        if not path.exists():
            raise UserError(f"unlabelled reviews {unlabeled} do not exist")
        texts = load_unsupervised(str(path)) if _is_aclimdb(path) else _load_texts(path)
        if texts is None:
            raise UserError(f"{unlabeled} holds no unlabelled reviews")
    if texts is None:
        return None
    return texts.filter(_has_text, batched=True, desc="dropping blank unlabelled reviews")


def _has_text(batch: dict) -> list[bool]:
    return [isinstance(text, str) and not text.isspace() and bool(text) for text in batch["text"]]


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
        return DatasetDict({name: _normalized(hub[name], f"{source}[{name}]") for name in FILE_SPLITS if name in hub})
    if _is_aclimdb(path):
        return _load_aclimdb(path)
    return DatasetDict({split: _load_file(file) for split, file in _split_files(path).items()})


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


def _load_file(file: Path) -> Dataset:
    return _normalized(_read_table(file), str(file))


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


def _normalized(dataset: Dataset, origin: str) -> Dataset:
    """Bring a text/label table to FEATURES, keeping rating and movie_id columns when present."""
    missing = [column for column in ("text", "label") if column not in dataset.column_names]
    if missing:
        found = ", ".join(dataset.column_names) or "none"
        raise UserError(f"{origin} lacks column(s) {', '.join(missing)}; columns found: {found}")
    if len(dataset) == 0:
        raise UserError(f"{origin} holds no reviews")
    label_ids = _label_ids(dataset["label"], origin)
    return dataset.map(
        _to_schema,
        batched=True,
        fn_kwargs={"label_ids": label_ids},
        features=FEATURES,
        remove_columns=dataset.column_names,
        desc="normalizing labels",
    )


def _label_ids(labels: Iterable, origin: str) -> dict:
    """Map each distinct label value to its class id, or name the values that are no label."""

    def label_id(value: object) -> int | None:
        key = value.strip().lower() if isinstance(value, str) else value
        return LABEL_IDS.get(key) if isinstance(key, (int, str)) else None

    # Keyed by repr: a column of mixed JSON values may hold unhashable ones.
    values = {repr(value): value for value in labels}
    bad = sorted(key for key, value in values.items() if label_id(value) is None)
    if bad:
        raise UserError(f"{origin} has labels {', '.join(bad[:10])}; expected 0/1 or neg/pos (negative/positive)")
    return {value: label_id(value) for value in values.values()}


def _to_schema(batch: dict[str, list], label_ids: dict) -> dict[str, list]:
    count = len(batch["text"])
    ratings = batch.get("rating", [None] * count)
    movie_ids = batch.get("movie_id", [None] * count)
    return {
        "text": [text or "" for text in batch["text"]],
        "label": [label_ids[label] for label in batch["label"]],
        "rating": [-1 if rating is None else int(rating) for rating in ratings],
        "movie_id": [str(movie_id or "") for movie_id in movie_ids],
    }


def _carve_validation(train: Dataset, validation_size: float, seed: int) -> tuple[Dataset, Dataset]:
    """Split off validation by whole movies (a seeded shuffle of movies taken until the share is reached)."""
    target = _validation_count(validation_size, len(train))
    movie_ids = train.data.column("movie_id").to_pylist()
    if not any(movie_ids):
        logger.warning(
            "no movie ids: validation is a random split, which shares movies with train and reads optimistic"
        )
    rows_by_group = defaultdict(list)
    for row, movie_id in enumerate(movie_ids):
        # A review of an unknown movie is a group of its own, which makes this a plain random split.
        rows_by_group[movie_id, -1 if movie_id else row].append(row)
    groups = sorted(rows_by_group)
    random.Random(seed).shuffle(groups)
    validation_rows = []
    for group in groups:
        if len(validation_rows) >= target:
            break
        validation_rows.extend(rows_by_group[group])
    held_out = set(validation_rows)
    if len(held_out) == len(train):
        raise UserError(f"validation_size {validation_size} leaves no training reviews ({len(train)} in train)")
    train_rows = [row for row in range(len(train)) if row not in held_out]
    return train.select(train_rows), train.select(sorted(validation_rows))


def _validation_count(validation_size: float, train_size: int) -> int:
    if 0 < validation_size < 1:
        return max(1, round(validation_size * train_size))
    if validation_size >= 1 and float(validation_size).is_integer() and validation_size < train_size:
        return int(validation_size)
    raise UserError(
        f"validation_size must be a fraction in (0, 1) or a whole count in [1, {train_size}), got {validation_size}"
    )
