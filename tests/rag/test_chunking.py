"""Chunks stay under the token limit, never cross a heading, keep their heading path, overlap."""

from __future__ import annotations

from latency.core.tokens import tokens_count
from latency.rag.chunking import CHUNK_MAX_TOKENS, CHUNK_OVERLAP_TOKENS, chunks_build
from latency.rag.extract import Block, document_blocks_extract
from tests.rag import samples


def _chunks(markdown: str, **limits: int):
    blocks = document_blocks_extract(data=markdown.encode(), kind="markdown")
    return chunks_build(blocks=blocks, **limits)


def test_chunks_respect_the_token_limit_and_keep_the_heading_path():
    chunks = _chunks(samples.markdown_long(sections=3, paragraphs=6))
    assert len(chunks) >= 6
    assert [chunk.ordinal for chunk in chunks] == list(range(len(chunks)))
    for chunk in chunks:
        assert chunk.token_count == tokens_count(text=chunk.text)
        assert tokens_count(text=chunk.embedding_input) <= CHUNK_MAX_TOKENS + 5
        assert chunk.heading.startswith("Handbook > Part ")
        part = chunk.heading.rsplit(" ", 1)[-1]
        assert f"in part {part} " in chunk.text, "a chunk never mixes two sections"
    assert max(chunk.token_count for chunk in chunks) > CHUNK_MAX_TOKENS * 0.6


def test_consecutive_chunks_of_a_section_overlap():
    chunks = _chunks(samples.markdown_long(sections=1, paragraphs=8))
    assert len(chunks) >= 3
    for previous, current in zip(chunks, chunks[1:], strict=False):
        sentences = current.text.replace("\n\n", " ").split(". ")
        shared = [
            ". ".join(sentences[:n])
            for n in range(1, len(sentences))
            if previous.text.endswith(". ".join(sentences[:n]))
            or previous.text.endswith(". ".join(sentences[:n]) + ".")
        ]
        assert shared, ("no overlap", previous.text[-120:], current.text[:120])
        assert 0 < tokens_count(text=shared[-1]) <= CHUNK_OVERLAP_TOKENS


def test_chunks_prefer_to_end_at_a_paragraph():
    chunks = _chunks(samples.markdown_long(sections=1, paragraphs=8))
    # A paragraph is 6 sentences, the last "Sentence 6 of paragraph N": most chunks end there.
    endings = [chunk.text.rsplit("Sentence ", 1)[-1][:1] for chunk in chunks[:-1]]
    assert endings.count("6") >= len(endings) // 2, endings


def test_no_overlap_across_headings_and_short_sections_stay_whole():
    chunks = _chunks("# A\n\nAlpha one. Alpha two.\n\n# B\n\nBeta one.\n\n## B1\n\nDeep text.")
    assert [(chunk.heading, chunk.text) for chunk in chunks] == [
        ("A", "Alpha one. Alpha two."),
        ("B", "Beta one."),
        ("B > B1", "Deep text."),
    ]


def test_a_giant_sentence_and_a_giant_word_are_cut():
    words = " ".join(f"word{n}" for n in range(2000))
    blob = "x" * 20_000
    chunks = chunks_build(blocks=[Block(words), Block(blob)], max_tokens=120, overlap_tokens=18)
    assert len(chunks) > 10
    assert all(chunk.token_count <= 120 + 2 for chunk in chunks)
    joined = " ".join(chunk.text for chunk in chunks)
    assert "word0 " in joined and "word1999" in joined and "xxxx" in joined


def test_no_text_no_chunks():
    assert chunks_build(blocks=[Block("Only a heading", level=1)]) == []
