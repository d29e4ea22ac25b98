"""Qwen3-VL-Reranker behind the :class:`~common.scorers.base.Scorer` protocol.

Each (query, window) pair is one chat prompt: the query (text, image, short clip, or text
plus image) against the window as a video document whose frames carry their real
timestamps. The score is ``100 * sigmoid(logit_yes - logit_no)`` from the last token's final
hidden state, computed with the one projected row ``W[yes] - W[no]`` of the LM head.

Pairs run many per forward pass, left-padded, in batches sized by a token budget; the
official wrapper runs one pair per pass. Before any pixel is processed, each pair's exact
length is known: vision tokens follow from the frame sizes (one LM token per 32x32 px per
pair of frames), and the text pieces are tokenised once and cached (the query's text, which
recurs in every pair, is tokenised once per call at most). Pairs are then grouped in order
so that ``pairs x longest pair <= max_batch_tokens`` (padding included) and
``pairs <= max_batch_pairs``; a long query or large frames simply give smaller batches. On
CUDA, running out of memory halves the batch and the budget instead of failing.
Everything that is pure arithmetic (messages, layout, truncation, batch plans) lives in
:mod:`common.scorers.qwen3_vl_prompt`; loading and the forward pass in
:mod:`common.scorers.qwen3_vl_model`; image and video pixels in
:mod:`common.scorers.qwen3_vl_pixels`.

What the model is shown follows the official pipeline (see
:mod:`common.scorers.qwen3_vl_frames`): video frames arrive sized by the producer for the
job's preset (``official``: up to 768 tokens per pair of frames) with the official resampler;
a window's frames are padded to an even count of at least four; timestamps are real times; a
window's text (on-screen and spoken words) follows its frames in the document; query images
are composited on white and sized as ``fetch_image`` does.

Parameters of :class:`Qwen3VLScorer` (all keyword-only except ``model``):

- ``model``: hub id or local directory (a directory loads with ``local_files_only``).
- ``revision``: commit, branch or tag of a hub id; default the official checkpoint's pinned
  commit (:mod:`common.scorers.qwen3_vl_checkpoints`). Recorded in ``info.revision``.
- ``device``: ``"cuda"``, ``"cuda:1"``, ``"cpu"``; default CUDA when available.
- ``frame_pixels``: the frame-size preset used when a query does not name its job's
  (``official``, ``fast`` or a pixel count); also sets :attr:`frame_requirements`.
- ``image_min_pixels`` / ``image_max_pixels``: query image bounds; default 4*32^2 / 1800*32^2.
- ``max_length``: longest prompt in tokens; default 10240 (text beyond it is cut from the
  end; a pair whose vision tokens alone exceed it is refused).
- ``max_batch_tokens``: padded tokens per forward pass; default derived on CUDA from the free
  memory and the model's widths (:mod:`common.scorers.qwen3_vl_budget`), 8192 on CPU.
- ``max_batch_pairs``: pairs per forward pass; default 64.
- ``attn_implementation``: default ``flash_attention_2`` when ``flash_attn`` imports on
  CUDA, else ``sdpa``.
- ``prefetch``: prepare the next batch's pixels in a thread while the model runs; default
  on for CUDA.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import torch

from common.errors import InvalidInputError, QueryError
from common.schemas import ScorerInfo
from common.scorers.base import LoadedQuery, SampledFrame, WindowInput, WindowMatch, matches_of
from common.scorers.qwen3_vl_frames import (
    DEFAULT_PRESET,
    frame_requirements,
    parse_frame_pixels,
)
from common.scorers.qwen3_vl_model import (
    LoadedModel,
    ScorerLoadError,
    adopt_model,
    check_checkpoint,
    forward_scores,
    free_memory_batch_tokens,
    load_model,
    pick_attention,
    render_template,
)
from common.scorers.qwen3_vl_pixels import (
    EncodedMedia,
    VideoPlan,
    checked_rgb,
    digest_image,
    encode_image,
    encode_videos,
    fit_size,
)
from common.scorers.qwen3_vl_plans import (
    MediaPlan,
    check_query_markers,
    plan_query_video,
    plan_window_video,
)
from common.scorers.qwen3_vl_prompt import (
    IMAGE_MAX_PIXELS,
    IMAGE_MIN_PIXELS,
    KEEP_LAST_TOKENS,
    MAX_LENGTH,
    Side,
    VideoLayout,
    default_instruction,
    expand_prompt,
    pieces_text,
    plan_batches,
    strip_reserved_markers,
    truncate_ids,
)
from common.scorers.qwen3_vl_tokens import TEXT_CACHE_SIZE, TokenCache
from common.scorers.specs import scorer_spec

# ScorerLoadError and pick_attention are re-exported: callers know them from this module.
__all__ = [
    "DEFAULT_BATCH_PAIRS",
    "DEFAULT_BATCH_TOKENS",
    "MAX_QUERY_VIDEO_SECONDS",
    "SCORER_NAME",
    "TEXT_CACHE_SIZE",
    "Qwen3VLScorer",
    "ScorerLoadError",
    "ScoringStats",
    "pick_attention",
]

logger = logging.getLogger(__name__)

#: This scorer's facts (name, query kinds, frames), readable without importing torch.
SPEC = scorer_spec("qwen3-vl")
#: Scorer name recorded in results.
SCORER_NAME = SPEC.name
#: Longest query clip, seconds.
MAX_QUERY_VIDEO_SECONDS = SPEC.max_query_clip_s
#: Padded tokens per forward pass where it cannot be derived from free GPU memory.
DEFAULT_BATCH_TOKENS = {"cuda": 32768, "cpu": 8192}
#: Most pairs per forward pass.
DEFAULT_BATCH_PAIRS = 64


@dataclass
class ScoringStats:
    """What the last :meth:`Qwen3VLScorer.score_windows` call did."""

    pairs: int = 0
    batches: int = 0  #: forward passes that returned scores
    tokens: int = 0  #: prompt tokens, padding excluded
    padded_tokens: int = 0  #: tokens fed to the model, padding included
    seconds: float = 0.0  #: wall time of the call
    #: Forward passes that ran out of memory and were split in two and retried.
    out_of_memory: int = 0
    #: Rows (pairs) of the forward passes that returned scores; equals ``pairs``.
    scored_rows: int = 0


@dataclass
class _QueryPlan(MediaPlan):
    """A checked query: its text side and media, before pixels are encoded."""

    fingerprint: str
    instruction: str
    frame_pixels: str = DEFAULT_PRESET


@dataclass
class _EncodedQuery:
    plan: _QueryPlan
    image: EncodedMedia | None
    video: EncodedMedia | None


class Qwen3VLScorer:
    """Scores (query, window) pairs 0-100 with Qwen3-VL-Reranker; loads lazily, once.

    See the module docstring for the parameters. Construction is cheap; the model loads on
    :meth:`load` or the first :meth:`score_windows`. The vision encoder's output for a window
    does not depend on the query and could be cached per window (``features_id`` stays
    ``None`` until that exists).
    """

    query_kinds = SPEC.query_kinds
    needs_window_pixels = SPEC.needs_window_pixels
    features_id: str | None = None

    def __init__(
        self,
        model: str,
        *,
        revision: str | None = None,
        device: str | None = None,
        frame_pixels: str = DEFAULT_PRESET,
        image_min_pixels: int = IMAGE_MIN_PIXELS,
        image_max_pixels: int = IMAGE_MAX_PIXELS,
        max_length: int = MAX_LENGTH,
        max_batch_tokens: int | None = None,
        max_batch_pairs: int = DEFAULT_BATCH_PAIRS,
        attn_implementation: str | None = None,
        prefetch: bool | None = None,
    ) -> None:
        self.model_id = model
        self.revision = revision
        self.info = ScorerInfo(name=SCORER_NAME, model_id=model, revision=None)
        self.frame_pixels = parse_frame_pixels(frame_pixels)
        self.frame_requirements = frame_requirements(self.frame_pixels)
        self.image_min_pixels = image_min_pixels
        self.image_max_pixels = image_max_pixels
        self.max_length = max_length
        self.max_batch_pairs = max(1, max_batch_pairs)
        self._max_batch_tokens = max_batch_tokens
        self._derived_batch_tokens: int | None = None
        self._device_name = device
        self._attn_implementation = attn_implementation
        self._prefetch = prefetch
        self._loaded: LoadedModel | None = None
        self._load_lock = threading.Lock()
        self._tokens = TokenCache(TEXT_CACHE_SIZE)
        self._query_cache: _EncodedQuery | None = None
        self.last_stats = ScoringStats()

    # --- loading -------------------------------------------------------------------------------

    @classmethod
    def from_components(
        cls, model: Any, processor: Any, *, model_id: str, **options: Any
    ) -> Qwen3VLScorer:
        """A scorer around an already built ``Qwen3VLForConditionalGeneration`` and processor.

        For benchmarks of architectures without weights; ``model`` stays on its device/dtype.
        """
        scorer = cls(model_id, **options)
        attn = getattr(model.config, "_attn_implementation", None) or "default"
        scorer._loaded = adopt_model(model, processor, attn, model_id)
        check_checkpoint(scorer._loaded, model_id)
        scorer._after_load()
        return scorer

    @property
    def loaded(self) -> bool:
        return self._loaded is not None

    @property
    def max_batch_tokens(self) -> int:
        """Padded tokens per forward pass: as set, else derived from free GPU memory at load
        (CUDA), else the device's default; halved each time a pass runs out of memory."""
        if self._max_batch_tokens is not None:
            return self._max_batch_tokens
        if self._derived_batch_tokens is not None:
            return self._derived_batch_tokens
        device_type = self._loaded.device.type if self._loaded else "cpu"
        return DEFAULT_BATCH_TOKENS.get(device_type, DEFAULT_BATCH_TOKENS["cpu"])

    def load(self) -> None:
        """Load weights and processor now (idempotent, thread-safe)."""
        self._model()

    def _model(self) -> LoadedModel:
        if self._loaded is None:
            with self._load_lock:
                if self._loaded is None:
                    self._loaded = load_model(
                        self.model_id,
                        device_name=self._device_name,
                        attn_implementation=self._attn_implementation,
                        revision=self.revision,
                    )
                    self._after_load()
        return self._loaded

    def _after_load(self) -> None:
        assert self._loaded is not None
        self.info = ScorerInfo(
            name=SCORER_NAME, model_id=self.model_id, revision=self._loaded.revision
        )
        if self._max_batch_tokens is None and self._loaded.device.type == "cuda":
            self._derived_batch_tokens = free_memory_batch_tokens(self._loaded)
            logger.info(
                "batch token budget %d (from free GPU memory and the model's size)",
                self._derived_batch_tokens,
            )

    # --- the Scorer protocol -------------------------------------------------------------------

    def check_query(self, query: LoadedQuery) -> None:
        """Raise :class:`QueryError` if the query cannot be scored; needs no model."""
        self._plan_query(query)

    def extract_features(self, frames: Iterable[SampledFrame]) -> dict[str, Any]:
        return {}

    def score_windows(
        self,
        query: LoadedQuery,
        windows: Sequence[WindowInput],
        features: dict[str, Any] | None,
    ) -> list[float]:
        """One score in [0, 100] per window, in order, many windows per forward pass."""
        started = time.perf_counter()
        plan = self._plan_query(query)
        if not windows:
            return []
        loaded = self._model()
        encoded_query = self._encode_query(loaded, plan)
        videos = [self._plan_window(window, plan.frame_pixels) for window in windows]
        ids = self._pair_ids(loaded, plan, videos, windows)
        stats = ScoringStats(pairs=len(windows), tokens=sum(map(len, ids)))
        scores = self._score_all(loaded, encoded_query, videos, ids, stats)
        stats.seconds = time.perf_counter() - started
        self.last_stats = stats
        return scores

    def match_windows(
        self,
        query: LoadedQuery,
        windows: Sequence[WindowInput],
        features: dict[str, Any] | None,
        transcript: object,
    ) -> list[WindowMatch]:
        """:meth:`score_windows`: the reranker reads frames and spoken words (``window.text``)
        as one document, so it cannot say which of them matched."""
        return matches_of(self.score_windows(query, windows, features))

    # --- extras for tests and tools ------------------------------------------------------------

    def prompt_text(self, query: LoadedQuery, window: WindowInput) -> str:
        """The expanded prompt of one pair, exactly as it is tokenised (vision pads included)."""
        loaded = self._model()
        plan = self._plan_query(query)
        video = self._plan_window(window, plan.frame_pixels)
        return pieces_text(self._pieces(loaded, plan, video, self._document_text(window)))

    def pair_token_ids(self, query: LoadedQuery, windows: Sequence[WindowInput]) -> list[list[int]]:
        """Token ids of each pair after truncation, before padding."""
        loaded = self._model()
        plan = self._plan_query(query)
        videos = [self._plan_window(w, plan.frame_pixels) for w in windows]
        return [list(row) for row in self._pair_ids(loaded, plan, videos, windows)]

    def pair_inputs(
        self, query: LoadedQuery, windows: Sequence[WindowInput]
    ) -> dict[str, torch.Tensor]:
        """The model inputs of these pairs as one left-padded batch (ids, mask, pixels, grids)."""
        loaded = self._model()
        plan = self._plan_query(query)
        videos = [self._plan_window(w, plan.frame_pixels) for w in windows]
        ids = self._pair_ids(loaded, plan, videos, windows)
        return self._inputs(loaded, self._encode_query(loaded, plan), videos, ids)

    # --- query and window planning (validation, geometry; no pixels encoded) -------------------

    def _plan_query(self, query: LoadedQuery) -> _QueryPlan:
        kinds = query.kinds()
        SPEC.check_query_kinds(kinds)
        instruction = (query.instruction or "").strip() or default_instruction(kinds)
        texts = (query.text,) if query.text else ()
        check_query_markers(instruction, query.text or "")
        try:
            preset = parse_frame_pixels(query.frame_pixels or self.frame_pixels)
        except InvalidInputError as exc:
            raise QueryError(exc.subject, exc.reason) from None
        digest = hashlib.blake2b(digest_size=16)
        digest.update(repr((instruction, texts, query.video_fps, preset)).encode())
        plan = _QueryPlan(fingerprint="", instruction=instruction, texts=texts, frame_pixels=preset)
        if query.image is not None:
            plan.image = checked_rgb(query.image, "query image", QueryError)
            plan.image_size = fit_size(
                plan.image, self.image_min_pixels, self.image_max_pixels, "query image", QueryError
            )
            digest_image(digest, plan.image)
        if query.video_frames:
            plan.video = plan_query_video(query, preset, MAX_QUERY_VIDEO_SECONDS)
            for frame in plan.video.frames:
                digest_image(digest, frame)
        plan.fingerprint = digest.hexdigest()
        needed = plan.vision_tokens + KEEP_LAST_TOKENS
        if needed > self.max_length:
            raise QueryError(
                "query",
                f"its image/clip alone needs {needed} tokens; the model reads at most "
                f"{self.max_length} and vision tokens cannot be truncated (use a shorter clip, "
                "or smaller frames: SEGLOCATE_FRAME_PIXELS=fast)",
            )
        return plan

    def _plan_window(self, window: WindowInput, preset: str) -> VideoPlan:
        return plan_window_video(window, preset, "the qwen3-vl scorer needs the window's pixels")

    @staticmethod
    def _document_text(window: WindowInput) -> str:
        """The window's text for the document (markers a screen or a speaker might produce
        removed, so they cannot break the prompt's layout)."""
        return strip_reserved_markers(window.text or "").strip()

    # --- prompts and token ids -----------------------------------------------------------------

    def _pieces(
        self, loaded: LoadedModel, plan: _QueryPlan, window: VideoPlan, text: str = ""
    ) -> list[Any]:
        document = Side(videos=1, texts=(text,) if text else ())
        prompt = render_template(loaded, plan.instruction, plan.side, document)
        videos = ([plan.video.layout] if plan.video is not None else []) + [window.layout]
        return expand_prompt(prompt, plan.image_tokens, videos)

    def _pair_ids(
        self,
        loaded: LoadedModel,
        plan: _QueryPlan,
        videos: Sequence[VideoPlan],
        windows: Sequence[WindowInput],
    ) -> list[list[int]]:
        by_layout: dict[tuple[VideoLayout, str], list[int]] = {}
        rows: list[list[int]] = []
        for video, window in zip(videos, windows, strict=True):
            text = self._document_text(window)
            key = (video.layout, text)
            if key not in by_layout:
                full = self._encode_pieces(loaded, self._pieces(loaded, plan, video, text))
                ids = truncate_ids(full, loaded.special_ids, self.max_length)
                if len(ids) > self.max_length:
                    raise QueryError(
                        "query",
                        f"with window {window.start:.2f}-{window.end:.2f} s the prompt needs "
                        f"{len(ids)} tokens after removing all text; the model reads at most "
                        f"{self.max_length} "
                        "(use a shorter query clip, a smaller image, shorter windows or "
                        "SEGLOCATE_FRAME_PIXELS=fast)",
                    )
                if len(ids) < len(full):
                    logger.warning(
                        "query: prompt of %d tokens truncated to %d (text removed from the end)",
                        len(full),
                        len(ids),
                    )
                by_layout[key] = ids
            rows.append(by_layout[key])
        return rows

    def _encode_pieces(self, loaded: LoadedModel, pieces: Sequence[Any]) -> list[int]:
        return self._tokens.encode(loaded, pieces)

    # --- pixels --------------------------------------------------------------------------------

    def _encode_query(self, loaded: LoadedModel, plan: _QueryPlan) -> _EncodedQuery:
        cached = self._query_cache
        if cached is not None and cached.plan.fingerprint == plan.fingerprint:
            return cached
        image = (
            encode_image(loaded, plan.image, plan.image_size) if plan.image is not None else None
        )
        video = encode_videos(loaded, [plan.video])[0] if plan.video is not None else None
        self._query_cache = _EncodedQuery(plan=plan, image=image, video=video)
        return self._query_cache

    def _score_all(
        self,
        loaded: LoadedModel,
        query: _EncodedQuery,
        videos: Sequence[VideoPlan],
        ids: Sequence[list[int]],
        stats: ScoringStats,
    ) -> list[float]:
        """Score every pair in token-budgeted batches, preparing the next batch in a thread."""
        batches = plan_batches(
            [len(row) for row in ids], self.max_batch_tokens, self.max_batch_pairs
        )
        parts = [([videos[i] for i in batch], [ids[i] for i in batch]) for batch in batches]
        prefetch = self._prefetch if self._prefetch is not None else loaded.device.type == "cuda"
        if not prefetch or len(parts) == 1:
            return [
                score for part in parts for score in self._score_batch(loaded, query, *part, stats)
            ]
        scores: list[float] = []
        # Resizing and patchifying the next batch overlaps the model's work on this one.
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="qwen3-vl-inputs") as pool:
            pending = pool.submit(self._inputs, loaded, query, *parts[0])
            for number, part in enumerate(parts):
                inputs = pending.result()
                if number + 1 < len(parts):
                    pending = pool.submit(self._inputs, loaded, query, *parts[number + 1])
                scores += self._score_batch(loaded, query, *part, stats, inputs=inputs)
        return scores

    def _score_batch(
        self,
        loaded: LoadedModel,
        query: _EncodedQuery,
        videos: Sequence[VideoPlan],
        ids: Sequence[list[int]],
        stats: ScoringStats,
        inputs: dict[str, torch.Tensor] | None = None,
    ) -> list[float]:
        """Scores of one batch, in order. A pass that runs out of memory is split in two
        halves, each scored (and split again if need be), and the token budget is halved for
        later batches: every pair is scored exactly once."""
        try:
            if inputs is None:
                inputs = self._inputs(loaded, query, videos, ids)
            scores = self._forward(loaded, inputs)
        except torch.OutOfMemoryError:
            if len(ids) == 1:
                raise
            inputs = None
            if loaded.device.type == "cuda":
                torch.cuda.empty_cache()
            stats.out_of_memory += 1
            half = len(ids) // 2
            padded = len(ids) * max(map(len, ids))
            self._max_batch_tokens = max(1, min(self.max_batch_tokens, padded) // 2)
            logger.warning(
                "out of GPU memory with %d pairs (%d padded tokens); retrying in halves, "
                "batch token budget now %d",
                len(ids),
                padded,
                self.max_batch_tokens,
            )
            first = self._score_batch(loaded, query, videos[:half], ids[:half], stats)
            return first + self._score_batch(loaded, query, videos[half:], ids[half:], stats)
        stats.batches += 1
        stats.scored_rows += len(ids)
        stats.padded_tokens += len(ids) * max(map(len, ids))
        return scores

    def _forward(self, loaded: LoadedModel, inputs: dict[str, torch.Tensor]) -> list[float]:
        """One forward pass (the seam where running out of memory surfaces)."""
        return forward_scores(loaded, inputs)

    def _inputs(
        self,
        loaded: LoadedModel,
        query: _EncodedQuery,
        videos: Sequence[VideoPlan],
        ids: Sequence[list[int]],
    ) -> dict[str, torch.Tensor]:
        """Left-padded token ids, attention mask, pixels and grids of a batch, on the device."""
        count, width = len(ids), max(map(len, ids))
        input_ids = torch.full((count, width), loaded.pad_id, dtype=torch.long)
        attention_mask = torch.zeros((count, width), dtype=torch.long)
        for row, tokens in enumerate(ids):
            input_ids[row, width - len(tokens) :] = torch.tensor(tokens, dtype=torch.long)
            attention_mask[row, width - len(tokens) :] = 1
        inputs: dict[str, torch.Tensor] = {"input_ids": input_ids, "attention_mask": attention_mask}
        if query.image is not None:
            inputs["pixel_values"] = torch.cat([query.image.pixels] * count)
            inputs["image_grid_thw"] = torch.cat([query.image.grid] * count)
        windows = encode_videos(loaded, videos)
        media = [m for w in windows for m in ([query.video, w] if query.video is not None else [w])]
        inputs["pixel_values_videos"] = torch.cat([m.pixels for m in media])
        inputs["video_grid_thw"] = torch.cat([m.grid for m in media])
        # Pixels go to the model's dtype here, as the vision tower would cast them anyway.
        return {
            name: tensor.to(
                loaded.device,
                dtype=loaded.dtype if tensor.is_floating_point() else tensor.dtype,
                non_blocking=True,
            )
            for name, tensor in inputs.items()
        }
