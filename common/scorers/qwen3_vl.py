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
:mod:`common.scorers.qwen3_vl_prompt`.

Parameters of :class:`Qwen3VLScorer` (all keyword-only except ``model``):

- ``model``: hub id or local directory (a directory loads with ``local_files_only``).
- ``device``: ``"cuda"``, ``"cuda:1"``, ``"cpu"``; default CUDA when available.
- ``frame_max_pixels``: pixel budget per window (and query clip) frame; default 448x448
  (196 LM tokens per pair of frames, 588 vision tokens for a 5 s window at 1 fps). It is
  also the scorer's :class:`FrameRequirements`, so the sampler delivers frames this size.
- ``image_min_pixels`` / ``image_max_pixels``: query image bounds; default 4*32^2 / 1800*32^2.
- ``video_total_pixels``: budget of one video's frames together; default 7,864,320.
- ``max_length``: longest prompt in tokens; default 10240.
- ``max_batch_tokens``: padded tokens per forward pass; default 32768 on CUDA, 8192 on CPU.
- ``max_batch_pairs``: pairs per forward pass; default 64.
- ``attn_implementation``: default ``flash_attention_2`` when ``flash_attn`` imports on
  CUDA, else ``sdpa``.
- ``prefetch``: prepare the next batch's pixels in a thread while the model runs; default
  on for CUDA.
"""

from __future__ import annotations

import hashlib
import importlib.util
import itertools
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from common.errors import InvalidInputError, QueryError, SeglocateError, VideoError
from common.schemas import ScorerInfo
from common.scorers.base import FrameRequirements, LoadedQuery, SampledFrame, WindowInput
from common.scorers.qwen3_vl_prompt import (
    DEFAULT_INSTRUCTION,
    IMAGE_MAX_PIXELS,
    IMAGE_MIN_PIXELS,
    IMAGE_PAD,
    KEEP_LAST_TOKENS,
    MAX_LENGTH,
    PATCH_SIZE,
    RESERVED_MARKERS,
    TEMPORAL_PATCH_SIZE,
    VIDEO_MAX_FRAMES,
    VIDEO_TOTAL_PIXELS,
    Side,
    TextPiece,
    VideoLayout,
    build_messages,
    expand_prompt,
    group_timestamps,
    pad_to_even,
    patch_aligned_size,
    pieces_text,
    plan_batches,
    reserved_marker_in,
    tokens_per_frame_group,
    truncate_ids,
    uniform_subsample,
    video_frame_max_pixels,
)

logger = logging.getLogger(__name__)

#: Scorer name recorded in results.
SCORER_NAME = "qwen3-vl"
#: Pixel budget per window frame (448x448: 196 LM tokens per pair of frames).
FRAME_MAX_PIXELS = 448 * 448
#: Smallest frame area a video frame is scaled up to, pixels.
VIDEO_FRAME_MIN_PIXELS = IMAGE_MIN_PIXELS
#: Longest query clip, seconds.
MAX_QUERY_VIDEO_SECONDS = 30.0
#: Padded tokens per forward pass by device type; bounds activation memory.
DEFAULT_BATCH_TOKENS = {"cuda": 32768, "cpu": 8192}
#: Most pairs per forward pass.
DEFAULT_BATCH_PAIRS = 64
#: Distinct text pieces whose token ids are kept (the query's text recurs in every pair).
TEXT_CACHE_SIZE = 4096


class ScorerLoadError(SeglocateError):
    """The reranker's weights or processor could not be loaded."""

    def __init__(self, model: str, reason: str) -> None:
        super().__init__(f"qwen3-vl model {model!r}: {reason}")
        self.model = model
        self.reason = reason


@dataclass
class ScoringStats:
    """What the last :meth:`Qwen3VLScorer.score_windows` call did."""

    pairs: int = 0
    batches: int = 0
    tokens: int = 0  #: prompt tokens, padding excluded
    padded_tokens: int = 0  #: tokens fed to the model, padding included
    seconds: float = 0.0  #: wall time of the call


