"""A wheel (not only an editable install) carries the templates, queries and sample config."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from mailbot import config as cfg

ROOT = Path(__file__).resolve().parent.parent


def clean_copy(target: Path) -> Path:
    """The source tree without build leftovers (an old egg-info would fill in gaps)."""
    shutil.copytree(ROOT, target, ignore=shutil.ignore_patterns(
        ".git", ".venv*", "*.egg-info", "build", "dist", "__pycache__", ".*_cache",
        ".hypothesis", "mailbot-demo"))
    return target


def test_wheel_holds_every_data_file(tmp_path: Path) -> None:
    source = clean_copy(tmp_path / "src")
    done = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(tmp_path), str(source)],
        capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    (wheel,) = tmp_path.glob("alma_mailbot-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    package = cfg.PACKAGE_DIR
    data = [p for p in package.rglob("*")
            if p.is_file() and p.suffix in {".sql", ".j2", ".toml", ".typed"}]
    assert len(data) >= 18
    for file in data:
        assert f"mailbot/{file.relative_to(package).as_posix()}" in names, file
    entry = next(n for n in names if n.endswith("entry_points.txt"))
    assert "mailbot = mailbot.cli:main" in zipfile.ZipFile(wheel).read(entry).decode()
