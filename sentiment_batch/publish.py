"""Atomic publishing: an output file or folder appears at its path complete, or not at all.

Work goes to a hidden sibling named `.NAME.<random>.sentiment-batch.tmp`, created exclusively with an
unpredictable name (`tempfile`), and is renamed onto NAME only once complete. Whatever ends a run early
(an error, Ctrl-C, SIGTERM) removes the sibling; only `kill -9` can leave one, recognisable by that suffix.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import BinaryIO

from .errors import UserError, cannot, shown

TEMP_SUFFIX = ".sentiment-batch.tmp"
# The longest file name most file systems take, in bytes; the temporary's name must fit it too.
_NAME_MAX = 255
_RANDOM_CHARS = 8  # what tempfile puts between prefix and suffix
_FILE_MODE = 0o666
_FOLDER_MODE = 0o777


class OutputExistsError(UserError):
    """The output path exists and replacing it was not asked for."""


def check_output(path: Path, *, overwrite: bool, folder: bool) -> None:
    """Refuse, before any work is done, an output that exists (unless `overwrite`) or is of the other kind.

    Args:
        path (`Path`): the file or folder to publish.
        overwrite (`bool`): whether an existing one may be replaced.
        folder (`bool`): whether the output is a folder (else a file).
    """
    if not path.exists() and not path.is_symlink():
        return
    if path.is_dir() != folder:
        raise UserError(f"{shown(path)} exists and is {'a file' if folder else 'a folder'}; choose another path")
    if not overwrite:
        raise OutputExistsError(f"{shown(path)} already exists and replacing it was not asked for")


def check_output_path(output: Path, inputs: Sequence[Path], overwrite: bool, *, folder: bool = False) -> None:
    """Fail early on an output whose folder is missing, that exists (unless `overwrite`), or that is also an input.

    Args:
        output (`Path`): the output file (or, for the Spark engine, folder).
        inputs (`Sequence[Path]`): the input paths.
        overwrite (`bool`): whether an existing output may be replaced.
        folder (`bool`, *optional*, defaults to False): whether the output is a folder of part files.
    """
    if not output.parent.is_dir():
        raise UserError(f"output folder {shown(output.parent)} does not exist")
    if any(output.resolve() == path.resolve() for path in inputs):
        raise UserError(f"output {shown(output)} is also an input; write to another {'folder' if folder else 'file'}")
    check_output(output, overwrite=overwrite, folder=folder)


def check_apart(output: Path, inputs: Sequence[Path]) -> None:
    """Refuse an output that is, holds or lies inside one of the inputs: replacing it would delete an input, and
    writing into an input would change it.

    Args:
        output (`Path`): the file or folder to publish.
        inputs (`Sequence[Path]`): the paths read (those that do not exist, a Hub id say, are not paths).
    """
    target = output.resolve()
    for path in inputs:
        if not (path.exists() or path.is_symlink()):
            continue
        source = path.resolve()
        if target == source:
            raise UserError(f"output {shown(output)} is also an input; write somewhere else")
        if target in source.parents:
            raise UserError(f"output {shown(output)} holds the input {shown(path)}; write somewhere else")
        if source in target.parents:
            raise UserError(f"output {shown(output)} lies inside the input {shown(path)}; write somewhere else")


def temp_prefix(path: Path) -> str:
    """`.NAME.`, NAME cut so that the hidden temporary's whole name still fits in 255 bytes.

    Args:
        path (`Path`): the file or folder to publish.
    """
    name = os.fsencode(path.name)
    room = _NAME_MAX - len(TEMP_SUFFIX) - _RANDOM_CHARS - 2
    return f".{os.fsdecode(name[:room])}."


def _masked(mode: int) -> int:
    """`mode` less the process umask, read without setting it (os.umask would race with other threads)."""
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return mode & ~int(line.split()[1], 8)
    umask = os.umask(0o022)
    os.umask(umask)
    return mode & ~umask


@contextlib.contextmanager
def staged_file(path: Path, *, overwrite: bool = False) -> Iterator[BinaryIO]:
    """A new, exclusively created file beside `path`, published onto it when the block ends cleanly.

    The file is flushed to disk before the rename, so a published output survives a crash. Without
    `overwrite`, a file that appeared at `path` meanwhile is not replaced.

    Args:
        path (`Path`): the final file.
        overwrite (`bool`): whether an existing file at `path` may be replaced.
    """
    try:
        fd, temp = tempfile.mkstemp(prefix=temp_prefix(path), suffix=TEMP_SUFFIX, dir=path.parent)
    except OSError as error:
        raise cannot("write", path, error) from error
    temp = Path(temp)
    try:
        with os.fdopen(fd, "wb") as handle:
            yield handle
            try:
                handle.flush()
                os.fchmod(handle.fileno(), _masked(_FILE_MODE))
                os.fsync(handle.fileno())
            except OSError as error:
                raise cannot("write", path, error) from error
        try:
            _publish_file(temp, path, overwrite)
        except OSError as error:
            raise cannot("write", path, error) from error
    finally:
        temp.unlink(missing_ok=True)


def _publish_file(temp: Path, path: Path, overwrite: bool) -> None:
    if overwrite:
        os.replace(temp, path)
        return
    appeared = OutputExistsError(f"{shown(path)} appeared while it was being written; the new output was not published")
    try:
        os.link(temp, path)  # fails, unlike a rename, where something appeared at `path` meanwhile
    except FileExistsError:
        raise appeared from None
    except OSError:  # a file system without hard links
        if path.exists() or path.is_symlink():
            raise appeared from None
        os.replace(temp, path)


@contextlib.contextmanager
def staged_folder(path: Path, *, overwrite: bool = False) -> Iterator[Path]:
    """A new, empty folder beside `path` (parents created), renamed onto it when the block ends cleanly.

    An existing folder at `path` is only replaced with `overwrite`; it is moved aside first, so the
    new folder appears in one step.

    Args:
        path (`Path`): the final folder.
        overwrite (`bool`): whether an existing folder at `path` may be replaced.
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=temp_prefix(path), suffix=TEMP_SUFFIX, dir=path.parent))
        staging.chmod(_masked(_FOLDER_MODE))  # mkdtemp makes it private; outputs are meant to be shared
    except OSError as error:
        raise cannot("write", path, error) from error
    try:
        yield staging
        try:
            _publish_folder(staging, path, overwrite)
        except OSError as error:
            raise cannot("write", path, error) from error
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _publish_folder(staging: Path, path: Path, overwrite: bool) -> None:
    check_output(path, overwrite=overwrite, folder=True)
    if not path.exists():
        staging.rename(path)
        return
    retired = Path(tempfile.mkdtemp(prefix=temp_prefix(path), suffix=TEMP_SUFFIX, dir=path.parent))
    path.rename(retired / path.name)
    staging.rename(path)
    shutil.rmtree(retired, ignore_errors=True)
