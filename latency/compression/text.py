"""Text helpers for compression: whitespace and boilerplate normalisation, sentence units.
Normalisation never rewrites the words of a sentence it keeps, so quotes still match sources."""

from __future__ import annotations

import re
from dataclasses import dataclass

_INVISIBLE = re.compile("[\u200b\u200c\u200d\u2060\ufeff\u00ad]")
_INNER_SPACE = re.compile(
    r"(?<=\S)[ \t\u00a0\u2000-\u200a\u3000]{2,}|[\t\u00a0\u2000-\u200a\u3000]"
)
_BLANK_RUN = re.compile(r"\n{3,}")
_FENCE = re.compile(r"^\s*(```|~~~)")

# Page chrome that HTML and PDF extraction leave in documents, and e-mail furniture: removed
# only when it is a whole line, so a sentence that merely mentions these words is kept.
_BOILERPLATE_LINE = re.compile(
    r"""^\W*(?:
        skip\ to\ (?:main\ )?content | back\ to\ top | table\ of\ contents | on\ this\ page
      | was\ this\ (?:page|article|answer)\ helpful\??(?:\W+yes\W+no)? | yes\ *[/|]\ *no
      | share\ this\ (?:page|article)(?:\W+\w+){0,4} | print\ this\ page | edit\ this\ page
      | (?:©|\(c\)|copyright)\ *\d{4}[^\n]{0,60} | [^\n]{0,60}all\ rights\ reserved
      | page\ \d+(?:\ (?:of|/)\ \d+)? | \d+\ *(?:/|of)\ *\d+
      | sent\ from\ my\ \w+ | cookie\ (?:settings|preferences) | accept\ (?:all\ )?cookies
      | related\ articles | (?:last\ )?(?:updated|modified)(?:\ on)?\ [\w ,./-]{0,20}\d{4}
      | [-_=*~]{3,}
    )\W*$""",
    re.I | re.X,
)
# Chat filler that carries no information: an interjection alone, or an offer of more help.
_FILLER_SENTENCE = re.compile(
    r"""^(?:
        (?:(?:great|good|excellent)\ question|certainly|sure|of\ course|absolutely)\W*
      | (?:i\ )?hope\ (?:this|that)\ helps\b.* | happy\ to\ help\b.*
      | (?:please\ )?let\ me\ know\ if\b.*
      | (?:feel\ free|don'?t\ hesitate)\ to\ (?:ask|reach\ out|contact|let\ me\ know)\b.*
      | is\ there\ anything\ else\b.* | thanks?(?:\ you)?\ for\ (?:asking|your\ question)\b.*
    )$""",
    re.I | re.X,
)
_ABBREVIATIONS = frozenset(
    "e.g. i.e. etc. vs. cf. approx. incl. no. nos. fig. sec. art. mr. mrs. ms. dr. prof. "
    "inc. ltd. co. corp. jr. sr. st. u.s. u.k. e.u. a.m. p.m. jan. feb. mar. apr. jun. jul. "
    "aug. sep. sept. oct. nov. dec. min. max. dept. est. ext. tel.".split()
)
_SENTENCE_END = re.compile(r"(?:(?<=[.!?])|(?<=[.!?][\"')\]]))\s+(?=[\"'(\[]?[A-Z0-9#@/`*-])")
_LINE_STARTS_UNIT = re.compile(r"^\s*(?:[-*•+]\s|\d{1,2}[.)]\s|#{1,6}\s|\[\d+\]|[A-Z][^a-z]*:?$)")
_LINE_ENDS_UNIT = re.compile(r"[.!?:;\"')\]]\s*$")
_KEY_WORD = re.compile(r"[^\W_]+")
BOILERPLATE_MAX_CHARS = 120


@dataclass(frozen=True)
class TextUnit:
    """A sentence or a list line; `joiner` is what separated it from the unit before it."""

    text: str
    joiner: str


def text_normalise(*, text: str, boilerplate: bool = True, filler: bool = False) -> str:
    """Collapse whitespace; drop boilerplate lines and, with `filler`, chat filler sentences.

    Indentation is kept inside fenced code blocks, where it can carry meaning."""
    lines: list[str] = []
    in_code = False
    if not text.isascii():
        text = _INVISIBLE.sub("", text)
    for raw in text.split("\n"):
        if _FENCE.match(raw):
            in_code = not in_code
            lines.append(raw.strip())
            continue
        if in_code:
            lines.append(raw.rstrip())
            continue
        line = raw.strip()
        if "  " in line or "\t" in line or not line.isascii():
            line = _INNER_SPACE.sub(" ", line)
        if boilerplate and line and _boilerplate(line=line):
            continue
        if line and filler:
            line = _filler_drop(line=line)
            if not line:
                continue
        lines.append(line)
    return _BLANK_RUN.sub("\n\n", "\n".join(lines)).strip("\n")


def _boilerplate(*, line: str) -> bool:
    # Chrome lines are short; a table row is not chrome even when it says "Yes | No".
    return (
        len(line) <= BOILERPLATE_MAX_CHARS
        and line[0] != "|"
        and bool(_BOILERPLATE_LINE.match(line))
    )


def _filler_drop(*, line: str) -> str:
    kept = [s for s in _SENTENCE_END.split(line) if not _FILLER_SENTENCE.match(s.strip())]
    return " ".join(kept).strip()


def text_units(*, text: str) -> list[TextUnit]:
    """Split text into sentences and list lines, joining lines that a hard wrap broke."""
    units: list[TextUnit] = []
    for block, joiner in _blocks(text=text):
        pieces = _SENTENCE_END.split(block)
        merged: list[str] = []
        for piece in pieces:
            if merged and _ends_with_abbreviation(text=merged[-1]):
                merged[-1] = f"{merged[-1]} {piece}"
            else:
                merged.append(piece)
        for index, sentence in enumerate(merged):
            if sentence.strip():
                units.append(TextUnit(text=sentence.strip(), joiner=joiner if index == 0 else " "))
    return units


def units_join(*, units: list[TextUnit]) -> str:
    return "".join((unit.joiner if index else "") + unit.text for index, unit in enumerate(units))


def _blocks(*, text: str) -> list[tuple[str, str]]:
    """Lines rejoined into blocks: a line continues the one before unless either marks a break."""
    blocks: list[tuple[str, str]] = []
    current: list[str] = []
    joiner = "\n"
    previous = ""
    lines = text.split("\n")
    # A line much shorter than the block's longest is a heading or a paragraph's end, not a wrap.
    short = 0.6 * max((len(line.strip()) for line in lines), default=0)
    for raw in lines:
        line = raw.strip()
        if not line:
            if current:
                blocks.append((" ".join(current), joiner))
                current, joiner = [], "\n\n"
            elif blocks:
                joiner = "\n\n"
            continue
        if current and (
            _LINE_ENDS_UNIT.search(previous)
            or _LINE_STARTS_UNIT.match(line)
            or (len(previous) < short and line[:1].isupper())
        ):
            blocks.append((" ".join(current), joiner))
            current, joiner = [], "\n"
        current.append(line)
        previous = line
    if current:
        blocks.append((" ".join(current), joiner))
    return blocks


def _ends_with_abbreviation(*, text: str) -> bool:
    last = text.rsplit(None, 1)[-1].lower().lstrip("(\"'")
    return last in _ABBREVIATIONS or bool(re.fullmatch(r"[a-z]\.", last))


def text_key(*, text: str) -> str:
    """A comparison key: case, punctuation and whitespace do not make two chunks different."""
    return " ".join(_KEY_WORD.findall(text.casefold()))
