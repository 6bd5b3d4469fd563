"""The library's error types, and the one-line form of any error.

`UserError` (a `ValueError`) and `UserTypeError` (a `TypeError`) are problems of the caller's making, worded to be
shown as they are: the CLI prints them in one line and exits 2. Any other exception is a bug.
"""

from __future__ import annotations


class UserError(ValueError):
    """A problem with the caller's input (a path, a file, a setting), worded to be shown as it is."""


class UserTypeError(TypeError):
    """An argument of the wrong type given to the library's API, worded to be shown as it is."""


def first_line(error: BaseException) -> str:
    """The first non-blank line of an error's message, or the error's type name when the message is blank.

    Args:
        error (`BaseException`): any exception.
    """
    for line in str(error).splitlines():
        if line.strip():
            return line.strip()
    return type(error).__name__


def shown(path: object) -> str:
    """A path as a message shows it: control characters (a newline, say) and bytes that are not UTF-8 escaped,
    so the message stays one printable line.

    Args:
        path (`object`): a path, or anything printed where a path goes.
    """
    text = str(path)
    if text.isprintable():
        return text
    return "".join(char if char.isprintable() else _escaped(char) for char in text)


def _escaped(char: str) -> str:
    code = ord(char)
    if 0xDC80 <= code <= 0xDCFF:  # a byte that was not UTF-8, kept by surrogateescape
        return f"\\x{code - 0xDC00:02x}"
    return char.encode("unicode_escape").decode("ascii")


def cannot(action: str, path: object, error: OSError) -> UserError:
    """The one-line error for a file that cannot be read or written: the path and the system's reason.

    Args:
        action (`str`): what failed, e.g. `"read"` or `"write"`.
        path (`object`): the file or folder.
        error (`OSError`): what the system raised.
    """
    return UserError(f"cannot {action} {shown(path)}: {error.strerror or first_line(error)}")


SHOWN_CHARS = 200  # the most of a user's text (a parser's message, a list of reasons) one message shows


def cut(text: str, limit: int = SHOWN_CHARS) -> str:
    """`text` cut to `limit` characters, saying how long it was, so a message stays readable.

    Args:
        text (`str`): a message part that holds user data.
        limit (`int`, *optional*, defaults to 200): the most characters kept.
    """
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… ({len(text):,} characters)"
