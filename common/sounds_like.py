"""Do two written words sound alike? For names a recogniser spelled by ear. Pure logic.

``Feynman`` heard as ``Fineman``, ``Tchaikovsky`` as ``Chaikovsky``, ``Boltzmann`` as
``Bolsman``: the spellings differ too much for edit distance alone, but their Metaphone keys
(``jellyfish.metaphone``: English pronunciation rules, consonant skeleton) are close. Two words
sound alike when both are at least :data:`MIN_PHONETIC_LENGTH` letters, their keys are at least
:data:`MIN_KEY_SIMILARITY` similar, and their spellings at least :data:`MIN_SPELLING_SIMILARITY`
(so ``faraday`` and ``friday`` are kept apart only by the matcher's lower credit, and
``force`` never meets ``photos``).

Measured on 25 names as heard and 20 English minimal pairs (``force``/``farce``,
``mass``/``miss``; ``python -m benchmarks.phonetic_keys``): spelling similarity alone (the OCR
rule) finds 16 of the 25 names and matches 3 of the 20 pairs; with this rule, 22 names and 9
pairs; with an exact Soundex, Metaphone, NYSIIS or Match Rating key instead, 16 to 18 names and
6 to 12 pairs. The matcher gives a sound-alike less credit than any spelling match.
"""

from __future__ import annotations

from functools import lru_cache

import jellyfish

#: Shorter words (either one) never match by sound: short words collide too often.
MIN_PHONETIC_LENGTH = 5
#: Lowest similarity (1 - edit distance / longer length) of the two Metaphone keys.
MIN_KEY_SIMILARITY = 0.66
#: Lowest similarity of the two spellings.
MIN_SPELLING_SIMILARITY = 0.5


@lru_cache(maxsize=65536)
def phonetic_key(word: str) -> str:
    """The Metaphone key of a lower-case word (``feynman`` -> ``FNMN``)."""
    return str(jellyfish.metaphone(word))


def similarity(a: str, b: str) -> float:
    """1 - Levenshtein distance / longer length, in [0, 1] (1 for equal strings)."""
    longer = max(len(a), len(b))
    if longer == 0:
        return 1.0
    return 1.0 - jellyfish.levenshtein_distance(a, b) / longer


def sounds_alike(a: str, b: str) -> bool:
    """True when lower-case alphabetic words ``a`` and ``b`` plausibly sound the same."""
    if min(len(a), len(b)) < MIN_PHONETIC_LENGTH or not (a.isalpha() and b.isalpha()):
        return False
    key_a, key_b = phonetic_key(a), phonetic_key(b)
    if not key_a or not key_b or (key_a[0] != key_b[0] and a[0] != b[0]):
        return False
    return (
        similarity(key_a, key_b) >= MIN_KEY_SIMILARITY
        and similarity(a, b) >= MIN_SPELLING_SIMILARITY
    )
