"""`python manage.py create_api_key USERNAME`: make a bearer key for the OpenAI-compatible API."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from latency.gateway.keys import api_key_create


class Command(BaseCommand):
    help = "Create an API key for USERNAME and print it once."

    def add_arguments(self, parser) -> None:  # noqa: ANN001
        parser.add_argument("username")
        parser.add_argument("--name", default="default")

    def handle(self, *args: object, username: str, name: str, **options: object) -> None:
        try:
            user = get_user_model().objects.get(username=username)
        except get_user_model().DoesNotExist:
            raise CommandError(f"no user named {username!r}") from None
        self.stdout.write(api_key_create(user=user, name=name))
