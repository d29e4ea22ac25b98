"""Window text to BM25 terms: the OCR scorer's matching units, so both read text the same way.

Latin words are case-folded and stemmed (:func:`common.text_match.stem`), CJK runs become
unigrams and bigrams (no word segmenter needed), stopwords are dropped. The search library then
only splits on whitespace: the analysis is ours, identical at index and query time, whichever
BM25 engine runs.
"""

from __future__ import annotations

from common.text_match import CJK_STOPWORDS, ENGLISH_STOPWORDS, analyze_line, stem

#: Units that carry no topic: English stopwords (raw and stemmed) and CJK particles.
STOP_UNITS = frozenset(stem(w) for w in ENGLISH_STOPWORDS) | ENGLISH_STOPWORDS | CJK_STOPWORDS


def bm25_terms(text: str) -> list[str]:
    """The BM25 terms of ``text`` (any number of lines), repeats kept (term frequency counts)."""
    terms: list[str] = []
    for line in text.splitlines():
        analysed = analyze_line(line)
        terms.extend(word.stem for word in analysed.words if word.stem not in STOP_UNITS)
        terms.extend(sorted(unit for unit in analysed.cjk if unit not in STOP_UNITS))
    return terms


def query_terms(text: str) -> list[str]:
    """The distinct BM25 terms of a query, in order of first appearance."""
    return list(dict.fromkeys(bm25_terms(text)))
