"""The database URL: refused at start when the driver could not use it, and redacted.

asyncpg parses a URL only when it first connects, so a bad port or an unknown
`sslmode` would surface as a traceback, or as a daemon that reconnects forever
under systemd. `check` reads the URL as asyncpg will, ahead of time. Its messages
never repeat the URL: it may hold a password.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, unquote, urlsplit

SCHEMES = ("postgresql", "postgres")
SSLMODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")

# A password in the query string (?password=, ?sslpassword=) or in a key=value DSN.
_QUERY_PASSWORD = re.compile(r"(?i)([?&](?:ssl)?password=)[^&#]*")
_KEYWORD_PASSWORD = re.compile(r"(?i)\b((?:ssl)?password\s*=\s*)('(?:[^'\\]|\\.)*'?|\S*)")


def check(url: str) -> None:
    """Raise ValueError saying what asyncpg would refuse in `url`."""
    scheme, sep, _ = url.partition("://")
    if not sep:
        raise ValueError("expected a postgresql:// URL (key=value connection strings are not read)")
    if scheme not in SCHEMES:
        raise ValueError(f"the scheme {scheme[:20]!r} is not postgresql:// or postgres://")
    try:
        parts = urlsplit(url)
    except ValueError as exc:  # "Invalid IPv6 URL": an unclosed [
        raise ValueError(f"not a valid URL ({exc}); an IPv6 host is written [::1]") from None
    # asyncpg ends the user-info at the first "@", so a raw "@" in a password would
    # make the rest of it the host name.
    hostspec = parts.netloc.partition("@")[2] if "@" in parts.netloc else parts.netloc
    if "@" in hostspec:
        raise ValueError("the user-info holds a second '@': write an '@' in a password as %40")
    for host in filter(None, hostspec.split(",")):
        _check_host(unquote(host))
    try:
        query = parse_qsl(parts.query, strict_parsing=True) if parts.query else []
    except ValueError:
        raise ValueError("the query string is not key=value pairs joined by '&'") from None
    for key, value in query:
        if key == "sslmode" and value not in SSLMODES:
            raise ValueError(f"sslmode {value[:20]!r} is not one of {', '.join(SSLMODES)}")
        if key == "port":
            for port in value.split(","):
                _check_port(port)


def _check_host(host: str) -> None:
    if host.startswith("["):
        address, bracket, port = host[1:].partition("]")
        if not bracket or not address or (port and not port.startswith(":")):
            raise ValueError("a broken IPv6 address: write it as [::1] or [::1]:5432")
        port = port[1:]
    else:
        _, _, port = host.rpartition(":") if ":" in host else ("", "", "")
    if port:
        _check_port(port)


def _check_port(port: str) -> None:
    if not port.isdigit() or not 1 <= int(port) <= 65535:
        raise ValueError(f"the port {port[:20]!r} is not a number from 1 to 65535")


def redact(url: str) -> str:
    """`url` with its password replaced by ***, wherever the URL carries it."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return _KEYWORD_PASSWORD.sub(r"\1***", url)
    # The user-info ends at the last "@" that comes before any "key=value": a
    # password may hold a raw "@", "/" or "?", and the query may hold an "@".
    end = -1
    for at in (i for i, char in enumerate(rest) if char == "@"):
        if "=" in rest[:at]:
            break
        end = at
    if end >= 0 and ":" in rest[:end]:
        user = rest[: rest.index(":")]
        rest = f"{user}:***{rest[end:]}"
    return f"{scheme}://" + _QUERY_PASSWORD.sub(r"\1***", rest)
