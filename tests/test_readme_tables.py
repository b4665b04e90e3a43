"""README's commands and settings tables are the ones the code generates (mailbot.docs).

On a difference the test names the first entry README lacks or has wrong, so the
fix is obvious: regenerate with `.venv/bin/python -m mailbot.docs --write README.md`.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from mailbot import config as cfg
from mailbot import docs
from tests.test_docs import settings

README = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("table", ["commands", "settings"])
def test_readme_table_is_the_generated_one(table: str) -> None:
    difference = docs.first_difference(README, table)
    assert difference is None, f"{difference}; regenerate with {docs.REGENERATE}"


def test_the_settings_table_has_every_setting() -> None:
    listed = {line.split("`")[1] for line in docs.settings_table().splitlines()[2:]}
    wanted = {name for name in settings(cfg.Config) if name != "verdicts"}
    wanted |= {f"verdicts.{code}" for code in cfg.Config().verdicts}
    assert sorted(wanted - listed) == []


def test_a_stale_readme_is_named_by_its_first_wrong_entry() -> None:
    table = docs.section(README, "commands")
    show = next(line for line in table.splitlines() if line.startswith("| `mailbot outbox show"))
    without = README.replace(show + "\n", "")
    assert docs.first_difference(without, "commands") == (
        "README lacks command `mailbot outbox show ID [--raw]`")
    port = next(line for line in docs.section(README, "settings").splitlines()
                if line.startswith("| `inbox.imap.port`"))
    wrong = README.replace(port, port.replace("`993`", "`143`"))
    assert docs.first_difference(wrong, "settings") == (
        "README's setting `inbox.imap.port` differs in `default`: README '`143`', "
        "the code '`993`'")
    extra = README.replace(show, show + "\n| `mailbot outbox bounce ID` | gone |")
    assert docs.first_difference(extra, "commands") == (
        "README has command `mailbot outbox bounce ID`, which the code does not")


def test_settings_rows_from_a_sample() -> None:
    sample = (
        "# A preamble about nothing in particular.\n\n"
        "[staging]\n"
        "# Where it runs.\n"
        '# Default: "<python>", the simulator.\n'
        '# command = "/opt/stagecalms.sh"\n'
        'transport = "local"   # local | ssh\n'
        "# Per-job files; with\n"
        '# transport = "ssh" a path THERE.\n'
        'jobs_dir = "{data_dir}/jobs"\n'
        'signature = """two\n\nlines"""\n'
    )
    assert [(s.name, s.default, s.description) for s in docs.settings(sample)] == [
        ("staging.command", '"\\<python>", the simulator',
         'Where it runs. e.g. `"/opt/stagecalms.sh"`'),
        ("staging.transport", '`"local"`', "local | ssh"),
        ("staging.jobs_dir", '`"{data_dir}/jobs"`',
         'Per-job files; with transport = "ssh" a path THERE.'),
        ("staging.signature", '`"two\\n\\nlines"`', ""),
    ]
    assert "| local \\| ssh |" in docs.settings_table(sample)


def test_write_regenerates_only_between_the_markers(tmp_path: Path) -> None:
    stale = tmp_path / "README.md"
    stale.write_text(README.replace("| `mailbot attention` |", "| `mailbot attentio` |"),
                     encoding="utf-8")
    assert docs.main(["--check", str(stale)]) == 1
    assert docs.main(["--write", str(stale)]) == 0
    assert stale.read_text(encoding="utf-8") == README
    assert docs.main(["--check", str(stale)]) == 0
