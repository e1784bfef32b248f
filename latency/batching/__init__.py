"""Batch jobs: background work answered off the request path (cache first, packed prompts, a
concurrency window per endpoint that gives way to chat), on the durable task queue."""
