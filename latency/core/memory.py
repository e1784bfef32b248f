"""Give freed heap memory back to the operating system after a large piece of work.

glibc's malloc keeps what a process freed in its arenas for reuse, and a worker's threads each
get an arena of their own. Ingesting a 50 KB document (parsing, 32-passage embedding batches,
bulk inserts) frees nearly all it allocated, yet the documents worker's resident memory grew by
about 12 MB a document, ~470 MB over 40 of them, while Python's own heap stayed flat
(tracemalloc): the memory was free inside malloc, not held by the app. `malloc_trim(0)` after
each task returned the worker to 837 MB from 1,159 MB. Elsewhere than glibc this does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import gc
import logging

logger = logging.getLogger(__name__)


@functools.cache
def _malloc_trim() -> ctypes._CFuncPtr | None:  # type: ignore[name-defined]
    name = ctypes.util.find_library("c")
    try:
        return ctypes.CDLL(name).malloc_trim if name else None
    except (OSError, AttributeError):  # not glibc (musl, macOS): nothing to trim
        return None


def memory_return() -> bool:
    """Release the free heap memory of every malloc arena; whether it could. A few ms: call it
    between tasks, never on a request's path."""
    trim = _malloc_trim()
    if trim is None:
        return False
    try:
        trim(0)
    except OSError:
        logger.warning("malloc_trim failed", exc_info=True)
        return False
    return True


def startup_objects_freeze() -> None:
    """Leave what the process loaded at start out of the garbage collector's full passes: move
    every object alive now into the permanent generation (`gc.freeze`; `gc.get_freeze_count()`
    says how many, and /healthz reports it).

    A web process holds ~180,000 objects once Django, torch, transformers and the models are
    loaded, and each full collection walked them all: 110 to 260 ms with the event loop
    stopped, several a minute under load (seen in `latency_bench load`'s ramp), so that a
    stream whose first token was due then waited that long. Call it once, when loading is done:
    objects made later are collected as before."""
    gc.collect()  # what start-up left as garbage is freed, not kept for good
    gc.freeze()
