"""Retrieved context in a prompt: `<context>` blocks of `[n]` passages; drop repeats, prune to a
budget. A kept sentence stays after its passage's marker, so citations still point right."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from latency.compression.rank import text_terms, units_score
from latency.compression.text import TextUnit, text_key, text_units, units_join
from latency.core.tokens import tokens_count
from latency.rag.context import CONTEXT_BLOCK

_MARKER = re.compile(r"(?m)^[ \t]*(\[\d+\])[ \t]*")
# A sentence next to a relevant one often finishes its thought ("Then click Save.").
NEIGHBOUR_WEIGHT = 0.3
# A sentence of a passage about the question is likelier to matter than a stray match elsewhere.
PASSAGE_WEIGHT = 0.3
MIN_REPEAT_WORDS = 3
# "How long...?", "When...?", "How many...?" are answered by a sentence with a number in it.
_ASKS_FOR_NUMBER = re.compile(
    r"\b(?:how (?:long|many|much|often|soon|far|big|large|fast|quickly|early|late|old)"
    r"|when|what (?:time|date|day|year|percentage|size|price)|until when|by when)\b",
    re.I,
)
_HAS_NUMBER = re.compile(
    r"\d|\b(?:one|two|three|four|five|six|seven|eight|nine|ten|twelve|twenty|thirty|sixty|"
    r"hundred|thousand|million|daily|weekly|monthly|quarterly|annual|yearly|half)\b",
    re.I,
)
NUMBER_WEIGHT = 0.3
# Below this share of the question's words found in the context, lexical scores are a weak
# signal: sentences without a shared word are then kept too, within the budget.
CONFIDENT_COVERAGE = 0.5


@dataclass
class Passage:
    marker: str | None
    units: list[TextUnit]


def context_blocks_map(*, text: str, transform: Callable[[list[Passage]], list[Passage]]) -> str:
    """The text with each context block's passages replaced by `transform` of them."""

    def replace(match: re.Match[str]) -> str:
        passages = transform(passages_parse(context=match.group(2)))
        return f"{match.group(1)}\n{passages_render(passages=passages)}\n{match.group(3)}"

    return CONTEXT_BLOCK.sub(replace, text)


def passages_parse(*, context: str) -> list[Passage]:
    matches = list(_MARKER.finditer(context))
    head_end = matches[0].start() if matches else len(context)
    pieces: list[tuple[str | None, str]] = [(None, context[:head_end])]
    for index, match in enumerate(matches):
        end = matches[index + 1].start() if index + 1 < len(matches) else len(context)
        pieces.append((match.group(1), context[match.end() : end]))
    passages = [Passage(marker=marker, units=text_units(text=body)) for marker, body in pieces]
    return [passage for passage in passages if passage.units or passage.marker]


def passages_render(*, passages: list[Passage]) -> str:
    lines = []
    for passage in passages:
        body = units_join(units=passage.units)
        lines.append(f"{passage.marker} {body}" if passage.marker else body)
    return "\n".join(lines)


def passages_dedupe(*, passages: list[Passage]) -> tuple[list[Passage], int]:
    """Drop passages seen before, then sentences seen before; returns (passages, units dropped)."""
    seen_passages: set[str] = set()
    seen_units: set[str] = set()
    kept: list[Passage] = []
    dropped = 0
    for passage in passages:
        unit_keys = [text_key(text=unit.text) for unit in passage.units]
        key = "\n".join(unit_keys)
        if key in seen_passages:
            dropped += len(passage.units)
            continue
        seen_passages.add(key)
        units = []
        for unit, unit_key in zip(passage.units, unit_keys, strict=True):
            if unit_key in seen_units and unit_key.count(" ") + 1 >= MIN_REPEAT_WORDS:
                dropped += 1
                continue
            seen_units.add(unit_key)
            units.append(unit)
        if units:
            kept.append(Passage(marker=passage.marker, units=units))
        else:
            dropped += 0 if passage.units else 1
    return kept or passages[:1], dropped


def passages_prune(
    *, passages: list[Passage], question: str, budget_tokens: int, min_relevance: float
) -> tuple[list[Passage], int]:
    """Keep the sentences most relevant to the question within the budget, in their order.

    When the context holds most of the question's words, a sentence is kept only if it shares
    one and scores at least `min_relevance` of the best; otherwise the budget is filled, best
    first. The best sentence is kept even over budget, so a context never comes back empty.
    Returns (passages, sentences dropped)."""
    flat = [(p, i) for p, passage in enumerate(passages) for i in range(len(passage.units))]
    if not flat:
        return passages, 0
    unit_terms = [text_terms(text=passages[p].units[i].text) for p, i in flat]
    own = units_score(query=question, units=unit_terms)
    passage_terms: list[list[str]] = [[] for _ in passages]
    for (p, _), terms in zip(flat, unit_terms, strict=True):
        passage_terms[p].extend(terms)
    of_passage = units_score(query=question, units=passage_terms)
    wants_number = bool(_ASKS_FOR_NUMBER.search(question))
    number_bonus = NUMBER_WEIGHT * max(own)
    scores = []
    for index, (p, i) in enumerate(flat):
        before = own[index - 1] if i > 0 else 0.0
        after = own[index + 1] if i + 1 < len(passages[p].units) else 0.0
        score = own[index] + NEIGHBOUR_WEIGHT * max(before, after) + PASSAGE_WEIGHT * of_passage[p]
        if wants_number and own[index] > 0 and _HAS_NUMBER.search(passages[p].units[i].text):
            score += number_bonus
        scores.append(score)
    order = sorted(range(len(flat)), key=lambda index: (-scores[index], index))
    if _coverage(question=question, unit_terms=unit_terms) >= CONFIDENT_COVERAGE:
        floor = max(scores) * min_relevance
        order = [index for index in order if own[index] > 0 and scores[index] >= floor]
    else:  # the question's words are mostly not in the context: fill the budget, best first
        order = [index for index in order if scores[index] > 0] + [
            index for index in range(len(flat)) if scores[index] <= 0
        ]
    chosen: set[int] = set()
    opened: set[int] = set()
    used = 0
    for index in order:
        p, i = flat[index]
        cost = tokens_count(text=passages[p].units[i].text) + 1
        if p not in opened and passages[p].marker:
            cost += tokens_count(text=passages[p].marker or "") + 1
        if chosen and used + cost > budget_tokens:
            continue
        chosen.add(index)
        opened.add(p)
        used += cost
    kept: list[Passage] = []
    index = 0
    for passage in passages:
        units = [unit for i, unit in enumerate(passage.units) if index + i in chosen]
        index += len(passage.units)
        if units:
            kept.append(Passage(marker=passage.marker, units=_joiners_fix(units=units)))
    return kept, len(flat) - len(chosen)


def _coverage(*, question: str, unit_terms: list[list[str]]) -> float:
    """The share of the question's words that the context contains at all."""
    wanted = set(text_terms(text=question))
    if not wanted:
        return 0.0
    present = {term for terms in unit_terms for term in terms if term in wanted}
    return len(present) / len(wanted)


def _joiners_fix(*, units: list[TextUnit]) -> list[TextUnit]:
    """Kept sentences of one passage read as one paragraph: no blank lines where text went."""
    return [TextUnit(text=unit.text, joiner=unit.joiner.replace("\n\n", "\n")) for unit in units]
