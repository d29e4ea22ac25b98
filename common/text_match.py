"""Score how well on-screen text matches a text query, 0-100. Pure logic, no I/O.

Text is cut into *units*:

- Latin, Greek and Cyrillic words: case-folded, accents and punctuation dropped, possessive
  ``'s`` removed, then reduced by a light suffix stemmer (:func:`stem`) so that plurals and
  ``-ing``/``-ed``/``-ation`` forms meet (``accelerates``, ``accelerating``, ``acceleration``
  all become ``accelerat``);
- Chinese, Japanese and Korean runs: every character (unigram) and every adjacent pair (bigram),
  so ``元素周期表`` is found in a slide titled 元素周期表 without a word segmenter, and partly found
  in one that only says 元素.

A query unit is *found* in a line of text with a credit in [0, 1]: 1 for the same stem, less for
an OCR-noisy spelling (edit distance, :func:`word_similarity`), a word split in two by OCR
(``accel eration``) or glued to its neighbour (``secondlaw``). Digits and CJK units match exactly.
Number words become digits everywhere (:mod:`common.number_words`: ``three`` is ``3``,
``nineteen oh five`` is ``1905``), so a spoken, typed or shown number meets the others.

Spoken words (lines of a transcript, *heard* rather than *seen*) also earn
:data:`PHONETIC_CREDIT` for a word that sounds like the query word (:mod:`common.sounds_like`:
``Fineman`` for ``Feynman``), since a recogniser spells names by ear.
:meth:`QueryMatcher.score_document` scores one window's seen and heard lines together.

Each query unit weighs its inverse document frequency over the *video's own* distinct texts
(:class:`TextCollection`), so rare, specific words ("third" on the slide about Newton's third
law) count more than words every slide shares ("Newton", "law"); English and Chinese stopwords
weigh almost nothing. A text's score is::

    100 * (SLIDE_SHARE * found(whole text) + LINE_SHARE * found(best single line))

where ``found`` is the query weight found divided by the query's total weight. It is therefore
0 when nothing matches, 100 when every query word is on one line, and comparable across videos
(nothing is normalised per video).
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from itertools import pairwise

from common.number_words import digits_for_number_words
from common.sounds_like import sounds_alike

#: Share of a text's score given by the whole text (bag of words over every line).
SLIDE_SHARE = 0.85
#: Share given by the best single line: all query words on one line (a title) beat scattered ones.
LINE_SHARE = 1.0 - SLIDE_SHARE
#: Weight of a stopword ("the", "of", 的), whatever its frequency: near zero next to the IDF of
#: a content word (about 0.3 to 5), not zero, so an all-stopword query still has a score.
STOPWORD_WEIGHT = 0.01
#: Words shorter than this (in characters) must match exactly: "law" vs "low" is not OCR noise.
MIN_FUZZY_LENGTH = 4
#: Lowest similarity (1 - edit distance / longer length) that still earns credit.
MIN_FUZZY_SIMILARITY = 0.75
#: Credit for a query word found glued to the start or end of a longer OCR word ("secondlaw").
GLUED_WORD_CREDIT = 0.75
#: Credit for a query word heard as a word that sounds alike ("Fineman" for "Feynman"): below
#: any spelling match, since sound-alikes include other words ("farce" for "force").
PHONETIC_CREDIT = 0.7

_ENGLISH_STOPWORDS_TEXT = """
    a about above after again against all am an and any are as at be because been before
    being below between both but by can could did do does doing down during each few for
    from further had has have having he her here hers herself him himself his how i if in
    into is it its itself just me more most my myself no nor not now of off on once only or
    other our ours out over own same she should so some such than that the their theirs them
    then there these they this those through to too under until up very was we were what
    when where which while who whom why will with would you your yours
