"""Where a run reports, decided once: Weights & Biases (offline unless the user configured an account, never an
interactive login), or nowhere."""

from __future__ import annotations

import contextlib
import logging
import netrc
import os
import sys
from collections.abc import Iterator
from pathlib import Path

from transformers import TrainerCallback

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


class Tracking:
    """Where a run reports, decided once (`for_report_to`): this base reports nowhere and imports no tracker."""

    @contextlib.contextmanager
    def run_folder(self, run_dir: Path) -> Iterator[None]:
        """The tracker's set-up for the block, its files under `run_dir` (the model folder being written)."""
        yield

    def start_run(self, name: str | None, config: dict) -> None:
        """Start the run before the Trainer's own phase (the teachers log into it too)."""

    def phase_callbacks(self, phase: str) -> list:
        """The Trainer callbacks of a phase with no run of its own (a teacher)."""
        return []

    def log_phase(self, phase: str, values: dict) -> None:
        """Log a phase's figures under `phase/`."""

    def log_final_results(self, metrics: dict, predictions, references, labels: list[str]) -> None:
        """Add the final figures and the confusion matrix, and finish the run."""

    def print_sync_hint(self, model_dir: Path) -> None:
        """Name the published run's files, if any."""


def log_phase(phase: str, values: dict) -> None:
    """Log a phase's figures to the active W&B run, if any, under `phase/`.

    Args:
        phase (`str`): the phase, e.g. `teachers`.
        values (`dict`): numbers to log.
    """
    wandb = sys.modules.get("wandb")
    if wandb is not None and wandb.run is not None:
        wandb.log({f"{phase}/{name}": value for name, value in values.items()})


class PhaseLogger(TrainerCallback):
    """Forwards a Trainer's logs to the active W&B run under a prefix: a phase with no run of its own (a teacher)."""

    def __init__(self, phase: str):
        self.phase = phase

    def on_log(self, args, state, control, logs=None, **kwargs):
        numbers = {name: value for name, value in (logs or {}).items() if isinstance(value, (int, float))}
        log_phase(self.phase, {**numbers, "step": state.global_step})


class WandbTracking(Tracking):
    """Reporting to Weights & Biases: offline unless the user configured an account, never a login prompt."""

    @contextlib.contextmanager
    def run_folder(self, run_dir: Path) -> Iterator[str]:
        """Point wandb at `run_dir` and choose its mode without prompting, for the block only; yields the mode.

        Trainer's wandb callback reads its settings from the environment, so they are set here and restored
        afterwards. wandb's own messages are silenced: they name `run_dir`, a staging folder that is renamed
        when the run ends (`print_sync_hint` names the final one).

        Args:
            run_dir (`Path`): where the `wandb/` run folder goes (the model folder being written).
        """
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
            wandb = sys.modules.get("wandb")
            if wandb is not None and wandb.run is not None:  # a run that failed: later runs must not merge into it
                wandb.finish(exit_code=1)
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value

    def start_run(self, name: str | None, config: dict) -> None:
        """Start the W&B run early, so that phases before the Trainer's own (the teachers) log into it too.

        Trainer's wandb callback then reports into this run instead of starting one.

        Args:
            name (`str | None`): the run's name (`TrainingArguments.run_name`).
            config (`dict`): the run's settings.
        """
        import wandb

        if wandb.run is None:
            wandb.init(project=os.environ.get("WANDB_PROJECT", WANDB_PROJECT), name=name, config=config)

    def print_sync_hint(self, model_dir: Path) -> None:
        """Name the published run folder, and how to upload it when it was written offline.

        Args:
            model_dir (`Path`): the published model folder.
        """
        offline = sorted((model_dir / RUN_FOLDER).glob("offline-run-*"))
        if offline:
            print(f"W&B run saved offline; upload it with: wandb sync {offline[-1]}")
        elif (model_dir / RUN_FOLDER).is_dir():
            print(f"W&B run files: {model_dir / RUN_FOLDER}")

    def log_final_results(self, metrics: dict, predictions, references, labels: list[str]) -> None:
        """Add the final figures and a confusion matrix to the active run, then finish it and wait for its files.

        Args:
            metrics (`dict`): final metrics, already prefixed (`eval_…`, `test_…`); the numbers go to the summary.
            predictions (`Sequence[int]`): predicted labels of the split the matrix is about.
            references (`Sequence[int]`): its true labels.
            labels (`list[str]`): label names in index order.
        """
        import wandb

        if wandb.run is None:
            return
        numbers = {name: value for name, value in metrics.items() if isinstance(value, (int, float))}
        wandb.run.summary.update({f"final/{name}": value for name, value in numbers.items()})
        matrix = wandb.plot.confusion_matrix(y_true=list(references), preds=list(predictions), class_names=labels)
        wandb.log({"confusion_matrix": matrix})
        url = wandb.run.url
        wandb.finish()
        # finish() can return before the service has written the run file; teardown waits for it, so the run
        # folder is complete when the command returns, also to callers in the same process (atexit is later).
        wandb.teardown()
        if url:
            logger.info("W&B run: %s", url)

    def phase_callbacks(self, phase: str) -> list:
        return [PhaseLogger(phase)]

    def log_phase(self, phase: str, values: dict) -> None:
        log_phase(phase, values)


def for_report_to(report_to: list[str]) -> Tracking:
    """The tracking of a run that reports to `report_to` (`TrainingArguments.report_to`).

    Args:
        report_to (`list[str]`): the integrations; W&B is the one the project's own phases report to.
    """
    return WandbTracking() if "wandb" in report_to else Tracking()
