"""The model card (README.md) written beside a trained model."""

from __future__ import annotations

import json
from pathlib import Path

from sentiment_batch.bundle import CARD_FILE

TEMPLATE = """---
library_name: transformers
tags: [sentiment-analysis, text-classification, embedding-bag, sentiment-batch]
datasets: [{dataset_tag}]
metrics: [accuracy, f1]
---

# sentiment-batch model

A bag-of-n-grams sentiment classifier (`{model_type}`): the review's word and hashed n-gram rows
(`nn.EmbeddingBag`, each row weighted by its naive Bayes log-count ratio when `feature_weighting` is on and
counted once per review when `distinct_ngrams` is on), pooled by `{pooling}`, then {mlp}, then logits for
{labels}{label_values}.{neutral}
Trained with `transformers.Trainer` by `sentiment-batch train`.

## Data

- Datasets: {datasets}
- Splits: {split_sizes}
- Each source's validation split is carved from its training reviews ({grouping}){balancing}; the
  validation split selects the checkpoint{selection} and fits the temperature. The test split, when present,
  is only reported.
- `data_settings.json` records how the data was read and split: `sentiment-batch verify` and `export` carve the
  same splits from it.

{sources}
## Recipe

{recipe}

## Settings

```json
{settings}
```

## Metrics

{per_source}{calibration}{confusion}| metric | value |
|---|---|
{metric_rows}

## Use

With the light runtime (`pip install sentiment-batch`, no PyTorch), in the folder of this model's ONNX bundle:

```bash
sentiment-batch info --bundle .
sentiment-batch score reviews.csv --bundle . --output scored.csv
sentiment-batch evaluate --bundle . --dataset labelled.csv
```

The trained model folder, `{output_name}` (a bundle does not hold it), loads with Hugging Face `transformers` (the
modeling code travels with the folder) and exports to a bundle:

```python
from transformers import pipeline

classifier = pipeline("text-classification", model="{output_name}", trust_remote_code=True)
classifier("A wonderful film.")
```

```bash
sentiment-batch export --model {output_name} --output {output_name}-bundle
```
"""


def recipe(settings: dict, metrics: dict) -> str:
    """How the model was trained: on the labelled reviews alone, or distilled from teachers (with their figures)."""
    if "teachers" not in metrics:
        return "Trained on the labelled training reviews only."
    return (
        f"Distilled: {metrics['teachers']} teachers (this recipe, seeds {settings['seed']} and up) were trained "
        f"on the labelled training reviews and labelled {metrics['unlabeled_reviews']:,} unlabelled reviews with their "
        "averaged probabilities; this model was trained on both. Validation accuracy: the teachers "
        f"{metrics['teacher_eval_accuracy']:.4f} on average, their ensemble "
        f"{metrics['teacher_ensemble_eval_accuracy']:.4f}, this model {metrics['eval_accuracy']:.4f}. "
        "No validation or test review was pseudo-labelled."
    )


SOURCE_ROWS = (
    ("labelled", "labelled"),
    ("train", "kept"),
    ("weight", "weight"),
    ("weighted", "training rows"),
    ("validation", "validation"),
    ("test", "test"),
    ("surplus", "left out"),
)


def sources_table(data, licences: dict[str, str]) -> str:
    """Every source with its rows: labelled (training part before balancing), kept (after balancing and the cap),
    its weight and the training rows it gives, validation and test rows, and those left out (distilled from).

    Args:
        data (`LabelledData`): the run's data.
        licences (`dict[str, str]`): licence of each source name, when known.
    """
    columns = [title for _, title in SOURCE_ROWS] + (["licence"] if licences else [])
    lines = [
        f"| source | from | {' | '.join(columns)} |",
        "|---|---|" + "---:|" * len(SOURCE_ROWS) + "---|" * bool(licences),
    ]
    for source in data.sources:
        values = {**source.rows, "weight": source.weight}
        cells = [f"{values[key]:g}" if key == "weight" else f"{values.get(key, 0):,}" for key, _ in SOURCE_ROWS]
        cells += [licences.get(source.name, "not given")] if licences else []
        lines.append(f"| {source.name} | `{source.origin}` | {' | '.join(cells)} |")
    return "\n".join(lines) + "\n"


