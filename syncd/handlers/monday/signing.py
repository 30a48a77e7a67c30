"""The JWT monday signs its webhook calls with (HS256, the app's signing secret).

A JWT of one algorithm needs no library: two base64url segments, signed with
HMAC-SHA256. Only HS256 is accepted, so a token cannot choose a weaker algorithm
("none") for itself, and the signature is compared in constant time.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

# monday's and syncd's clocks may differ by this much when checking `exp` and `nbf`.
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
    exp, nbf = claims.get("exp"), claims.get("nbf")
    if isinstance(exp, int | float) and moment > exp + LEEWAY:
        raise BadSignature("the token has expired")
    if isinstance(nbf, int | float) and moment < nbf - LEEWAY:
        raise BadSignature("the token is not valid yet")
    return claims


def _decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
