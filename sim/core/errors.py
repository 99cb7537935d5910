"""Errors that reach the user as one line (CLI exit status 2, no traceback)."""


class FleetsimInputError(ValueError):
    """Bad user input: a scenario key, a value, or a data file.

    The message is one line naming the key or ``file:line``, the bad value and what is allowed.
    """


class ScenarioError(FleetsimInputError):
    """A scenario key or value is invalid."""


class DataFileError(FleetsimInputError):
    """A data file (trace, signal CSV) is missing or malformed."""

    def __init__(self, path: str, line: int | None, problem: str) -> None:
        where = f"{path}:{line}" if line is not None else str(path)
        super().__init__(f"{where}: {problem}")
        self.path = path
        self.line = line
