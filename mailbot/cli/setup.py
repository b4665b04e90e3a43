"""`mailbot init|archive init|demo`: getting a settings file, an archive, a first look."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

from mailbot.cli.registry import Arg, command, group
from mailbot.errors import MailbotError

if TYPE_CHECKING:
    from mailbot.cli.context import Context

# Beside `mailbot/config.py` (`config.PACKAGE_DIR`), found without loading the settings code.
SAMPLE_CONFIG = Path(__file__).resolve().parent.parent / "sample-config.toml"


@command("init", help="write a commented sample settings file with every setting and its "
         "default to PATH (default mailbot.toml), and the SQLite demo archive it names when "
         "missing", args=(
    Arg("path", nargs="?", default="mailbot.toml", metavar="PATH",
        help="default mailbot.toml; '-' for standard output"),
    Arg("--force", action="store_true", help="overwrite an existing file"),
))
def _init(ctx: Context) -> int:
    sample = SAMPLE_CONFIG.read_text(encoding="utf-8")
    if ctx.args.path == "-":
        sys.stdout.write(sample)
        return 0
    target = Path(ctx.args.path)
    if target.exists() and not ctx.args.force:
        raise MailbotError(f"{target} exists (use --force to overwrite)")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(sample, encoding="utf-8")
    except OSError as exc:
        raise MailbotError(f"cannot write {target}: {exc.strerror or exc}") from None
    print(f"wrote {target}; edit it, then run: mailbot --config {target} run")
    _demo_archive_for(target)
    return 0


def _demo_archive_for(settings: Path) -> None:
    """Seed the demo archive the fresh settings name, so that they run as written."""
    from mailbot import config as cfg
    from mailbot.archive import demo as demo_archive

    config = cfg.load(settings)
    url = config.expand(config.archive.url)
    archive = Path(url.removeprefix("sqlite:///")).expanduser()
    if not url.startswith("sqlite:///") or archive.exists():
        return
    demo_archive.seed_for_settings(archive)
    print(f"created the demo archive {archive} (archive.url)")


group("archive", help="the SQLite archive of the embedded setup")


@command("archive init", help="create an SQLite archive with the schema, empty or (--demo) "
         "seeded with the demo projects", args=(
    Arg("path", metavar="PATH", help="the SQLite file to create; an existing one is refused"),
    Arg("--demo", action="store_true", help="seed it with the demo projects"),
))
def _archive_init(ctx: Context) -> int:
    from mailbot.archive import demo as demo_archive

    path = Path(ctx.args.path)
    if path.exists():
        raise MailbotError(f"{path} exists; not touching it")
    (demo_archive.seed if ctx.args.demo else demo_archive.create)(path)
    print(f"created {'demo ' if ctx.args.demo else ''}archive {path}")
    return 0


@command("demo", help="the embedded end-to-end demo: sample requests processed with no "
         "server, its files kept in DIR", args=(
    Arg("--dir", default="mailbot-demo", metavar="DIR",
        help="where the demo keeps its files (default mailbot-demo)"),
    Arg("--duration", type=float, default=2.0, metavar="S",
        help="seconds per simulated staging (default 2)"),
))
def _demo(ctx: Context) -> int:
    from mailbot.demo import run_demo

    return run_demo(Path(ctx.args.dir), duration=ctx.args.duration)
