"""Prompts for `latency_bench compression`, built as the app builds them, from the QA set in
`data/compression_qa.json`: ten written documents, 126 questions, each with its evidence."""

from __future__ import annotations

import json
import random
import re
import textwrap
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from latency.compression.rank import text_terms, units_score

DATA = Path(__file__).parent / "data" / "compression_qa.json"
TOP_K = 6
CHUNK_WORDS = 90
_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z])")

SYSTEM_PROMPT = """
    You are the assistant of the Northwind Labs help desk. You answer questions from employees
    and customers about company policies and about our products (Ledgerly and Brightdesk).

    Rules:
      - Answer only from the passages inside <context>.   Quote the sentence that answers the
        question and cite its passage as [n].
      - If the passages do not answer the question, say so; never guess.
      - Keep answers short: two to four sentences.


    Be friendly and professional.
"""
FEW_SHOT = [
    (
        "How many days do I have to return a laptop after leaving?",
        'The policy says: "Equipment must be returned within 10 working days of your last day." '
        "[2]",
    ),
    (
        "Is there a limit on conference tickets?",
        'According to the context, "Conference tickets above 800 EUR need director approval." [1]',
    ),
]
_CHROME = {
    "web": (
        ["Skip to main content", "Help Center  >  Articles"],
        [
            "Was this page helpful?  Yes  No",
            "Back to top",
            "© 2025 Brightdesk Inc. All rights reserved.",
        ],
    ),
    "wiki": (["Edit this page"], ["Last updated on March 3, 2025", "Back to top"]),
    "pdf": ([], ["Northwind Labs  |  Internal use only", "Page {page} of 14"]),
    "legal": ([], ["Page {page} of 9"]),
}
_INTROS = ["Certainly! ", "Great question! ", "", "Sure. "]
_CLOSINGS = [
    " I hope this helps!",
    " Let me know if you need anything else from these documents.",
    "",
    " Feel free to ask if anything is unclear.",
]


@dataclass(frozen=True)
class Chunk:
    doc: str
    kind: str
    title: str
    text: str


@dataclass(frozen=True)
class BenchPrompt:
    question: str
    evidence: str
    doc: str
    style: str  # "direct" or "paraphrase" (few words shared with the evidence)
    messages: list[dict[str, str]]
    few_shot_turns: int  # distinct example turns at the start (the app's, so pinned)
    evidence_retrieved: bool  # whether BM25 put the evidence passage in the top k by itself


@cache
def qa_load() -> dict:
    return json.loads(DATA.read_text(encoding="utf-8"))


@cache
def chunks_build() -> tuple[Chunk, ...]:
    """Each section cut into chunks of about 90 words that overlap by one sentence."""
    chunks = []
    for doc in qa_load()["documents"]:
        for section in doc["sections"]:
            sentences = [s for p in section["paragraphs"] for s in _SENTENCE.split(p)]
            start = 0
            while start < len(sentences):
                end, words = start, 0
                while end < len(sentences) and (words < CHUNK_WORDS or end == start):
                    words += len(sentences[end].split())
                    end += 1
                title = f"{doc['title']} — {section['heading']}"
                text = " ".join(sentences[start:end])
                chunks.append(Chunk(doc=doc["id"], kind=doc["kind"], title=title, text=text))
                if end >= len(sentences):
                    break
                start = end - 1
    return tuple(chunks)


def chunks_retrieve(
    *, question: str, evidence: str, rng: random.Random
) -> tuple[list[Chunk], bool]:
    """The top k chunks by BM25. When BM25 misses the evidence (a paraphrased question), the
    evidence chunk takes a random rank, as the app's embedding retrieval would find it."""
    chunks = chunks_build()
    scores = units_score(query=question, units=[_chunk_terms(chunk) for chunk in chunks])
    order = sorted(range(len(chunks)), key=lambda i: -scores[i])[:TOP_K]
    top = [chunks[i] for i in order]
    if any(evidence in chunk.text for chunk in top):
        return top, True
    holder = next(chunk for chunk in chunks if evidence in chunk.text)
    top = top[: TOP_K - 1]
    top.insert(rng.randint(0, len(top)), holder)
    return top, False


