"""An operator's first hour: each mistake is one line with its fix and the documented exit.

Every case runs the real CLI in a subprocess, as an operator would. Tests run as
root in CI, where file modes do not stop anyone: the cases about permissions run
the bot as root without the capabilities that override file modes (setpriv), so
the kernel refuses it as it refuses a normal user.
"""

from __future__ import annotations

import os
import subprocess
import sys
import venv
from pathlib import Path

import pytest

from mailbot.archive import demo as demo_archive
from mailbot.demo import request_mail
from mailbot.model import VerdictCode
from tests.test_packaging import clean_copy

EXIT_USAGE, EXIT_CONFIG = 2, 78
ROOT = Path(__file__).resolve().parent.parent
# Root without CAP_DAC_OVERRIDE/CAP_DAC_READ_SEARCH is held to file modes like anyone.
_NO_OVERRIDE = "-dac_override,-dac_read_search"
AS_A_USER = (["setpriv", f"--inh-caps={_NO_OVERRIDE}", f"--bounding-set={_NO_OVERRIDE}"]
             if os.geteuid() == 0 else [])


def mailbot(*args: str, home: Path, prefix: list[str] | None = None,
            python: str = sys.executable, cwd: Path | None = None,
            ) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "MAILBOT_CONFIG"}
    env["MAILBOT_HOME"] = str(home)
    return subprocess.run([*(prefix or []), python, "-m", "mailbot", *args],
                          capture_output=True, text=True, env=env, cwd=cwd, timeout=120,
                          check=False)


def one_line(done: subprocess.CompletedProcess[str], status: int, *says: str) -> str:
    """The run's stderr, asserted to be one `mailbot:` line saying `says`, with `status`."""
    assert done.returncode == status, done.stderr
    assert "Traceback" not in done.stderr
    [line] = done.stderr.splitlines()
    assert line.startswith("mailbot: ")
    for words in says:
        assert words in line
    return line


