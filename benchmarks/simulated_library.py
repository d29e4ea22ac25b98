"""A simulated course library for recall benchmarks: lecture-like window text and random unit
vectors, generated deterministically per video (no media, no models).

One hour of video is 720 five-second windows. A slide stays on screen for 2 to 12 windows; its
text is a title and 3 to 5 bullets drawn from a Zipf-distributed vocabulary of pseudo-words with
English stopwords mixed in, so term statistics look like slide text (a few very common words,
a long tail of rare ones).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

#: Windows per hour of video at 5-second windows.
WINDOWS_PER_HOUR = 720
#: Distinct content words of the simulated vocabulary.
VOCABULARY_SIZE = 30_000
#: Zipf-Mandelbrot exponent and offset of content-word frequencies (the commonest content word
#: is about 2% of words, as "force" might be in a physics course).
ZIPF_EXPONENT = 1.1
ZIPF_OFFSET = 10
_SYLLABLES = (
    *("ka", "ro", "mi", "te", "lu", "sa", "ne", "po", "di", "fa", "gu", "ve", "zo", "ri", "ta"),
    *("mo", "ke", "li", "nu", "pe", "ba", "do", "fi", "ga", "ha", "jo", "ku", "la", "me", "no"),
    *("pu", "ra", "se", "ti", "vo", "wa", "xe", "yu", "ze", "bri", "cla", "dro", "fle", "gri"),
    *("plo", "stra", "tri"),
)
_STOPWORDS = (
    *("the", "of", "and", "to", "in", "a", "is", "for", "on", "with", "as", "by", "that"),
    *("this", "from", "are", "at", "be"),
)


@lru_cache(maxsize=1)
def vocabulary() -> tuple[list[str], np.ndarray]:
    """(words, cumulative Zipf probabilities) of the simulated vocabulary."""
    rng = np.random.default_rng(7)
    words: list[str] = []
    seen: set[str] = set()
    while len(words) < VOCABULARY_SIZE:
        length = int(rng.integers(2, 5))
        word = "".join(_SYLLABLES[int(i)] for i in rng.integers(0, len(_SYLLABLES), length))
        if word not in seen:
            seen.add(word)
            words.append(word)
    weights = 1.0 / (np.arange(1, VOCABULARY_SIZE + 1) + ZIPF_OFFSET) ** ZIPF_EXPONENT
    return words, np.cumsum(weights / weights.sum())


def _phrase(rng: np.random.Generator, n_words: int) -> str:
    words, cumulative = vocabulary()
    picks = np.searchsorted(cumulative, rng.random(n_words))
    out = []
    for pick in picks:
        if rng.random() < 0.3:
            out.append(_STOPWORDS[int(rng.integers(0, len(_STOPWORDS)))])
        out.append(words[min(int(pick), VOCABULARY_SIZE - 1)])
    return " ".join(out)


@dataclass
class SimulatedVideo:
    """One simulated video: an id, its windows' text, and (lazily) its windows' vectors."""

    video_id: str
    seed: int
    texts: list[str]
    #: Title of the slide each window shows (queries are drawn from these).
    titles: list[str]

    def vectors(self, dims: int) -> np.ndarray:
        """Random L2-normalised float32 vectors, one row per window."""
        rng = np.random.default_rng(self.seed + 1_000_003)
        block = rng.standard_normal((len(self.texts), dims), dtype=np.float32)
        block /= np.linalg.norm(block, axis=1, keepdims=True)
        return block


def simulated_video(index: int, windows: int = WINDOWS_PER_HOUR) -> SimulatedVideo:
    """Video number ``index`` of the simulated library (one hour by default)."""
    rng = np.random.default_rng(index)
    texts: list[str] = []
    titles: list[str] = []
    while len(texts) < windows:
        title = _phrase(rng, int(rng.integers(2, 5)))
        bullets = [_phrase(rng, int(rng.integers(4, 9))) for _ in range(int(rng.integers(3, 6)))]
        text = "\n".join([title, *bullets])
        for _ in range(int(rng.integers(2, 13))):
            texts.append(text)
            titles.append(title)
    return SimulatedVideo(f"video-{index:05d}", index, texts[:windows], titles[:windows])


def simulated_library(hours: int) -> Iterator[SimulatedVideo]:
    """``hours`` one-hour videos."""
    for index in range(hours):
        yield simulated_video(index)


def text_queries(count: int, hours: int, seed: int = 99) -> list[str]:
    """Half exact (a slide's title words), half loose (random words of the vocabulary)."""
    rng = np.random.default_rng(seed)
    queries = []
    for i in range(count):
        if i % 2 == 0:
            video = simulated_video(int(rng.integers(0, hours)))
            queries.append(video.titles[int(rng.integers(0, len(video.titles)))])
        else:
            queries.append("the moment " + _phrase(rng, int(rng.integers(3, 7))))
    return queries


def query_vectors(count: int, dims: int, seed: int = 98) -> np.ndarray:
    """Random L2-normalised float32 query vectors, ``(count, dims)``."""
    rng = np.random.default_rng(seed)
    block = rng.standard_normal((count, dims), dtype=np.float32)
    block /= np.linalg.norm(block, axis=1, keepdims=True)
    return block
