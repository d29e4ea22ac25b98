"""The ``ocr`` scorer: reads on-screen text (slides, boards, captions) and matches a text query.

CPU and offline: RapidOCR's PP-OCR detection and recognition models (Chinese and English) ship
inside the ``rapidocr`` wheel and run on onnxruntime. The engine is created on first use and
kept for the life of the scorer (a worker keeps the scorer resident).

The query-independent step, :meth:`TextScorer.extract_features`, walks the video's sampled frames
once and OCRs only frames whose text may have changed since the last OCR'd frame
(:class:`common.frame_change.TextChangeDetector`, which ignores a moving speaker inset), so a
slide lecture costs about one OCR per distinct slide state. Its JSON output (cached by the
pipeline under :attr:`TextScorer.features_id`)::

    {
      "version": 1,
      "frames_total": 180,          # sampled frames seen
      "ocr_frames": [0, 7, 14],     # indices of the frames actually OCR'd
      "lines_recognised": 9,        # text lines recognised (unchanged lines are carried over)
      "runs": [[0, 6, 0], [7, 13, 1], [14, 179, -1]],
                                    # [first index, last index (inclusive), text id]: the frames
                                    # in between show that text; -1 means no text was read
      "texts": [["Newton's First Law", "A body at rest ..."], [...]]
                                    # distinct texts, each its lines in reading order
    }

The per-query step, :meth:`TextScorer.score_windows`, scores a window as the best
:mod:`common.text_match` score (0-100) among the distinct texts its frames show, with IDF weights
from the video's own texts.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import threading
from bisect import bisect_right
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from common.errors import QueryError, SeglocateError
from common.frame_change import TextChangeDetector, region_changed, thumbnail
from common.schemas import ScorerInfo
from common.scorers.base import LoadedQuery, SampledFrame, WindowInput
from common.scorers.specs import scorer_spec
from common.speech.transcript import Transcript
from common.text_match import QueryMatcher, query_units
from common.window_text import TextMatch, match_window_text, video_text_collection

#: PP-OCR generation and size of the det/rec models RapidOCR ships in its wheel.
OCR_VERSION = "PP-OCRv6"
OCR_MODEL_TYPE = "small"
#: Version of the features JSON layout and of the text-extraction logic; part of features_id.
FEATURES_VERSION = 1
#: Lines recognised with a lower confidence (0-1) are dropped as likely noise.
MIN_LINE_CONFIDENCE = 0.6
#: Longest side, in pixels, of the image the text detector sees (frames are shrunk to fit).
DETECTION_MAX_SIDE = 960
#: Overlap (intersection over union, 0-1) above which two line boxes are the same line.
SAME_BOX_OVERLAP = 0.8
#: Upper bound on onnxruntime intra-op threads (more gives little for PP-OCR small models).
MAX_OCR_THREADS = 4
#: Text id of frames on which no text was read.
NO_TEXT = -1
#: Query matchers kept per scorer, one per (query, video texts): a gpu worker interleaves the
#: batches of a few jobs and videos, and a matcher memoises its scores of the video's texts.
MATCHER_CACHE_SIZE = 8


@dataclass(frozen=True)
class OcrLine:
    """One line of text read on a frame."""

    text: str
    #: Bounding box (left, top, right, bottom) in frame pixels.
    box: tuple[float, float, float, float]
    #: Recogniser confidence, 0-1.
    confidence: float
    #: True if copied from the previous OCR'd frame rather than recognised again.
    reused: bool = False

    @property
    def confident(self) -> bool:
        """Confident enough to keep, and holding a letter, digit or CJK character."""
        return self.confidence >= MIN_LINE_CONFIDENCE and any(c.isalnum() for c in self.text)


@dataclass
class Reading:
    """The lines read on one frame, with that frame's change-detection thumbnail."""

    lines: list[OcrLine]
    thumb: np.ndarray

    def unchanged_line(
        self, box: tuple[float, float, float, float], thumb: np.ndarray, size: tuple[int, int]
    ) -> OcrLine | None:
        """The line read here at ``box`` if a later frame (``thumb``, ``size`` (width, height)
        pixels) shows the same pixels there; else None."""
        if not self.lines:
            return None
        best = max(self.lines, key=lambda line: _overlap(box, line.box))
        if _overlap(box, best.box) < SAME_BOX_OVERLAP or region_changed(
            self.thumb, thumb, box, size
        ):
            return None
        return best