def settings(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "mailbot.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_an_unreadable_config_says_so(tmp_path: Path) -> None:
    config = settings(tmp_path, "[mailbot]\n")
    config.chmod(0)
    done = mailbot("--config", str(config), "requests", home=tmp_path, prefix=AS_A_USER)
    one_line(done, EXIT_CONFIG, str(config), "not readable by this user", "chmod")


def test_a_directory_as_config(tmp_path: Path) -> None:
    done = mailbot("--config", str(tmp_path), "run", home=tmp_path / "home")
    one_line(done, EXIT_CONFIG, str(tmp_path), "is a directory", "mailbot init")


def test_a_config_not_in_utf8(tmp_path: Path) -> None:
    config = tmp_path / "mailbot.toml"
    config.write_bytes('[addresses]\naog_name = "Archive Opérations"\n'.encode("latin-1"))
    done = mailbot("--config", str(config), "run", home=tmp_path / "home")
    one_line(done, EXIT_CONFIG, "is not UTF-8", "save it as UTF-8")


def test_a_misspelt_section_is_named_with_the_one_meant(tmp_path: Path) -> None:
    config = settings(tmp_path, "[stagin]\nslots = 1\n")
    done = mailbot("--config", str(config), "run", home=tmp_path / "home")
    line = one_line(done, EXIT_CONFIG, "unknown section(s): stagin (did you mean staging?)")
    assert "[]" not in line


def test_a_misspelt_setting_is_named_in_its_section(tmp_path: Path) -> None:
    config = settings(tmp_path, "[staging]\nslot = 1\n")
    done = mailbot("--config", str(config), "run", home=tmp_path / "home")
    one_line(done, EXIT_CONFIG, "unknown setting(s) in [staging]: slot (did you mean slots?)")


def test_a_data_dir_that_cannot_be_created(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o555)
    config = settings(tmp_path, f'[mailbot]\ndata_dir = "{locked}/mailbot"\n')
    done = mailbot("--config", str(config), "run", home=tmp_path, prefix=AS_A_USER)
    one_line(done, EXIT_CONFIG, f"cannot create {locked}/mailbot", "Permission denied",
             "mailbot.data_dir")
    assert not (locked / "mailbot").exists()


def test_a_log_file_that_cannot_be_written(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "mailbot.log").write_text("")
    (home / "mailbot.log").chmod(0o444)
    done = mailbot("run", home=home, prefix=AS_A_USER)
    one_line(done, EXIT_CONFIG, f"cannot write mailbot.log_file {home}/mailbot.log",
             "Permission denied")


@pytest.mark.parametrize("command", ["run", "watch"])
def test_a_data_dir_under_a_file(tmp_path: Path, command: str) -> None:
    (tmp_path / "afile").write_text("")
    config = settings(tmp_path, f'[mailbot]\ndata_dir = "{tmp_path}/afile/mailbot"\n')
    done = mailbot("--config", str(config), command, home=tmp_path)
    one_line(done, EXIT_CONFIG, f"{tmp_path}/afile/mailbot", "mailbot.data_dir")


def test_a_missing_sqlite_archive_is_a_setting_with_its_command(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.sqlite"
    config = settings(tmp_path, f'[archive]\nurl = "sqlite:///{missing}"\nretry_seconds = 60\n')
    done = mailbot("--config", str(config), "explain", "uid://A001/X1296/X675",
                   home=tmp_path / "home")
    one_line(done, EXIT_CONFIG, str(missing), "does not exist",
             f"mailbot archive init --demo {missing}")


@pytest.mark.parametrize("command", ["check", "explain"])
def test_a_bad_today_is_a_usage_error(tmp_path: Path, command: str) -> None:
    mail = tmp_path / "request.eml"
    mail.write_bytes(b"Subject: hello\r\n\r\nhi\r\n")
    done = mailbot(command, str(mail), "--today", "2019-13-01", home=tmp_path)
    one_line(done, EXIT_USAGE, "--today must be YYYY-MM-DD", "2019-13-01")


def test_fresh_venv_init_then_run_works_with_no_other_step(tmp_path: Path) -> None:
    """Acceptance: fresh clone and venv, `mailbot init x.toml && mailbot --config x.toml run`."""
    clone = clean_copy(tmp_path / "clone")
    env_dir = tmp_path / "venv"
    venv.create(env_dir, system_site_packages=False, with_pip=False, symlinks=True)
    # The clone on the new venv's path, as `pip install -e` puts it there, with the
    # dependencies taken from the test venv (CI has no network for a real install).
    site = next(env_dir.glob("lib/python*/site-packages"))
    test_site = next(Path(sys.prefix).glob("lib/python*/site-packages"))
    (site / "clone.pth").write_text(f"{clone}\n{test_site}\n")
    python = str(env_dir / "bin" / "python")
    work = tmp_path / "work"
    work.mkdir()
    home = tmp_path / "home"
    init = mailbot("init", "x.toml", home=home, python=python, cwd=work)
    assert init.returncode == 0, init.stderr
    first = mailbot("--config", "x.toml", "run", home=home, python=python, cwd=work)
    assert (first.returncode, first.stderr) == (0, "")
    # A request after the cut-over of that first run is judged on the demo archive.
    case = next(c for c in demo_archive.DEMO_CASES if c.expected is VerdictCode.NOT_ENTITLED)
    raw = request_mail(case, aog="aog@eso.org", maintainer="dpetry@eso.org")
    (home / "inbox" / "new" / "1.eml").write_bytes(
        raw.replace(b"<arc.contact@example.org>", b"<arc.contact@eso.org>"))
    run = mailbot("--config", "x.toml", "run", home=home, python=python, cwd=work)
    assert (run.returncode, run.stderr) == (0, "")
    [reply] = (home / "outbox").glob("*.eml")
    assert b"NOT ENTITLED" in reply.read_bytes()
