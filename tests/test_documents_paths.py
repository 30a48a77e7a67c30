"""A document's storage_path can only ever name a regular file inside the storage root."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

# The readers extract() imports when called: a child that has dropped root may not be
# able to read the interpreter's own files.
from syncd.handlers.documents import detect, html_page, pdf, text, word  # noqa: F401
from syncd.handlers.documents.file_to_text import Refused, Request, extract
from syncd.handlers.documents.paths import NotAFile, NotThereYet, PathRefused, Unusable, locate

NOBODY = 65534
MiB = 1024 * 1024


@pytest.fixture
def root(tmp_path: Path) -> Path:
    root = tmp_path / "storage"
    (root / "uploads").mkdir(parents=True)
    (root / "uploads" / "report.txt").write_text("inside")
    (tmp_path / "secret.txt").write_text("outside")
    return root


def test_a_file_inside_the_root_is_found_with_its_identity(root: Path) -> None:
    found = locate(str(root), "uploads/report.txt")
    st = os.stat(root / "uploads" / "report.txt")
    assert found.path == str((root / "uploads" / "report.txt").resolve())
    assert (found.size, found.device, found.inode) == (6, st.st_dev, st.st_ino)


@pytest.mark.parametrize(
    "storage_path",
    ["../secret.txt", "uploads/../../secret.txt", "uploads/../report.txt", ".."],
)
def test_dot_dot_is_refused_even_when_it_would_stay_inside(root: Path, storage_path: str) -> None:
    with pytest.raises(PathRefused, match=r"contains '\.\.'"):
        locate(str(root), storage_path)


def test_an_absolute_path_is_refused(root: Path) -> None:
    with pytest.raises(PathRefused, match="absolute storage path '/etc/passwd'"):
        locate(str(root), "/etc/passwd")
    # Even one that points inside the root.
    with pytest.raises(PathRefused, match="absolute"):
        locate(str(root), str(root / "uploads" / "report.txt"))


def test_a_symlink_leading_outside_is_refused(root: Path) -> None:
    (root / "uploads" / "innocent.txt").symlink_to(root.parent / "secret.txt")
    with pytest.raises(PathRefused, match="resolves outside the storage root"):
        locate(str(root), "uploads/innocent.txt")


def test_a_symlinked_directory_leading_outside_is_refused(root: Path) -> None:
    (root / "escape").symlink_to(root.parent)
    with pytest.raises(PathRefused, match="resolves outside the storage root"):
        locate(str(root), "escape/secret.txt")


def test_a_dangling_symlink_leading_outside_is_refused_not_retried(root: Path) -> None:
    # Refused before existence is checked: a missing target must not turn an
    # escape attempt into a retryable "not there yet".
    (root / "later.txt").symlink_to("/nonexistent/target.txt")
    with pytest.raises(PathRefused, match="outside"):
        locate(str(root), "later.txt")


def test_a_symlink_that_stays_inside_is_followed(root: Path) -> None:
    (root / "latest.txt").symlink_to(root / "uploads" / "report.txt")
    found = locate(str(root), "latest.txt")
    assert found.path == str((root / "uploads" / "report.txt").resolve())


def test_a_root_that_is_itself_a_symlink_works(root: Path, tmp_path: Path) -> None:
    link = tmp_path / "mounted"
    link.symlink_to(root)
    assert locate(str(link), "uploads/report.txt").size == 6


def test_a_missing_file_is_not_there_yet(root: Path) -> None:
    with pytest.raises(NotThereYet, match=r"^file not found: 'uploads/landing\.pdf'"):
        locate(str(root), "uploads/landing.pdf")
    with pytest.raises(NotThereYet):
        locate(str(root), "uploads/report.txt/child")  # a file used as a directory


def test_a_directory_is_not_a_file(root: Path) -> None:
    with pytest.raises(NotAFile, match="'uploads' is not a regular file"):
        locate(str(root), "uploads")
    os.mkfifo(root / "pipe")
    with pytest.raises(NotAFile):
        locate(str(root), "pipe")


@pytest.mark.parametrize(("storage_path", "why"), [("", "empty"), ("a\x00b", "NUL")])
def test_empty_and_nul_paths_are_refused(root: Path, storage_path: str, why: str) -> None:
    with pytest.raises(PathRefused, match=why):
        locate(str(root), storage_path)


def test_a_name_too_long_for_the_file_system_is_refused_naming_the_relative_path(
    root: Path,
) -> None:
    storage_path = "uploads/" + "a" * 300 + ".pdf"
    with pytest.raises(Unusable) as refused:
        locate(str(root), storage_path)
    message = str(refused.value)
    assert message.startswith("storage path 'uploads/aaaa")
    assert message.endswith("(312 characters) is too long for the file system (ENAMETOOLONG)")
    assert str(root) not in message


def test_a_loop_of_symlinks_is_refused_naming_the_relative_path(root: Path) -> None:
    (root / "uploads" / "a").symlink_to(root / "uploads" / "b")
    (root / "uploads" / "b").symlink_to(root / "uploads" / "a")
    with pytest.raises(PathRefused) as refused:
        locate(str(root), "uploads/a/report.txt")
    assert str(refused.value) == (
        "storage path 'uploads/a/report.txt' goes round a loop of symlinks (ELOOP)"
    )


@pytest.fixture
def shared_root() -> Iterator[Path]:
    """A storage root any user may enter (pytest's tmp_path is its owner's alone)."""
    top = Path(tempfile.mkdtemp(prefix="syncd-storage-"))
    top.chmod(0o755)
    (top / "uploads").mkdir(mode=0o755)
    try:
        yield top
    finally:
        for path in (top / "uploads", *top.rglob("*")):
            path.chmod(0o755 if path.is_dir() else 0o644)
        shutil.rmtree(top)


def as_unprivileged(work: Callable[[], object]) -> tuple[str, str]:
    """(exception type, message) of `work()`, run without root's power to read anything.

    As root (tests often are), in a child process that drops to `nobody`; otherwise here.
    ("returned", "") if it raised nothing.
    """

    def outcome() -> tuple[str, str]:
        try:
            work()
        except Exception as exc:
            return type(exc).__name__, str(exc)
        return "returned", ""

    if os.geteuid() != 0:
        return outcome()
    reader, writer = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        try:
            os.close(reader)
            os.setgroups([])
            os.setgid(NOBODY)
            os.setuid(NOBODY)
            os.write(writer, json.dumps(outcome()).encode())
        finally:
            os._exit(0)
    os.close(writer)
    with os.fdopen(reader, "rb") as answer:
        raw = answer.read()
    os.waitpid(pid, 0)
    kind, message = json.loads(raw)
    return kind, message


def test_a_file_syncd_may_not_read_is_refused_naming_the_relative_path(
    shared_root: Path,
) -> None:
    secret = shared_root / "uploads" / "payroll.csv"
    secret.write_text("name,salary\n")
    secret.chmod(0o000)
    assert as_unprivileged(lambda: locate(str(shared_root), "uploads/payroll.csv")) == (
        "PathRefused",
        "storage path 'uploads/payroll.csv' cannot be read: permission denied (EACCES)",
    )


def test_a_directory_syncd_may_not_enter_is_refused_naming_the_relative_path(
    shared_root: Path,
) -> None:
    (shared_root / "uploads" / "report.txt").write_text("inside")
    (shared_root / "uploads").chmod(0o700)
    assert as_unprivileged(lambda: locate(str(shared_root), "uploads/report.txt")) == (
        "PathRefused",
        "storage path 'uploads/report.txt' cannot be read: permission denied (EACCES)",
    )


def test_a_file_the_extractor_may_not_open_is_refused_not_called_changed(
    shared_root: Path,
) -> None:
    """Past the check (its permissions changed since, or a policy only the open meets),
    the extractor's open is refused: that is for good, not a file that changed."""
    secret = shared_root / "uploads" / "payroll.csv"
    secret.write_text("name,salary\n")
    st = secret.stat()
    secret.chmod(0o000)
    request = Request(
        path=str(secret),
        device=st.st_dev,
        inode=st.st_ino,
        max_bytes=MiB,
        max_pages=10,
        max_unpacked_bytes=MiB,
        max_text_bytes=MiB,
    )
    kind, message = as_unprivileged(lambda: _refusal_reason(request))
    assert (kind, message) == (
        "Refused",
        "unreadable: cannot be read by the extractor: Permission denied (EACCES)",
    )


def _refusal_reason(request: Request) -> None:
    try:
        extract(request)
    except Refused as exc:
        raise Refused(exc.reason, f"{exc.reason}: {exc}") from None