"""
#: English words that carry no topic ("the", "of", "is").
ENGLISH_STOPWORDS = frozenset(_ENGLISH_STOPWORDS_TEXT.split())
#: Single CJK characters that carry no topic (particles, conjunctions, measure words).
CJK_STOPWORDS = frozenset("的了是在和与及等之也这那个或其为对以而于")

_CJK_RANGES = (
    (0x3040, 0x30FF),  # Hiragana, Katakana
    (0x3400, 0x4DBF),  # CJK Extension A
    (0x4E00, 0x9FFF),  # CJK Unified Ideographs
    (0xAC00, 0xD7AF),  # Hangul syllables
    (0xF900, 0xFAFF),  # CJK Compatibility Ideographs
    (0x20000, 0x2FA1F),  # CJK Extensions B-F, supplement
)
_CJK_CLASS = "".join(f"{chr(lo)}-{chr(hi)}" for lo, hi in _CJK_RANGES)
#: Letters of words (after case folding and accent stripping): Latin, Greek, Cyrillic, digits.
_WORD_CLASS = "0-9a-z\u00df-\u024f\u0370-\u03ff\u0400-\u052f"
_TOKEN_RE = re.compile(
    f"(?P<cjk>[{_CJK_CLASS}]+)|(?P<word>[{_WORD_CLASS}]+(?:['’][{_WORD_CLASS}]+)*)"
)
_VOWELS = frozenset("aeiouy")


def is_cjk(char: str) -> bool:
    """True for a Chinese, Japanese or Korean character (matched as unigrams and bigrams)."""
    code = ord(char)
    return any(lo <= code <= hi for lo, hi in _CJK_RANGES)


def normalize(text: str) -> str:
    """NFKC (full-width forms to ASCII), case-folded, accents stripped from Latin letters."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    out = []
    for char in folded:
        if ord(char) < 0x250 and not char.isascii():
            decomposed = unicodedata.normalize("NFKD", char)
            out.append("".join(c for c in decomposed if not unicodedata.combining(c)))
        else:
            out.append(char)
    return "".join(out)


def stem(word: str) -> str:
    """Light English suffix stripping; the same word forms meet, not linguistically exact.

    Plurals (``laws``, ``forces``, ``boxes``, ``studies``), ``-ing``, ``-ed``, ``-ation`` and a
    final ``e`` or ``y`` are removed, doubled consonants are undoubled after ``-ing``/``-ed``.
    Words of three letters or fewer and words with digits are returned unchanged.
    """
    if len(word) <= 3 or not word.isalpha():
        return word
    w = word
    if w.endswith("ies") and len(w) > 4:
        w = w[:-3] + "y"
    elif w.endswith("es") and w[:-2].endswith(("s", "x", "z", "ch", "sh")) and len(w) > 4:
        w = w[:-2]
    elif w.endswith("s") and not w.endswith(("ss", "us", "is")):
        w = w[:-1]
    suffix_stripped = False
    for suffix in ("ing", "ed"):
        base = w[: -len(suffix)]
        if w.endswith(suffix) and len(base) >= 3 and _VOWELS & set(base) and not w.endswith("eed"):
            w = base
            suffix_stripped = True
            break
    if w.endswith("ation") and len(w) > 6:
        w = w[:-3]
    if suffix_stripped and len(w) >= 4 and w[-1] == w[-2] and w[-1] not in "lszaeiou":
        w = w[:-1]
    if w.endswith("y") and len(w) > 3:
        w = w[:-1] + "i"
    if w.endswith("e") and not w.endswith("ee") and len(w) >= 4:
        w = w[:-1]
    return w


#: Stopwords as query units (stemmed, as queries are), plus CJK stopword characters.
_STOPWORD_UNITS = frozenset(stem(w) for w in ENGLISH_STOPWORDS) | ENGLISH_STOPWORDS | CJK_STOPWORDS


@dataclass(frozen=True)
class Word:
    """A word of text: its normalised spelling and its stem."""

    raw: str
    stem: str


@dataclass(frozen=True)
class Line:
    """One line of text, analysed: words (in order), CJK units, and joined neighbour pairs."""

    words: tuple[Word, ...]
    #: CJK unigrams and bigrams.
    cjk: frozenset[str]
    #: Stems of the words, for exact lookup.
    stems: frozenset[str]
    #: Adjacent word pairs written without the space, for words OCR split in two.
    joined: tuple[Word, ...]

    @property
    def units(self) -> frozenset[str]:
        """Every matching unit of the line (stems and CJK units), for document frequencies."""
        return self.stems | self.cjk


def _cjk_units(run: str) -> list[str]:
    return list(run) + [run[i : i + 2] for i in range(len(run) - 1)]


#: Digits OCR reads in place of look-alike letters, inside otherwise alphabetic words.
_DIGIT_LOOKALIKES = str.maketrans({"0": "o", "1": "l", "5": "s"})


