"""Word-level comparisons for the cache verifier: same word, opposite words, stand-ins.

"freezing" is "freeze", "enabled" is the opposite of "disable", "reduce" stands in for "lower".
"""

from __future__ import annotations

import re
from functools import lru_cache

from latency.cache.verify import lexicon

# Suffixes that leave a word's meaning in place: "differ"/"difference", "ship"/"shipping".
_SUFFIXES = frozenset(
    "s es ed d ing er ers est ly ally ment ments ness ion ions ation ations ence ance ity "
    "ive ize ise ized ised izing ising ies ied ier iest ily or ors y e".split()
    + [""]
)
_VOWEL_SUFFIXES = frozenset(s for s in _SUFFIXES if s[:1] in ("a", "e", "i", "o", "u"))
_INFLECTIONS = ("s", "es", "ed", "d", "ing", "er", "est", "ly", "r", "st")


def words_match(first: str, second: str, *, typo: bool = True) -> bool:
    """True when two casefolded words are one word in another form ("freezing"/"freeze")."""
    if first == second:
        return True
    if first[:1].isdigit() or second[:1].isdigit():
        return False
    shorter, longer = sorted((first, second), key=len)
    if len(shorter) >= 3 and longer in (shorter + "s", shorter + "es"):
        return True
    prefix = 0
    while prefix < len(shorter) and shorter[prefix] == longer[prefix]:
        prefix += 1
    typo_match = typo and len(shorter) >= 7 and _one_edit_apart(first, second)
    if prefix < 4:
        return typo_match
    rest_first, rest_second = first[prefix:], second[prefix:]
    if len(rest_second) > 1 and rest_second[0] == first[prefix - 1]:
        rest_second = rest_second[1:]  # doubled consonant: "program"/"programming"
    if len(rest_first) > 1 and rest_first[0] == second[prefix - 1]:
        rest_first = rest_first[1:]
    if rest_first in _SUFFIXES and rest_second in _SUFFIXES:
        if "e" in (rest_first, rest_second):
            # A silent "e" drops before a vowel: "freeze"/"freezing", but not "plan"/"plane".
            other = rest_second if rest_first == "e" else rest_first
            return other in _VOWEL_SUFFIXES
        return True
    return typo_match


def _one_edit_apart(first: str, second: str) -> bool:
    """One typo: a letter added, dropped or changed, or two neighbours swapped."""
    if abs(len(first) - len(second)) > 1 or first[0] != second[0]:
        return False
    index = 0
    while index < min(len(first), len(second)) and first[index] == second[index]:
        index += 1
    if len(first) == len(second):
        swapped = first[index : index + 2] == second[index : index + 2][::-1]
        return first[index + 1 :] == second[index + 1 :] or (
            swapped and first[index + 2 :] == second[index + 2 :]
        )
    longer, shorter = (first, second) if len(first) > len(second) else (second, first)
    return longer[index + 1 :] == shorter[index:]


@lru_cache(maxsize=4096)  # words: bounded, for the collector too (see terms_parse)
def word_base_forms(word: str) -> frozenset[str]:
    """The word and what it may be without an inflection: "disabled" -> "disable"."""
    forms = {word}
    for suffix in _INFLECTIONS:
        if word.endswith(suffix) and len(word) - len(suffix) >= 2:
            stem = word[: -len(suffix)]
            forms |= {stem, stem + "e"}
            if len(stem) > 2 and stem[-1] == stem[-2]:
                forms.add(stem[:-1])  # "stopped" -> "stop"
            if stem.endswith("i"):
                forms.add(stem[:-1] + "y")  # "easiest" -> "easy"
    return frozenset(forms)


@lru_cache(maxsize=8192)
def words_opposite(first: str, second: str) -> bool:
    """True for opposites: listed ones, "lock"/"unlock", "increase"/"decrease"."""
    opposites = {o for form in word_base_forms(first) for o in _OPPOSITES.get(form, ())}
    if opposites & word_base_forms(second):
        return True
    for word, other in ((first, second), (second, first)):
        # "-less" negates by suffix ("sugarless"/"sugar"), and swaps with "-ful" ("careful").
        stem = other.removesuffix("less")
        if stem != other and len(stem) >= 3 and (
            words_match(stem, word, typo=False) or word == stem + "ful"
        ):
            return True
        negated = _NEGATING.match(other)
        if negated:
            stem = other[negated.end() :]
            short_prefix = negated.group() not in lexicon.NEGATING_PREFIXES_LONG_STEM
            if len(stem) >= (3 if short_prefix else 5) and words_match(stem, word, typo=False):
                return True
        swapped, swapped_other = _SWAP_FIRST.match(word), _SWAP_SECOND.match(other)
        if swapped and swapped_other:
            stem, other_stem = word[swapped.end() :], other[swapped_other.end() :]
            if (
                (swapped.group(), swapped_other.group()) in _SWAP_PAIRS
                and len(stem) >= 3
                and words_match(stem, other_stem, typo=False)
            ):
                return True
    return False


def words_interchangeable(first: str, second: str) -> bool:
    """True for listed synonyms, or words on the same side of an opposite group."""
    peers = {p for form in word_base_forms(first) for p in _PEERS.get(form, ())}
    return bool(peers & word_base_forms(second))


def _groups_index() -> tuple[dict[str, frozenset[str]], dict[str, frozenset[str]]]:
    opposites: dict[str, set[str]] = {}
    peers: dict[str, set[str]] = {}
    for left, right in lexicon.OPPOSITE_GROUPS:
        for side, other_side in ((left, right), (right, left)):
            for word in side:
                opposites.setdefault(word, set()).update(other_side)
                peers.setdefault(word, set()).update(side - {word})
    for group in lexicon.SYNONYM_GROUPS:
        for word in group:
            peers.setdefault(word, set()).update(group - {word})
    return (
        {word: frozenset(others) for word, others in opposites.items()},
        {word: frozenset(others) for word, others in peers.items()},
    )


_OPPOSITES, _PEERS = _groups_index()
_NEGATING = re.compile(
    "|".join(sorted(lexicon.NEGATING_PREFIXES + lexicon.NEGATING_PREFIXES_LONG_STEM, key=len)[::-1])
)
_SWAP_PAIRS = frozenset(lexicon.OPPOSITE_PREFIXES)
_SWAP_FIRST = re.compile("|".join(sorted({a for a, _ in _SWAP_PAIRS}, key=len, reverse=True)))
_SWAP_SECOND = re.compile("|".join(sorted({b for _, b in _SWAP_PAIRS}, key=len, reverse=True)))
