"""Structure-aware chunking: a chunk never crosses a heading, prefers to end at a paragraph,
and overlaps the previous chunk of its section by about 15%; each keeps its heading path.

Tokens are o200k_base (`latency.core.tokens`), what a prompt budget counts. all-MiniLM-L6-v2 reads
256 WordPiece tokens at most, about 1.2 per o200k token in English: 200 tokens with the heading
stay inside what the embedding model sees.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from latency.core.tokens import tokens_count
from latency.rag.extract import Block

CHUNK_MAX_TOKENS = 200
CHUNK_OVERLAP_TOKENS = 30
CHUNK_MIN_TOKENS = 100  # past this, a chunk would rather end at a paragraph than fill up
HEADING_MAX_TOKENS = 50
# After a word, not after "6." or "U.S.": numbered lines and abbreviations stay whole.
SENTENCE_END = re.compile(r"(?<=[a-z)\]\"'”’][.!?…])\s+")


@dataclass(frozen=True)
class ChunkDraft:
    ordinal: int
    heading: str  # "Guide > Install > Linux"
    text: str
    token_count: int

    @property
    def embedding_input(self) -> str:
        """What the embedding model reads: the heading path gives a passage its context."""
        return f"{self.heading}\n{self.text}" if self.heading else self.text


@dataclass(frozen=True)
class _Unit:
    text: str
    tokens: int
    separator: str  # put before it when it does not open a chunk: "\n\n", "\n" or " "


def chunks_build(
    *,
    blocks: list[Block],
    max_tokens: int = CHUNK_MAX_TOKENS,
    overlap_tokens: int = CHUNK_OVERLAP_TOKENS,
    min_tokens: int = CHUNK_MIN_TOKENS,
) -> list[ChunkDraft]:
    drafts: list[ChunkDraft] = []
    for heading, paragraphs in _sections(blocks):
        budget = max(max_tokens - tokens_count(text=heading) - 1, max_tokens // 2)
        units = [unit for paragraph in paragraphs for unit in _units(paragraph, budget)]
        for texts in _pack(units, budget, overlap_tokens, min(min_tokens, budget)):
            text = _join(texts)
            count = tokens_count(text=text)
            drafts.append(ChunkDraft(len(drafts), heading, text, count))
    return drafts


def _sections(blocks: list[Block]) -> list[tuple[str, list[str]]]:
    """(heading path, paragraphs) for each run of paragraphs between headings."""
    sections: list[tuple[str, list[str]]] = []
    path: list[tuple[int, str]] = []
    paragraphs: list[str] = []

    def flush() -> None:
        if paragraphs:
            sections.append((_heading_path([title for _, title in path]), paragraphs.copy()))
            paragraphs.clear()

    for block in blocks:
        if block.level:
            flush()
            while path and path[-1][0] >= block.level:
                path.pop()
            path.append((block.level, " ".join(block.text.split())))
        else:
            paragraphs.append(block.text)
    flush()
    return sections


def _heading_path(titles: list[str]) -> str:
    """The full path, or its deepest titles when the full path would eat the chunk budget."""
    for start in range(len(titles)):
        heading = " > ".join(titles[start:])
        if tokens_count(text=heading) <= HEADING_MAX_TOKENS:
            return heading
    return titles[-1][:200] if titles else ""


def _units(paragraph: str, budget: int) -> list[_Unit]:
    """Sentences (and lines) of a paragraph, a sentence longer than the budget cut by words."""
    units: list[_Unit] = []
    for line_number, line in enumerate(paragraph.split("\n")):
        for sentence_number, sentence in enumerate(SENTENCE_END.split(line.rstrip())):
            if not sentence.strip():
                continue
            if line_number == 0 and sentence_number == 0:
                separator = "\n\n"
            else:
                separator = "\n" if sentence_number == 0 else " "
            for piece_number, piece in enumerate(_words_split(sentence, budget)):
                units.append(
                    _Unit(piece, tokens_count(text=piece), separator if piece_number == 0 else " ")
                )
    return units


def _words_split(sentence: str, budget: int) -> list[str]:
    tokens = tokens_count(text=sentence)
    if tokens <= budget:
        return [sentence]
    words = sentence.split(" ")
    pieces: list[str] = []
    current: list[str] = []
    current_tokens = 0
    for word in words:
        word_tokens = tokens_count(text=" " + word)
        if word_tokens > budget:  # one "word" of thousands of characters: cut it by characters
            pieces += [*([" ".join(current)] if current else []), *_chars_split(word, budget)]
            current, current_tokens = [], 0
            continue
        if current and current_tokens + word_tokens > budget:
            pieces.append(" ".join(current))
            current, current_tokens = [], 0
        current.append(word)
        current_tokens += word_tokens
    if current:
        pieces.append(" ".join(current))
    return [piece for piece in pieces if piece.strip()]


def _chars_split(word: str, budget: int) -> list[str]:
    step = max(budget, 1) * 2  # at least ~2 characters a token even for the densest text
    pieces = [word[start : start + step] for start in range(0, len(word), step)]
    return [piece for part in pieces for piece in _chars_shrink(part, budget)]


def _chars_shrink(piece: str, budget: int) -> list[str]:
    if tokens_count(text=piece) <= budget or len(piece) <= 1:
        return [piece]
    middle = len(piece) // 2
    return _chars_shrink(piece[:middle], budget) + _chars_shrink(piece[middle:], budget)


def _pack(
    units: list[_Unit], budget: int, overlap_tokens: int, min_tokens: int
) -> list[list[_Unit]]:
    """Fill chunks up to the budget; a new chunk starts with the previous one's last sentences."""
    chunks: list[list[_Unit]] = []
    current: list[_Unit] = []
    carried = 0  # how many units at the start of `current` are overlap from the previous chunk
    index = 0
    while index < len(units):
        unit = units[index]
        if current and carried < len(current) and _tokens(current) + unit.tokens > budget:
            cut = _cut_point(current, carried, min_tokens)
            emitted, rest = current[:cut], current[cut:]
            chunks.append(emitted)
            overlap = _tail(emitted, overlap_tokens)
            if _tokens(overlap) + _tokens(rest) + unit.tokens > budget:
                overlap = []
            current, carried = overlap + rest, len(overlap)
            continue
        if current and carried == len(current) and _tokens(current) + unit.tokens > budget:
            current, carried = [], 0  # the overlap does not fit beside this unit: drop it
        current.append(unit)
        index += 1
    if current and carried < len(current):
        chunks.append(current)
    return chunks


