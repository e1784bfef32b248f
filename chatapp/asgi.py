"""ASGI entry: HTTP through Django; websockets through Channels, origin and session checked."""

from __future__ import annotations

import os
import threading

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatapp.settings")
django_application = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from chatapp.lean import HttpByPath, LeanASGIHandler  # noqa: E402
from chatapp.routing import websocket_urlpatterns  # noqa: E402
from chatapp.websocket_origin import OriginValidator  # noqa: E402
from latency.core.tokens import tokens_warm  # noqa: E402
from latency.embeddings.service import embeddings_warm_in_background  # noqa: E402

# Load the embedding model and the tokenizer now, in threads, not on a user's request.
embeddings_warm_in_background()
threading.Thread(target=tokens_warm, name="tokens-warm", daemon=True).start()

application = ProtocolTypeRouter(
    {
        "http": HttpByPath(pages=django_application, machines=LeanASGIHandler()),
        "websocket": OriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns))),
    }
)
