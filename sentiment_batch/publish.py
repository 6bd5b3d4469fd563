"""Atomic publishing: an output file or folder appears at its path complete, or not at all.

Work goes to a hidden sibling named `.NAME.<random>.sentiment-batch.tmp`, created exclusively with an
unpredictable name, and is renamed onto NAME only once complete. The sibling is created, published and removed
through a descriptor of the output's folder, so it is found wherever that folder is moved meanwhile: whatever ends
a run early (an error, Ctrl-C, SIGTERM) removes it, and only `kill -9` or a crash can leave one, recognisable by
that suffix. An output whose folder was moved or replaced before it was complete is not published at all: the run
fails in one line rather than leave its output where no one asked for it. A stop signal is settled against the
publishing step (`stopping.publishing`): it either comes first and nothing is published, or comes too late.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import string
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import BinaryIO, TypeVar

from .console import to_devnull
from .errors import UserError, cannot, shown
from .stopping import publishing

TEMP_SUFFIX = ".sentiment-batch.tmp"
# The longest file name most file systems take, in bytes; the temporary's name must fit it too.
_NAME_MAX = 255
_RANDOM_CHARS = 8
_RANDOM_ALPHABET = string.ascii_lowercase + string.digits + "_"  # tempfile's
# Created exclusively (never through a link planted at the name), kept from child processes.
_FILE_FLAGS = os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE_MODE = 0o666
_FOLDER_MODE = 0o777
_T = TypeVar("_T")


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
    with _output_folder(path) as folder:
        fd, temp = _create(folder, path, lambda name: os.open(name, _FILE_FLAGS, 0o600, dir_fd=folder))
        try:
            with os.fdopen(fd, "wb") as handle:
                yield handle
                try:
                    handle.flush()
                    os.fchmod(handle.fileno(), _masked(_FILE_MODE))
                    os.fsync(handle.fileno())
                except OSError as error:
                    raise cannot("write", path, error) from error
            _publish(folder, path, lambda: _publish_file(folder, temp, path, overwrite))
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temp, dir_fd=folder)


@contextlib.contextmanager
def _output_folder(path: Path) -> Iterator[int]:
    """A descriptor of the folder `path` goes in: the temporary is created, published and removed through it, so
    it is found wherever the folder is moved meanwhile."""
    try:
        folder = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as error:
        raise cannot("write", path, error) from error
    try:
        yield folder
    finally:
        os.close(folder)


def _create(folder: int, path: Path, make: Callable[[str], _T]) -> tuple[_T, str]:
    """`make(name)` for a new, unpredictable hidden name beside `path`, retried while the name exists."""
    prefix = temp_prefix(path)
    for _ in range(tempfile.TMP_MAX):
        name = f"{prefix}{_random_part()}{TEMP_SUFFIX}"
        try:
            return make(name), name
        except FileExistsError:
            continue
        except OSError as error:
            raise cannot("write", path, error) from error
    raise UserError(f"cannot write {shown(path)}: no free temporary name beside it")


def _random_part() -> str:
    return "".join(secrets.choice(_RANDOM_ALPHABET) for _ in range(_RANDOM_CHARS))


def _publish(folder: int, path: Path, publish: Callable[[], None]) -> None:
    """Publish through `folder` once it is checked to be still where `path` says; any failure is one line."""
    with publishing():
        try:
            here = os.stat(path.parent)
        except OSError:
            here = None
        there = os.fstat(folder)
        if here is None or (here.st_dev, here.st_ino) != (there.st_dev, there.st_ino):
            raise UserError(
                f"output folder {shown(path.parent)} was moved or replaced while {shown(path.name)} was being "
                "written; nothing was published"
            )
        try:
            publish()
        except OSError as error:
            raise cannot("write", path, error) from error


def _publish_file(folder: int, temp: str, path: Path, overwrite: bool) -> None:
    names = {"src_dir_fd": folder, "dst_dir_fd": folder}
    if overwrite:
        os.replace(temp, path.name, **names)
        return
    appeared = OutputExistsError(f"{shown(path)} appeared while it was being written; the new output was not published")
    try:
        os.link(temp, path.name, **names)  # fails, unlike a rename, where something appeared at `path` meanwhile
    except FileExistsError:
        raise appeared from None
    except OSError:  # a file system without hard links
        if _exists(folder, path.name):
            raise appeared from None
        os.replace(temp, path.name, **names)


def _exists(folder: int, name: str) -> bool:
    try:
        os.stat(name, dir_fd=folder, follow_symlinks=False)
    except FileNotFoundError:
        return False
    return True


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
    except OSError as error:
        raise cannot("write", path, error) from error
    with _output_folder(path) as folder:
        staging = _new_folder(folder, path)
        try:
            try:
                os.chmod(staging, _masked(_FOLDER_MODE), dir_fd=folder)  # outputs are meant to be shared
            except OSError as error:
                raise cannot("write", path, error) from error
            yield path.parent / staging
            _publish(folder, path, lambda: _publish_folder(folder, staging, path, overwrite))
        finally:
            _remove_tree(folder, staging)
            # A writer that works by path (Spark, `save_pretrained`) re-creates the staging folder at its old place
            # when the output's folder is moved meanwhile.
            shutil.rmtree(path.parent / staging, ignore_errors=True)


def _new_folder(folder: int, path: Path) -> str:
    """A new, private, unpredictably named hidden folder beside `path`; its name."""
    return _create(folder, path, lambda name: os.mkdir(name, 0o700, dir_fd=folder))[1]


def _publish_folder(folder: int, staging: str, path: Path, overwrite: bool) -> None:
    check_output(path, overwrite=overwrite, folder=True)
    names = {"src_dir_fd": folder, "dst_dir_fd": folder}
    if not _exists(folder, path.name):
        os.rename(staging, path.name, **names)
        return
    retired = _new_folder(folder, path)
    try:
        os.rename(path.name, f"{retired}/{path.name}", **names)
        try:
            os.rename(staging, path.name, **names)
        except OSError:
            os.rename(f"{retired}/{path.name}", path.name, **names)  # the old folder goes back
            raise
    finally:
        _remove_tree(folder, retired)


def _remove_tree(folder: int, name: str) -> None:
    """Remove `name` in `folder` and everything in it, never following a link; what is gone already is skipped."""
    try:
        fd = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=folder)
    except OSError:
        return
    try:
        with os.scandir(fd) as entries:
            for entry in list(entries):
                if entry.is_dir(follow_symlinks=False):
                    _remove_tree(fd, entry.name)
                else:
                    with contextlib.suppress(OSError):
                        os.unlink(entry.name, dir_fd=fd)
    finally:
        os.close(fd)
    with contextlib.suppress(OSError):
        os.rmdir(name, dir_fd=folder)


@contextlib.contextmanager
def staged_stdout() -> Iterator[BinaryIO]:
    """A temporary file whose bytes go to stdout when the block ends cleanly: stdout gets a complete output or
    nothing, as a file does, and writers that tell their position (Parquet's) work on a pipe too."""
    try:
        handle = tempfile.TemporaryFile()  # noqa: SIM115 (closed below)
    except OSError as error:
        raise cannot("write", "a temporary file for stdout", error) from error
    with handle:
        yield handle
        handle.seek(0)
        try:
            shutil.copyfileobj(handle, sys.stdout.buffer, 1 << 20)
            sys.stdout.buffer.flush()
        except BrokenPipeError:
            to_devnull(1)  # so Python's own flush at exit does not fail again
            raise UserError("stdout was closed before the whole output was written") from None
