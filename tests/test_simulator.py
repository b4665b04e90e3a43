"""The stagecalms simulator says what stagecalms says, and the output parser understands it."""

from __future__ import annotations

import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from mailbot.simulator import DEFAULT_URL_BASE, execution_blocks
from mailbot.stage import parse_output

MOUS = "uid://A001/X1296/X675"
MOUS_FILE = "uid___A001_X1296_X675"


def simulate(root: Path, *args: str, duration: float | None = None) -> tuple[int, str, str]:
    """Run the simulator as a program; return (exit status, stdout, stderr)."""
    options = ["--root", str(root)]
    if duration is not None:
        options += ["--duration", str(duration)]
    done = subprocess.run(
        [sys.executable, "-m", "mailbot.simulator", *options, *args],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    return done.returncode, done.stdout, done.stderr


def runs(root: Path) -> list[list[str]]:
    return [line.split() for line in (root / "runs.log").read_text().splitlines()]


def test_success_parses_with_url_ebs_size_and_deletion_date(tmp_path: Path) -> None:
    status, out, _ = simulate(tmp_path, "2019.1.00337.S", MOUS, "18704")
    result = parse_output(out, status)

    assert status == 0
    assert result.ok, result.problems
    assert result.url is not None and result.url.startswith(DEFAULT_URL_BASE + "/")
    hex_id = result.url.rsplit("/", 1)[1]
    assert len(hex_id) == 32 and int(hex_id, 16) >= 0
    assert result.ebs == tuple(execution_blocks(MOUS))
    tars = sorted((tmp_path / "preview" / hex_id).iterdir())
    assert [t.name for t in tars] == sorted(f"{eb}.ms.split.cal.tar" for eb in result.ebs)
    assert result.total_bytes == sum(t.stat().st_size for t in tars)
    # The simulator prints "28 days from" today's `date`, as stagecalms does.
    assert result.deletion_date == (
        datetime.now(UTC).date() + timedelta(days=28)).isoformat()
    assert result.notices == () and result.reused == ()
    assert result.failed_dir is None and result.workdir is None
    assert f"for 2019.1.00337.S {MOUS_FILE} helpdesk ticket #18704 completed at" in out
    assert [(r[1], r[2], r[3]) for r in runs(tmp_path)] == [
        ("start", MOUS, "18704"),
        ("end", MOUS, "18704"),
    ]


def test_url_base_option(tmp_path: Path) -> None:
    status, out, _ = simulate(
        tmp_path, "--url-base", "https://example.org/dl/", "2019.1.00337.S", MOUS, "1"
    )
    result = parse_output(out, status)
    assert result.ok and result.url is not None
    assert result.url.startswith("https://example.org/dl/") and "//" not in result.url[8:]


def test_ebs_are_deterministic_and_between_one_and_three() -> None:
    counts = set()
    for n in range(40):
        mous = f"uid://A001/X12{n:x}/X{n + 10:x}"
        ebs = execution_blocks(mous)
        assert ebs == execution_blocks(mous)
        assert 1 <= len(ebs) <= 3 and len(set(ebs)) == len(ebs)
        counts.add(len(ebs))
    assert counts == {1, 2, 3}


def test_calfield_notice_comes_first(tmp_path: Path) -> None:
    status, out, _ = simulate(
        tmp_path, "2019.1.00337.S", MOUS, "18704", "X", "J0217-0820,J0238+1636"
    )
    result = parse_output(out, status)
    notice = (
        "*** Based on your selection, only data for field J0217-0820,J0238+1636 will be staged. ***"
    )
    assert out.splitlines()[0] == notice
    assert result.ok and result.notices == (notice,)


@pytest.mark.parametrize(
    ("project", "rhel5"),
    [("2012.1.00357.S", True), ("2013.A.00012.T", True), ("2015.1.00001.S", False)],
)
def test_rhel5_notice_for_old_projects(tmp_path: Path, project: str, rhel5: bool) -> None:
    status, out, _ = simulate(tmp_path, project, MOUS, "18704")
    result = parse_output(out, status)
    assert result.ok
    assert (result.notices == ("Old project, using RHEL5 build of CASA.",)) is rhel5


def test_second_staging_of_a_mous_reuses_the_first_by_hard_link(tmp_path: Path) -> None:
    status, out, _ = simulate(tmp_path, "2019.1.00337.S", MOUS, "1")
    first = parse_output(out, status)
    status, out, _ = simulate(tmp_path, "2019.1.00337.S", MOUS, "2")
    second = parse_output(out, status)

    assert first.ok and second.ok and first.url != second.url
    assert first.reused == () and len(second.reused) == len(execution_blocks(MOUS))
    assert "Will try to use this instead of recreating it (making hard link) ..." in out
    assert second.url is not None and first.url is not None
    old_dir = tmp_path / "preview" / first.url.rsplit("/", 1)[1]
    new_dir = tmp_path / "preview" / second.url.rsplit("/", 1)[1]
    for path in second.reused:
        old = Path(path)
        assert old.parent == old_dir
        new = new_dir / old.name
        assert new.stat().st_ino == old.stat().st_ino and old.stat().st_nlink == 2
    # Another MOUS does not reuse it.
    status, out, _ = simulate(tmp_path, "2019.1.00337.S", "uid://A001/X1296/X676", "3")
    assert parse_output(out, status).reused == ()


@pytest.mark.parametrize("entry", [MOUS, MOUS_FILE, "16140"])
def test_listed_mous_or_ticket_fails(tmp_path: Path, entry: str) -> None:
    (tmp_path / "fail").write_text(f"uid://A001/X1/X2\n{entry}\n")
    status, out, _ = simulate(tmp_path, "2017.1.00727.S", MOUS, "16140")
    result = parse_output(out, status)

    assert status == 1
    assert not result.ok and result.url is None
    assert result.failed_dir is not None
    assert result.failed_dir.startswith("/var/www/html/arcdistribution/preview/")
    assert f"belonging to MOUS {MOUS}" in out
    assert result.workdir is not None and result.workdir.startswith("/opsw/")
    assert any("Failed. Please investigate" in p for p in result.problems)
    assert not (tmp_path / "staged" / MOUS_FILE).exists()  # a failure is never reused
    assert runs(tmp_path)[-1][1:4] == ["end", MOUS, "16140"]
    assert runs(tmp_path)[-1][-1] == "status=1"


def test_unlisted_mous_succeeds_despite_fail_file(tmp_path: Path) -> None:
    (tmp_path / "fail").write_text("uid://A001/X1/X2\n999\n")
    status, out, _ = simulate(tmp_path, "2017.1.00727.S", MOUS, "16140")
    assert status == 0 and parse_output(out, status).ok


def test_duration_option_and_duration_file(tmp_path: Path) -> None:
    began = time.monotonic()
    assert simulate(tmp_path, "2019.1.00337.S", MOUS, "1", duration=0.6)[0] == 0
    assert time.monotonic() - began >= 0.6

    (tmp_path / "duration").write_text("0.6\n")
    began = time.monotonic()
    assert simulate(tmp_path, "2019.1.00337.S", MOUS, "2")[0] == 0
    assert time.monotonic() - began >= 0.6

    # The option wins over the file.
    (tmp_path / "duration").write_text("30\n")
    began = time.monotonic()
    assert simulate(tmp_path, "2019.1.00337.S", MOUS, "3", duration=0)[0] == 0
    assert time.monotonic() - began < 10


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["2019.1.00337.S", MOUS],
        ["2019.1.337.S", MOUS, "1"],  # project code digits
        ["2019.1.00337", MOUS, "1"],
        ["2019.1.00337.S", MOUS_FILE, "1"],  # the script takes the URI form
        ["2019.1.00337.S", "uid://A001/X1296", "1"],
        ["2019.1.00337.S", "uid://A001/X1296/XZZ", "1"],
        ["2019.1.00337.S", MOUS, "#1"],
        ["2019.1.00337.S", MOUS, "1", "X"],
        ["2019.1.00337.S", MOUS, "1", "Y", "J0510+1800"],
        ["2019.1.00337.S", MOUS, "1", "X", "J0510+1800", "extra"],
        ["2019.1.00337.S", MOUS, "1", "X", "J0510+1800;touch x"],
        ["2019.1.00337.S", MOUS, "1", "X", "J0510+1800,"],
        ["2019.1.00337.S", MOUS, "1", "X", "J0510 1800"],
        ["--duration", "-1", "2019.1.00337.S", MOUS, "1"],
    ],
)
def test_bad_arguments_exit_2_with_usage(tmp_path: Path, args: list[str]) -> None:
    status, out, err = simulate(tmp_path, *args)
    assert status == 2
    assert "usage:" in err and out == ""
    assert not (tmp_path / "runs.log").exists()
