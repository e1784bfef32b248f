"""Parse a query into what the cache verifier compares: words, names, numbers, question kind.

Pure string work (regular expressions and the lists in `lexicon`), cached per text.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

from latency.cache.verify import lexicon

_CONTRACTIONS = (
    (re.compile(r"\bcan't\b|\bcannot\b", re.I), "can not"),
    (re.compile(r"\bwon't\b", re.I), "will not"),
    (re.compile(r"\bshan't\b", re.I), "shall not"),
    (re.compile(r"n't\b", re.I), " not"),
    (re.compile(r"'(?:s|re|ve|ll|d|m)\b", re.I), ""),
)
_TOKEN = re.compile(
    r"\d{1,3}(?:,\d{3})+(?:\.\d+)?(?!\w)|\d+\.\d+(?!\w)"  # 1,000 and 3.5
    r"|[^\W\d_][^\W_]*(?:\+\+|#)?"  # words, "C++", "C#", "mp3"
    r"|\d[^\W_]*"  # 2201, 1st, 4o
    r"|[%$€£¥+*/×÷^]"
)
_ORDINAL_DIGITS = re.compile(r"(\d+)(?:st|nd|rd|th)")
_ROMAN = re.compile(r"X{0,3}(?:IX|IV|V?I{0,3})")
_ROMAN_VALUES = {"I": 1, "V": 5, "X": 10}
_OPERATORS = {
    "+": "+",
    "plus": "+",
    "*": "×",
    "×": "×",
    "times": "×",
    "multiplied": "×",
    "/": "÷",
    "÷": "÷",
    "divided": "÷",
    "^": "^",
    "squared": "^2",
    "cubed": "^3",
    "minus": "−",
}
_UNIT_SYMBOLS = frozenset("%$€£¥")
_HOW_MEASURE = frozenset(
    "many much long far old often tall big large fast high heavy deep wide".split()
)


@dataclass(frozen=True)
class Token:
    """One word of a query: casefolded, as written, whether it reads as a name, its number."""

    text: str
    surface: str
    entity: bool = False
    number: str | None = None


@dataclass(frozen=True)
class Terms:
    """A parsed query: its tokens, which of them carry content, numbers, the question's kind."""

    tokens: tuple[Token, ...]
    content: tuple[int, ...]
    numbers: tuple[str, ...]
    negations: int
    question_type: str | None


def _case_is_meaningful(text: str, matches: list[re.Match[str]]) -> bool:
    """Capitals mark names only where the writer used case: not ALL CAPS, not Title Case."""
    later_words = [m.group() for m in matches[1:] if m.group()[:1].isalpha()]
    return any(w[0].islower() for w in later_words) and any(c.isupper() for c in text)


def _looks_like_name(match: re.Match[str], text: str, case_is_meaningful: bool) -> bool:
    raw = match.group()
    if not raw.isalpha():  # "C++", "GPT4", "H2O", but not "%"
        return raw[-1] in "+#" or any(character.isalpha() for character in raw)
    if not case_is_meaningful or not raw[0].isupper() or raw.casefold() in lexicon.STOPWORDS:
        return False
    if len(raw) > 1 and raw.isupper():
        return True  # an acronym: "DNS", "HTTP"
    before = text[: match.start()].rstrip(" \t\"'(")
    return bool(before) and before[-1] not in ".!?:;\n"  # capitalised, not starting a sentence


def _roman_value(raw: str, previous: str) -> int | None:
    """ "World War II", "Henry VIII": a Roman numeral after a capitalised word."""
    if len(raw) < 2 or not _ROMAN.fullmatch(raw) or not previous[:1].isupper():
        return None
    values = [_ROMAN_VALUES[c] for c in raw]
    return sum(-v if i + 1 < len(values) and v < values[i + 1] else v for i, v in enumerate(values))


def _ordinal(value: int) -> str:
    if value % 100 in (11, 12, 13):
        return f"{value}th"
    return f"{value}{ {1: 'st', 2: 'nd', 3: 'rd'}.get(value % 10, 'th') }"


