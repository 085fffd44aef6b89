"""User errors: bad input (config, data, paths, encodings) reported in one message, without a traceback."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class UserError(ValueError):
    """Bad input from the user; the message names the file, field or row and how to fix it.

    A ValueError, so that callers that catch bad values keep catching it. The `gift` command prints
    the message alone and exits with status 2 (the traceback goes to the error log).
    """


def did_you_mean(name: str, valid: Iterable[str], n: int = 3) -> str:
    """' (did you mean a, b?)' with the valid names closest to `name`, or '' when none is close."""
    close = difflib.get_close_matches(str(name), sorted(valid), n=n)
    return f" (did you mean {', '.join(close)}?)" if close else ""
