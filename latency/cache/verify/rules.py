"""The verifier's rules: align two questions' words and name each look-alike class that fires.

Each check aims at one known false-hit class (negation, opposite, number, order, ...) and names
itself in a verdict (badge tooltip, request trace). Pure and fast: string work only.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from latency.cache.verify import lexicon
from latency.cache.verify.terms import Terms, terms_parse
from latency.cache.verify.words import (
    word_base_forms,
    words_interchangeable,
    words_match,
    words_opposite,
)


@dataclass(frozen=True)
class Verdict:
    """Whether a cached answer may be served; `reason` is a stable code, `detail` says why.

    Codes: ok, similarity, negation, opposite, number, unit, order, question_type, entity,
    term, wording.
    """

    ok: bool
    reason: str
    detail: str = ""


@dataclass(frozen=True)
class Alignment:
    asked: Terms
    cached: Terms
    pairs: tuple[tuple[int, int], ...]  # content tokens found in both (query, cached)
    asked_only: tuple[int, ...]  # content tokens of the query with no counterpart
    cached_only: tuple[int, ...]
    asked_extra: tuple[str, ...]  # any token, function words too, found on one side only
    cached_extra: tuple[str, ...]


@dataclass(frozen=True)
class RuleReport:
    alignment: Alignment
    fired: tuple[Verdict, ...]

    @property
    def reasons(self) -> frozenset[str]:
        return frozenset(verdict.reason for verdict in self.fired)


def rules_check(*, query: str, candidate: str) -> RuleReport:
    """Every rule that fires on the pair, in the order of `_CHECKS` then `term` and `wording`.

    Nothing here decides: the verifier refuses on the precise classes and gives the rest to
    the learned model as features, since those classes (a changed word, a name on one side)
    also fire on paraphrases ("'make' vs 'recipe'", "only one names 'Earth'").
    """
    alignment = _align(terms_parse(text=query), terms_parse(text=candidate))
    fired = [verdict for check in _CHECKS if (verdict := check(alignment)) is not None]
    if (verdict := _term(alignment)) is not None:
        fired.append(verdict)
    changed = _surfaces(alignment.asked, alignment.asked_only) + _surfaces(
        alignment.cached, alignment.cached_only
    )
    if changed:
        words = ", ".join(f"'{word}'" for word in changed[:4])
        fired.append(Verdict(False, "wording", f"words differ ({words})"))
    return RuleReport(alignment=alignment, fired=tuple(fired))


def _surfaces(terms: Terms, indexes: Iterable[int]) -> list[str]:
    return [terms.tokens[i].surface for i in indexes]


def _align(asked: Terms, cached: Terms) -> Alignment:
    pairs, asked_only, cached_only = _match(asked, asked.content, cached, cached.content)
    asked_only, cached_only = _acronyms_expand(asked, asked_only, cached, cached_only)
    cached_only, asked_only = _acronyms_expand(cached, cached_only, asked, asked_only)
    everything = (asked, range(len(asked.tokens)), cached, range(len(cached.tokens)))
    _, asked_extra, cached_extra = _match(*everything)
    return Alignment(
        asked=asked,
        cached=cached,
        pairs=tuple(sorted(pairs)),
        asked_only=tuple(asked_only),
        cached_only=tuple(cached_only),
        asked_extra=tuple(asked.tokens[i].text for i in asked_extra),
        cached_extra=tuple(cached.tokens[i].text for i in cached_extra),
    )


def _acronyms_expand(
    terms: Terms, unmatched: list[int], other: Terms, other_unmatched: list[int]
) -> tuple[list[int], list[int]]:
    """Drop an acronym and the words it stands for from both sides: "US" = "United States"."""
    for index, token in enumerate(terms.tokens):
        acronym = token.surface  # "US" is also a stopword: look beyond the content words
        if not (2 <= len(acronym) <= 5 and acronym.isalpha() and acronym.isupper()):
            continue
        words = [i for i in other.content if i in other_unmatched]
        for start in range(len(words) - len(acronym) + 1):
            run = words[start : start + len(acronym)]
            if "".join(other.tokens[i].text[0] for i in run) == token.text:
                unmatched = [i for i in unmatched if i != index]
                other_unmatched = [i for i in other_unmatched if i not in run]
                break
    return unmatched, other_unmatched


def _match(
    first: Terms, first_indexes: Iterable[int], second: Terms, second_indexes: Iterable[int]
) -> tuple[list[tuple[int, int]], list[int], list[int]]:
    """Pair tokens one to one: exact spellings first, then other forms of the same word."""
    free = list(second_indexes)
    pairs: list[tuple[int, int]] = []
    unmatched = list(first_indexes)
    for exact in (True, False):
        pending, unmatched = unmatched, []
        for i in pending:
            word = first.tokens[i]
            for j in free:
                other = second.tokens[j]
                same = word.text == other.text or (
                    not exact
                    and word.number is None
                    and other.number is None
                    and words_match(word.text, other.text, typo=not (word.entity or other.entity))
                )
                if same:
                    pairs.append((i, j))
                    free.remove(j)
                    break
            else:
                unmatched.append(i)
    return pairs, unmatched, free


def _negation(alignment: Alignment) -> Verdict | None:
    if alignment.asked.negations == alignment.cached.negations:
        return None
    negated = [w for w in alignment.asked_extra + alignment.cached_extra if w in lexicon.NEGATIONS]
    word = negated[0] if negated else "not"
    return Verdict(False, "negation", f"only one of the questions is negated ('{word}')")


def _opposite(alignment: Alignment) -> Verdict | None:
    for word in alignment.asked_extra:
        for other in alignment.cached_extra:
            if words_opposite(word, other):
                return Verdict(False, "opposite", f"'{word}' vs '{other}'")
    return None


def _number(alignment: Alignment) -> Verdict | None:
    asked, cached = alignment.asked.numbers, alignment.cached.numbers
    if Counter(asked) == Counter(cached):
        if asked != cached:
            return Verdict(False, "order", f"the same numbers in another order ({' '.join(asked)})")
        return None
    # "one week" is "a week": a lone 1 does not make two questions differ.
    asked_counts = Counter(n for n in asked if n != "1")
    cached_counts = Counter(n for n in cached if n != "1")
    if asked_counts == cached_counts:
        return None
    only_asked = " ".join(sorted((asked_counts - cached_counts).elements())) or "none"
    only_cached = " ".join(sorted((cached_counts - asked_counts).elements())) or "none"
    return Verdict(False, "number", f"numbers differ: {only_asked} vs {only_cached}")


def _unit(alignment: Alignment) -> Verdict | None:
    def units(terms: Terms, indexes: tuple[int, ...]) -> list[str]:
        words = [terms.tokens[i].text for i in indexes]
        return [w for w in words if word_base_forms(w) & lexicon.QUANTITY_WORDS]

    asked = units(alignment.asked, alignment.asked_only)
    cached = units(alignment.cached, alignment.cached_only)
    if asked and cached:
        return Verdict(False, "unit", f"'{asked[0]}' vs '{cached[0]}'")
    return None


def _direction(alignment: Alignment) -> Verdict | None:
    """ "from A to B" vs "from B to A", "A faster than B" vs "B faster than A"."""
    asked_words = [token.text for token in alignment.asked.tokens]
    cached_words = [token.text for token in alignment.cached.tokens]
    for marker in lexicon.DIRECTION_MARKERS:
        if marker not in asked_words or marker not in cached_words:
            continue
        asked_at, cached_at = asked_words.index(marker), cached_words.index(marker)
        later = [asked_words[i] for i, j in alignment.pairs if i < asked_at and j > cached_at]
        earlier = [asked_words[i] for i, j in alignment.pairs if i > asked_at and j < cached_at]
        if later and earlier:
            detail = f"'{later[0]}' and '{earlier[0]}' swap sides of '{marker}'"
            return Verdict(False, "order", detail)
    return None


def _question_type(alignment: Alignment) -> Verdict | None:
    asked, cached = alignment.asked.question_type, alignment.cached.question_type
    if asked and cached and asked != cached and {asked, cached} != {"manner", "yes_no"}:
        return Verdict(False, "question_type", f"asks for {asked} vs {cached}")
    return None


def _entity(alignment: Alignment) -> Verdict | None:
    asked = [
        t.surface for t in (alignment.asked.tokens[i] for i in alignment.asked_only) if t.entity
    ]
    cached = [
        t.surface for t in (alignment.cached.tokens[i] for i in alignment.cached_only) if t.entity
    ]
    if asked and cached:
        return Verdict(False, "entity", f"'{asked[0]}' vs '{cached[0]}'")
    if asked or cached:
        return Verdict(False, "entity", f"only one names '{(asked or cached)[0]}'")
    return None


def _term(alignment: Alignment) -> Verdict | None:
    """Words swapped in place in the same frame: "calories in an egg" / "in an avocado", or
    "make cold brew coffee" / "make iced coffee". Two-word swaps only inside the frame."""
    asked_run = _run_in(alignment.asked.content, alignment.asked_only)
    cached_run = _run_in(alignment.cached.content, alignment.cached_only)
    if asked_run is None or cached_run is None or asked_run[0] != cached_run[0]:
        return None
    if [j for _, j in alignment.pairs] != sorted(j for _, j in alignment.pairs):
        return None
    asked_words = [alignment.asked.tokens[i] for i in alignment.asked_only]
    cached_words = [alignment.cached.tokens[i] for i in alignment.cached_only]
    if len(asked_words) == len(cached_words) == 1:
        if words_interchangeable(asked_words[0].text, cached_words[0].text):
            return None
    elif not (asked_run[0] > 0 and asked_run[1] < len(alignment.asked.content) - 1):
        return None  # a longer swap at the edge is usually a rephrased verb: "check"/"see"
    asked_text = " ".join(token.surface for token in asked_words)
    cached_text = " ".join(token.surface for token in cached_words)
    return Verdict(False, "term", f"'{asked_text}' vs '{cached_text}'")


def _run_in(content: tuple[int, ...], unmatched: tuple[int, ...]) -> tuple[int, int] | None:
    """Where the unmatched words sit in the content words, if they are 1-2 words in a row."""
    if not 1 <= len(unmatched) <= 2:
        return None
    positions = sorted(content.index(i) for i in unmatched)
    if positions[-1] - positions[0] != len(positions) - 1:
        return None
    return positions[0], positions[-1]


_CHECKS: tuple[Callable[[Alignment], Verdict | None], ...] = (
    _negation,
    _opposite,
    _number,
    _unit,
    _direction,
    _question_type,
    _entity,
)
