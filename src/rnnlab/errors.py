"""User-facing errors: bad input that the CLI reports in one line with exit code 2.

Raise `UsageError` with a message that says what is wrong and what to do, e.g.
`UsageError("prefix has characters not in the vocabulary: 'Ω', 'ж'; use --unknown skip")`.
Anything else that escapes is a bug and keeps its traceback.
"""


class UsageError(Exception):
    """Bad input from the user (files, settings, checkpoints): message, exit code 2, no traceback."""
