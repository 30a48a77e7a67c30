"""The JWT monday signs its webhook calls with (HS256, the app's signing secret).

A JWT of one algorithm needs no library: two base64url segments, signed with
HMAC-SHA256. Only HS256 is accepted, so a token cannot choose a weaker algorithm
("none") for itself, and the signature is compared in constant time.

monday's tokens carry ``exp`` and ``iat`` (developer.monday.com, "Authorization
header": five minutes apart), and its docs ask the receiver to check ``exp``. So a
token without ``exp`` is refused: a captured one could otherwise be replayed forever.
Times that are not finite numbers are refused too (Python's JSON reads ``NaN`` and
``Infinity``, which no comparison would ever call expired).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import math
import time
from typing import Any

# monday's and syncd's clocks may differ by this much when checking `exp`, `nbf` and
# `iat`.
LEEWAY = 60.0


class BadSignature(ValueError):
    """The token is not one monday signed with this secret, or it has expired."""


def verify(token: str, secret: str, now: float | None = None) -> dict[str, Any]:
    """The claims of a valid token; BadSignature saying why otherwise."""
    parts = token.removeprefix("Bearer ").strip().split(".")
    if len(parts) != 3:
        raise BadSignature("not a JWT")
    header_part, body_part, signature_part = parts
    try:
        header = json.loads(_decode(header_part))
        claims = json.loads(_decode(body_part))
        signature = _decode(signature_part)
    except (ValueError, TypeError):
        raise BadSignature("not a JWT") from None
    if not isinstance(header, dict) or header.get("alg") != "HS256":
        raise BadSignature("not signed with HS256")
    expected = hmac.new(
        secret.encode(), f"{header_part}.{body_part}".encode(), hashlib.sha256
    ).digest()
    if not hmac.compare_digest(signature, expected):
        raise BadSignature("the signature does not match the signing secret")
    if not isinstance(claims, dict):
        raise BadSignature("the claims are not an object")
    moment = time.time() if now is None else now
    exp = _time(claims, "exp")
    if exp is None:
        raise BadSignature("the token has no exp (monday's always carry one)")
    if moment > exp + LEEWAY:
        raise BadSignature("the token has expired")
    nbf = _time(claims, "nbf")
    if nbf is not None and moment < nbf - LEEWAY:
        raise BadSignature("the token is not valid yet")
    iat = _time(claims, "iat")
    if iat is not None and moment < iat - LEEWAY:
        raise BadSignature("the token was issued in the future")
    return claims


def _time(claims: dict[str, Any], name: str) -> float | None:
    """A time claim in seconds since the epoch, None when the token has none."""
    value = claims.get(name)
    if value is None:
        return None
    # bool is an int to Python, and a JSON true is no time.
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise BadSignature(f"the token's {name} is not a time")
    return float(value)


def _decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
