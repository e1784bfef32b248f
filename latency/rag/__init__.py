"""Retrieval-augmented generation over uploaded documents: detection, extraction, chunking and
ingestion on the task queue (this package), and retrieval for the pipeline (`retrieve.py`)."""