def _number_tokens(raws: list[str], words: list[str]) -> list[str | None]:
    """The number each word stands for ("first" -> "1st", "twenty five" -> "25"), else None."""
    numbers: list[str | None] = [None] * len(words)
    index = 0
    while index < len(words):
        word, raw = words[index], raws[index]
        ordinal = _ORDINAL_DIGITS.fullmatch(word)
        roman = _roman_value(raw, raws[index - 1] if index else "")
        if ordinal:
            numbers[index] = _ordinal(int(ordinal.group(1)))
        elif roman is not None:
            numbers[index] = str(roman)
        elif word in lexicon.ORDINAL_WORDS:
            numbers[index] = _ordinal(lexicon.ORDINAL_WORDS[word])
        elif word.replace(",", "").replace(".", "", 1).isdigit():
            numbers[index] = str(float(word.replace(",", ""))).removesuffix(".0")
        elif word in lexicon.FRACTION_WORDS:
            numbers[index] = str(lexicon.FRACTION_WORDS[word])
        elif word in lexicon.CARDINAL_WORDS or word in lexicon.SCALE_WORDS:
            end, total, current = index, 0, 0
            while end < len(words) and (
                words[end] in lexicon.CARDINAL_WORDS or words[end] in lexicon.SCALE_WORDS
            ):
                if words[end] in lexicon.CARDINAL_WORDS:
                    current += lexicon.CARDINAL_WORDS[words[end]]
                elif lexicon.SCALE_WORDS[words[end]] == 100:
                    current = max(current, 1) * 100
                else:
                    total, current = total + max(current, 1) * lexicon.SCALE_WORDS[words[end]], 0
                end += 1
            numbers[index] = str(total + current)
            index = end
            continue
        index += 1
    # Arithmetic only counts next to a number: "2 + 2" vs "2 * 2", not "and/or".
    for index, word in enumerate(words):
        if word in _OPERATORS and numbers[index] is None:
            near = numbers[max(index - 1, 0) : index + 2]
            if any(n is not None and n[0].isdigit() for n in near):
                numbers[index] = _OPERATORS[word]
    return numbers


def _question_type(words: list[str]) -> tuple[str | None, set[int]]:
    """The kind of answer asked for, and the indexes of words spent saying so ("what year")."""
    for index, word in enumerate(words):
        if word in lexicon.QUESTION_WORDS:
            return lexicon.QUESTION_WORDS[word], set()
        if word == "how":
            following = words[index + 1] if index + 1 < len(words) else ""
            if following in _HOW_MEASURE:
                return "quantity", _spent(words, "quantity")
            return ("reason" if following == "come" else "manner"), set()
        if word in ("what", "which"):
            later = [i for i in range(index + 1, len(words)) if words[i] not in lexicon.STOPWORDS]
            following = set(later[:2]) | {index + 1, index + 2}
            for kind, nouns in lexicon.QUESTION_NOUNS.items():
                if any(i < len(words) and words[i] in nouns for i in following):
                    return kind, _spent(words, kind)
    if words and words[0] in lexicon.QUESTION_NOUNS["quantity"]:
        return "quantity", _spent(words, "quantity")  # "number of hours in a week"
    is_yes_no = (
        bool(words)
        and words[0] in lexicon.AUXILIARIES
        and not (len(words) > 2 and words[1] in ("you", "u") and words[2] in lexicon.REQUEST_VERBS)
        and not any(word in ("what", "which", "how") for word in words)
    )
    return ("yes_no" if is_yes_no else None), set()


def _spent(words: list[str], kind: str) -> set[int]:
    return {i for i, word in enumerate(words) if word in lexicon.QUESTION_NOUNS[kind]}


# A parse is ~0.1 ms and ~4 KB of ~20 objects. A lookup parses its question once per candidate
# and the candidates are mostly the popular entries: 1,024 keep those. At 8,192 a web process
# filled ~34 MB and 160,000 objects for the garbage collector's full passes to walk (~55 ms).
@lru_cache(maxsize=1024)
def terms_parse(*, text: str) -> Terms:
    """Split a query into tokens and the facts the verifier compares; cached per text."""
    folded = unicodedata.normalize("NFKC", text).replace("\u2019", "'").replace("`", "'")
    for pattern, replacement in _CONTRACTIONS:
        folded = pattern.sub(replacement, folded)
    matches = list(_TOKEN.finditer(folded))
    case_is_meaningful = _case_is_meaningful(folded, matches)
    raws = [match.group() for match in matches]
    words = [raw.casefold() for raw in raws]
    numbers = _number_tokens(raws, words)
    question_type, spent = _question_type(words)
    tokens = tuple(
        Token(
            text=word,
            surface=match.group(),
            entity=numbers[i] is None and _looks_like_name(match, folded, case_is_meaningful),
            number=numbers[i],
        )
        for i, (match, word) in enumerate(zip(matches, words, strict=True))
    )
    content = tuple(
        i
        for i, token in enumerate(tokens)
        if token.number is None
        and i not in spent
        and (token.text[:1].isalnum() or token.text in _UNIT_SYMBOLS)
        and token.text not in lexicon.STOPWORDS
        and token.text not in lexicon.CARDINAL_WORDS
        and token.text not in lexicon.SCALE_WORDS
    )
    return Terms(
        tokens=tokens,
        content=content,
        numbers=tuple(token.number for token in tokens if token.number is not None),
        negations=sum(token.text in lexicon.NEGATIONS for token in tokens),
        question_type=question_type,
    )