def _undo_digit_confusion(word: str) -> str:
    """``acce1eration`` -> ``acceleration``; numbers and codes such as ``mp3`` are kept."""
    if word.isalpha() or not any(char.isalpha() for char in word):
        return word
    letters = word.translate(_DIGIT_LOOKALIKES)
    return letters if letters.isalpha() else word


@lru_cache(maxsize=16384)
def analyze_line(text: str) -> Line:
    """Cut one line of text into words and CJK units (cached: OCR lines repeat across frames)."""
    tokens: list[str] = []
    cjk: list[str] = []
    for match in _TOKEN_RE.finditer(normalize(text)):
        if match.group("cjk"):
            cjk.extend(_cjk_units(match.group("cjk")))
            continue
        token = re.sub("['’]s$", "", match.group("word"))
        raw = token.replace("'", "").replace("’", "")
        if raw:
            tokens.append(raw)
    words = [
        Word(raw=raw, stem=stem(_undo_digit_confusion(raw)))
        for raw in digits_for_number_words(tokens)
    ]
    joined = tuple(
        Word(raw=a.raw + b.raw, stem=stem(a.raw + b.raw))
        for a, b in pairwise(words)
        if a.raw.isalpha() and b.raw.isalpha()
    )
    return Line(
        words=tuple(words),
        cjk=frozenset(cjk),
        stems=frozenset(w.stem for w in words),
        joined=joined,
    )


def query_units(text: str) -> list[str]:
    """The distinct matching units of a query, in order of first appearance."""
    line = analyze_line(text)
    ordered = [w.stem for w in line.words]
    for match in _TOKEN_RE.finditer(normalize(text)):
        if match.group("cjk"):
            ordered.extend(_cjk_units(match.group("cjk")))
    return list(dict.fromkeys(ordered))


