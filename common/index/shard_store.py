"""Shards in the object store: written once per video by whoever indexes it, read by recall.

Writes need no lock: a shard's key is a function of its identity and its bytes a function of
its content, so two workers indexing the same video write the same objects (the last write
replaces identical bytes) and two workers indexing different videos write different keys. The
vector blocks go first and the shard JSON last: a shard that can be read is complete. Reading one
video's shard costs one read, plus one per vector block.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from common.errors import ObjectNotFoundError
from common.index.shard import (
    EmbedderIdentity,
    ShardIdentity,
    ShardWindow,
    VectorBlock,
    WindowShard,
    decode_vectors,
    encode_vectors,
    sha256_hex,
)
from common.storage import ObjectStore


class ShardCorruptError(ValueError):
    """A stored shard or vector block does not match what its shard says."""


def build_shard(
    identity: ShardIdentity,
    duration: float,
    windows: Sequence[ShardWindow],
    vectors: Mapping[EmbedderIdentity, np.ndarray] | None = None,
) -> tuple[WindowShard, dict[str, bytes]]:
    """The shard and its vector blocks' bytes by object key (pure: nothing is written)."""
    vectors = vectors or {}
    if set(vectors) != set(identity.embedders):
        raise ValueError("build_shard: give one vector block per embedder of the identity")
    blobs: dict[str, bytes] = {}
    blocks = []
    for embedder in identity.embedders:
        block = vectors[embedder]
        if len(block) != len(windows):
            raise ValueError(
                f"build_shard: {len(block)} vectors from {embedder.name} for {len(windows)} windows"
            )
        data = encode_vectors(block, embedder.dims)
        key = identity.vectors_key(embedder)
        blobs[key] = data
        blocks.append(VectorBlock(embedder=embedder, key=key, sha256=sha256_hex(data)))
    shard = WindowShard(
        identity=identity, duration=duration, windows=tuple(windows), vectors=tuple(blocks)
    )
    return shard, blobs


def write_shard(
    store: ObjectStore,
    bucket: str,
    identity: ShardIdentity,
    duration: float,
    windows: Sequence[ShardWindow],
    vectors: Mapping[EmbedderIdentity, np.ndarray] | None = None,
) -> WindowShard:
    """Store a video's shard (vector blocks first, the JSON last) and return it."""
    shard, blobs = build_shard(identity, duration, windows, vectors)
    for key, data in blobs.items():
        store.put_bytes(bucket, key, data, "application/octet-stream")
    store.put_bytes(bucket, identity.key, encode_shard(shard), "application/json")
    return shard


def encode_shard(shard: WindowShard) -> bytes:
    """The shard's JSON bytes: deterministic, so equal shards are equal objects."""
    return shard.model_dump_json().encode()


def read_shard(store: ObjectStore, bucket: str, identity: ShardIdentity) -> WindowShard | None:
    """The stored shard of ``identity``, or None if that video is not indexed yet."""
    try:
        data = store.get_bytes(bucket, identity.key)
    except ObjectNotFoundError:
        return None
    shard = WindowShard.model_validate_json(data)
    if shard.identity != identity:
        raise ShardCorruptError(f"shard {identity.key}: stored identity differs from its key's")
    return shard


def read_vectors(
    store: ObjectStore, bucket: str, shard: WindowShard, block: VectorBlock
) -> np.ndarray:
    """The float16 ``(windows, dims)`` vectors of one block, checked against its digest."""
    data = store.get_bytes(bucket, block.key)
    if sha256_hex(data) != block.sha256:
        raise ShardCorruptError(f"vector block {block.key}: digest differs from its shard's")
    return decode_vectors(data, len(shard.windows), block.embedder.dims)