@dataclass
class _VideoPlan:
    """One video (query clip or window) ready to be resized and encoded."""

    frames: list[Image.Image]  #: RGB, padded to an even count
    indices: list[int]  #: frame index from the clip's start, per frame (padded)
    fps: float  #: frames per second of ``indices``
    height: int  #: resized height, pixels
    width: int  #: resized width, pixels

    @property
    def layout(self) -> VideoLayout:
        return VideoLayout(
            timestamps=tuple(group_timestamps(self.indices, self.fps)),
            tokens_per_group=tokens_per_frame_group(self.height, self.width),
        )


@dataclass
class _QueryPlan:
    """A checked query: its text side and media, before pixels are encoded."""

    fingerprint: str
    instruction: str
    texts: tuple[str, ...]
    image: Image.Image | None = None
    image_size: tuple[int, int] = (0, 0)  #: resized (height, width), pixels
    video: _VideoPlan | None = None

    @property
    def side(self) -> Side:
        return Side(
            videos=int(self.video is not None), images=int(self.image is not None), texts=self.texts
        )

    @property
    def image_tokens(self) -> list[int]:
        return [tokens_per_frame_group(*self.image_size)] if self.image is not None else []

    @property
    def vision_tokens(self) -> int:
        video = self.video.layout.vision_tokens if self.video is not None else 0
        return sum(self.image_tokens) + video


@dataclass
class _Encoded:
    """Pixels and grid (t, h, w in patches) of one image or video for the vision tower."""

    pixels: torch.Tensor
    grid: torch.Tensor


@dataclass
class _EncodedQuery:
    plan: _QueryPlan
    image: _Encoded | None
    video: _Encoded | None


@dataclass
class _Loaded:
    """The resident model and everything derived from it once."""

    backbone: Any  #: ``Qwen3VLModel`` (the LM head is not kept)
    processor: Any
    yes_minus_no: torch.Tensor  #: ``W[yes] - W[no]``, float32, on ``device``
    device: torch.device
    dtype: torch.dtype
    attn_implementation: str
    marker_ids: dict[str, int]
    special_ids: frozenset[int]
    pad_id: int
    templates: dict[tuple[str, Side], str] = field(default_factory=dict)


