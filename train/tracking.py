"""Weights & Biases set-up: offline unless the user configured an account, never an interactive login."""

from __future__ import annotations

import contextlib
import logging
import netrc
import os
from collections.abc import Iterator
from pathlib import Path

logger = logging.getLogger(__name__)

WANDB_PROJECT = "sentiment-batch"
RUN_FOLDER = "wandb"  # inside the model folder


def wandb_configured() -> bool:
    """Whether the user gave wandb an account: an API key in the environment or a netrc login."""
    if os.environ.get("WANDB_API_KEY"):
        return True
    try:
        return netrc.netrc().authenticators("api.wandb.ai") is not None
    except (FileNotFoundError, netrc.NetrcParseError):
        return False


@contextlib.contextmanager
def wandb_run_folder(run_dir: Path, enabled: bool = True) -> Iterator[str | None]:
    """Point wandb at `run_dir` and choose its mode without prompting, for the block only; yields the mode.

    Trainer's wandb callback reads its settings from the environment, so they are set here and restored
    afterwards. wandb's own messages are silenced: they name `run_dir`, a staging folder that is renamed
    when the run ends (`print_sync_hint` names the final one).

    Args:
        run_dir (`Path`): where the `wandb/` run folder goes (the model folder being written).
        enabled (`bool`, *optional*, defaults to True): whether the run reports to wandb at all.
    """
    if not enabled:
        yield None
        return
    settings = {"WANDB_PROJECT": os.environ.get("WANDB_PROJECT", WANDB_PROJECT), "WANDB_DIR": str(run_dir)}
    settings["WANDB_SILENT"] = os.environ.get("WANDB_SILENT", "true")
    # A login prompt stalls headless jobs: without an account, write the run locally for `wandb sync`.
    if "WANDB_MODE" not in os.environ and not wandb_configured():
        settings["WANDB_MODE"] = "offline"
    saved = {name: os.environ.get(name) for name in settings}
    os.environ.update(settings)
    try:
        yield os.environ.get("WANDB_MODE", "online")
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def print_sync_hint(model_dir: Path) -> None:
    """Name the published run folder, and how to upload it when it was written offline.

    Args:
        model_dir (`Path`): the published model folder.
    """
    offline = sorted((model_dir / RUN_FOLDER).glob("offline-run-*"))
    if offline:
        print(f"W&B run saved offline; upload it with: wandb sync {offline[-1]}")
    elif (model_dir / RUN_FOLDER).is_dir():
        print(f"W&B run files: {model_dir / RUN_FOLDER}")


def log_final_results(metrics: dict[str, float], predictions, references, labels: list[str]) -> None:
    """Add the final figures and a confusion matrix to the active run, then finish it and wait for its files.

    Args:
        metrics (`dict[str, float]`): final metrics, already prefixed (`eval_…`, `test_…`).
        predictions (`Sequence[int]`): predicted labels of the split the matrix is about.
        references (`Sequence[int]`): its true labels.
        labels (`list[str]`): label names in index order.
    """
    import wandb

    if wandb.run is None:
        return
    wandb.run.summary.update({f"final/{name}": value for name, value in metrics.items()})
    matrix = wandb.plot.confusion_matrix(y_true=list(references), preds=list(predictions), class_names=labels)
    wandb.log({"confusion_matrix": matrix})
    url = wandb.run.url
    wandb.finish()
    # finish() can return before the service has written the run file; teardown waits for it, so the run
    # folder is complete when the command returns, also to callers in the same process (atexit is later).
    wandb.teardown()
    if url:
        logger.info("W&B run: %s", url)
