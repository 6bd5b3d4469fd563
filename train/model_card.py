"""The model card (README.md) written beside a trained model."""

from __future__ import annotations

import json
from pathlib import Path

TEMPLATE = """---
library_name: transformers
tags: [sentiment-analysis, text-classification, embedding-bag, sentiment-batch]
datasets: [{dataset_tag}]
metrics: [accuracy, f1]
---

# sentiment-batch model

A bag-of-n-grams sentiment classifier (`{model_type}`): the review's word and hashed n-gram rows
(`nn.EmbeddingBag`, each row weighted by its naive Bayes log-count ratio when `feature_weighting` is on and
counted once per review when `distinct_ngrams` is on), pooled by `{pooling}`, then {mlp}, then logits for {labels}.
Trained with `transformers.Trainer` by `sentiment-batch train`.

## Data

- Source: `{dataset}`
- Splits: {split_sizes}
- The validation split is carved from train ({grouping}) and selects the checkpoint; the test split,
  when present, is only reported.

## Recipe

{recipe}

## Settings

```json
{settings}
```

## Metrics

| metric | value |
|---|---|
{metric_rows}

## Use

With Hugging Face `transformers` (the modeling code travels with the folder):

```python
from transformers import pipeline

classifier = pipeline("text-classification", model="{output_name}", trust_remote_code=True)
classifier("A wonderful film.")
```

As a batch scorer (an ONNX bundle and the light `sentiment-batch` runtime):

```bash
sentiment-batch export --model {output_name} --output {output_name}-bundle
sentiment-batch score reviews.parquet --bundle {output_name}-bundle --output scored.parquet
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


def write_model_card(
    output_dir: str | Path,
    model_name: str,
    config,
    dataset: str,
    split_sizes: dict[str, int],
    settings: dict,
    metrics: dict,
) -> None:
    """Write README.md with data, settings and metrics.

    Args:
        output_dir (`str | Path`): the folder to write to.
        model_name (`str`): the model folder's final name, for the usage lines.
        config (`SentimentBagConfig`): the trained model's config.
        dataset (`str`): the `--dataset` the model was trained on.
        split_sizes (`dict[str, int]`): rows per split.
        settings (`dict`): the arguments that shaped the run.
        metrics (`dict`): the final metrics (`all_results.json`).
    """
    blocks = [f"[Linear {width} → BatchNorm → ReLU → Dropout]" for width in config.hidden_dims]
    mlp = " → ".join(blocks) or "no hidden layer"
    rows = "\n".join(f"| {name} | {value:.4f} |" for name, value in sorted(metrics.items()) if isinstance(value, float))
    text = TEMPLATE.format(
        dataset_tag="stanfordnlp/imdb" if "imdb" in dataset.lower() else "custom",
        model_type=config.model_type,
        pooling=config.pooling,
        mlp=mlp,
        labels=", ".join(config.id2label.values()),
        dataset=dataset,
        split_sizes=", ".join(f"{name} {size:,}" for name, size in split_sizes.items()),
        grouping="grouped by movie where movie ids are known",
        recipe=recipe(settings, metrics),
        settings=json.dumps(settings, indent=2, default=str),
        metric_rows=rows,
        output_name=model_name,
    )
    Path(output_dir, "README.md").write_text(text, encoding="utf-8")
