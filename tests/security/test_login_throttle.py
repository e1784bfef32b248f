"""Brute force on the login form: a username and IP address are locked out after a few failures."""

from __future__ import annotations

import pytest
from axes.models import AccessAttempt
from django.contrib.auth import get_user_model

pytestmark = pytest.mark.django_db

PASSWORD = "the-right-passphrase-42"


def _log_in(client, username: str, password: str, ip: str = "10.0.0.1"):  # noqa: ANN001, ANN202
    return client.post(
        "/accounts/login/", {"username": username, "password": password}, REMOTE_ADDR=ip
    )


def test_wrong_passwords_lock_the_user_out_with_a_message_and_staff_can_unlock(client, settings):  # noqa: ANN001
    get_user_model().objects.create_user("victim", password=PASSWORD)
    staff = get_user_model().objects.create_user("boss", password=PASSWORD, is_staff=True,
                                                 is_superuser=True)  # fmt: skip
    for attempt in range(settings.AXES_FAILURE_LIMIT - 1):
        response = _log_in(client, "victim", f"guess-{attempt}")
        assert response.status_code == 200 and b"password didn" in response.content
    locked = _log_in(client, "victim", "guess-last")
    assert locked.status_code == 429
    assert b"Too many failed attempts" in locked.content
    # Even the right password is refused now, from this address...
    assert _log_in(client, "victim", PASSWORD).status_code == 429
    assert "_auth_user_id" not in client.session
    # ...but the same user from elsewhere is not locked out by someone else's guessing.
    assert _log_in(client, "victim", PASSWORD, ip="10.0.0.2").status_code == 302
    client.logout()

    # Staff unlock it in the admin: the access attempts are listed and deletable there.
    staff_client = client.__class__()
    staff_client.force_login(staff)
    attempt = AccessAttempt.objects.get(username="victim", ip_address="10.0.0.1")
    admin_page = staff_client.get("/admin/axes/accessattempt/")
    assert admin_page.status_code == 200 and b"victim" in admin_page.content
    deleted = staff_client.post(
        f"/admin/axes/accessattempt/{attempt.pk}/delete/", {"post": "yes"}
    )
    assert deleted.status_code == 302
    assert _log_in(client, "victim", PASSWORD).status_code == 302
