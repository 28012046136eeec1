"""The client's address for login throttling: REMOTE_ADDR, or, when the request came through a
trusted front server (FORWARDED_ALLOW_IPS), the address that server appended to X-Forwarded-For
(nginx's ``$proxy_add_x_forwarded_for`` adds it last; earlier entries are the client's to forge)."""

from __future__ import annotations

from django.conf import settings


def client_ip(request) -> str | None:
    remote = request.META.get("REMOTE_ADDR")
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    if forwarded and remote in settings.FORWARDED_ALLOW_IPS:
        return forwarded.split(",")[-1].strip() or remote
    return remote
