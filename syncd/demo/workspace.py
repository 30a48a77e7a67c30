"""Where a demo keeps its things: PostgreSQL's data, the uploaded files, its syncd.toml.

Without ``--dir`` that is a temporary directory, removed at the end. With ``--dir``
it is kept for a look afterwards: PostgreSQL is stopped when the demo ends (nothing
is left running), ``syncd demo --dir DIR --serve`` starts it again, on the port
written in ``DIR/syncd.toml``, and ``syncd --config DIR/syncd.toml status`` (or
``retry``, ``run``...) then works against it.
"""

from __future__ import annotations

import json
import secrets
import shutil
import string
import tempfile
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

from syncd.demo import monday
from syncd.fake_monday import TOKEN


class DemoError(Exception):
    """The demo cannot run as asked: one line for the user, exit 1."""


@dataclass(frozen=True)
class Workspace:
    root: Path
    kept: bool

    @classmethod
    def temporary(cls) -> Workspace:
        return cls(Path(tempfile.mkdtemp(prefix="syncd-demo-")), kept=False)

    @classmethod
    def new(cls, path: Path) -> Workspace:
        """A kept workspace in `path`, which must be empty or not exist yet."""
        if path.exists() and (not path.is_dir() or any(path.iterdir())):
            kept = cls(path, kept=True).holds_demo()
            hint = " (to start the demo kept there again, add --serve)" if kept else ""
            raise DemoError(f"{path} is not an empty directory{hint}")
        path.mkdir(parents=True, exist_ok=True)
        return cls(path.resolve(), kept=True)

    @classmethod
    def existing(cls, path: Path) -> Workspace:
        """The workspace a `syncd demo --dir` run left in `path`."""
        workspace = cls(path.resolve(), kept=True)
        if not workspace.holds_demo():
            raise DemoError(f"{path} holds no demo; run `syncd demo --dir {path}` first")
        return workspace

    @property
    def postgres(self) -> Path:
        return self.root / "postgres"

    @property
    def documents(self) -> Path:
        """The storage root the uploads land in."""
        return self.root / "documents"

    @property
    def config(self) -> Path:
        return self.root / "syncd.toml"

    def holds_demo(self) -> bool:
        return self.config.is_file() and (self.postgres / "data" / "PG_VERSION").is_file()

    def write_config(self, database_url: str, api_url: str) -> Path:
        """The daemon's syncd.toml, from the template next to this module."""
        template = files(__package__).joinpath("syncd.toml").read_text(encoding="utf-8")
        # JSON strings are valid TOML basic strings: any path quotes safely.
        text = string.Template(template).substitute(
            database_url=json.dumps(database_url),
            api_url=json.dumps(api_url),
            token=json.dumps(TOKEN),
            storage_root=json.dumps(str(self.documents)),
            contacts_board=monday.CONTACTS_BOARD,
            organizations_board=monday.ORGANIZATIONS_BOARD,
            webhook_path=json.dumps("/monday/" + secrets.token_urlsafe(24)),
        )
        self.config.write_text(text, encoding="utf-8")
        return self.config

    def remove(self) -> None:
        if not self.kept:
            shutil.rmtree(self.root, ignore_errors=True)
