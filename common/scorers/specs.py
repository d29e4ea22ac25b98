"""Scorer facts readable without loading a scorer: a registry of :class:`ScorerSpec`.

The client, the producer and cpu workers need a scorer's name, the query kinds it takes, the
frames it needs and its limit on query clips, but must not import torch (about 865 MB) to learn
them. Each scorer module reads its facts from here too, so they are written once.
"""

from __future__ import annotations

from dataclasses import dataclass

from common.errors import InvalidInputError, QueryError
from common.scorers import qwen3_vl_frames
from common.scorers.base import FrameRequirements

#: Query kinds a scorer may accept.
QUERY_KINDS = ("text", "image", "video")


@dataclass(frozen=True)
class ScorerSpec:
    """What a scorer is, without building it."""

    #: Canonical name, recorded in results and used in queue names (``gpu.<name>``).
    name: str
    #: Query kinds accepted, a subset of :data:`QUERY_KINDS`.
    query_kinds: frozenset[str]
    #: How frames must be sampled for it (part of the frame-cache key).
    frame_requirements: FrameRequirements
    #: True if scoring needs the windows' pixels (else its cached per-video features suffice).
    needs_window_pixels: bool
    #: Longest query clip it accepts, seconds (only meaningful with "video" in query_kinds).
    max_query_clip_s: float = 30.0
    #: What to tell a user whose query has a kind it cannot read.
    kind_hint: str = ""
    #: One-line description for ``--help`` and errors.
    summary: str = ""

    def check_query_kinds(self, kinds: frozenset[str]) -> None:
        """Raise :class:`QueryError` naming the kinds this scorer cannot read (one rule, one
        message, for the client and the workers)."""
        if not kinds:
            raise QueryError("query", "empty (give a text, an image or a video clip)")
        unsupported = sorted(kinds - self.query_kinds)
        if unsupported:
            accepted = ", ".join(k for k in QUERY_KINDS if k in self.query_kinds)
            hint = f"; {self.kind_hint}" if self.kind_hint else ""
            kind = "/".join(unsupported)
            article = "an" if kind[0] in "aeiou" else "a"
            raise QueryError(
                "query",
                f"the {self.name} scorer cannot use {article} {kind} query "
                f"(it takes a {accepted} query only){hint}",
            )


#: Pixel budget of OCR frames: 720p keeps 18 px lecture text readable to the recogniser.
OCR_MAX_PIXELS = 1280 * 720

SPECS: dict[str, ScorerSpec] = {
    spec.name: spec
    for spec in (
        ScorerSpec(
            name="text",
            query_kinds=frozenset({"text"}),
            frame_requirements=FrameRequirements(max_pixels=OCR_MAX_PIXELS),
            needs_window_pixels=False,
            kind_hint="drop the image or video clip, or use the qwen3-vl scorer",
            summary="on-screen text (OCR) and spoken words (ASR), CPU, offline",
        ),
        ScorerSpec(
            name="qwen3-vl",
            query_kinds=frozenset(QUERY_KINDS),
            frame_requirements=qwen3_vl_frames.frame_requirements(qwen3_vl_frames.DEFAULT_PRESET),
            needs_window_pixels=True,
            # The official sampler's 64 frames at 1 fps.
            max_query_clip_s=float(qwen3_vl_frames.CLIP_MAX_FRAMES / qwen3_vl_frames.CLIP_FPS),
            summary="Qwen3-VL-Reranker (GPU)",
        ),
        ScorerSpec(
            name="null-benchmark",
            query_kinds=frozenset(QUERY_KINDS),
            frame_requirements=FrameRequirements(max_pixels=160 * 90),
            needs_window_pixels=False,
            summary="constant scores, for pipeline benchmarks only",
        ),
    )
}

#: Canonical scorer names (results, queue names ``gpu.<name>``).
SCORER_NAMES = tuple(SPECS)
#: Other names accepted by ``--scorer`` and ``SEGLOCATE_SCORER``: ``ocr`` is the text scorer's
#: name from before it read spoken words too.
SCORER_ALIASES = {"ocr": "text"}


def scorer_spec(name: str) -> ScorerSpec:
    """The spec of scorer ``name`` (or an alias); a clear error for an unknown name."""
    spec = SPECS.get(SCORER_ALIASES.get(name, name))
    if spec is None:
        known = ", ".join([*SCORER_NAMES, *SCORER_ALIASES])
        raise InvalidInputError(f"scorer {name!r}", f"unknown; choose one of {known}")
    return spec


def frame_requirements_for(name: str, frame_pixels: str | None = None) -> FrameRequirements:
    """The frames scorer ``name`` needs for a job with the ``frame_pixels`` preset (only the
    qwen3-vl scorer's frames depend on it; see :mod:`common.scorers.qwen3_vl_frames`)."""
    spec = scorer_spec(name)
    if spec.name == "qwen3-vl":
        return qwen3_vl_frames.frame_requirements(frame_pixels)
    return spec.frame_requirements
