"""The per-video window shard: what the library index knows of one video, written once.

A shard holds every window of one video under one sampling and windowing: its span (seconds),
its text (on-screen lines today, spoken words once speech lands) and the keys of its vector
blocks (one ``.npy`` per embedder, float16, one row per window). Its identity is everything that
determines its content: the video's content hash, the sampling, the windowing, the text source
and the embedders. Equal identities mean equal content, so the key is deterministic
(:func:`common.keys.index_shard`), two writers of the same video write the same bytes, and
nobody needs a lock. Pure logic; the store I/O is in :mod:`common.index.shard_store`.
"""

from __future__ import annotations

import hashlib
import io
import json
import re

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from common import keys
from common.embedders.base import EmbedderInfo

#: Version of the shard layout; part of every shard's identity (a new layout, new keys).
SHARD_VERSION = 1
#: Vectors are stored as float16: half of float32, and the query-side index searches float16.
VECTOR_DTYPE = np.float16


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class EmbedderIdentity(_Frozen):
    """Which embedder made a vector block (from :class:`~common.embedders.base.EmbedderInfo`)."""

    name: str
    model_id: str
    revision: str | None = None
    dims: int = Field(ge=1)

    @classmethod
    def of(cls, info: EmbedderInfo) -> EmbedderIdentity:
        return cls(name=info.name, model_id=info.model_id, revision=info.revision, dims=info.dims)

    @property
    def tag(self) -> str:
        """Key-safe name: ``{name}-{dims}-{digest}`` (the digest covers model and revision)."""
        return f"{_slug(self.name)}-{self.dims}-{_digest(self.model_dump(mode='json'))[:12]}"


class ShardIdentity(_Frozen):
    """Everything that determines a shard's content; equal identities, equal shards."""

    version: int = SHARD_VERSION
    #: sha256 of the video's bytes.
    content_hash: str
    #: Frame sampling (:func:`common.frames.sampling_id`).
    sampling_id: str
    #: Window length and stride, seconds.
    window: float = Field(gt=0.0)
    stride: float = Field(gt=0.0)
    #: What produced the windows' text, e.g. the OCR scorer's ``features_id``; add the speech
    #: model's identity here once speech lands (``ocr-v1-...+asr-...``).
    text_source: str
    #: Embedders whose vectors the shard carries, in order (may be empty).
    embedders: tuple[EmbedderIdentity, ...] = ()

    @property
    def tag(self) -> str:
        """Key-safe name of the windowing, text source and embedders (the shard key's last part)."""
        described = self.model_dump(mode="json", exclude={"content_hash", "sampling_id"})
        return f"w{self.window:g}-s{self.stride:g}-{_digest(described)[:16]}"

    @property
    def shard_id(self) -> str:
        """The shard's identity as one string (a digest over every field)."""
        return _digest(self.model_dump(mode="json"))

    @property
    def key(self) -> str:
        """Object key of the shard JSON in the work bucket."""
        return keys.index_shard(self.content_hash, self.sampling_id, self.tag)

    def vectors_key(self, embedder: EmbedderIdentity) -> str:
        """Object key of this video's vector block from ``embedder``."""
        windowing = f"w{self.window:g}-s{self.stride:g}"
        return keys.index_vectors(
            self.content_hash, self.sampling_id, f"{windowing}-{embedder.tag}"
        )


class ShardWindow(_Frozen):
    """One window: its span and its text."""

    start: float = Field(ge=0.0)  #: seconds
    end: float = Field(ge=0.0)  #: seconds
    #: On-screen lines (and later spoken words), newline-separated; empty when none.
    text: str = ""


class VectorBlock(_Frozen):
    """Where a shard's vectors from one embedder are, and how to check them."""

    embedder: EmbedderIdentity
    #: Object key of the ``.npy`` in the work bucket.
    key: str
    #: sha256 of the ``.npy`` bytes.
    sha256: str


class WindowShard(_Frozen):
    """A video's windows for the library index (``index/shards/...json``), immutable."""

    identity: ShardIdentity
    #: Seconds.
    duration: float = Field(ge=0.0)
    windows: tuple[ShardWindow, ...]
    #: One block per embedder of ``identity.embedders``, in the same order.
    vectors: tuple[VectorBlock, ...] = ()

    @model_validator(mode="after")
    def _blocks_match_identity(self) -> WindowShard:
        if tuple(block.embedder for block in self.vectors) != self.identity.embedders:
            raise ValueError("shard vectors: one block per embedder of the identity, in order")
        return self

    @property
    def shard_id(self) -> str:
        return self.identity.shard_id

    @property
    def content_hash(self) -> str:
        return self.identity.content_hash


def encode_vectors(vectors: np.ndarray, dims: int) -> bytes:
    """``.npy`` bytes of ``vectors`` (``(windows, dims)``, L2-normalised) as float16."""
    if vectors.ndim != 2 or vectors.shape[1] != dims:
        raise ValueError(f"vectors: expected shape (windows, {dims}), got {vectors.shape}")
    if not np.all(np.isfinite(vectors)):
        raise ValueError("vectors: NaN or infinite values")
    buffer = io.BytesIO()
    np.save(buffer, np.ascontiguousarray(vectors, dtype=VECTOR_DTYPE), allow_pickle=False)
    return buffer.getvalue()


def decode_vectors(data: bytes, windows: int, dims: int) -> np.ndarray:
    """The float16 ``(windows, dims)`` array stored by :func:`encode_vectors`."""
    array = np.load(io.BytesIO(data), allow_pickle=False)
    if array.shape != (windows, dims) or array.dtype != VECTOR_DTYPE:
        raise ValueError(
            f"vector block: expected float16 ({windows}, {dims}), got {array.dtype} {array.shape}"
        )
    return array


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _digest(value: object) -> str:
    canonical = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("._") or "embedder"
