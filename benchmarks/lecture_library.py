"""A generated course library with known answers: lectures whose slides have distinct texts, and
queries (exact and paraphrased) whose right slide is known.

Used by the two-stage vs full-scan benchmark (``benchmarks/bench_two_stage.py``), the text
embedder benchmark and the recall tests. Every *target* slide appears in exactly one lecture;
the rest are filler slides (outlines, examples, exercises) whose texts are distinct too, so
"the right window" is well defined.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from producer.sample_lecture import Slide, SlideSpan, make_lecture


@dataclass(frozen=True)
class Target:
    """A slide with a known query: the exact wording and a paraphrase that shares no key word."""

    slide: Slide
    exact: str
    paraphrase: str


def _t(title: str, bullets: tuple[str, ...], exact: str, paraphrase: str) -> Target:
    return Target(Slide(title, bullets, 15.0), exact, paraphrase)


#: 24 target slides across six courses.
TARGETS: tuple[Target, ...] = (
    _t(
        "Confidence Intervals",
        ("A range of plausible values for a parameter", "Wider intervals mean more uncertainty"),
        "confidence intervals",
        "how sure can we be about the estimate",
    ),
    _t(
        "Hypothesis Testing",
        ("Null and alternative hypotheses", "Reject when the p-value is small"),
        "hypothesis testing p-value",
        "deciding whether an effect is real or due to chance",
    ),
    _t(
        "Linear Regression",
        ("Least squares line through the data", "Slope and intercept"),
        "linear regression least squares",
        "fitting a straight line to points",
    ),
    _t(
        "Bayes' Theorem",
        ("Posterior is proportional to likelihood times prior", "Updating beliefs with evidence"),
        "bayes theorem posterior prior",
        "revising a probability after new information",
    ),
    _t(
        "Newton's Second Law",
        ("Force equals mass times acceleration", "Measured in newtons"),
        "newton's second law force mass acceleration",
        "why heavier things need a harder push to speed up",
    ),
    _t(
        "Free-Body Diagrams",
        ("Draw every force acting on the object", "Gravity, normal force and friction"),
        "free-body diagram",
        "sketching all the pushes and pulls on a block",
    ),
    _t(
        "Conservation of Energy",
        ("Energy is neither created nor destroyed", "Kinetic and potential energy trade off"),
        "conservation of energy",
        "a roller coaster trading height for speed",
    ),
    _t(
        "Ohm's Law",
        ("Voltage equals current times resistance", "Resistors in series and parallel"),
        "ohm's law voltage current resistance",
        "relation between electrical pressure and flow in a wire",
    ),
    _t(
        "Photosynthesis",
        ("Plants turn light, water and carbon dioxide into sugar", "Chlorophyll absorbs light"),
        "photosynthesis chlorophyll",
        "how leaves make food from sunlight",
    ),
    _t(
        "DNA Replication",
        ("The double helix unwinds", "Each strand templates a new copy"),
        "dna replication double helix",
        "how genetic material is copied before a cell divides",
    ),
    _t(
        "Natural Selection",
        ("Heritable variation", "Fitter individuals leave more offspring"),
        "natural selection",
        "survival of the fittest in evolution",
    ),
    _t(
        "Cellular Respiration",
        ("Glucose is broken down to release energy", "Mitochondria produce ATP"),
        "cellular respiration mitochondria atp",
        "where cells get power from sugar",
    ),
    _t(
        "Chemical Equilibrium",
        ("Forward and reverse rates are equal", "Le Chatelier's principle"),
        "chemical equilibrium le chatelier",
        "when a reaction stops changing overall",
    ),
    _t(
        "Acids and Bases",
        ("The pH scale from 0 to 14", "Neutralisation makes salt and water"),
        "acids and bases ph scale",
        "measuring how sour or alkaline a solution is",
    ),
    _t(
        "Ionic and Covalent Bonds",
        ("Ions transfer electrons", "Covalent atoms share electron pairs"),
        "ionic covalent bonds",
        "how atoms stick together",
    ),
    _t(
        "Reaction Rates",
        ("Temperature speeds up reactions", "Catalysts lower the activation energy"),
        "reaction rates catalysts",
        "making chemistry happen faster",
    ),
    _t(
        "Binary Search",
        ("Halve the sorted range each step", "Logarithmic running time"),
        "binary search",
        "finding a word in a dictionary by opening it in the middle",
    ),
    _t(
        "Hash Tables",
        ("Keys map to buckets through a hash function", "Collisions handled by chaining"),
        "hash tables collisions",
        "constant time lookup of a key",
    ),
    _t(
        "Recursion",
        ("A function that calls itself", "Every recursion needs a base case"),
        "recursion base case",
        "a procedure defined in terms of itself",
    ),
    _t(
        "Big-O Notation",
        ("Upper bound on growth of running time", "Constants are ignored"),
        "big-o notation",
        "how an algorithm's cost grows with input size",
    ),
    _t(
        "Supply and Demand",
        ("Prices rise when demand exceeds supply", "Market equilibrium price"),
        "supply and demand",
        "why tickets get expensive when everyone wants them",
    ),
    _t(
        "Inflation",
        ("A general rise in prices", "Central banks raise interest rates to slow it"),
        "inflation interest rates",
        "money buying less over time",
    ),
    _t(
        "Opportunity Cost",
        ("The value of the next best alternative", "Every choice has a trade-off"),
        "opportunity cost",
        "what you give up when you choose something",
    ),
    _t(
        "Comparative Advantage",
        ("Specialise in the lowest opportunity cost", "Trade benefits both sides"),
        "comparative advantage trade",
        "why countries gain by specialising and exchanging goods",
    ),
)

_COURSES = ("Statistics", "Physics", "Biology", "Chemistry", "Computer Science", "Economics")
_FILLER_KINDS = (
    ("Outline", ("Topics for today", "Reading for next week")),
    ("Worked Example", ("Set up the problem", "Solve step by step")),
    ("Exercise", ("Try this on your own", "Compare with a partner")),
    ("Recap", ("Key ideas so far", "Common mistakes")),
)


@dataclass(frozen=True)
class Lecture:
    """One generated lecture: its name and slides (each 15 s)."""

    name: str
    slides: tuple[Slide, ...]

    @property
    def duration(self) -> float:
        return sum(s.duration for s in self.slides)


def lectures(count: int = 50, slides_per_lecture: int = 12) -> list[Lecture]:
    """``count`` lectures of ``slides_per_lecture`` 15-second slides: targets spread one per
    lecture over the first lectures, filler slides numbered so every text is distinct."""
    out = []
    for number in range(1, count + 1):
        course = _COURSES[(number - 1) % len(_COURSES)]
        slides = [
            Slide(f"{course} Lecture {number}", (f"Week {number}", "Course notes online"), 15.0)
        ]
        target_index = number - 1
        while len(slides) < slides_per_lecture:
            if target_index < len(TARGETS) and len(slides) == slides_per_lecture // 2:
                slides.append(TARGETS[target_index].slide)
                target_index += count
                continue
            kind, bullets = _FILLER_KINDS[len(slides) % len(_FILLER_KINDS)]
            slides.append(
                Slide(
                    f"{kind} {number}.{len(slides)}",
                    tuple(f"{b} ({course.lower()} {number}.{len(slides)})" for b in bullets),
                    15.0,
                )
            )
        out.append(Lecture(f"lecture-{number:03d}", tuple(slides)))
    return out


def target_location(library: list[Lecture], target: Target) -> tuple[str, float, float]:
    """(lecture name, start, end in seconds) of the target slide in ``library``."""
    for lecture in library:
        start = 0.0
        for slide in lecture.slides:
            if slide == target.slide:
                return lecture.name, start, start + slide.duration
            start += slide.duration
    raise LookupError(f"target {target.slide.title!r} is not in the library")


def window_texts(lecture: Lecture, window: float = 5.0) -> Iterator[str]:
    """The text each ``window``-second window shows (its slide's title and bullets): what OCR
    would read, for tests that need no video."""
    for slide in lecture.slides:
        text = "\n".join([slide.title, *slide.bullets])
        for _ in range(round(slide.duration / window)):
            yield text


def render(lecture: Lecture, folder: Path, size: tuple[int, int] = (960, 540)) -> Path:
    """Write the lecture as H.264 (5 fps; 960x540 keeps text readable to OCR) if missing."""
    path = folder / f"{lecture.name}.mp4"
    if not path.exists():
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / f".tmp-{lecture.name}.mp4"
        make_lecture(tmp, lecture.slides, size=size, fps=5)
        tmp.rename(path)
    return path


def slide_spans_of(lecture: Lecture) -> list[SlideSpan]:
    from producer.sample_lecture import slide_spans

    return slide_spans(lecture.slides)


def lecture_hash(lecture: Lecture) -> str:
    """A stand-in content hash for a lecture that has no video (text-only libraries)."""
    import hashlib

    return hashlib.sha256(lecture.name.encode()).hexdigest()


def index_text_library(
    library: list[Lecture],
    store: object,
    bucket: str,
    cache: Path,
    embedder: object | None,
) -> object:
    """Shards for ``library``'s window texts (what OCR would read), vectors from ``embedder``
    (a WindowEmbedder or None), and the library index over them, synced. Returns the
    :class:`~common.index.library.LibraryIndex`."""
    from common.index.library import IndexScope, LibraryIndex
    from common.index.shard import EmbedderIdentity, ShardIdentity, ShardWindow
    from common.index.shard_store import write_shard

    identities = () if embedder is None else (EmbedderIdentity.of(embedder.info),)  # type: ignore[attr-defined]
    scope = None
    for lecture in library:
        texts = list(window_texts(lecture))
        identity = ShardIdentity(
            content_hash=lecture_hash(lecture),
            sampling_id="text-only",
            window=5.0,
            stride=5.0,
            text_source="slide-text",
            embedders=identities,
        )
        scope = IndexScope.of(identity)
        windows = [ShardWindow(start=5.0 * i, end=5.0 * i + 5, text=t) for i, t in enumerate(texts)]
        vectors = {identities[0]: embedder.embed_texts(texts)} if embedder else None  # type: ignore[attr-defined]
        write_shard(store, bucket, identity, 5.0 * len(texts), windows, vectors)  # type: ignore[arg-type]
    assert scope is not None
    index = LibraryIndex(cache, scope, store, bucket)  # type: ignore[arg-type]
    index.sync(lecture_hash(lecture) for lecture in library)
    return index


def slide_at(library: list[Lecture], content_hash: str, window: int) -> Slide:
    """The slide shown in ``window`` (5 s windows) of the lecture with ``content_hash``."""
    for lecture in library:
        if lecture_hash(lecture) == content_hash:
            return lecture.slides[int(window * 5.0 // 15.0)]
    raise LookupError(content_hash)
