"""Errors that reach the user as one clear line (the CLI prints them without a traceback)."""


class BenchError(Exception):
    """A problem the user can fix: bad input, a missing file, a failed step. The message is one line."""


class RecipeError(BenchError):
    """A recipe file is malformed; the message names the file and the field."""


class PatchError(BenchError):
    """A patch step did not apply or did not verify; the message names the file and the step."""
