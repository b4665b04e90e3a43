"""The completion mail names the day the data goes, as stagecalms said it, never "from now"."""

from __future__ import annotations

import pytest

from mailbot.stage import parse_output

URL = "http://almascience.eso.org/arcdistribution/preview/c455f0e3b6a5f4a1b8e2a64e02a8b9d1"


def output(deletion_line: str) -> str:
    return (f"The staging directory will be accessible at {URL}\n"
            "Staging of calibrated MS(s) for 2019.1.00337.S uid___A001_X1296_X675 helpdesk "
            f"ticket #16140 completed\nat {URL}\n{deletion_line}\n")


@pytest.mark.parametrize(("line", "day"), [
    ("Data will be deleted 28 days from Fri Sep 27 14:04:04 UTC 2019 unless you put", "2019-10-25"),
    ("Data will be deleted 21 days from Tue Dec 17 23:59:00 CET 2024 unless you put", "2025-01-07"),
    ("Data will be deleted 28 days from Thu Feb  1 08:00:00 2024 unless you put", "2024-02-29"),
    # Not `date`'s format, or no day that exists: the mail falls back to retention_days.
    ("Data will be deleted 28 days from tomorrow unless you put", None),
    ("Data will be deleted 28 days from Fri Feb 30 14:04:04 UTC 2019 unless you put", None),
    ("", None),
])
def test_the_deletion_day_is_date_plus_n_days(line: str, day: str | None) -> None:
    result = parse_output(output(line), 0)
    assert result.ok, result.problems
    assert result.deletion_date == day


def test_the_mail_names_the_day_said_else_retention_days_from_the_staging_end() -> None:
    """The mail's bytes are made when the staging ends (a held one is sent as made):
    the day stagecalms printed wins over replies.retention_days."""
    from tests.test_golden_mail import completion, golden_config, make_request, ok_result

    config = golden_config()
    said = completion(config, make_request(), ok_result())
    fallback = completion(config, make_request(), ok_result(deletion_date=None))
    assert b"It will be deleted on 2024-04-02." in said.data
    # golden_config keeps data 21 days; the golden mails are composed on 2024-03-05.
    assert b"It will be deleted on 2024-03-26." in fallback.data