def bounded_edit_distance(a: str, b: str, limit: int) -> int:
    """Levenshtein distance between ``a`` and ``b``, or ``limit + 1`` once it exceeds ``limit``."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    previous = list(range(len(b) + 1))
    for i, char_a in enumerate(a, start=1):
        current = [i]
        for j, char_b in enumerate(b, start=1):
            cost = 0 if char_a == char_b else 1
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost))
        if min(current) > limit:
            return limit + 1
        previous = current
    return previous[-1]


def _has_digit(word: str) -> bool:
    return any(char.isdigit() for char in word)


def word_similarity(query: str, text: str) -> float:
    """Credit in [0, 1] for finding query word ``query`` as OCR'd word ``text`` (both normalised).

    1 when equal; ``1 - distance / longer length`` when at least :data:`MIN_FUZZY_SIMILARITY`
    (OCR noise such as ``acceleratlon``); :data:`GLUED_WORD_CREDIT` when ``text`` starts or ends
    with ``query`` (two words OCR'd without their space); else 0. Numbers, query words with
    digits and words shorter than :data:`MIN_FUZZY_LENGTH` only match exactly.
    """
    if query == text:
        return 1.0
    if min(len(query), len(text)) < MIN_FUZZY_LENGTH or _has_digit(query) or text.isdigit():
        return 0.0
    longer = max(len(query), len(text))
    limit = int(longer * (1.0 - MIN_FUZZY_SIMILARITY))
    distance = bounded_edit_distance(query, text, limit)
    if distance <= limit:
        return 1.0 - distance / longer
    if len(text) >= len(query) + 3 and (text.startswith(query) or text.endswith(query)):
        return GLUED_WORD_CREDIT
    return 0.0


@dataclass
class TextCollection:
    """The distinct on-screen texts of one video, analysed once; supplies IDF weights.

    ``texts[i]`` is text ``i`` as a list of lines (as OCR'd). Each distinct text is one document.
    """

    texts: list[list[Line]]
    #: Number of texts containing each unit.
    document_frequency: Counter[str] = field(default_factory=Counter)

    @classmethod
    def from_lines(cls, texts: Iterable[Sequence[str]]) -> TextCollection:
        analysed = [[analyze_line(line) for line in text] for text in texts]
        frequency: Counter[str] = Counter()
        for lines in analysed:
            units: set[str] = set()
            for line in lines:
                units |= line.units
            frequency.update(units)
        return cls(texts=analysed, document_frequency=frequency)

    def idf(self, unit: str) -> float:
        """Inverse document frequency of ``unit`` (BM25 form), always > 0.

        ``ln(1 + (N - df + 0.5) / (df + 0.5))`` over the N texts: about 0.1 for a unit every
        text has, ``ln(2N + 2)`` for one no text has.
        """
        n = len(self.texts)
        df = self.document_frequency.get(unit, 0)
        return math.log(1.0 + (n - df + 0.5) / (df + 0.5))

    def weight(self, unit: str) -> float:
        """Weight of a query unit: :data:`STOPWORD_WEIGHT` for stopwords, else its IDF."""
        return STOPWORD_WEIGHT if unit in _STOPWORD_UNITS else self.idf(unit)


class QueryMatcher:
    """Scores the texts of one :class:`TextCollection` against one query, 0-100 (memoised)."""

    def __init__(self, query: str, collection: TextCollection) -> None:
        self.query = query
        self.collection = collection
        line = analyze_line(query)
        raw_by_stem = {w.stem: w.raw for w in line.words}
        self.units = query_units(query)
        #: Query unit -> its normalised spelling (unstemmed), for fuzzy matching of words.
        self._raw = {unit: raw_by_stem.get(unit, unit) for unit in self.units}
        self.weights = [collection.weight(unit) for unit in self.units]
        self.total_weight = sum(self.weights)
        self._similarity: dict[tuple[str, str, bool], float] = {}
        self._scores: dict[int, float] = {}

    def _word_credit(self, unit: str, candidate: Word, heard: bool) -> float:
        key = (unit, candidate.raw, heard)
        cached = self._similarity.get(key)
        if cached is None:
            cached = max(
                word_similarity(unit, candidate.stem),
                word_similarity(self._raw[unit], candidate.raw),
            )
            if heard and cached < PHONETIC_CREDIT and sounds_alike(self._raw[unit], candidate.raw):
                cached = PHONETIC_CREDIT
            self._similarity[key] = cached
        return cached

    def _unit_credit(self, unit: str, line: Line, heard: bool = False) -> float:
        if unit in line.stems or unit in line.cjk:
            return 1.0
        if is_cjk(unit[0]):
            return 0.0
        best = 0.0
        for candidate in (*line.words, *line.joined):
            best = max(best, self._word_credit(unit, candidate, heard))
            if best >= 1.0:
                break
        return best

    def score_lines(self, lines: Sequence[Line]) -> float:
        """Score of one text (its analysed lines, as read on screen) for the query, 0-100."""
        return self.score_document(lines, ())

    def score_document(self, seen: Sequence[Line], heard: Sequence[Line]) -> float:
        """Score, 0-100, of a document made of lines ``seen`` on screen and lines ``heard``
        (spoken sentences, matched with :data:`PHONETIC_CREDIT` for sound-alikes).

        The whole document counts as one bag of words, and the best single line (a title, a
        sentence) adds :data:`LINE_SHARE`, as for a text alone.
        """
        if not self.units or not (seen or heard) or self.total_weight <= 0.0:
            return 0.0
        credits = [[self._unit_credit(unit, line) for unit in self.units] for line in seen]
        credits += [[self._unit_credit(unit, line, True) for unit in self.units] for line in heard]
        best_line = max(self._found(row) for row in credits)
        whole = self._found([max(column) for column in zip(*credits, strict=True)])
        return 100.0 * (SLIDE_SHARE * whole + LINE_SHARE * best_line)

    def score(self, text_id: int) -> float:
        """Score of text ``text_id`` of the collection, 0-100."""
        cached = self._scores.get(text_id)
        if cached is None:
            cached = self.score_lines(self.collection.texts[text_id])
            self._scores[text_id] = cached
        return cached

    def _found(self, credits: Sequence[float]) -> float:
        matched = sum(w * c for w, c in zip(self.weights, credits, strict=True))
        return min(1.0, matched / self.total_weight)


def text_match_score(
    query: str, text: Sequence[str], collection: TextCollection | None = None
) -> float:
    """Score, 0-100, of one text (a list of lines) for ``query``.

    IDF weights come from ``collection`` (the video's distinct texts); without one, from ``text``
    alone (every unit it has is then equally common; stopwords still weigh almost nothing).
    """
    if collection is None:
        collection = TextCollection.from_lines([text])
    return QueryMatcher(query, collection).score_lines([analyze_line(line) for line in text])
