"""Turning a document's `storage_path` into a file under the storage root, safely.

`storage_path` comes from the host application's table, so it is untrusted: an
attacker who can write that column must not make syncd read `/etc/shadow`.
Absolute paths and `..` are refused outright (even a `..` that would stay inside:
nothing legitimate needs one, and a rule without exceptions is easier to audit);
symlinks are allowed only while they land inside the root.
"""

from __future__ import annotations

import errno
import os
import stat
from dataclasses import dataclass
from pathlib import PurePosixPath


class PathRefused(Exception):
    """The path is unsafe: it is, or may lead, outside the storage root."""


class NotThereYet(Exception):
    """No file at the path (yet): an upload may still be landing."""


class NotAFile(Exception):
    """Something other than a regular file is at the path (a directory, a pipe)."""


class Unusable(Exception):
    """The operating system refuses the path for good, and not for safety: too long."""


class Unavailable(Exception):
    """The operating system could not look the path up this time (EIO, ESTALE...)."""


# How the file system's refusals of a path are judged. A loop of symlinks and a
# permission denied are security matters: someone may be probing what syncd's user
# can reach. A name too long is a bad path, nothing more; either way no retry helps.
_REFUSED_BY_THE_OS: dict[int, tuple[type[Exception], str]] = {
    errno.ELOOP: (PathRefused, "goes round a loop of symlinks"),
    errno.EACCES: (PathRefused, "cannot be read: permission denied"),
    errno.EPERM: (PathRefused, "cannot be read: operation not permitted"),
    errno.ENAMETOOLONG: (Unusable, "is too long for the file system"),
}
# A path this long is shown cut: it is already clear what is wrong with it.
_SHOWN_CHARS = 200


@dataclass(frozen=True, slots=True)
class Located:
    """A regular file inside the root, with the identity it had when checked."""

    path: str  # no symlinks left in it
    size: int
    device: int
    inode: int


def locate(storage_root: str, storage_path: str) -> Located:
    """Resolve `storage_path` under `storage_root`, refusing anything that leaves it."""
    if not storage_path:
        raise PathRefused("empty storage path")
    if "\x00" in storage_path:
        raise PathRefused("storage path contains a NUL byte")
    relative = PurePosixPath(storage_path)
    if relative.is_absolute():
        raise PathRefused(f"absolute storage path {storage_path!r}: it must be relative")
    if ".." in relative.parts:
        raise PathRefused(f"storage path {storage_path!r} contains '..'")

    # The root itself may be a symlink (a mount elsewhere); compare real paths.
    root = os.path.realpath(storage_root)
    real = os.path.realpath(os.path.join(root, storage_path))
    if os.path.commonpath([root, real]) != root:
        raise PathRefused(
            f"storage path {storage_path!r} resolves outside the storage root (through a symlink)"
        )

    try:
        st = os.stat(real)
    except (FileNotFoundError, NotADirectoryError):
        raise NotThereYet(f"file not found: {storage_path!r} under {storage_root}") from None
    except OSError as exc:
        # Its message would carry the absolute path; ours names the one the row holds.
        raise refused_by_the_os(storage_path, exc) from None
    if not stat.S_ISREG(st.st_mode):
        raise NotAFile(f"{storage_path!r} is not a regular file")
    # The extractor would be refused the same; saying so here names the reason.
    if not os.access(real, os.R_OK):
        raise refused_by_the_os(storage_path, PermissionError(errno.EACCES, "denied"))
    return Located(path=real, size=st.st_size, device=st.st_dev, inode=st.st_ino)


def refused_by_the_os(storage_path: str, error: OSError) -> Exception:
    """`error`, met on `storage_path`, as one of this module's outcomes."""
    code = errno.errorcode.get(error.errno or 0, str(error.errno))
    shown = shown_path(storage_path)
    kind, why = _REFUSED_BY_THE_OS.get(
        error.errno or 0, (Unavailable, f"could not be looked up: {error.strerror}")
    )
    return kind(f"storage path {shown} {why} ({code})")


def shown_path(storage_path: str) -> str:
    """The path for a message: quoted, and cut when it is very long."""
    shown = repr(storage_path)
    if len(shown) > _SHOWN_CHARS:
        shown = f"{shown[:_SHOWN_CHARS]}... ({len(storage_path)} characters)"
    return shown
