"""A window's text from the OCR scorer's cached features: the distinct texts its frames show, in
order of appearance, lines joined by newlines. Pure logic over the features JSON (layout in
:mod:`common.scorers.text`); spoken words are appended by the caller once speech lands.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from typing import Any

#: Text id of frames on which no text was read (as in the OCR features).
NO_TEXT = -1


def ocr_window_texts(features: dict[str, Any], windows: Sequence[Sequence[int]]) -> list[str]:
    """One text per window; ``windows`` gives each window's sampled-frame indices."""
    runs: list[list[int]] = features["runs"]
    texts: list[list[str]] = features["texts"]
    starts = [run[0] for run in runs]
    out = []
    for frame_indices in windows:
        shown: dict[int, None] = {}
        for index in frame_indices:
            position = bisect_right(starts, index) - 1
            if position >= 0 and index <= runs[position][1] and runs[position][2] != NO_TEXT:
                shown[int(runs[position][2])] = None
        out.append("\n".join(line for text_id in shown for line in texts[text_id]))
    return out