def _cut_point(current: list[_Unit], carried: int, min_tokens: int) -> int:
    """The last paragraph start past `min_tokens`, else everything."""
    for cut in range(len(current) - 1, carried, -1):
        if current[cut].separator == "\n\n" and _tokens(current[:cut]) >= min_tokens:
            return cut
    return len(current)


def _tail(units: list[_Unit], overlap_tokens: int) -> list[_Unit]:
    """The last sentences of a chunk, up to `overlap_tokens`; the last words of its last
    sentence when that sentence alone is longer."""
    tail: list[_Unit] = []
    for unit in reversed(units):
        if _tokens(tail) + unit.tokens > overlap_tokens:
            break
        tail.insert(0, unit)
    if tail or not units or overlap_tokens <= 0:
        return tail
    words = units[-1].text.split(" ")
    keep = max(1, int(overlap_tokens * 0.75))  # ~0.75 English words a token
    text = " ".join(words[-keep:])
    while len(text) > 1 and tokens_count(text=text) > overlap_tokens:
        text = text[len(text) // 4 :]
    return [_Unit(text, tokens_count(text=text), " ")]


def _tokens(units: list[_Unit]) -> int:
    return sum(unit.tokens for unit in units)


def _join(units: list[_Unit]) -> str:
    parts = [units[0].text] if units else []
    for unit in units[1:]:
        parts += [unit.separator, unit.text]
    return "".join(parts).strip()
