"""The moment-retrieval field's prediction format (QVHighlights, Moment-DETR, Lighthouse).

JSON lines, one per (query, video) pair:
``{"qid": int, "query": str, "vid": str, "pred_relevant_windows": [[start, end, score], ...],
"pred_saliency_scores": [float, ...]}``. Windows are in seconds, best first (the evaluation
takes the first as the top-1 moment); scores are 0-1 (our 0-100 / 100), as the field's models
write foreground probabilities. ``pred_saliency_scores`` holds one score per 2-second clip of
the video, in order.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence

from common.schemas import JobResult, VideoResult, VideoState, WindowScore

#: Seconds per saliency clip in QVHighlights (the evaluation's ``clip_length``).
SALIENCY_CLIP_S = 2.0
#: Decimal places kept in scores and times (Lighthouse writes 4).
DECIMALS = 4


def saliency_per_clip(
    windows: Sequence[WindowScore], duration: float, clip_s: float = SALIENCY_CLIP_S
) -> list[float]:
    """One score 0-1 per ``clip_s``-second clip of ``[0, duration]``.

    A clip's score is the mean of the windows' scores weighted by how many seconds of the clip
    each window covers (windows may overlap when stride < window); 0 where no window covers it.
    The last, shorter clip is kept so that every instant has a score.
    """
    n_clips = max(1, math.ceil(duration / clip_s - 1e-9))
    out = []
    for index in range(n_clips):
        start = index * clip_s
        end = min(start + clip_s, max(duration, start + 1e-9))
        weighted = weight = 0.0
        for window in windows:
            overlap = min(end, window.end) - max(start, window.start)
            if overlap > 0:
                weighted += window.score * overlap
                weight += overlap
        out.append(round(weighted / weight / 100.0, DECIMALS) if weight else 0.0)
    return out


def video_prediction(result: JobResult, video: VideoResult, qid: int) -> dict[str, object]:
    """The prediction line of one video: its clips best first, its saliency curve."""
    clips = sorted(video.clips, key=lambda c: (-c.score, c.start))
    duration = video.duration or max((w.end for w in video.windows), default=0.0)
    return {
        "qid": qid,
        "query": result.query_text or "",
        "vid": video.video,
        "pred_relevant_windows": [
            [round(c.start, DECIMALS), round(c.end, DECIMALS), round(c.score / 100.0, DECIMALS)]
            for c in clips
        ],
        "pred_saliency_scores": saliency_per_clip(video.windows, duration),
    }


def to_qvh(result: JobResult, first_qid: int = 0) -> str:
    """One JSON line per succeeded video; ``qid`` counts up from ``first_qid`` in video order.

    Failed and cancelled videos have no prediction and are left out.
    """
    lines = []
    qid = first_qid
    for video in result.videos:
        if video.status != VideoState.succeeded:
            continue
        lines.append(json.dumps(video_prediction(result, video, qid), ensure_ascii=False))
        qid += 1
    return "".join(line + "\n" for line in lines)
