"""Questions for the end-to-end cache benchmark: each seed question with paraphrases that the
semantic tier serves (similar enough, and passing verification) at the default settings."""

from __future__ import annotations

PARAPHRASES: dict[str, list[str]] = {
    "What is a websocket?": [
        "Can you explain what a websocket is?",
        "Explain websockets to me",
        "What are websockets?",
    ],
    "How does HNSW search work?": [
        "Explain how HNSW search works",
        "How does an HNSW search work?",
        "Can you explain how HNSW search works?",
    ],
    "What is time to first token?": [
        "What is the time to first token?",
        "What does time to first token mean?",
        "Can you explain what time to first token is?",
    ],
    "Why do caches help LLM apps?": [
        "Why do caches help LLM applications?",
        "Why are caches helpful for LLM apps?",
        "Why does caching help LLM apps?",
    ],
    "What is pgvector used for?": [
        "What do people use pgvector for?",
        "What is pgvector for?",
        "What's pgvector used for?",
    ],
    "What is deep learning?": [
        "Can you explain deep learning?",
        "Explain deep learning to me",
        "What does deep learning mean?",
    ],
    "Who discovered penicillin?": [
        "Penicillin was discovered by whom?",
        "Who was the discoverer of penicillin?",
        "Who was it that discovered penicillin?",
    ],
    "What is the capital of Italy?": [
        "Which city is Italy's capital?",
        "What's the capital city of Italy?",
        "Tell me the capital of Italy",
    ],
    "How do I reset my password?": [
        "How can I reset my password?",
        "What are the steps to reset my password?",
        "How do I reset my password please?",
    ],
    "What is photosynthesis?": [
        "Can you explain photosynthesis?",
        "Explain photosynthesis to me",
        "What does photosynthesis mean?",
    ],
    "How does streaming reduce perceived latency?": [
        "How does streaming lower perceived latency?",
        "How does streaming reduce the perceived latency?",
        "In what way does streaming reduce perceived latency?",
    ],
    "What is a heavy tail in latency?": [
        "What does a heavy tail in latency mean?",
        "Explain a heavy tail in latency",
        "What is meant by a heavy latency tail?",
    ],
    "How do I measure p95 latency?": [
        "How can I measure p95 latency?",
        "What is the way to measure p95 latency?",
        "How should I measure p95 latency?",
    ],
    "What does htmx do?": [
        "What is htmx for?",
        "Explain what htmx does",
        "What does htmx actually do?",
    ],
    "What is the speed of light?": [
        "How fast is the speed of light?",
        "Tell me the speed of light",
        "What's the speed of light?",
    ],
    "Who wrote Pride and Prejudice?": [
        "Who wrote the novel Pride and Prejudice?",
        "Pride and Prejudice was written by whom?",
        "Who was the writer of Pride and Prejudice?",
    ],
    "What is machine learning?": [
        "Can you explain machine learning?",
        "Explain machine learning to me",
        "What does machine learning mean?",
    ],
    "How do vaccines work?": [
        "How does a vaccine work?",
        "Explain how vaccines work",
        "Can you explain how vaccines work?",
    ],
    "What is the tallest mountain in the world?": [
        "Which mountain is the tallest in the world?",
        "What's the world's tallest mountain?",
        "Tell me the tallest mountain in the world",
    ],
    "How does a hash table work?": [
        "Explain how a hash table works",
        "How do hash tables work?",
        "Can you explain how a hash table works?",
    ],
    "What is inflation in economics?": [
        "Explain inflation in economics",
        "What does inflation mean in economics?",
        "Can you explain inflation in economics?",
    ],
    "What causes earthquakes?": [
        "Why do earthquakes happen?",
        "What is the cause of earthquakes?",
        "Explain what causes earthquakes",
    ],
    "How does a semantic cache work?": [
        "Explain how a semantic cache works",
        "How do semantic caches work?",
        "Can you explain how a semantic cache works?",
    ],
    "What is a vector database?": [
        "Can you explain what a vector database is?",
        "Explain vector databases to me",
        "What are vector databases?",
    ],
    "Why is Python popular?": [
        "Why is Python so popular?",
        "What makes Python popular?",
        "Why do so many people use Python?",
    ],
    "How do I make a cup of tea?": [
        "How can I make a cup of tea?",
        "What is the way to make a cup of tea?",
        "How should I make a cup of tea?",
    ],
}
