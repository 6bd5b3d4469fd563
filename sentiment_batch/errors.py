"""The error type the CLI reports as one line instead of a traceback."""


class UserError(Exception):
    """Bad input from the user (a path, a file, a flag): the CLI prints the message alone and exits 2."""
