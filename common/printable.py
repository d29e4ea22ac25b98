"""Text safe to print: user-controlled strings (file names, queries, errors, payload ids) with
their control characters escaped, so they can neither forge lines nor drive the terminal."""

from __future__ import annotations

import re

#: C0 and C1 control characters, DEL, line and paragraph separators, bidirectional overrides.
UNSAFE_CHARACTERS = re.compile(
    "[\x00-\x1f\x7f-\x9f\u2028\u2029\u200e\u200f\u061c\u202a-\u202e\u2066-\u2069]"
)
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    if char in _NAMED:
        return _NAMED[char]
    code = ord(char)
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def printable(value: object) -> str:
    """``str(value)`` with every unsafe character written as a Python-style escape
    (``\\n``, ``\\x1b``, ``\\u202e``); everything else, any script included, unchanged."""
    return UNSAFE_CHARACTERS.sub(_escape, str(value))
