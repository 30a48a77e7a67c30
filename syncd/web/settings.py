"""The [web] section of syncd.toml: where `syncd web` listens and who may use it.

    [web]
    listen = "127.0.0.1:8765"
    auth = "none"            # "none" (loopback only), "token" or "password"
    token_file = "/etc/syncd/web-token"        # auth = "token": the token, one line
    password_file = "/etc/syncd/web-users"     # auth = "password": user:password lines
    read_only = false

Credentials come from files (or $CREDENTIALS_DIRECTORY/web-token and web-users), never
from the config itself, so the config can be shown and shared.
"""

from __future__ import annotations

import ipaddress
import os
import socket
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

TOKEN_CREDENTIAL = "web-token"
USERS_CREDENTIAL = "web-users"


class WebSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    listen: str = "127.0.0.1:8765"
    auth: Literal["none", "token", "password"] = "none"
    token_file: Path | None = None
    password_file: Path | None = None
    read_only: bool = False
    # How often the console looks for jobs that ended (completions send no NOTIFY).
    poll_interval: float = Field(default=1.0, gt=0, le=60)

    @field_validator("listen")
    @classmethod
    def _host_port(cls, value: str) -> str:
        host, _, port = value.rpartition(":")
        if not host or not port.isdigit() or not 0 <= int(port) <= 65535:
            raise ValueError("expected HOST:PORT, for example 127.0.0.1:8765")
        return value

    def host_port(self) -> tuple[str, int]:
        host, _, port = self.listen.rpartition(":")
        return host.strip("[]"), int(port)

    def is_loopback(self) -> bool:
        host, _ = self.host_port()
        if host == "localhost":
            return True
        try:
            return ipaddress.ip_address(host).is_loopback
        except ValueError:
            try:
                return all(
                    ipaddress.ip_address(info[4][0]).is_loopback
                    for info in socket.getaddrinfo(host, None)
                )
            except OSError:
                return False

    def credential(self, which: Literal["token", "password"]) -> Path:
        given = self.token_file if which == "token" else self.password_file
        if given is not None:
            return given
        directory = os.environ.get("CREDENTIALS_DIRECTORY")
        name = TOKEN_CREDENTIAL if which == "token" else USERS_CREDENTIAL
        if directory and (Path(directory) / name).is_file():
            return Path(directory) / name
        key = "token_file" if which == "token" else "password_file"
        raise ValueError(f"web.auth = {which!r} needs web.{key} (or the credential {name})")
