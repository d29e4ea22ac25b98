"""Which rule finds names a recogniser spelled by ear, without matching other words?

``python -m benchmarks.phonetic_keys`` scores four exact phonetic keys from jellyfish
(Soundex, Metaphone, NYSIIS, Match Rating) and the rule of :mod:`common.sounds_like` on 25 names
as they may be heard and 20 English minimal pairs that must stay apart, each next to the
spelling rule the OCR matcher already has (similarity >= 0.75). Prints a table; writes the
``phonetic_keys`` section of docs/benchmarks.md.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import jellyfish

from benchmarks._util import Figure, print_table, update_doc
from common.sounds_like import similarity, sounds_alike
from common.text_match import MIN_FUZZY_LENGTH, MIN_FUZZY_SIMILARITY

#: (as written, as a recogniser may spell it by ear).
NAMES_HEARD = [
    ("feynman", "fineman"), ("mendeleev", "mendeleyev"), ("mendeleev", "mendelev"),
    ("tchaikovsky", "chaikovsky"), ("schrodinger", "shrodinger"), ("nietzsche", "nicha"),
    ("curie", "kyuree"), ("euler", "oiler"), ("descartes", "daycart"), ("fourier", "fouriay"),
    ("gauss", "gows"), ("huygens", "hoygens"), ("leibniz", "libnitz"), ("kepler", "keppler"),
    ("galileo", "galilayo"), ("dijkstra", "dykstra"), ("einstein", "einstine"),
    ("hooke", "hook"), ("faraday", "faradey"), ("boltzmann", "bolsman"), ("planck", "plank"),
    ("thompson", "tomson"), ("khwarizmi", "kwarizmi"), ("pythagoras", "pithagoras"),
    ("archimedes", "arkimedes"),
]  # fmt: skip
#: Different words that sound or look close: a match here is a false positive.
MINIMAL_PAIRS = [
    ("force", "fierce"), ("force", "farce"), ("mass", "miss"), ("energy", "enemy"),
    ("newton", "neutron"), ("light", "late"), ("field", "fold"), ("charge", "church"),
    ("atom", "item"), ("cell", "sale"), ("vaccine", "vision"), ("virus", "vires"),
    ("protein", "pertain"), ("gravity", "gravy"), ("faraday", "friday"), ("kepler", "capital"),
    ("curie", "carry"), ("wave", "wife"), ("photon", "python"), ("force", "photos"),
]  # fmt: skip


def spelling(a: str, b: str) -> bool:
    """The OCR matcher's rule: similar spelling."""
    return min(len(a), len(b)) >= MIN_FUZZY_LENGTH and similarity(a, b) >= MIN_FUZZY_SIMILARITY


def exact_key(key: Callable[[str], str]) -> Callable[[str, str], bool]:
    return lambda a, b: spelling(a, b) or key(a) == key(b)


def main() -> list[Figure]:
    rules: dict[str, Callable[[str, str], bool]] = {
        "spelling only (OCR rule)": spelling,
        "spelling or same Soundex": exact_key(jellyfish.soundex),
        "spelling or same Metaphone": exact_key(jellyfish.metaphone),
        "spelling or same NYSIIS": exact_key(jellyfish.nysiis),
        "spelling or same Match Rating codex": exact_key(jellyfish.match_rating_codex),
        "spelling or sounds_alike (used)": lambda a, b: spelling(a, b) or sounds_alike(a, b),
    }
    figures = []
    for name, rule in rules.items():
        found = sum(rule(a, b) for a, b in NAMES_HEARD)
        false = sum(rule(a, b) for a, b in MINIMAL_PAIRS)
        figures.append(Figure(f"{name}: names found", found, f"/ {len(NAMES_HEARD)}", "-", None))
        figures.append(
            Figure(f"{name}: minimal pairs matched", false, f"/ {len(MINIMAL_PAIRS)}", "-", None)
        )
    start = time.perf_counter()
    rounds = 200
    for _ in range(rounds):
        for a, b in NAMES_HEARD + MINIMAL_PAIRS:
            sounds_alike(a, b + "x")  # defeat the key cache on one side
    per_call = (time.perf_counter() - start) / (rounds * (len(NAMES_HEARD) + len(MINIMAL_PAIRS)))
    figures.append(Figure("sounds_alike, one call", per_call * 1e6, "us", "-", None))
    table = print_table("Names spelled by ear: phonetic rules", figures)
    update_doc(
        "phonetic_keys",
        table + "\n\nMeasured by `python -m benchmarks.phonetic_keys` (pure Python and jellyfish, "
        "no model). The used rule gives sound-alikes a credit of 0.7 (below any spelling "
        "match), and only in spoken words.",
    )
    return figures


if __name__ == "__main__":
    main()
