"""A document's storage_path can only ever name a regular file inside the storage root."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from syncd.handlers.documents.paths import NotAFile, NotThereYet, PathRefused, locate


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
