"""English number words to digits: ``three`` -> ``3``, ``nineteen oh five`` -> ``1905``. Pure.

Speech recognisers write a spoken number either way ("1905", "nineteen oh five"), slides show
digits, and people type either: the text matcher turns every number it reads into digits so
that all of them meet. Understood forms:

- cardinals: ``zero`` ... ``nineteen``, ``twenty one``, ``three hundred and five``,
  ``two thousand and five``, ``nineteen hundred and five``, ``a hundred``, ``one million``;
- years read in pairs: ``nineteen oh five`` (1905), ``eighteen sixty nine`` (1869),
  ``twenty twenty four`` (2024).

Digits read one by one (``three four``) stay separate numbers. Ordinals (``third``) are words.
Tokens are normalised words (lower case, hyphens already split: ``twenty-one`` is two tokens).
"""

from __future__ import annotations

from collections.abc import Sequence

_ONES_WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
_TEENS_WORDS = "ten eleven twelve thirteen fourteen fifteen sixteen seventeen eighteen nineteen"
_TENS_WORDS = ["twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]
#: Words for 0-9, 10-19 and the tens 20-90.
ONES = {word: value for value, word in enumerate(_ONES_WORDS)}
TEENS = {word: value for value, word in enumerate(_TEENS_WORDS.split(), start=10)}
TENS = {word: 10 * value for value, word in enumerate(_TENS_WORDS, start=2)}
#: Scale words above a hundred.
SCALES = {"thousand": 1_000, "million": 1_000_000, "billion": 1_000_000_000}
HUNDRED = "hundred"
#: Words read as the digit 0 inside a year ("nineteen oh five").
SPOKEN_ZERO = frozenset({"oh", "o", "zero"})
#: Words that start a number.
NUMBER_WORDS = frozenset(ONES) | frozenset(TEENS) | frozenset(TENS) | {HUNDRED} | frozenset(SCALES)


def _small(token: str) -> int | None:
    """Value of a word for 0-99 that stands alone (``seven``, ``twelve``, ``forty``), else None."""
    for table in (ONES, TEENS, TENS):
        if token in table:
            return table[token]
    return None


def _cardinal(tokens: Sequence[str], i: int) -> tuple[int, int, bool]:
    """Read one cardinal number starting at ``tokens[i]``.

    Returns (index after it, value, simple), where ``simple`` means no ``hundred`` or scale word
    (a number of one or two words below 100, the halves of a year read in pairs). The index is
    ``i`` when no number starts there.
    """
    total = 0
    current = 0
    last: str | None = None  # kind of the previous token
    smallest_scale = 10**12
    j = i
    while j < len(tokens):
        token = tokens[j]
        value = _small(token)
        if value is not None:
            kind = "ones" if value < 10 else ("teen" if value < 20 else "tens")
            after_tens = last == "tens" and kind == "ones" and value > 0
            after_big = last in ("hundred", "scale", "and") and value > 0
            if last is None:
                current = value
            elif after_tens or after_big:
                current += value
            else:
                break
            last = kind
        elif token == HUNDRED and last in (None, "ones", "teen", "tens") and current % 1000 < 100:
            current = (current or 1) * 100
            last = "hundred"
        elif token in SCALES and SCALES[token] < smallest_scale and last != "and":
            scale = SCALES[token]
            total += (current or 1) * scale
            current = 0
            smallest_scale = scale
            last = "scale"
        elif token == "and" and last in ("hundred", "scale") and j + 1 < len(tokens):
            following = _small(tokens[j + 1])
            if not following:
                break
            last = "and"
        else:
            break
        j += 1
    if last == "and":  # never end on "and"
        j -= 1
    simple = j > i and all(tokens[k] not in SCALES and tokens[k] != HUNDRED for k in range(i, j))
    return j, total + current, simple


def _year_half(tokens: Sequence[str], j: int) -> tuple[int, int | None]:
    """The second half of a year read in pairs at ``tokens[j]``: ``oh five`` (5) or ``sixty
    nine`` (69); (index after it, value) or (j, None)."""
    if j + 1 < len(tokens) and tokens[j] in SPOKEN_ZERO and 1 <= ONES.get(tokens[j + 1], 0) <= 9:
        return j + 2, ONES[tokens[j + 1]]
    end, value, simple = _cardinal(tokens, j)
    if end > j and simple and 10 <= value <= 99:
        return end, value
    return j, None


def digits_for_number_words(tokens: Sequence[str]) -> list[str]:
    """``tokens`` with every run of number words replaced by one token of digits.

    ``["in", "nineteen", "oh", "five"]`` -> ``["in", "1905"]``; other tokens are kept as they are.
    """
    out: list[str] = []
    i = 0
    while i < len(tokens):
        if tokens[i] not in NUMBER_WORDS:
            out.append(tokens[i])
            i += 1
            continue
        end, value, simple = _cardinal(tokens, i)
        if end == i:
            out.append(tokens[i])
            i += 1
            continue
        if simple and 10 <= value <= 99:
            after, second = _year_half(tokens, end)
            if second is not None:
                end, value = after, value * 100 + second
        out.append(str(value))
        i = end
    return out
