"""User-facing errors: one clear line (what is wrong, how to fix), exit code 2, no traceback."""
from __future__ import annotations

import difflib
from collections.abc import Iterable


class UserError(Exception):
    """A problem with the user's input (config, data, checkpoint, argument).

    The CLI prints ``error: <message>`` and exits with code 2. Internal bugs are any other
    exception and keep their traceback.
    """


def closest(word: str, choices: Iterable[str], n: int = 3) -> str:
    """' (did you mean: a, b?)' or '' — used in every 'unknown name' message."""
    matches = difflib.get_close_matches(word, list(choices), n=n, cutoff=0.5)
    return f" (did you mean: {', '.join(matches)}?)" if matches else ""