def _rapidocr_version() -> str:
    try:
        from rapidocr import _version

        return str(_version.__version__)
    except ImportError:  # pragma: no cover - rapidocr is a declared dependency
        return "unknown"


def default_ocr_threads() -> int:
    """onnxruntime intra-op threads: the CPUs this process may use, at most MAX_OCR_THREADS."""
    try:
        available = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not on Linux
        available = os.cpu_count() or 1
    return max(1, min(MAX_OCR_THREADS, available))


class TextScorer:
    """Scores windows by how well their on-screen text matches a text query, 0-100."""

    spec = scorer_spec("text")
    frame_requirements = spec.frame_requirements
    query_kinds = spec.query_kinds
    needs_window_pixels = spec.needs_window_pixels

    def __init__(self, threads: int | None = None, skip_unchanged_frames: bool = True) -> None:
        """``threads``: onnxruntime intra-op threads; default :func:`default_ocr_threads`.

        ``skip_unchanged_frames=False`` OCRs every sampled frame (the benchmark's baseline).
        """
        self.skip_unchanged_frames = skip_unchanged_frames
        revision = _rapidocr_version()
        self.info = ScorerInfo(
            name="text", model_id=f"rapidocr-{OCR_VERSION}-{OCR_MODEL_TYPE}", revision=revision
        )
        self.features_id: str | None = f"ocr-v{FEATURES_VERSION}-{revision}-{OCR_VERSION}"
        self.threads = threads or default_ocr_threads()
        self._engine: Any = None
        self._engine_lock = threading.Lock()
        #: (query text, fingerprint of the video's texts) -> matcher, least recently used first.
        self._matchers: OrderedDict[tuple[str, str], QueryMatcher] = OrderedDict()
        #: Matchers built so far (for tests and benchmarks: one per query and video).
        self.matcher_builds = 0

    # -- query ---------------------------------------------------------------------------------

    def check_query(self, query: LoadedQuery) -> None:
        """Raise :class:`QueryError` unless ``query`` is a text with at least one word."""
        self.spec.check_query_kinds(query.kinds() | {"text"})
        text = (query.text or "").strip()
        if not text:
            raise QueryError("query", "the ocr scorer needs a text query (it is empty)")
        if not query_units(text):
            raise QueryError(f"query {text!r}", "has no words or characters to look for on screen")

    # -- per video -----------------------------------------------------------------------------

    def extract_features(self, frames: Iterable[SampledFrame]) -> dict[str, Any]:
        """OCR the frames whose text may have changed; see the module docstring for the layout."""
        detector = TextChangeDetector()
        text_ids: dict[tuple[str, ...], int] = {}
        texts: list[list[str]] = []
        runs: list[list[int]] = []
        ocr_frames: list[int] = []
        reading: Reading | None = None
        recognised = 0
        current = NO_TEXT
        total = 0
        for frame in frames:
            total += 1
            thumb = thumbnail(frame.image)
            if detector.needs_ocr(thumb, frame.time) or not self.skip_unchanged_frames:
                ocr_frames.append(frame.index)
                reading = self.read_frame(frame.image, thumb, reading)
                recognised += sum(1 for line in reading.lines if not line.reused)
                lines = tuple(line.text for line in reading.lines if line.confident)
                if lines and lines not in text_ids:
                    text_ids[lines] = len(texts)
                    texts.append(list(lines))
                current = text_ids[lines] if lines else NO_TEXT
            if runs and runs[-1][2] == current:
                runs[-1][1] = frame.index
            else:
                runs.append([frame.index, frame.index, current])
        return {
            "version": FEATURES_VERSION,
            "frames_total": total,
            "ocr_frames": ocr_frames,
            "lines_recognised": recognised,
            "runs": runs,
            "texts": texts,
        }

    def read_frame(
        self, image: Image.Image, thumb: np.ndarray, earlier: Reading | None = None
    ) -> Reading:
        """Every text line detected on ``image``, in reading order (low-confidence ones included).

        ``thumb`` is the frame's :func:`~common.frame_change.thumbnail`. A line whose box matches
        one of ``earlier`` (the last OCR'd frame) and whose pixels did not change since keeps its
        earlier reading instead of being recognised again: revealing one bullet costs one line.
        """
        rgb = image.convert("RGB")
        lines = []
        with self._engine_lock:
            engine = self._ocr_engine()
            detected = engine(rgb, use_det=True, use_cls=False, use_rec=False)
            quads = getattr(detected, "boxes", None)
            for quad in [] if quads is None else quads:
                box = _bounding_box(quad)
                same = None if earlier is None else earlier.unchanged_line(box, thumb, rgb.size)
                if same is not None:
                    lines.append(OcrLine(same.text, box, same.confidence, reused=True))
                    continue
                crop = _crop_quad(rgb, quad)
                recognised = engine(crop, use_det=False, use_cls=False, use_rec=True)
                texts = getattr(recognised, "txts", None) or ("",)
                scores = getattr(recognised, "scores", None) or (0.0,)
                lines.append(OcrLine(" ".join(str(texts[0]).split()), box, float(scores[0])))
        return Reading(lines=lines, thumb=thumb)

    def _ocr_engine(self) -> Any:
        if self._engine is None:
            self._engine = _build_engine(self.threads)
        return self._engine

    # -- per query -----------------------------------------------------------------------------

    def score_windows(
        self,
        query: LoadedQuery,
        windows: Sequence[WindowInput],
        features: dict[str, Any] | None,
    ) -> list[float]:
        """One score in [0, 100] per window: the best match among the texts its frames show."""
        self.check_query(query)
        features = _require_features(features)
        matcher = self._query_matcher(query.text or "", features)
        runs = features["runs"]
        starts = [run[0] for run in runs]
        scores = []
        for window in windows:
            text_ids = {_text_at(runs, starts, index) for index in window.frame_indices}
            text_ids.discard(NO_TEXT)
            scores.append(max((matcher.score(text_id) for text_id in text_ids), default=0.0))
        return scores

    def match_windows(
        self,
        query: LoadedQuery,
        windows: Sequence[WindowInput],
        features: dict[str, Any] | None,
        transcript: Transcript | None,
    ) -> list[TextMatch]:
        """Per window: its on-screen texts and the words spoken in it scored together (0-100),
        and which signal matched (:func:`common.window_text.match_window_text`).

        IDF weights come from the video's texts and spoken sentences. Without a transcript (or
        with an empty one) each score equals :meth:`score_windows`'s.
        """
        self.check_query(query)
        features = _require_features(features)
        sentences = [] if transcript is None else transcript.sentence_texts()
        matcher = self._query_matcher(query.text or "", features, sentences)
        runs, texts = features["runs"], features["texts"]
        starts = [run[0] for run in runs]
        matches = []
        for window in windows:
            text_ids = {_text_at(runs, starts, index) for index in window.frame_indices}
            on_screen = [texts[text_id] for text_id in sorted(text_ids - {NO_TEXT})]
            spoken = (
                [] if transcript is None else transcript.sentences_between(window.start, window.end)
            )
            matches.append(match_window_text(matcher, on_screen, spoken))
        return matches

    def _query_matcher(
        self, text: str, features: dict[str, Any], spoken_sentences: Sequence[str] = ()
    ) -> QueryMatcher:
        """The matcher of ``text`` over the video's texts (and spoken sentences), built once per
        (query, video): each batch brings a fresh features object from the store, so the key is
        their content."""
        key = (text, _texts_fingerprint([*features["texts"], list(spoken_sentences)]))
        matcher = self._matchers.get(key)
        if matcher is not None:
            self._matchers.move_to_end(key)
            return matcher
        matcher = QueryMatcher(text, video_text_collection(features["texts"], spoken_sentences))
        self.matcher_builds += 1
        self._matchers[key] = matcher
        if len(self._matchers) > MATCHER_CACHE_SIZE:
            self._matchers.popitem(last=False)
        return matcher


