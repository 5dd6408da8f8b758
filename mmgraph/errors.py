"""Exception and warning types raised by mmgraph for expected mistakes.

Every error a user can cause (a missing file, a wrong shape, an id out of range) is a
:class:`MMGraphError` whose message is one line naming the file or option and the fix.  The CLI
prints that line and exits with status 2; anything else is a bug and keeps its traceback.
"""


class MMGraphError(Exception):
    """Base class of the errors a user can fix (bad input, missing files, bad options)."""


class DataError(MMGraphError, ValueError):
    """A dataset file is missing, unreadable or inconsistent."""


class UnsafeFileError(DataError):
    """A file asked to run code or build objects outside the allowed set while loading."""


class WriteError(MMGraphError, OSError):
    """An output file could not be written (a full disk, no permission); no partial file is left."""


class DataWarning(UserWarning):
    """Something in the data was repaired (duplicates removed, users dropped); loading goes on."""


def short_message(exc: BaseException, limit: int = 160) -> str:
    """An exception's text on one line, cut to ``limit`` characters, for quoting in an error."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    if len(lines) > 1 and lines[0].startswith("Error(s) in loading"):  # torch: the detail is next
        lines = lines[1:]
    text = " ".join(" ".join(lines).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."
