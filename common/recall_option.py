"""The ``--recall N|all`` option: how many windows a job reranks after library recall.

``N`` (a whole number, at least 1) is the number of windows, across the whole job, that recall
hands to the scorer (recalled windows and their neighbours); ``all`` is the full scan (every
window scored, as before library search). Shared by the CLI, the client and :class:`JobOptions`.
"""

from __future__ import annotations

from typing import Literal

from common.errors import InvalidInputError

#: Windows reranked per job by default.
DEFAULT_RECALL = 200
#: The value that asks for the full scan.
FULL_SCAN: Literal["all"] = "all"
#: A job's recall setting: a number of windows, or ``"all"``.
RecallSetting = int | Literal["all"]


def parse_recall(value: object) -> RecallSetting:
    """``value`` (text from a command line, an int from Python) as a recall setting.

    Raises :class:`InvalidInputError` naming the value for 0, negatives, fractions, booleans and
    anything that is neither a whole number nor ``all``.
    """
    subject = f"recall {value!r}"
    if isinstance(value, bool):
        raise InvalidInputError(subject, "give a number of windows (at least 1) or 'all'")
    if isinstance(value, int):
        number = value
    elif isinstance(value, str):
        text = value.strip().lower()
        if text == FULL_SCAN:
            return FULL_SCAN
        if not text.lstrip("+-").isdigit():
            raise InvalidInputError(
                subject, "not a number: give a number of windows (at least 1) or 'all'"
            )
        number = int(text)
    else:
        raise InvalidInputError(subject, "give a number of windows (at least 1) or 'all'")
    if number < 1:
        raise InvalidInputError(
            subject,
            "recall must be at least 1 window ('all' scores every window: the full scan)",
        )
    return number


def recall_windows(setting: RecallSetting) -> int | None:
    """Windows to rerank, or None for the full scan."""
    return None if setting == FULL_SCAN else int(setting)
