"""Small synthetic libraries for the library-index tests: shards written to a real store."""

from __future__ import annotations

import hashlib

import numpy as np

from common.index.shard import EmbedderIdentity, ShardIdentity, ShardWindow, WindowShard
from common.index.shard_store import write_shard
from common.storage import ObjectStore

#: A tiny random embedder identity for tests (vectors are random unit rows).
TEST_EMBEDDER = EmbedderIdentity(name="test-random", model_id="random", dims=16)


def content_hash(name: str) -> str:
    return hashlib.sha256(name.encode()).hexdigest()


def identity(
    name: str, embedders: tuple[EmbedderIdentity, ...] = (TEST_EMBEDDER,)
) -> ShardIdentity:
    return ShardIdentity(
        content_hash=content_hash(name),
        sampling_id="fps1-px921600-v1",
        window=5.0,
        stride=5.0,
        text_source="ocr-test",
        embedders=embedders,
    )


def windows_of(texts: list[str]) -> list[ShardWindow]:
    return [ShardWindow(start=5.0 * i, end=5.0 * (i + 1), text=t) for i, t in enumerate(texts)]


def random_vectors(name: str, count: int, dims: int) -> np.ndarray:
    seed = int(content_hash(name)[:8], 16)
    rows = np.random.default_rng(seed).standard_normal((count, dims)).astype(np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def write_video(store: ObjectStore, bucket: str, name: str, texts: list[str]) -> WindowShard:
    """Index one synthetic video: its texts as windows, random vectors for TEST_EMBEDDER."""
    vectors = {TEST_EMBEDDER: random_vectors(name, len(texts), TEST_EMBEDDER.dims)}
    return write_shard(store, bucket, identity(name), 5.0 * len(texts), windows_of(texts), vectors)


#: Three short "lectures": (name, window texts).
LECTURES: dict[str, list[str]] = {
    "physics": [
        "Physics 101: Mechanics\nCourse overview",
        "Newton's First Law\nAn object at rest stays at rest",
        "Newton's First Law\nAn object at rest stays at rest",
        "Newton's Second Law\nForce equals mass times acceleration",
        "Free-Body Diagrams\nDraw every force acting on the object",
        "",
        "Summary\nThree laws of motion",
    ],
    "statistics": [
        "Statistics 201\nInference",
        "Confidence Intervals\nA range of plausible values for a parameter",
        "Confidence Intervals\nA range of plausible values for a parameter",
        "Hypothesis Testing\nNull hypothesis and p-values",
        "Linear Regression\nLeast squares line through the data",
    ],
    "chemistry": [
        "元素周期表\n元素按原子序数排列",
        "Chemical Bonds\nIonic and covalent bonds",
        "Reaction Rates\nTemperature speeds up reactions",
        "Acids and Bases\nThe pH scale",
    ],
}
