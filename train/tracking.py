"""Weights & Biases set-up: offline unless the user configured an account, never an interactive login."""

from __future__ import annotations

import logging
import netrc
import os
from pathlib import Path

logger = logging.getLogger(__name__)

WANDB_PROJECT = "sentiment-batch"


def wandb_configured() -> bool:
    """Whether the user gave wandb an account: an API key in the environment or a netrc login."""
    if os.environ.get("WANDB_API_KEY"):
        return True
    try:
        return netrc.netrc().authenticators("api.wandb.ai") is not None
    except (FileNotFoundError, netrc.NetrcParseError):
        return False


def prepare_wandb(run_dir: str | Path) -> str:
    """Point wandb at `run_dir` and choose its mode without prompting; returns the mode used.

    Args:
        run_dir (`str | Path`): where the `wandb/` run folder goes (inside the model folder).
    """
    os.environ.setdefault("WANDB_PROJECT", WANDB_PROJECT)
    os.environ["WANDB_DIR"] = str(run_dir)
    # A login prompt stalls headless jobs: without an account, write the run locally for `wandb sync`.
    if "WANDB_MODE" not in os.environ and not wandb_configured():
        os.environ["WANDB_MODE"] = "offline"
    mode = os.environ.get("WANDB_MODE", "online")
    logger.info("Weights & Biases mode %s, run folder under %s/wandb", mode, run_dir)
    return mode


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
    wandb.finish()
    # finish() can return before the service has written the run file; teardown waits for it, so the run
    # folder is complete when the command returns, also to callers in the same process (atexit is later).
    wandb.teardown()
