"""HTTP basic auth and CSRF protection for the dashboard.

- Basic auth: ``--basic-auth user:password`` (or ``$CFQ_SHIM_DASHBOARD_AUTH``); compared in constant time.
- CSRF: every page sets a random token in a ``SameSite=Strict``, ``HttpOnly`` cookie and puts the same
  token in its forms; a POST must carry both and they must match (double submit), and a POST whose
  ``Origin`` names another host is refused.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from urllib.parse import urlsplit

__all__ = ["BasicAuth", "parse_basic_auth", "new_csrf_token", "csrf_ok", "CSRF_COOKIE", "CSRF_FIELD"]

CSRF_COOKIE = "cfq_csrf"
CSRF_FIELD = "csrf_token"


@dataclass(frozen=True)
class BasicAuth:
    user: str
    password: str

    def allows(self, user: str | None, password: str | None) -> bool:
        user_ok = hmac.compare_digest((user or "").encode(), self.user.encode())
        password_ok = hmac.compare_digest((password or "").encode(), self.password.encode())
        return user_ok and password_ok

    def __repr__(self) -> str:  # never shows the password
        return f"BasicAuth(user={self.user!r}, password=***)"


def parse_basic_auth(value: str | None) -> BasicAuth | None:
    """``user:password`` -> BasicAuth; None for nothing. Raises ValueError (without the value) when malformed."""
    if not value:
        return None
    user, sep, password = value.partition(":")
    if not sep or not user or not password:
        raise ValueError("--basic-auth must be USER:PASSWORD, both non-empty")
    return BasicAuth(user, password)


def new_csrf_token() -> str:
    return secrets.token_hex(16)


def csrf_ok(*, cookie: str | None, form: str | None, origin: str | None, host: str) -> bool:
    if not cookie or not form or not hmac.compare_digest(cookie.encode(), form.encode()):
        return False
    if origin and origin != "null" and urlsplit(origin).netloc != host:
        return False
    return True
