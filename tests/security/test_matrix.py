"""Who may reach what: every URL pattern (admin included) and websocket route, against anonymous,
user A (who owns the resources), user B and staff. Every cell has an expected outcome, no
response to anyone but A (or staff, in the admin) carries A's private text, and a route this
table does not know fails the test: a new route comes with its row.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta

import numpy as np
import pytest
from asgiref.sync import async_to_sync
from channels.testing import WebsocketCommunicator
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import URLPattern, URLResolver
from django.utils import timezone

from latency.gateway.keys import api_key_create
from latency.models import (
    ApiKey,
    BatchJob,
    CacheEntry,
    Chunk,
    Conversation,
    Document,
    Message,
    RequestTrace,
)

pytestmark = pytest.mark.django_db(transaction=True)

ACTORS = ("anonymous", "a", "b", "staff")
LOGIN = "login"  # 302 to /accounts/login/?next=…
ADMIN_LOGIN = "admin-login"  # 302 to /admin/login/?next=…
REDIRECT = "redirect"  # 302 elsewhere
ACCEPTED, REFUSED_4403, CLOSED_4404 = "accepted", "refused-4403", "closed-4404"
SECRET = "A-PRIVATE-7f3a"  # in every resource A owns; must reach no one else
Cell = int | str | frozenset[int]
Row = tuple[Cell, Cell, Cell, Cell]  # anonymous, A, B, staff


@dataclass(frozen=True)
class Case:
    method: str
    path: str  # {conversation}, {chunk}, {shared_chunk}, {document}, {trace}: A's objects
    expect: Row
    data: dict[str, object] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)


OK_OR_DEGRADED = frozenset({200, 503})  # /healthz answers 503 when a part is down

# Every non-admin URL pattern, as Django spells it, and what each actor gets.
ROUTES: dict[str, list[Case]] = {
    "": [
        Case("GET", "/", (LOGIN, 200, 200, 200)),
        Case("POST", "/", (LOGIN, REDIRECT, REDIRECT, REDIRECT)),  # a new conversation
    ],
    "c/<int:conversation_id>/": [Case("GET", "/c/{conversation}/", (LOGIN, 200, 404, 404))],
    "passages/<int:chunk_id>/": [
        Case("GET", "/passages/{chunk}/", (LOGIN, 200, 404, 404)),
        Case("GET", "/passages/{shared_chunk}/", (LOGIN, 200, 200, 200)),
    ],
    "accounts/signup/": [Case("GET", "/accounts/signup/", (200, 200, 200, 200))],
    "accounts/login/": [Case("GET", "/accounts/login/", (200, 200, 200, 200))],
    "accounts/logout/": [
        Case("GET", "/accounts/logout/", (405, 405, 405, 405)),
        Case("POST", "/accounts/logout/", (LOGIN, LOGIN, LOGIN, LOGIN)),  # LOGOUT_REDIRECT_URL
    ],
    "accounts/password_change/": [
        Case("GET", "/accounts/password_change/", (LOGIN, 200, 200, 200))
    ],
    "accounts/password_change/done/": [
        Case("GET", "/accounts/password_change/done/", (LOGIN, 200, 200, 200))
    ],
    "accounts/password_reset/": [Case("GET", "/accounts/password_reset/", (200, 200, 200, 200))],
    "accounts/password_reset/done/": [
        Case("GET", "/accounts/password_reset/done/", (200, 200, 200, 200))
    ],
    "accounts/reset/<uidb64>/<token>/": [
        Case("GET", "/accounts/reset/MQ/not-a-token/", (200, 200, 200, 200))  # "invalid link"
    ],
    "accounts/reset/done/": [Case("GET", "/accounts/reset/done/", (200, 200, 200, 200))],
    "healthz": [Case("GET", "/healthz", (OK_OR_DEGRADED,) * 4)],
    # A session is not an API key.
    "v1/chat/completions": [
        Case("POST", "/v1/chat/completions", (401, 401, 401, 401),
             data={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]})
    ],  # fmt: skip
    "v1/models": [Case("GET", "/v1/models", (401, 401, 401, 401))],
    # The API takes bearer keys only: a browser session is no key.
    "v1/models/<path:model_id>": [Case("GET", "/v1/models/gpt-4o-mini", (401, 401, 401, 401))],
    "v1/embeddings": [Case("POST", "/v1/embeddings", (401, 401, 401, 401),
                           data={"input": "hi", "model": "all-MiniLM-L6-v2"})],  # fmt: skip
    "v1/files": [Case("GET", "/v1/files", (401, 401, 401, 401))],
    "v1/files/<str:file_id>": [Case("GET", "/v1/files/file-x", (401, 401, 401, 401))],
    "v1/files/<str:file_id>/content": [
        Case("GET", "/v1/files/file-x/content", (401, 401, 401, 401))
    ],
    "v1/batches": [Case("GET", "/v1/batches", (401, 401, 401, 401))],
    "v1/batches/<str:batch_id>": [Case("GET", "/v1/batches/{batch}", (401, 401, 401, 401))],
    "v1/batches/<str:batch_id>/cancel": [
        Case("POST", "/v1/batches/{batch}/cancel", (401, 401, 401, 401))
    ],
    "^v1(?:/(?P<rest>.*))?$": [Case("GET", "/v1/nothing-here", (404, 404, 404, 404))],
    "keys/": [Case("GET", "/keys/", (LOGIN, 200, 200, 200))],
    "keys/<int:key_id>/revoke/": [
        Case("POST", "/keys/{key}/revoke/", (LOGIN, REDIRECT, 404, 404))
    ],
    "keys/<int:key_id>/limits/": [
        Case("POST", "/keys/{key}/limits/", (LOGIN, REDIRECT, 404, 404),
             data={"requests_per_minute": 100, "tokens_per_minute": 10000})
    ],  # fmt: skip
    "batch/": [Case("GET", "/batch/", (LOGIN, 200, 200, 200))],
    "batch/new/": [Case("POST", "/batch/new/", (LOGIN, 400, 400, 400), data={"lines": ""})],
    "batch/<str:uid>/": [Case("GET", "/batch/{batch}/", (LOGIN, 200, 404, 404))],
    "batch/<str:uid>/cancel/": [Case("POST", "/batch/{batch}/cancel/", (LOGIN, 200, 404, 404))],
    "batch/<str:uid>/retry/": [Case("POST", "/batch/{batch}/retry/", (LOGIN, 200, 404, 404))],
    "batch/<str:uid>/results.<str:fmt>": [
        Case("GET", "/batch/{batch}/results.csv", (LOGIN, 200, 404, 404))
    ],
    "documents/": [Case("GET", "/documents/", (LOGIN, 200, 200, 200))],
    "documents/upload/": [Case("POST", "/documents/upload/", (LOGIN, 200, 200, 200))],
    "documents/<int:document_id>/": [
        Case("GET", "/documents/{document}/", (LOGIN, 200, 404, 404))
    ],
    "documents/<int:document_id>/delete/": [
        Case("POST", "/documents/{document}/delete/", (LOGIN, REDIRECT, 404, 404))
    ],
    "documents/<int:document_id>/reupload/": [
        Case("POST", "/documents/{document}/reupload/", (LOGIN, REDIRECT, 404, 404))
    ],
    "documents/<int:document_id>/share/": [
        Case("POST", "/documents/{document}/share/", (LOGIN, 403, 403, 404), data={"shared": "1"})
    ],
    "dashboard/": [Case("GET", "/dashboard/", (LOGIN, 403, 403, 200))],
    "dashboard/request/<int:trace_id>/": [
        Case("GET", "/dashboard/request/{trace}/", (LOGIN, 403, 403, 200))
    ],
    "dashboard/compare/": [Case("GET", "/dashboard/compare/", (LOGIN, 403, 403, 200))],
    "settings/": [Case("GET", "/settings/", (LOGIN, 403, 403, 200))],
    # METRICS_TOKEN is set for this test (as in production): a session is not the token.
    "metrics": [
        Case("GET", "/metrics", (401, 401, 401, 401)),
        Case("GET", "/metrics", (200, 200, 200, 200),
             headers={"Authorization": "Bearer matrix-token"}),
    ],  # fmt: skip
}

# ---------------------------------------------------------------------------------------------
# EXPECTED TO COME: routes other engineers are adding. When one of them is merged its pattern
# appears in chatapp.urls and this test fails until the lead moves it into ROUTES with its
# cells filled (the outcome each of anonymous, A, B and staff must get).
EXPECTED_TO_COME: dict[str, list[Case] | None] = {}
# ---------------------------------------------------------------------------------------------

WEBSOCKETS: dict[str, tuple[str, Row]] = {
    "ws/chat/<int:conversation_id>/": (
        "/ws/chat/{conversation}/", (CLOSED_4404, ACCEPTED, CLOSED_4404, CLOSED_4404)
    ),
    "ws/dashboard/": ("/ws/dashboard/", (REFUSED_4403, REFUSED_4403, REFUSED_4403, ACCEPTED)),
}

# Admin: every route of every registered model, plus the site's own. Non-staff are sent to the
# admin's login; staff (a superuser here) get the page.
ADMIN_SITE_ROUTES: dict[str, list[Case]] = {
    "admin/": [Case("GET", "/admin/", (ADMIN_LOGIN, ADMIN_LOGIN, ADMIN_LOGIN, 200))],
    "admin/login/": [Case("GET", "/admin/login/", (200, 200, 200, REDIRECT))],
    "admin/logout/": [Case("POST", "/admin/logout/", (REDIRECT, REDIRECT, REDIRECT, LOGIN))],
    "admin/password_change/": [
        Case("GET", "/admin/password_change/", (ADMIN_LOGIN, ADMIN_LOGIN, ADMIN_LOGIN, 200))
    ],
    "admin/password_change/done/": [
        Case("GET", "/admin/password_change/done/", (ADMIN_LOGIN, ADMIN_LOGIN, ADMIN_LOGIN, 200))
    ],
    "admin/autocomplete/": [
        Case("GET", "/admin/autocomplete/", (ADMIN_LOGIN, ADMIN_LOGIN, ADMIN_LOGIN, 403))
    ],
    "admin/jsi18n/": [Case("GET", "/admin/jsi18n/", (ADMIN_LOGIN, ADMIN_LOGIN, ADMIN_LOGIN, 200))],
    "admin/^(?P<app_label>auth|django_tasks_database|axes|latency)/$": [
        Case("GET", f"/admin/{app}/", (ADMIN_LOGIN, ADMIN_LOGIN, ADMIN_LOGIN, 200))
        for app in ("auth", "django_tasks_database", "axes", "latency")
    ],
    "admin/(?P<url>.*)$": [
        Case("GET", "/admin/no-such-page/", (ADMIN_LOGIN, ADMIN_LOGIN, ADMIN_LOGIN, 404))
    ],
    "admin/r/<path:content_type_id>/<path:object_id>/": [
        Case("GET", "/admin/r/1/1/", (ADMIN_LOGIN, ADMIN_LOGIN, ADMIN_LOGIN, 404))
    ],
}
ADMIN_MODEL_SUFFIXES = {
    "": 200,
    "add/": 200,
    "<path:object_id>/history/": 200,
    "<path:object_id>/delete/": 200,  # the confirmation page: nothing is deleted by a GET
    "<path:object_id>/change/": 200,
    "<path:object_id>/": REDIRECT,  # to change/
    "<id>/password/": 200,  # auth.User only
}
# Admins that refuse a change to everyone, staff included.
ADMIN_REFUSED = {
    ("axes/accessattempt", "add/"), ("axes/accesslog", "add/"), ("axes/accessfailurelog", "add/"),
    ("django_tasks_database/dbtaskresult", "add/"),
    ("django_tasks_database/dbtaskresult", "<path:object_id>/delete/"),
    ("latency/cachelabel", "add/"),  # labels come from use (wrong clicks, kept answers, deletions)
}  # fmt: skip


def _walk(patterns: list, prefix: str = "") -> Iterator[str]:
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            yield from _walk(pattern.url_patterns, prefix + str(pattern.pattern))
        elif isinstance(pattern, URLPattern):
            yield prefix + str(pattern.pattern)


def _admin_cases(route: str, objects: dict[str, int]) -> list[Case] | None:
    """The cases of a route the admin made for a registered model, or None if it is not one."""
    for model in admin.site._registry:  # noqa: SLF001 (the admin's own list of models)
        base = f"admin/{model._meta.app_label}/{model._meta.model_name}/"
        if not route.startswith(base) or route[len(base):] not in ADMIN_MODEL_SUFFIXES:
            continue
        suffix = route[len(base):]
        obj = model._default_manager.order_by("pk").first()
        if "object_id" in suffix or "<id>" in suffix:
            if obj is None:
                obj = objects.get(model._meta.label_lower)
            pk = obj.pk if obj is not None else 999_999
            path = "/" + base + suffix.replace("<path:object_id>", str(pk)).replace("<id>", str(pk))
            staff = ADMIN_MODEL_SUFFIXES[suffix] if obj is not None else REDIRECT  # to the index
        else:
            path, staff = "/" + route, ADMIN_MODEL_SUFFIXES[suffix]
        if (base.removeprefix("admin/").rstrip("/"), suffix) in ADMIN_REFUSED:
            staff = 403
        return [Case("GET", path, (ADMIN_LOGIN, ADMIN_LOGIN, ADMIN_LOGIN, staff))]
    return None


def _people() -> dict[str, object]:
    users = get_user_model().objects  # no passwords: hashing three per route would take minutes
    return {
        "a": users.create_user("matrix-a"),
        "b": users.create_user("matrix-b"),
        "staff": users.create_user("matrix-staff", is_staff=True, is_superuser=True),
    }


def _forget(people: dict[str, object]) -> None:
    a = people["a"]
    Conversation.objects.filter(user=a).delete()
    CacheEntry.objects.filter(owner=a).delete()
    Document.objects.filter(owner=a).delete()
    ApiKey.objects.filter(user=a).delete()
    BatchJob.objects.filter(owner=a).delete()


def _world(people: dict[str, object]) -> dict[str, object]:
    _forget(people)
    a = people["a"]
    conversation = Conversation.objects.create(user=a, title=f"{SECRET} conversation")
    Message.objects.create(conversation=conversation, role="user", content=f"{SECRET} question")
    vector = np.ones(384, dtype=np.float32) / np.sqrt(384)

    def document(title: str, *, shared: bool) -> tuple[Document, Chunk]:
        data = f"{title} text".encode()
        doc = Document.objects.create(
            owner=a, shared=shared, title=title, filename=f"{title}.txt", content_type="text",
            size=len(data), sha256=hashlib.sha256(data).hexdigest(), data=data,
            status=Document.Status.READY, chunk_count=1,
        )  # fmt: skip
        chunk = Chunk.objects.create(
            document=doc, ordinal=0, heading=title, text=f"{title} passage", token_count=5,
            embedding=vector, owner=a, shared=shared, searchable=True,
        )  # fmt: skip
        return doc, chunk

    private, chunk = document(f"{SECRET} document", shared=False)
    _, shared_chunk = document("Handbook", shared=True)
    entry = CacheEntry.objects.create(
        scope_key="m" * 64, owner=a, query=f"{SECRET} cached question", query_normalized="q",
        embedding=vector, response=f"{SECRET} cached answer", model="gpt-4o-mini",
        source_documents=[private.id], expires_at=timezone.now() + timedelta(hours=1),
    )  # fmt: skip
    trace = RequestTrace.objects.create(user=a, model="gpt-4o-mini", total_ms=12.0)
    api_key_create(user=a, name=f"{SECRET} key")
    key = ApiKey.objects.filter(user=a).latest("id")
    job = BatchJob.objects.create(uid=f"batch_{secrets.token_hex(6)}", owner=a,
                                  name=f"{SECRET} job", model="gpt-4o-mini")  # fmt: skip
    ids = {"conversation": conversation.id, "chunk": chunk.id, "shared_chunk": shared_chunk.id,
           "document": private.id, "trace": trace.id, "key": key.id}  # fmt: skip
    ids["batch"] = job.uid
    objects = {"latency.cacheentry": entry, "auth.user": a}
    return {**ids, **objects}


def _outcome(response) -> Cell:  # noqa: ANN001
    if response.status_code == 302:
        location = response["Location"]
        if location.startswith("/accounts/login/"):
            return LOGIN
        if location.startswith("/admin/login/"):
            return ADMIN_LOGIN
        return REDIRECT
    return response.status_code


def _matches(cell: Cell, outcome: Cell) -> bool:
    return outcome in cell if isinstance(cell, frozenset) else outcome == cell


def _client(people: dict[str, object], actor: str) -> Client:
    client = Client()
    if actor != "anonymous":
        client.force_login(people[actor])
    return client


def _websocket_outcome(path: str, user) -> str:  # noqa: ANN001
    from django.contrib.auth.models import AnonymousUser

    from chatapp.asgi import application

    async def attempt() -> str:
        communicator = WebsocketCommunicator(
            application, path, headers=[(b"host", b"testserver"), (b"origin", b"http://testserver")]
        )
        communicator.scope["user"] = user or AnonymousUser()
        connected, code = await communicator.connect(timeout=10)
        if not connected:
            return REFUSED_4403 if code == 4403 else f"refused-{code}"
        outcome = ACCEPTED
        try:
            while True:
                message = await communicator.receive_output(timeout=1)
                if message["type"] == "websocket.close":
                    outcome = f"closed-{message.get('code')}"
                    break
        except TimeoutError:
            pass  # still open a second later: accepted
        with contextlib.suppress(asyncio.CancelledError):
            await communicator.disconnect()
        return outcome

    return async_to_sync(attempt)()


@pytest.mark.timeout(900)
def test_every_route_for_every_actor(settings):  # noqa: ANN001
    import chatapp.routing
    import chatapp.urls

    settings.METRICS_TOKEN = "matrix-token"
    settings.ALLOWED_HOSTS = ["testserver"]
    routes = list(_walk(chatapp.urls.urlpatterns))
    people = _people()
    unknown, unfilled, wrong, leaks = [], [], [], []
    tried = 0
    for route in routes:
        if route in EXPECTED_TO_COME:
            unfilled.append(route)
            continue
        world = _world(people)  # fresh objects: A's POSTs below may delete them
        cases = ROUTES.get(route) or ADMIN_SITE_ROUTES.get(route) or _admin_cases(route, world)
        if cases is None:
            unknown.append(route)
            continue
        for case in cases:
            path = case.path.format(
                **{k: v for k, v in world.items() if isinstance(v, int | str)}
            )
            # A last: its POSTs change what the others would be refused.
            for actor in ("anonymous", "b", "staff", "a"):
                client = _client(people, actor)
                call = getattr(client, case.method.lower())
                extra = {f"HTTP_{k.upper().replace('-', '_')}": v for k, v in case.headers.items()}
                if case.method == "POST" and route.startswith("v1/"):
                    response = call(path, case.data, content_type="application/json", **extra)
                else:
                    response = call(path, case.data, **extra)
                tried += 1
                expected = case.expect[ACTORS.index(actor)]
                outcome = _outcome(response)
                if not _matches(expected, outcome):
                    wrong.append(f"{case.method} {path} as {actor}: expected {expected}, got "
                                 f"{outcome}")  # fmt: skip
                body = response.content.decode("utf-8", "replace")
                admin_for_staff = route.startswith("admin/") and actor == "staff"
                if SECRET in body and actor != "a" and not admin_for_staff:
                    leaks.append(f"{case.method} {path} as {actor}")

    for route in chatapp.routing.websocket_urlpatterns:
        pattern = str(route.pattern)
        if pattern not in WEBSOCKETS:
            unknown.append(f"websocket {pattern}")
            continue
        world = _world(people)
        template, expect = WEBSOCKETS[pattern]
        path = template.format(**{k: v for k, v in world.items() if isinstance(v, int)})
        for actor in ACTORS:
            outcome = _websocket_outcome(path, people.get(actor))
            tried += 1
            if outcome != expect[ACTORS.index(actor)]:
                wrong.append(f"websocket {path} as {actor}: expected "
                             f"{expect[ACTORS.index(actor)]}, got {outcome}")  # fmt: skip

    assert not unknown, "routes this matrix does not know (add their rows): " + ", ".join(unknown)
    assert not unfilled, "expected-to-come routes now exist: fill their cells: " + ", ".join(
        unfilled
    )
    assert not leaks, "A's private text reached someone else: " + "; ".join(leaks)
    assert not wrong, f"{len(wrong)} of {tried} cells differ:\n" + "\n".join(wrong)
