"""The library's error type, and the one-line form of any error."""

from __future__ import annotations


class UserError(ValueError):
    """A problem with the caller's input (a path, a file, a setting), worded to be shown as it is."""


def first_line(error: BaseException) -> str:
    """The first non-blank line of an error's message, or the error's type name when the message is blank.

    Args:
        error (`BaseException`): any exception.
    """
    for line in str(error).splitlines():
        if line.strip():
            return line.strip()
    return type(error).__name__


def cannot(action: str, path: object, error: OSError) -> UserError:
    """The one-line error for a file that cannot be read or written: the path and the system's reason.

    Args:
        action (`str`): what failed, e.g. `"read"` or `"write"`.
        path (`object`): the file or folder.
        error (`OSError`): what the system raised.
    """
    return UserError(f"cannot {action} {path}: {error.strerror or first_line(error)}")