def _texts_fingerprint(texts: Sequence[Sequence[str]]) -> str:
    """A digest of a video's distinct texts (what a matcher depends on besides the query)."""
    data = json.dumps(texts, ensure_ascii=False, separators=(",", ":")).encode()
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def _require_features(features: dict[str, Any] | None) -> dict[str, Any]:
    """``features`` if they come from this version of :meth:`TextScorer.extract_features`."""
    if features is None or features.get("version") != FEATURES_VERSION:
        raise SeglocateError(
            f"ocr scorer: features version {FEATURES_VERSION} from extract_features are "
            "needed to score windows"
        )
    return features


def _text_at(runs: Sequence[Sequence[int]], starts: Sequence[int], index: int) -> int:
    """Text id shown at sampled-frame ``index`` (NO_TEXT outside every run)."""
    position = bisect_right(starts, index) - 1
    if position < 0 or index > runs[position][1]:
        return NO_TEXT
    return int(runs[position][2])


def _bounding_box(quad: Any) -> tuple[float, float, float, float]:
    xs = [float(point[0]) for point in quad]
    ys = [float(point[1]) for point in quad]
    return min(xs), min(ys), max(xs), max(ys)


def _overlap(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> float:
    """Intersection over union of two (left, top, right, bottom) boxes, 0-1."""
    width = min(a[2], b[2]) - max(a[0], b[0])
    height = min(a[3], b[3]) - max(a[1], b[1])
    if width <= 0 or height <= 0:
        return 0.0
    inter = width * height
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def _crop_quad(image: Image.Image, quad: Any) -> Image.Image:
    """The text line inside ``quad`` (top-left, top-right, bottom-right, bottom-left points),
    straightened to a rectangle; tall crops (vertical text) are turned to read left to right."""
    (x0, y0), (x1, y1), (x2, y2), (x3, y3) = [(float(p[0]), float(p[1])) for p in quad]
    width = max(1, round(max(math.dist((x0, y0), (x1, y1)), math.dist((x3, y3), (x2, y2)))))
    height = max(1, round(max(math.dist((x0, y0), (x3, y3)), math.dist((x1, y1), (x2, y2)))))
    crop = image.transform(
        (width, height),
        Image.Transform.QUAD,
        (x0, y0, x3, y3, x2, y2, x1, y1),
        Image.Resampling.BICUBIC,
    )
    if height >= 1.5 * width:
        crop = crop.transpose(Image.Transpose.ROTATE_90)
    return crop


def _build_engine(threads: int) -> Any:
    """RapidOCR with the wheel's own models (never a download), quiet, ``threads`` intra-op."""
    import rapidocr
    from rapidocr import ModelType, OCRVersion

    models = Path(rapidocr.__file__).resolve().parent / "models"
    det = models / f"{OCR_VERSION}_det_{OCR_MODEL_TYPE}.onnx"
    rec = models / f"{OCR_VERSION}_rec_{OCR_MODEL_TYPE}.onnx"
    for path in (det, rec):
        if not path.is_file():
            raise SeglocateError(f"ocr model {path}: missing from the rapidocr wheel; reinstall it")
    params: dict[str, Any] = {
        "Global.log_level": "error",
        # Slides and captions are upright: the 180-degree text classifier only costs time.
        "Global.use_cls": False,
        "EngineConfig.onnxruntime.intra_op_num_threads": threads,
        "EngineConfig.onnxruntime.inter_op_num_threads": 1,
        # Detecting on a 960 px image costs half of 720p and still finds 11 px text; the lines
        # are then recognised from the full-resolution frame.
        "Det.limit_type": "max",
        "Det.limit_side_len": DETECTION_MAX_SIDE,
    }
    for section, path in (("Det", det), ("Rec", rec)):
        params[f"{section}.ocr_version"] = OCRVersion(OCR_VERSION)
        params[f"{section}.model_type"] = ModelType(OCR_MODEL_TYPE)
        params[f"{section}.model_path"] = str(path)
    return rapidocr.RapidOCR(params=params)
