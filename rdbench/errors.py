"""Error types whose message is a single line a user can act on.

Every error rdbench raises on purpose derives from :class:`RdbenchError`; the CLI prints
``error: <message>`` (plus the hint on a second line when there is one) and exits with the
error's ``exit_code`` instead of showing a traceback.
"""

from __future__ import annotations


class RdbenchError(Exception):
    """An expected failure: bad input, a missing tool, a wrong file."""

    exit_code = 1

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.hint = hint

    def __str__(self) -> str:  # one line, always
        return " ".join(str(self.args[0]).split("\n"))


class UsageError(RdbenchError):
    """The command line names something that does not exist or makes no sense (exit 2)."""

    exit_code = 2


class ImageError(RdbenchError):
    """An image file cannot be read as 8-bit RGB without losing information."""


class CodecUnavailable(RdbenchError):
    """A codec's library, binary or checkpoint is missing on this machine."""


class DatasetError(RdbenchError):
    """A dataset is missing, incomplete, or fails its checksums."""


class ChangedDatasetError(DatasetError):
    """A registered dataset's image is not the file its SHA-256 says (exit 2, like a usage error: the
    command names a dataset that the folder no longer holds, and nothing is measured)."""

    exit_code = 2


class StoreError(RdbenchError):
    """The results database cannot be opened or written."""


def did_you_mean(name: str, choices: list[str]) -> str:
    """Return ' (did you mean X?)' for the closest choice, or '' when none is close."""
    import difflib

    close = difflib.get_close_matches(name, choices, n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def with_article(word: str) -> str:
    """``word`` after "a" or "an" by its first letter ("a published", "an imported"), for messages that
    name a kind of curve or record held in a variable, so none says "a imported"."""
    return f"{'an' if word[:1].lower() in 'aeiou' else 'a'} {word}"


def plural(count: int, noun: str, plural_form: str | None = None) -> str:
    """``count`` with its noun in agreement: '1 point', '2 points', '3 qualities' (give the
    irregular plural), so no message says '1 points'."""
    return f"{count} {noun if count == 1 else (plural_form or noun + 's')}"
