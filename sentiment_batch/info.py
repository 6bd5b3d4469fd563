"""`sentiment-batch info`: what a bundle is and how good it measured, from its own files, torch-free.

Everything comes from the bundle folder: `bundle.json` (labels, format, the exporter's versions and the training
run's metrics, all hashed), `tokenizer.json`, and the model card (`README.md`, written by `train`; unhashed, read
for what the manifest does not carry: the settings and the rows of each source).
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

from .bundle import CARD_FILE, Bundle, default_bundle_path, load_bundle
from .errors import shown

# The training run's metric keys in bundle.json: `eval_<source>_accuracy` and the like, beside pooled ones.
_SOURCE_ACCURACY = re.compile(r"eval_(.+)_accuracy")
_POOLED = ("mean_source",)
# The card's settings that shape what the graph reads, shown as they are.
MODEL_SETTINGS = (
    "vocab_size",
    "min_frequency",
    "ngram_size",
    "num_buckets",
    "distinct_ngrams",
    "negation_window",
    "feature_weighting",
    "pooling",
    "embedding_dim",
    "hidden_dims",
)


def bundle_info(bundle: Bundle) -> dict:
    """What a bundle is and how it measured, as one JSON-ready dict.

    Keys: `bundle`, `shipped`, `labels`, `language` (None where the bundle does not record it), `version`
    (the package that exported it), `format_version`, `quantized`, `size_bytes` with `files`, `tokenizer`,
    `settings` (the model's, from the card), `training` (datasets, rows of each split and of each source) and
    `metrics` (the validation split pooled and per source: rows, accuracy, ECE).

    Args:
        bundle (`Bundle`): from `load_bundle`.
    """
    info = bundle.manifest.info
    card = read_card(bundle.path)
    settings = card_settings(card)
    sources = card_sources(card)
    files = {path.name: path.stat().st_size for path in bundle.files}
    if (bundle.path / CARD_FILE).is_file():
        files[CARD_FILE] = (bundle.path / CARD_FILE).stat().st_size
    return {
        "bundle": str(bundle.path),
        "shipped": bundle.path.resolve() == default_bundle_path().resolve(),
        "labels": list(bundle.labels),
        "language": info.get("language", info.get("languages")),
        "version": info.get("versions", {}).get("sentiment_batch"),
        "format_version": bundle.manifest.format_version,
        "quantized": bool(info.get("quantized")),
        "size_bytes": sum(files.values()),
        "files": files,
        "tokenizer": tokenizer_info(bundle),
        "settings": {key: settings[key] for key in MODEL_SETTINGS if key in settings},
        "training": {"datasets": settings.get("dataset"), "splits": card_splits(card), "sources": sources},
        "metrics": validation_metrics(info.get("source", {}).get("metrics", {}), sources),
    }


def read_card(folder: Path) -> str:
    """The model card's text, or "" when the bundle has none or it cannot be read as UTF-8."""
    try:
        return (folder / CARD_FILE).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return ""


def card_section(card: str, title: str) -> str:
    """The body of the card's `## <title>` section, "" when there is none."""
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", card, re.S | re.M)
    return match.group(1) if match else ""


def card_settings(card: str) -> dict:
    """The training run's settings: the JSON block of the card's Settings section ({} when absent or unreadable)."""
    match = re.search(r"```json\n(.*?)\n```", card_section(card, "Settings"), re.S)
    try:
        settings = json.loads(match.group(1)) if match else {}
    except ValueError:
        return {}
    return settings if isinstance(settings, dict) else {}


def card_splits(card: str) -> dict[str, int]:
    """Rows of each split the run was trained and validated on, from the card's `- Splits:` line."""
    match = re.search(r"^- Splits: (.*)$", card_section(card, "Data"), re.M)
    pairs = re.findall(r"(\w+) ([\d,]+)", match.group(1)) if match else []
    return {name: int(count.replace(",", "")) for name, count in pairs}


def card_sources(card: str) -> list[dict]:
    """Each source of the card's sources table: its name, file, rows per split and licence."""
    rows = markdown_table(card_section(card, "Data"))
    keys = {"from": "origin", "training rows": "training_rows", "validation": "validation_rows", "test": "test_rows"}
    sources = []
    for row in rows:
        source = {"name": row["source"]}
        for title, key in keys.items():
            if title in row:
                value = row[title].strip("`")
                source[key] = int(value.replace(",", "")) if key.endswith("_rows") else value
        if "licence" in row:
            source["licence"] = row["licence"]
        sources.append(source)
    return sources


def markdown_table(text: str) -> list[dict[str, str]]:
    """The rows of the first markdown table in `text`, as dicts keyed by its header's titles."""
    lines = [line.strip() for line in text.splitlines() if line.strip().startswith("|")]
    if len(lines) < 2:
        return []
    header, *rows = ([cell.strip() for cell in line.strip("|").split("|")] for line in lines)
    return [dict(zip(header, row, strict=False)) for row in rows[1:]]  # rows[0] is the |---| line


def tokenizer_info(bundle: Bundle) -> dict:
    """The tokenizer's model type, its vocabulary size, its normalizers and how it splits words."""
    tokenizer = json.loads(bundle.tokenizer_path.read_text(encoding="utf-8"))
    normalizer = tokenizer.get("normalizer") or {}
    steps = normalizer.get("normalizers", [normalizer] if normalizer else [])
    return {
        "type": tokenizer.get("model", {}).get("type"),
        "vocab_size": bundle.manifest.vocab_size or len(tokenizer.get("model", {}).get("vocab", {})),
        "normalizers": [step.get("type") for step in steps],
        "pre_tokenizer": (tokenizer.get("pre_tokenizer") or {}).get("type"),
    }


def validation_metrics(metrics: dict, sources: list[dict]) -> dict:
    """The training run's validation figures: pooled, and per source with its rows where the card gives them.

    Args:
        metrics (`dict`): `bundle.json`'s `source.metrics` (the run's `all_results.json`).
        sources (`list[dict]`): the card's sources (`card_sources`), for each source's validation rows.
    """
    confusion = metrics.get("eval_confusion_matrix")
    rows = {source["name"]: source.get("validation_rows") for source in sources}
    names = [match.group(1) for key in metrics if (match := _SOURCE_ACCURACY.fullmatch(key))]
    per_source = {
        name: {
            "rows": rows.get(name),
            "accuracy": metrics[f"eval_{name}_accuracy"],
            "ece": metrics.get(f"eval_{name}_ece"),
        }
        for name in names
        if name not in _POOLED
    }
    return {
        "validation": {
            "rows": sum(map(sum, confusion)) if confusion else None,
            "accuracy": metrics.get("eval_accuracy"),
            "macro_f1": metrics.get("eval_macro_f1"),
            "ece": metrics.get("eval_ece"),
            "temperature": metrics.get("temperature"),
            "mean_source_accuracy": metrics.get("eval_mean_source_accuracy"),
        },
        "sources": per_source,
    }


def describe(info: dict) -> str:
    """`bundle_info` as the lines `sentiment-batch info` prints."""
    tokenizer, settings, training = info["tokenizer"], info["settings"], info["training"]
    validation = info["metrics"]["validation"]
    lines = [
        f"bundle      {shown(info['bundle'])}{' (shipped with the package)' if info['shipped'] else ''}",
        f"labels      {', '.join(info['labels'])}",
        f"language    {info['language'] or 'not recorded'}",
        f"version     sentiment-batch {info['version'] or 'unknown'}, bundle format {info['format_version']}"
        f"{', float16 weights' if info['quantized'] else ''}",
        f"size        {info['size_bytes'] / 1e6:.1f} MB in {len(info['files'])} files",
        f"tokenizer   {tokenizer['type']}, {tokenizer['vocab_size']:,} words, "
        f"{' + '.join(tokenizer['normalizers']) or 'no normalizer'}, {tokenizer['pre_tokenizer']} pre-tokenizer",
    ]
    if settings:
        lines.append(f"settings    {', '.join(f'{key} {value}' for key, value in settings.items())}")
    if training["datasets"] or training["splits"]:
        splits = ", ".join(f"{name} {count:,}" for name, count in training["splits"].items())
        lines.append(
            f"trained on  {', '.join(training['datasets'] or [])} ({splits}; {len(training['sources'])} sources)"
        )
    if validation["accuracy"] is not None:
        lines.append(
            f"validation  accuracy {validation['accuracy']:.4f}, macro-F1 {validation['macro_f1']:.4f}, "
            f"ECE {validation['ece']:.4f}"
        )
    return "\n".join(lines + source_lines(info["metrics"]["sources"]))


def source_lines(sources: dict) -> list[str]:
    """The per-source table of `describe`: rows, accuracy and ECE of each source's validation split."""
    if not sources:
        return []
    width = max(len(name) for name in sources)
    lines = ["", f"{'source':<{width}}  {'rows':>7}  accuracy  ECE"]
    for name, figures in sources.items():
        rows = "" if figures["rows"] is None else f"{figures['rows']:,}"
        ece = "" if figures["ece"] is None else f"{figures['ece']:.4f}"
        lines.append(f"{name:<{width}}  {rows:>7}  {figures['accuracy']:.4f}    {ece}")
    return lines


def build_parser() -> argparse.ArgumentParser:
    """Options of `sentiment-batch info`."""
    parser = argparse.ArgumentParser(
        prog="sentiment-batch info",
        description="Describe a bundle: labels, language, version, size, tokenizer and n-gram settings, what it "
        "was trained on, and its validation accuracy and calibration per source, from the bundle's own files.",
    )
    parser.add_argument(
        "--bundle", type=Path, default=None, help="bundle folder (default: the bundle shipped with the package)"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    return parser


def main(argv: list[str]) -> int:
    """Run `sentiment-batch info` with the arguments that follow `info`."""
    args = build_parser().parse_args(argv)
    info = bundle_info(load_bundle(args.bundle))
    print(json.dumps(info) if args.json else describe(info))
    return 0
