"""Learn from use: people's verdicts on cached answers, recorded in PostgreSQL, and each
entry's threshold learned again from them (`thresholds.py`).

- "Wrong answer? Regenerate" on a semantic hit is a negative for the entry at that similarity:
  the entry stays (its own question still gets it) and its threshold rises above that
  similarity. On any other answer (an exact hit, or a fresh model answer stored as an entry)
  the answer is wrong for the very question asked, and its entry goes, as before.
- A semantic hit the user kept (they asked their next question instead) is a weak positive.
- A staff deletion in the admin is a negative; the entry goes with it.

A private entry (owner set) takes verdicts from its owner only. Writes happen off the answer
path: the "wrong" click before its regeneration starts, kept answers after the next answer.
"""

from __future__ import annotations

from channels.db import database_sync_to_async
from django.db import transaction
from django.db.models import Q, QuerySet

from latency.cache.service import cache_entries_forget
from latency.cache.thresholds import threshold_learn
from latency.core.background import background_spawn
from latency.models import CacheEntry, CacheLabel, Message, StrategySettings

# The most recent verdicts an entry learns from: enough for the bound, bounded to read.
OBSERVATIONS_MAX = 1000


def _readable(*, user_id: int | None, prefix: str = "") -> Q:
    """Entries whose verdicts this user may give: shared ones, and their own private ones."""
    return Q(**{f"{prefix}owner__isnull": True}) | Q(**{f"{prefix}owner_id": user_id})


def _bounds() -> tuple[float, float]:
    """(δ, the global threshold) as saved on the settings page."""
    row = StrategySettings.objects.order_by("id").first() or StrategySettings()
    return row.cache_error_bound, row.semantic_threshold


def cache_entry_relearn(*, entry_id: int, error_bound: float, gate: float) -> None:
    """Count the entry's verdicts on its semantic hits and learn its threshold from them.
    Under the entry's row lock, so verdicts arriving together on other workers wait in turn."""
    with transaction.atomic():
        if not CacheEntry.objects.select_for_update().filter(id=entry_id).exists():
            return
        rows = list(
            CacheLabel.objects.filter(entry_id=entry_id, similarity__isnull=False)
            .order_by("-id")
            .values_list("similarity", "correct")[:OBSERVATIONS_MAX]
        )
        CacheEntry.objects.filter(id=entry_id).update(
            label_count=len(rows),
            label_wrong=sum(not correct for _, correct in rows),
            learned_threshold=threshold_learn(
                observations=rows, error_bound=error_bound, gate=gate
            ),
        )


def cache_thresholds_relearn() -> int:
    """Every entry with verdicts learns again: δ or the global threshold changed."""
    error_bound, gate = _bounds()
    ids = list(CacheEntry.objects.filter(label_count__gt=0).values_list("id", flat=True))
    for entry_id in ids:
        cache_entry_relearn(entry_id=entry_id, error_bound=error_bound, gate=gate)
    return len(ids)


@database_sync_to_async
def cache_answer_wrong(*, answer: Message, user_id: int) -> str:
    """The "wrong answer" button on `answer` (read before it is cleared for regeneration):
    "learned" (a semantic hit, entry kept), "forgotten" (entry deleted) or "none"."""
    if answer.cache_entry_id is None:
        return "none"
    entries = CacheEntry.objects.filter(_readable(user_id=user_id), id=answer.cache_entry_id)
    if not entries.exists():
        return "none"
    if answer.cache_tier != "semantic" or answer.cache_similarity is None:
        cache_entries_forget(entries=entries)
        return "forgotten"
    CacheLabel.objects.update_or_create(
        message=answer,
        defaults={"entry_id": answer.cache_entry_id, "user_id": user_id, "correct": False,
                  "source": CacheLabel.Source.WRONG, "similarity": answer.cache_similarity},
    )  # fmt: skip
    error_bound, gate = _bounds()
    cache_entry_relearn(entry_id=answer.cache_entry_id, error_bound=error_bound, gate=gate)
    return "learned"


@database_sync_to_async
def cache_answers_kept(*, conversation_id: int, user_id: int, before_id: int) -> int:
    """The conversation's semantic hits before answer `before_id` that nobody marked wrong:
    the user asked on, so each is a weak positive for its entry, once."""
    kept = list(
        Message.objects.filter(
            conversation_id=conversation_id, conversation__user_id=user_id,
            role=Message.Role.ASSISTANT, state=Message.State.DONE, id__lt=before_id,
            cache="hit", cache_tier="semantic", cache_similarity__isnull=False,
            cache_label__isnull=True, cache_entry__isnull=False,
        )
        .filter(_readable(user_id=user_id, prefix="cache_entry__"))
        .values_list("id", "cache_entry_id", "cache_similarity")
    )  # fmt: skip
    if not kept:
        return 0
    CacheLabel.objects.bulk_create(
        [
            CacheLabel(message_id=message_id, entry_id=entry_id, user_id=user_id, correct=True,
                       source=CacheLabel.Source.KEPT, similarity=similarity)
            for message_id, entry_id, similarity in kept
        ],
        ignore_conflicts=True,  # labelled by another socket of the same conversation meanwhile
    )  # fmt: skip
    error_bound, gate = _bounds()
    for entry_id in {entry_id for _, entry_id, _ in kept}:
        cache_entry_relearn(entry_id=entry_id, error_bound=error_bound, gate=gate)
    return len(kept)


def cache_answers_kept_soon(*, conversation_id: int, user_id: int, before_id: int) -> None:
    """`cache_answers_kept` in the background: called once the next answer has ended."""
    background_spawn(
        work=cache_answers_kept(
            conversation_id=conversation_id, user_id=user_id, before_id=before_id
        ),
        name="cache-kept",
    )


def cache_entries_forget_by_staff(*, entries: QuerySet[CacheEntry], user_id: int) -> int:
    """Staff deleted these entries in the admin: each is a negative (counted in the observed
    error rate; the entry itself goes, so there is no threshold left to learn)."""
    with transaction.atomic():
        CacheLabel.objects.bulk_create(
            [
                CacheLabel(entry_id=entry_id, user_id=user_id, correct=False,
                           source=CacheLabel.Source.STAFF)
                for entry_id in entries.values_list("id", flat=True)
            ]
        )  # fmt: skip
        return len(cache_entries_forget(entries=entries))