def per_source_table(metrics: dict, data) -> str:
    """Validation rows, accuracy and expected calibration error of each source, and their mean."""
    if len(data.sources) < 2:
        return ""
    lines = [
        "Validation split, per source (ECE: expected calibration error, 15 bins, at the fitted temperature and "
        "without it):",
        "",
        "| source | rows | accuracy | ECE | ECE uncalibrated |",
        "|---|---:|---:|---:|---:|",
    ]
    for source in data.sources:
        name = source.name
        if f"eval_{name}_accuracy" not in metrics:
            continue
        lines.append(
            f"| {name} | {source.rows['validation']:,} | {metrics[f'eval_{name}_accuracy']:.4f} | "
            f"{metrics.get(f'eval_{name}_ece', float('nan')):.4f} | "
            f"{metrics.get(f'eval_{name}_ece_uncalibrated', float('nan')):.4f} |"
        )
    lines.append(
        f"| **mean** | | {metrics['eval_mean_source_accuracy']:.4f} | {metrics.get('eval_mean_source_ece', 0):.4f} | "
        f"{metrics.get('eval_mean_source_ece_uncalibrated', 0):.4f} |"
    )
    return "\n".join(lines) + "\n\n"


def confusion_tables(config, metrics: dict) -> str:
    """The confusion matrix of each reported split, rows the true classes, columns the predicted ones."""
    names = list(config.id2label.values())
    tables = []
    for prefix, split in (("eval", "Validation"), ("test", "Test")):
        matrix = metrics.get(f"{prefix}_confusion_matrix")
        if matrix is None:
            continue
        lines = [
            f"{split} confusion matrix (rows: true class, columns: predicted class):",
            "",
            f"| true ↓ predicted → | {' | '.join(names)} |",
            "|---|" + "---:|" * len(names),
        ]
        lines += [
            f"| {name} | {' | '.join(f'{count:,}' for count in row)} |" for name, row in zip(names, matrix, strict=True)
        ]
        tables.append("\n".join(lines) + "\n\n")
    return "".join(tables)


def calibration_note(config, metrics: dict) -> str:
    """The temperature and what it did to the validation split's calibration error."""
    if "eval_ece" not in metrics:
        return ""
    return (
        f"Logits are divided by a temperature of {config.calibration_temperature:.4f} (`calibration_temperature` in "
        "`config.json`, inside the exported graph too): validation ECE "
        f"{metrics['eval_ece']:.4f}, {metrics['eval_ece_uncalibrated']:.4f} without it.\n\n"
    )


def write_model_card(
    output_dir: str | Path,
    model_name: str,
    config,
    data,
    settings: dict,
    metrics: dict,
    licences: dict[str, str] | None = None,
) -> None:
    """Write README.md with data, sources, settings and metrics.

    Args:
        output_dir (`str | Path`): the folder to write to.
        model_name (`str`): the model folder's final name, for the usage lines.
        config (`SentimentBagConfig`): the trained model's config.
        data (`LabelledData`): the run's labelled data (`splits.load_labelled`).
        settings (`dict`): the arguments that shaped the run.
        metrics (`dict`): the final metrics (`all_results.json`).
        licences (`dict[str, str]`, *optional*): each source's licence, listed beside it.
    """
    blocks = [f"[Linear {width} → BatchNorm → ReLU → Dropout]" for width in config.hidden_dims]
    mlp = " → ".join(blocks) or "no hidden layer"
    rows = "\n".join(f"| {name} | {value:.4f} |" for name, value in sorted(metrics.items()) if isinstance(value, float))
    origins = list(dict.fromkeys(source.origin for source in data.sources))
    several = len(data.sources) > 1
    text = TEMPLATE.format(
        dataset_tag="stanfordnlp/imdb" if any("imdb" in origin.lower() for origin in origins) else "custom",
        model_type=config.model_type,
        pooling=config.pooling,
        mlp=mlp,
        labels=", ".join(config.id2label.values()),
        label_values=" (ordinal: `label_values` in `config.json` gives the number each stands for)"
        if config.label_values
        else "",
        neutral=f"\n{len(config.neutral_token_ids):,} identity and name words (nationalities, ethnicities, religions, "
        "genders, sexualities, countries, first names: `neutral_token_ids` in `config.json`, listed in "
        "`sentiment_batch/train/neutral_words.py`) carry no weight, alone or in an n-gram."
        if config.neutral_token_ids
        else "",
        datasets=", ".join(f"`{origin}`" for origin in origins),
        split_sizes=", ".join(f"{name} {len(split):,}" for name, split in data.splits.items()),
        grouping="grouped by movie where movie ids are known, else a seeded random split",
        balancing=", then each class cut to the smallest class's count" if data.balanced else "",
        selection=" (on the mean accuracy over sources)" if several else "",
        sources=sources_table(data, licences or {}),
        recipe=recipe(settings, metrics),
        settings=json.dumps(settings, indent=2, default=str),
        per_source=per_source_table(metrics, data),
        calibration=calibration_note(config, metrics),
        confusion=confusion_tables(config, metrics),
        metric_rows=rows,
        output_name=model_name,
    )
    Path(output_dir, CARD_FILE).write_text(text, encoding="utf-8")
