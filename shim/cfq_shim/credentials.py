"""Checks on a Cloudflare API token before it is used, with errors that never quote it.

A token goes in an HTTP header (``Authorization: Bearer …``). One kept with the newline of the file it was
read from made the SDK fail as "Connection error", and one with a non-ASCII character as a
UnicodeEncodeError traceback from httpx; neither named the token as the cause.
"""

from __future__ import annotations

__all__ = ["malformed_token"]


def malformed_token(token: str) -> str | None:
    """Why ``token`` cannot be a Cloudflare API token, in words that do not quote it, or None."""
    if token != token.strip():
        return "starts or ends with whitespace (a newline kept from a file or a copy?); remove it"
    if not token.isascii() or not token.isprintable() or any(c.isspace() for c in token):
        return "holds characters an API token never has (spaces, control or non-ASCII characters); check its value"
    return None
