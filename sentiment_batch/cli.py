"""The `sentiment-batch` console script: one subcommand per stage, each loaded only when called."""

from __future__ import annotations

import importlib
import logging
import sys

from .errors import UserError

# Subcommand → (module, summary). Modules load lazily so `score` never pays for torch.
COMMANDS = {
    "train": ("train.training", "train the model on IMDb-shaped data with transformers.Trainer"),
    "export": ("export.exporter", "export a trained model folder to a parity-checked ONNX bundle"),
    "verify": ("export.verify", "compare an ONNX bundle with its PyTorch model on a dataset"),
    "score": ("sentiment_batch.scoring_cli", "score CSV/Parquet files of reviews with an ONNX bundle"),
}
EXIT_USER_ERROR = 2


def usage() -> str:
    lines = ["usage: sentiment-batch COMMAND [ARGS...]", "", "commands:"]
    lines += [f"  {name:<8}{summary}" for name, (_, summary) in COMMANDS.items()]
    lines += ["", "Run `sentiment-batch COMMAND --help` for a command's options."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Dispatch to a subcommand's own `main(argv) -> int`.

    Args:
        argv (`list[str] | None`): arguments after the program name; `sys.argv[1:]` when None.
    """
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(usage())
        return 0 if argv else EXIT_USER_ERROR
    command, rest = argv[0], argv[1:]
    if command not in COMMANDS:
        print(f"sentiment-batch: unknown command {command!r}\n\n{usage()}", file=sys.stderr)
        return EXIT_USER_ERROR
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for package in ("sentiment_batch", "train", "export"):  # our progress lines, not every library's
        logging.getLogger(package).setLevel(logging.INFO)
    try:
        module = importlib.import_module(COMMANDS[command][0])
        return module.main(rest)
    except ModuleNotFoundError as error:
        if error.name in ("torch", "transformers", "datasets", "evaluate", "onnx", "wandb"):
            print(
                f"sentiment-batch {command}: needs {error.name}; install the training extra: "
                "pip install 'sentiment-batch[train]'",
                file=sys.stderr,
            )
            return EXIT_USER_ERROR
        raise
    except UserError as error:
        print(f"sentiment-batch {command}: error: {error}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print(f"sentiment-batch {command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
