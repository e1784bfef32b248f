"""ASGI entry: HTTP through Django; websockets through Channels, origin and session checked (a
socket that meets a database fault gets a notice and a 1013 close: chatapp.websocket_faults)."""

from __future__ import annotations

import logging
import os
import threading
from concurrent.futures import Future

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatapp.settings")
django_application = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from chatapp.lean import HttpByPath, LeanASGIHandler  # noqa: E402
from chatapp.routing import websocket_urlpatterns  # noqa: E402
from chatapp.websocket_faults import DatabaseFaultClose  # noqa: E402
from chatapp.websocket_origin import OriginValidator  # noqa: E402
from latency.core.memory import startup_objects_freeze  # noqa: E402
from latency.core.tokens import tokens_warm  # noqa: E402
from latency.embeddings.service import embeddings_warm_in_background  # noqa: E402

logger = logging.getLogger(__name__)


def _warm_then_freeze(model: Future | None) -> None:
    """The tokenizer, then the embedding model's end, then what start-up loaded is frozen out
    of the garbage collector's full passes (latency.core.memory), whether or not they loaded."""
    try:
        tokens_warm()
        if model is not None:
            model.result()
    except Exception:  # the app answers without them (later, or without the semantic tier)
        logger.exception("warming the tokenizer or the embedding model failed")
    finally:
        startup_objects_freeze()


# Load the embedding model and the tokenizer now, in threads, not on a user's request.
threading.Thread(target=_warm_then_freeze, args=(embeddings_warm_in_background(),),
                 name="warm-then-freeze", daemon=True).start()  # fmt: skip

application = ProtocolTypeRouter(
    {
        "http": HttpByPath(pages=django_application, machines=LeanASGIHandler()),
        "websocket": OriginValidator(
            DatabaseFaultClose(AuthMiddlewareStack(URLRouter(websocket_urlpatterns)))
        ),
    }
)