class Qwen3VLScorer:
    """Scores (query, window) pairs 0-100 with Qwen3-VL-Reranker; loads lazily, once.

    See the module docstring for the parameters. Construction is cheap; the model loads on
    :meth:`load` or the first :meth:`score_windows`. The vision encoder's output for a window
    does not depend on the query and could be cached per window (``features_id`` stays
    ``None`` until that exists).
    """

    query_kinds = frozenset({"text", "image", "video"})
    needs_window_pixels = True
    features_id: str | None = None

    def __init__(
        self,
        model: str,
        *,
        device: str | None = None,
        frame_max_pixels: int = FRAME_MAX_PIXELS,
        image_min_pixels: int = IMAGE_MIN_PIXELS,
        image_max_pixels: int = IMAGE_MAX_PIXELS,
        video_total_pixels: int = VIDEO_TOTAL_PIXELS,
        max_length: int = MAX_LENGTH,
        max_batch_tokens: int | None = None,
        max_batch_pairs: int = DEFAULT_BATCH_PAIRS,
        attn_implementation: str | None = None,
        prefetch: bool | None = None,
    ) -> None:
        self.model_id = model
        self.info = ScorerInfo(name=SCORER_NAME, model_id=model, revision=None)
        self.frame_requirements = FrameRequirements(max_pixels=frame_max_pixels, size_multiple=32)
        self.frame_max_pixels = frame_max_pixels
        self.image_min_pixels = image_min_pixels
        self.image_max_pixels = image_max_pixels
        self.video_total_pixels = video_total_pixels
        self.max_length = max_length
        self.max_batch_pairs = max(1, max_batch_pairs)
        self._max_batch_tokens = max_batch_tokens
        self._device_name = device
        self._attn_implementation = attn_implementation
        self._prefetch = prefetch
        self._loaded: _Loaded | None = None
        self._load_lock = threading.Lock()
        self._text_ids: OrderedDict[str, list[int]] = OrderedDict()
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
        scorer._loaded = _adopt(model, processor, attn, model_id)
        scorer._after_load()
        return scorer

    @property
    def loaded(self) -> bool:
        return self._loaded is not None

    @property
    def max_batch_tokens(self) -> int:
        """Padded tokens per forward pass (set, or the default for the device)."""
        if self._max_batch_tokens is not None:
            return self._max_batch_tokens
        device_type = self._loaded.device.type if self._loaded else "cpu"
        return DEFAULT_BATCH_TOKENS.get(device_type, DEFAULT_BATCH_TOKENS["cpu"])

    def load(self) -> None:
        """Load weights and processor now (idempotent, thread-safe)."""
        self._model()

    def _model(self) -> _Loaded:
        if self._loaded is None:
            with self._load_lock:
                if self._loaded is None:
                    self._loaded = self._load()
                    self._after_load()
        return self._loaded

    def _load(self) -> _Loaded:
        from transformers import AutoProcessor, Qwen3VLForConditionalGeneration

        device = torch.device(self._device_name or ("cuda" if torch.cuda.is_available() else "cpu"))
        if device.type == "cuda" and not torch.cuda.is_available():
            raise ScorerLoadError(
                self.model_id, f"device {device} requested but CUDA is not available"
            )
        dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
        attn = self._attn_implementation or pick_attention(device)
        local = Path(self.model_id).expanduser().is_dir()
        source = str(Path(self.model_id).expanduser()) if local else self.model_id
        options: dict[str, Any] = {"local_files_only": True} if local else {}
        logger.info(
            "loading %s (%s) on %s as %s with %s attention",
            self.model_id,
            "local directory" if local else "hub id",
            device,
            str(dtype).removeprefix("torch."),
            attn,
        )
        started = time.perf_counter()
        try:
            processor = AutoProcessor.from_pretrained(
                source, padding_side="left", use_fast=True, **options
            )
            model = Qwen3VLForConditionalGeneration.from_pretrained(
                source, dtype=dtype, attn_implementation=attn, **options
            )
        except (OSError, ValueError, ImportError) as exc:
            raise ScorerLoadError(self.model_id, f"cannot load ({exc})") from exc
        model.to(device)
        loaded = _adopt(model, processor, attn, self.model_id)
        del model  # the LM head's other rows are not needed; free them if untied
        message = f"loaded {self.model_id} in {time.perf_counter() - started:.1f} s"
        if device.type == "cuda":
            peak = torch.cuda.max_memory_allocated(device) / 2**30
            message += f"; peak GPU memory {peak:.2f} GiB"
        logger.info(message)
        return loaded

    def _after_load(self) -> None:
        assert self._loaded is not None
        config = self._loaded.backbone.config
        revision = getattr(config, "_commit_hash", None)
        self.info = ScorerInfo(name=SCORER_NAME, model_id=self.model_id, revision=revision)
        probe = self._template(self._loaded, DEFAULT_INSTRUCTION, Side(texts=("q",)))
        if not probe.endswith("<|im_start|>assistant\n") or "<think>" in probe:
            logger.warning(
                "%s: chat template does not end the prompt as expected: %r",
                self.model_id,
                probe[-60:],
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
        videos = [self._plan_window(window) for window in windows]
        ids = self._pair_ids(loaded, plan, videos, windows)
        stats = ScoringStats(pairs=len(windows), tokens=sum(map(len, ids)))
        scores = self._score_all(loaded, encoded_query, videos, ids, stats)
        stats.seconds = time.perf_counter() - started
        self.last_stats = stats
        return scores

    # --- extras for tests and tools ------------------------------------------------------------

    def prompt_text(self, query: LoadedQuery, window: WindowInput) -> str:
        """The expanded prompt of one pair, exactly as it is tokenised (vision pads included)."""
        loaded = self._model()
        plan = self._plan_query(query)
        return pieces_text(self._pieces(loaded, plan, self._plan_window(window)))

    def pair_token_ids(self, query: LoadedQuery, windows: Sequence[WindowInput]) -> list[list[int]]:
        """Token ids of each pair after truncation, before padding."""
        loaded = self._model()
        plan = self._plan_query(query)
        rows = self._pair_ids(loaded, plan, [self._plan_window(w) for w in windows], windows)
        return [list(row) for row in rows]

    # --- query and window planning (validation, geometry; no pixels encoded) -------------------

    def _plan_query(self, query: LoadedQuery) -> _QueryPlan:
        kinds = query.kinds()
        if not kinds:
            raise QueryError("query", "empty (give a text, an image or a video clip)")
        unsupported = sorted(kinds - self.query_kinds)
        if unsupported:
            raise QueryError("query", f"kind {', '.join(unsupported)} is not supported by qwen3-vl")
        instruction = (query.instruction or "").strip() or DEFAULT_INSTRUCTION
        texts = (query.text,) if query.text else ()
        for subject, text in (("query instruction", instruction), ("query text", query.text or "")):
            marker = reserved_marker_in(text)
            if marker:
                raise QueryError(subject, f"contains the reserved marker {marker}")
        digest = hashlib.blake2b(digest_size=16)
        digest.update(repr((instruction, texts, query.video_fps)).encode())
        plan = _QueryPlan(fingerprint="", instruction=instruction, texts=texts)
        if query.image is not None:
            plan.image = _checked_rgb(query.image, "query image", QueryError)
            plan.image_size = _fit(
                plan.image, self.image_min_pixels, self.image_max_pixels, "query image", QueryError
            )
            _digest_image(digest, plan.image)
        if query.video_frames:
            plan.video = self._plan_query_video(query)
            for frame in plan.video.frames:
                _digest_image(digest, frame)
        plan.fingerprint = digest.hexdigest()
        needed = plan.vision_tokens + KEEP_LAST_TOKENS
        if needed > self.max_length:
            raise QueryError(
                "query",
                f"its image/clip alone needs {needed} tokens; the model reads at most "
                f"{self.max_length} and vision tokens cannot be truncated (use a shorter clip)",
            )
        return plan

    def _plan_query_video(self, query: LoadedQuery) -> _VideoPlan:
        frames, fps = query.video_frames, query.video_fps
        if fps <= 0:
            raise QueryError("query video", f"sampling rate must be positive, got {fps} fps")
        duration = (frames[-1].index - frames[0].index + 1) / fps
        if duration > MAX_QUERY_VIDEO_SECONDS + 1e-6:
            raise QueryError(
                "query video",
                f"{duration:.1f} s long; query clips may be at most "
                f"{MAX_QUERY_VIDEO_SECONDS:.0f} s",
            )
        return self._plan_video(frames, fps, "query video", QueryError)

    def _plan_window(self, window: WindowInput) -> _VideoPlan:
        subject = f"window {window.start:.2f}-{window.end:.2f} s"
        if not window.frames:
            raise VideoError(subject, "no frames (the qwen3-vl scorer needs the window's pixels)")
        if window.fps <= 0:
            raise VideoError(subject, f"sampling rate must be positive, got {window.fps} fps")
        return self._plan_video(window.frames, window.fps, subject, VideoError)

    def _plan_video(
        self,
        frames: Sequence[SampledFrame],
        fps: float,
        subject: str,
        error: type[InvalidInputError],
    ) -> _VideoPlan:
        first = frames[0].index
        indices = [frame.index - first for frame in frames]
        if any(later <= earlier for earlier, later in itertools.pairwise(indices)):
            raise error(subject, "frames are not in increasing order of their index")
        images = [
            _checked_rgb(frame.image, f"{subject}, frame {frame.index}", error) for frame in frames
        ]
        positions = pad_to_even(uniform_subsample(len(images), VIDEO_MAX_FRAMES))
        budget = video_frame_max_pixels(
            len(positions), self.frame_max_pixels, self.video_total_pixels
        )
        height, width = _fit(images[0], VIDEO_FRAME_MIN_PIXELS, budget, subject, error)
        return _VideoPlan(
            frames=[images[p] for p in positions],
            indices=[indices[p] for p in positions],
            fps=fps,
            height=height,
            width=width,
        )

    # --- prompts and token ids -----------------------------------------------------------------

    def _template(self, loaded: _Loaded, instruction: str, query: Side) -> str:
        key = (instruction, query)
        if key not in loaded.templates:
            if len(loaded.templates) >= 64:
                loaded.templates.clear()
            messages = build_messages(instruction, query, Side(videos=1))
            loaded.templates[key] = loaded.processor.apply_chat_template(
                messages, tokenize=False, add_generation_prompt=True
            )
        return loaded.templates[key]

    def _pieces(self, loaded: _Loaded, plan: _QueryPlan, window: _VideoPlan) -> list[Any]:
        prompt = self._template(loaded, plan.instruction, plan.side)
        videos = ([plan.video.layout] if plan.video is not None else []) + [window.layout]
        return expand_prompt(prompt, plan.image_tokens, videos)

    def _pair_ids(
        self,
        loaded: _Loaded,
        plan: _QueryPlan,
        videos: Sequence[_VideoPlan],
        windows: Sequence[WindowInput],
    ) -> list[list[int]]:
        by_layout: dict[VideoLayout, list[int]] = {}
        rows: list[list[int]] = []
        for video, window in zip(videos, windows, strict=True):
            layout = video.layout
            if layout not in by_layout:
                full = self._encode_pieces(loaded, self._pieces(loaded, plan, video))
                ids = truncate_ids(full, loaded.special_ids, self.max_length)
                if len(ids) > self.max_length:
                    raise QueryError(
                        "query",
                        f"with window {window.start:.2f}-{window.end:.2f} s the prompt needs "
                        f"{len(ids)} tokens after removing all text; the model reads at most "
                        f"{self.max_length} "
                        "(use a shorter query clip, a smaller image or shorter windows)",
                    )
                if len(ids) < len(full):
                    logger.warning(
                        "query: prompt of %d tokens truncated to %d (text removed from the end)",
                        len(full),
                        len(ids),
                    )
                by_layout[layout] = ids
            rows.append(by_layout[layout])
        return rows

    def _encode_pieces(self, loaded: _Loaded, pieces: Sequence[Any]) -> list[int]:
        texts = [piece.text for piece in pieces if isinstance(piece, TextPiece)]
        missing = list(dict.fromkeys(text for text in texts if text not in self._text_ids))
        if missing:
            encoded = loaded.processor.tokenizer(missing, add_special_tokens=False)["input_ids"]
            for text, text_ids in zip(missing, encoded, strict=True):
                self._text_ids[text] = list(text_ids)
        ids: list[int] = []
        for piece in pieces:
            if isinstance(piece, TextPiece):
                self._text_ids.move_to_end(piece.text)
                ids += self._text_ids[piece.text]
            else:
                ids += [loaded.marker_ids[piece.token]] * piece.count
        while len(self._text_ids) > TEXT_CACHE_SIZE:
            self._text_ids.popitem(last=False)
        return ids

    # --- pixels --------------------------------------------------------------------------------

    def _encode_query(self, loaded: _Loaded, plan: _QueryPlan) -> _EncodedQuery:
        cached = self._query_cache
        if cached is not None and cached.plan.fingerprint == plan.fingerprint:
            return cached
        image = (
            _encode_image(loaded, plan.image, plan.image_size) if plan.image is not None else None
        )
        video = _encode_videos(loaded, [plan.video])[0] if plan.video is not None else None
        self._query_cache = _EncodedQuery(plan=plan, image=image, video=video)
        return self._query_cache

    def _score_all(
        self,
        loaded: _Loaded,
        query: _EncodedQuery,
        videos: Sequence[_VideoPlan],
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
        loaded: _Loaded,
        query: _EncodedQuery,
        videos: Sequence[_VideoPlan],
        ids: Sequence[list[int]],
        stats: ScoringStats,
        inputs: dict[str, torch.Tensor] | None = None,
    ) -> list[float]:
        """Scores of one batch; on running out of GPU memory, halve it and the token budget."""
        try:
            if inputs is None:
                inputs = self._inputs(loaded, query, videos, ids)
            scores = _run(loaded, inputs)
        except torch.cuda.OutOfMemoryError:
            if len(ids) == 1:
                raise
            inputs = None
            torch.cuda.empty_cache()
            half = len(ids) // 2
            self._max_batch_tokens = max(1, self.max_batch_tokens // 2)
            logger.warning(
                "out of GPU memory with %d pairs; batch token budget now %d",
                len(ids),
                self.max_batch_tokens,
            )
            first = self._score_batch(loaded, query, videos[:half], ids[:half], stats)
            return first + self._score_batch(loaded, query, videos[half:], ids[half:], stats)
        stats.batches += 1
        stats.padded_tokens += len(ids) * max(map(len, ids))
        return scores

    def _inputs(
        self,
        loaded: _Loaded,
        query: _EncodedQuery,
        videos: Sequence[_VideoPlan],
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
        windows = _encode_videos(loaded, videos)
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


def _run(loaded: _Loaded, inputs: dict[str, torch.Tensor]) -> list[float]:
    """One forward pass: ``100 * sigmoid((W[yes] - W[no]) . h_last)`` per row."""
    with torch.inference_mode():
        output = loaded.backbone(**inputs, use_cache=False)
        last = output.last_hidden_state[:, -1, :].float()
        scores = torch.sigmoid(last @ loaded.yes_minus_no) * 100.0
    return [float(score) for score in scores.cpu()]


# --- helpers -----------------------------------------------------------------------------------


def pick_attention(device: torch.device) -> str:
    """``flash_attention_2`` on CUDA when ``flash_attn`` imports, else ``sdpa``."""
    if device.type != "cuda" or importlib.util.find_spec("flash_attn") is None:
        return "sdpa"
    try:
        import flash_attn  # noqa: F401
    except Exception as exc:  # a broken build must not stop scoring
        logger.info("flash_attn does not import (%s); using sdpa", exc)
        return "sdpa"
    return "flash_attention_2"


def _adopt(model: Any, processor: Any, attn: str, model_id: str) -> _Loaded:
    """Keep the backbone and the yes/no row difference of a loaded model; check the tokenizer."""
    tokenizer = processor.tokenizer
    vocab = tokenizer.get_vocab()
    missing = [word for word in ("yes", "no") if word not in vocab]
    if missing:
        raise ScorerLoadError(model_id, f"tokenizer has no single token for {', '.join(missing)}")
    marker_ids = {marker: tokenizer.convert_tokens_to_ids(marker) for marker in RESERVED_MARKERS}
    unknown = [
        marker
        for marker, token in marker_ids.items()
        if token is None or token == tokenizer.unk_token_id
    ]
    if unknown:
        raise ScorerLoadError(model_id, f"tokenizer lacks {', '.join(unknown)}")
    if marker_ids[IMAGE_PAD] != model.config.image_token_id:
        raise ScorerLoadError(model_id, "tokenizer and model disagree on the image token id")
    if getattr(processor, "chat_template", None) is None:
        raise ScorerLoadError(model_id, "processor has no chat template")
    head = model.get_output_embeddings().weight
    yes_minus_no = (head[vocab["yes"]].float() - head[vocab["no"]].float()).detach().clone()
    backbone = model.model.eval()
    parameter = next(backbone.parameters())
    pad_id = (
        tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    )
    return _Loaded(
        backbone=backbone,
        processor=processor,
        yes_minus_no=yes_minus_no.to(parameter.device),
        device=parameter.device,
        dtype=parameter.dtype,
        attn_implementation=attn,
        marker_ids=marker_ids,
        special_ids=frozenset(tokenizer.all_special_ids),
        pad_id=int(pad_id),
    )


def _checked_rgb(image: object, subject: str, error: type[InvalidInputError]) -> Image.Image:
    """``image`` as RGB, or ``error`` naming ``subject`` when it is not a readable image."""
    if not isinstance(image, Image.Image):
        raise error(subject, f"not an image (got {type(image).__name__})")
    try:
        image.load()
        width, height = image.size
        if width <= 0 or height <= 0:
            raise error(subject, f"empty image ({width}x{height} px)")
        return image if image.mode == "RGB" else image.convert("RGB")
    except (OSError, ValueError, SyntaxError) as exc:
        raise error(subject, f"unreadable image ({exc})") from exc


def _fit(
    image: Image.Image,
    min_pixels: int,
    max_pixels: int,
    subject: str,
    error: type[InvalidInputError],
) -> tuple[int, int]:
    try:
        return patch_aligned_size(
            image.height, image.width, min_pixels=min_pixels, max_pixels=max_pixels
        )
    except ValueError as exc:
        raise error(subject, str(exc)) from exc


def _digest_image(digest: Any, image: Image.Image) -> None:
    digest.update(repr((image.size, image.mode)).encode())
    digest.update(image.tobytes())


def _resized_array(image: Image.Image, height: int, width: int) -> np.ndarray:
    if image.size != (width, height):
        image = image.resize((width, height), Image.Resampling.BICUBIC)
    return np.array(image, dtype=np.uint8)


def _encode_image(loaded: _Loaded, image: Image.Image, size: tuple[int, int]) -> _Encoded:
    array = _resized_array(image, *size)
    out = loaded.processor.image_processor(images=[array], do_resize=False, return_tensors="pt")
    encoded = _Encoded(pixels=out["pixel_values"], grid=out["image_grid_thw"])
    _check_grid(encoded.grid, [(1, size[0] // PATCH_SIZE, size[1] // PATCH_SIZE)])
    return encoded


def _encode_videos(loaded: _Loaded, plans: Sequence[_VideoPlan]) -> list[_Encoded]:
    """Resize and patchify videos in one processor call; timestamps come from their metadata."""
    tensors = [
        torch.from_numpy(
            np.stack([_resized_array(f, plan.height, plan.width) for f in plan.frames])
        ).permute(0, 3, 1, 2)
        for plan in plans
    ]
    metadata = [
        {
            "total_num_frames": len(plan.frames),
            "fps": plan.fps,
            "frames_indices": plan.indices,
            "width": plan.width,
            "height": plan.height,
        }
        for plan in plans
    ]
    out = loaded.processor.video_processor(
        videos=tensors,
        video_metadata=metadata,
        do_sample_frames=False,
        do_resize=False,
        return_tensors="pt",
        **_processing_device(loaded),
    )
    grids = out["video_grid_thw"]
    _check_grid(
        grids,
        [
            (len(p.frames) // TEMPORAL_PATCH_SIZE, p.height // PATCH_SIZE, p.width // PATCH_SIZE)
            for p in plans
        ],
    )
    sizes = [int(row.prod()) for row in grids]
    pixels = torch.split(out["pixel_values_videos"], sizes)
    return [_Encoded(pixels=chunk, grid=grids[i : i + 1]) for i, chunk in enumerate(pixels)]


def _processing_device(loaded: _Loaded) -> dict[str, str]:
    """Normalise and patchify on the GPU when there is one: uint8 frames travel, not floats."""
    return {"device": str(loaded.device)} if loaded.device.type == "cuda" else {}


def _check_grid(grid: torch.Tensor, expected: Sequence[tuple[int, int, int]]) -> None:
    got = [tuple(int(v) for v in row) for row in grid]
    if got != list(expected):
        raise RuntimeError(f"vision processor produced grids {got}, expected {list(expected)}")