@cache
def _chunk_terms(chunk: Chunk) -> list[str]:
    return text_terms(text=f"{chunk.title} {chunk.text}")


def passage_render(*, chunk: Chunk, marker: int, rng: random.Random) -> str:
    """A chunk as a retriever hands it over: title line, body, and its document's chrome."""
    header, footer = _CHROME[chunk.kind]
    body = chunk.text
    if chunk.kind == "pdf":
        body = "\n".join(textwrap.wrap(body.replace(". ", ".  "), width=78, break_on_hyphens=False))
    lines = [f"[{marker}] {chunk.title}"]
    lines += [line for line in header if rng.random() < 0.5]
    lines.append(body)
    lines += [line.format(page=rng.randint(2, 9)) for line in footer if rng.random() < 0.6]
    return "\n".join(lines)


def answer_write(*, question: dict, rng: random.Random, long: bool) -> str:
    """An earlier assistant reply: the evidence quoted, more of the passage when long."""
    chunk = next(c for c in chunks_build() if question["evidence"] in c.text)
    quotes = [question["evidence"]]
    if long:
        quotes += [s for s in _SENTENCE.split(chunk.text) if s != question["evidence"]][:3]
    body = " ".join(f'"{quote}" [{rng.randint(1, TOP_K)}]' for quote in quotes)
    return f"{rng.choice(_INTROS)}The documents say: {body}{rng.choice(_CLOSINGS)}"


def prompts_build(*, seed: int = 7, variants: int = 2) -> list[BenchPrompt]:
    """`variants` prompts per question, each: a system prompt, sometimes repeated few-shot
    examples, earlier turns (sometimes long), and the question with a `<context>` block of the
    top BM25 passages, sometimes one twice, with the page chrome of PDF and HTML extraction.

    The documents: a handbook, an API reference, an FAQ, release notes, a security policy, a
    runbook, a travel policy, an SLA, a privacy notice, a deployment guide. 12 of the questions
    are paraphrased, sharing few words with their evidence sentence."""
    data = qa_load()
    questions = data["questions"]
    prompts = []
    for variant in range(variants):
        rng = random.Random(seed * 1000 + variant)
        for item in questions:
            prompts.append(_prompt_build(item=item, questions=questions, rng=rng))
    return prompts


def _prompt_build(*, item: dict, questions: list[dict], rng: random.Random) -> BenchPrompt:
    messages = [{"role": "system", "content": textwrap.indent(SYSTEM_PROMPT, "    ")}]
    few_shot = 0
    if rng.random() < 0.25:
        few_shot = len(FEW_SHOT)
        for _ in range(2):  # a client template that appends the examples on every turn
            for user, assistant in FEW_SHOT:
                messages += [
                    {"role": "user", "content": user},
                    {"role": "assistant", "content": assistant},
                ]
    roll = rng.random()
    turns = 0 if roll < 0.2 else rng.randint(1, 3) if roll < 0.7 else rng.randint(4, 8)
    same_doc = [q for q in questions if q["doc"] == item["doc"] and q is not item]
    others = [q for q in questions if q["doc"] != item["doc"]]
    for _ in range(turns):
        earlier = rng.choice(same_doc if rng.random() < 0.5 else others)
        messages += [
            {"role": "user", "content": earlier["question"]},
            {
                "role": "assistant",
                "content": answer_write(question=earlier, rng=rng, long=turns >= 4),
            },
        ]
    chunks, retrieved = chunks_retrieve(
        question=item["question"], evidence=item["evidence"], rng=rng
    )
    if rng.random() < 0.3:  # the same document uploaded twice: a passage comes back twice
        chunks.insert(rng.randint(1, len(chunks)), rng.choice(chunks[:3]))
    passages = [passage_render(chunk=c, marker=i, rng=rng) for i, c in enumerate(chunks, 1)]
    context = "\n".join(passages)
    messages.append(
        {"role": "user", "content": f"{item['question']}\n\n<context>\n{context}\n</context>"}
    )
    return BenchPrompt(
        question=item["question"],
        evidence=item["evidence"],
        doc=item["doc"],
        style=item["style"],
        messages=messages,
        few_shot_turns=few_shot,
        evidence_retrieved=retrieved,
    )
