"""The ablation's workload: conversations that arrive open-loop (Poisson per user), first
questions drawn with Zipf repeats and paraphrases from a pool plus a unique long tail,
follow-ups, a share over uploaded documents, and API clients beside the browser's websocket.
One seed gives one plan; every arm of a round replays the same plan, so arms differ only in
their settings."""

from __future__ import annotations

import dataclasses
import random
from dataclasses import dataclass, field

from latency.bench.cache.questions import PARAPHRASES

SYSTEM_PROMPT = (
    "You are Subsecond's assistant for a team that builds latency-sensitive web applications. "
    "Answer accurately and concisely, in plain language, with one short example where it "
    "helps. If a question is ambiguous, state the assumption you make. Prefer concrete numbers "
    "and name the trade-offs. Do not invent sources; say so when you are unsure. Keep answers "
    "under two hundred words unless asked for more, and use lists for steps."
)
FOLLOW_UPS = (
    "Can you give a concrete example of that?",
    "Why is that the case?",
    "How does that compare with the alternatives?",
    "Summarise that in one sentence.",
    "What are the common mistakes there?",
)
TAIL_SUBJECTS = (
    "the harbour bridge", "the old library", "the river delta", "the glass factory",
    "the mountain railway", "the salt mines", "the clock tower", "the northern canal",
    "the spice market", "the observatory", "the paper mill", "the lighthouse",
)  # fmt: skip
TAIL_CITIES = (
    "Lisbon", "Krakow", "Valparaiso", "Hobart", "Tromso", "Cusco", "Bergen", "Porto",
    "Trieste", "Quebec", "Galway", "Nagasaki", "Tallinn", "Bruges", "Ushuaia", "Dubrovnik",
)  # fmt: skip
DOCUMENTS: dict[str, str] = {
    "handbook.md": (
        "# Support handbook\n\n## Response times\n\nPriority one tickets are answered within "
        "fifteen minutes, priority two within four hours, and priority three by the next "
        "working day.\n\n## Escalation\n\nAn on-call engineer is paged when a priority one "
        "ticket waits more than ten minutes. Escalations go to the duty manager after thirty "
        "minutes.\n"
    ),
    "travel-policy.md": (
        "# Travel policy\n\n## Trains and flights\n\nTrains are preferred for trips under "
        "five hours. Flights are booked in economy class; business class needs the approval "
        "of a director.\n\n## Expenses\n\nMeals are reimbursed up to forty euros a day. "
        "Receipts must be filed within thirty days of the trip.\n"
    ),
    "release-notes.md": (
        "# Release notes 4.2\n\n## Changes\n\nThe export job now runs in the background and "
        "emails a link when done. Search results load forty percent faster.\n\n## Fixes\n\n"
        "Dates in reports follow the user's time zone. The mobile app no longer logs out "
        "after an update.\n"
    ),
}
DOCUMENT_QUESTIONS = (
    "How fast are priority one tickets answered?",
    "When is the duty manager involved in an escalation?",
    "When should I take a train instead of a flight?",
    "How much are meals reimbursed per day?",
    "What changed about the export job in release 4.2?",
    "Which fixes are in release 4.2?",
)


@dataclass(frozen=True)
class Conversation:
    """One user's conversation: when it starts (s into the window), through which client,
    its turns (the first may repeat an earlier question; follow-ups come after each answer)."""

    start_s: float
    user: int
    client: str  # ws, api_stream or api_whole
    turns: tuple[str, ...]
    use_documents: bool = False
    family: str = ""  # what a cache could match: a pool family, or the tail question itself
    repeat: bool = False  # its first question's family came earlier in the plan
    think_s: tuple[float, ...] = field(default_factory=tuple)  # pause before each follow-up
    row_id: int | None = None  # websocket: a Conversation row made beforehand, else made at start


@dataclass(frozen=True)
class WorkloadShape:
    users: int = 20
    rate_per_user: float = 0.1  # conversations a second a user (Poisson)
    pool_share: float = 0.85  # first questions drawn from the repeat pool, else a unique tail
    zipf_s: float = 1.2
    document_share: float = 0.15
    api_stream_share: float = 0.15
    api_whole_share: float = 0.10
    follow_up_p: float = 0.3  # the chance of one more turn after each answer (at most 3)


def _zipf_pick(rng: random.Random, items: list[str], s: float) -> str:
    weights = [1 / (rank + 1) ** s for rank in range(len(items))]
    return rng.choices(items, weights=weights)[0]


def _first_question(
    rng: random.Random, shape: WorkloadShape, families: list[str], documents: bool
) -> tuple[str, str]:
    """(family, question): a family is what a cache could match; a tail question is its own."""
    if documents:
        question = _zipf_pick(rng, list(DOCUMENT_QUESTIONS), shape.zipf_s)
        return f"doc:{question}", question
    if rng.random() < shape.pool_share:
        family = _zipf_pick(rng, families, shape.zipf_s)
        return family, rng.choice([family, *PARAPHRASES[family]])
    question = (
        f"What is the story behind {rng.choice(TAIL_SUBJECTS)} of {rng.choice(TAIL_CITIES)}, "
        f"and when was it built (note {rng.randrange(10**6)})?"
    )
    return question, question


def workload_plan(*, seed: int, shape: WorkloadShape, window_s: float) -> list[Conversation]:
    """The conversations that start within `window_s`, in start order, from `seed`."""
    rng = random.Random(seed)
    families = list(PARAPHRASES)
    rng.shuffle(families)  # which family is the most asked varies with the seed
    plan: list[Conversation] = []
    for user in range(shape.users):
        clock = rng.expovariate(shape.rate_per_user)
        while clock < window_s:
            draw = rng.random()
            client = (
                "api_stream" if draw < shape.api_stream_share
                else "api_whole" if draw < shape.api_stream_share + shape.api_whole_share
                else "ws"
            )  # fmt: skip
            documents = client == "ws" and rng.random() < shape.document_share
            family, question = _first_question(rng, shape, families, documents)
            turns, pauses = [question], []
            while len(turns) < 3 and rng.random() < shape.follow_up_p:
                turns.append(rng.choice(FOLLOW_UPS))
                pauses.append(rng.uniform(1.0, 3.0))
            plan.append(
                Conversation(
                    start_s=clock, user=user, client=client, turns=tuple(turns),
                    use_documents=documents, family=family, think_s=tuple(pauses),
                )  # fmt: skip
            )
            clock += rng.expovariate(shape.rate_per_user)
    plan.sort(key=lambda c: c.start_s)
    seen: set[str] = set()
    marked = []
    for conversation in plan:
        marked.append(dataclasses.replace(conversation, repeat=conversation.family in seen))
        seen.add(conversation.family)
    return marked


def workload_cacheable_share(*, plan: list[Conversation]) -> float:
    """Requests whose question (or a paraphrase) came earlier in the plan, over all requests:
    what a cache could serve at best, counting follow-ups as never servable."""
    requests = sum(len(c.turns) for c in plan)
    return sum(c.repeat for c in plan) / requests if requests else 0.0
