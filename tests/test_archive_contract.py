"""The query contracts on rows spelled as the ALMA archive stores them, every NULL included.

Each case is one MOUS of its own project in a real SQLite archive, judged through
the shipped queries and through the alternative set in tests/queries_alt/, both
of which must fail closed: a science target is never public as a "calibrator",
and a delivery without a release date keeps the MOUS proprietary.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from mailbot.archive import SqlArchive, open_archive
from mailbot.archive import demo as demo_archive
from mailbot.decide import decide
from mailbot.model import Origin, Request, Verdict, VerdictCode
from tests.settings import config_in

TODAY = date(2024, 5, 17)
PAST, FUTURE = "2023-01-31", "2025-01-31"
ALT_QUERIES = Path(__file__).parent / "queries_alt"
PI_EMAIL = "pi@example.org"
STRANGER = "stranger@example.net"
DELEGEE_EMAIL = "delegee@example.org"
CALIBRATORS = (("J0510+1800", "BANDPASS FLUX WVR"), ("J0431+1731", "PHASE WVR"))

Intents = tuple[tuple[str, str | None], ...]


@dataclass(frozen=True)
class Mous:
    """One MOUS and everything around it; each gets a project of its own."""

    fields: Intents = (*CALIBRATORS, ("HL_Tau", "TARGET"))
    qa0: tuple[str | None, ...] = ("Pass",)
    releases: tuple[str | None, ...] = (FUTURE,)  # one delivery each; None: date not set
    by_name: bool = False  # delivery rows linked only by deliverable_name (old rows)
    state: str | None = "Delivered"
    pi: tuple[str | None, str | None] | None = ("T", PI_EMAIL)  # (active, email); None: no account
    delegee: tuple[str | None, str | None] | None = None  # (active, delegation_type)


# id, the MOUS, who asks (email), calfields, expected verdict (and role when staged)
CASES: list[tuple[str, Mous, str, tuple[str, ...], VerdictCode, str | None]] = [
    # --- a science target named as a calibrator field, in every spelling ---
    ("TARGET", Mous(), STRANGER, ("HL_Tau",), VerdictCode.NOT_ENTITLED, None),
    ("OBSERVE_TARGET#ON_SOURCE",
     Mous(fields=(*CALIBRATORS, ("HL_Tau", "OBSERVE_TARGET#ON_SOURCE"))),
     STRANGER, ("HL_Tau",), VerdictCode.NOT_ENTITLED, None),
    ("observe_target in lower case, with WVR",
     Mous(fields=(*CALIBRATORS, ("HL_Tau", "calibrate_wvr#on_source observe_target#on_source"))),
     STRANGER, ("HL_Tau",), VerdictCode.NOT_ENTITLED, None),
    ("Target", Mous(fields=(*CALIBRATORS, ("HL_Tau", "Target"))),
     STRANGER, ("HL_Tau",), VerdictCode.NOT_ENTITLED, None),
    ("NULL intents", Mous(fields=(*CALIBRATORS, ("HL_Tau", None))),
     STRANGER, ("HL_Tau",), VerdictCode.NOT_ENTITLED, None),
    ("empty intents", Mous(fields=(*CALIBRATORS, ("HL_Tau", ""))),
     STRANGER, ("HL_Tau",), VerdictCode.NOT_ENTITLED, None),
    ("blank intents", Mous(fields=(*CALIBRATORS, ("HL_Tau", "   "))),
     STRANGER, ("HL_Tau",), VerdictCode.NOT_ENTITLED, None),
    ("mixed: a calibrator and the target", Mous(), STRANGER, ("J0510+1800", "HL_Tau"),
     VerdictCode.NOT_ENTITLED, None),
    ("a calibrator on one row, a target on another",
     Mous(fields=(*CALIBRATORS, ("J1733-1304", "PHASE WVR"), ("J1733-1304", "TARGET"))),
     STRANGER, ("J1733-1304",), VerdictCode.NOT_ENTITLED, None),
    ("a calibrator on one row, NULL on another",
     Mous(fields=(*CALIBRATORS, ("J1733-1304", "PHASE WVR"), ("J1733-1304", None))),
     STRANGER, ("J1733-1304",), VerdictCode.NOT_ENTITLED, None),
    # --- real calibrators are still served to anyone ---
    ("calibrators, archive spelling", Mous(), STRANGER, ("J0510+1800", "J0431+1731"),
     VerdictCode.STAGE, "calibrator"),
    ("calibrators, ASDM spelling",
     Mous(fields=(("J0510+1800", "CALIBRATE_BANDPASS#ON_SOURCE CALIBRATE_WVR#ON_SOURCE"),
                  ("J0321+1234", "OBSERVE_CHECK_SOURCE#ON_SOURCE"),
                  ("HL_Tau", "OBSERVE_TARGET#ON_SOURCE"))),
     STRANGER, ("J0510+1800", "J0321+1234"), VerdictCode.STAGE, "calibrator"),
    ("check source and amplitude calibrator",
     Mous(fields=(("J0321+1234", "CHECK WVR"), ("Callisto", "AMPLITUDE"), ("HL_Tau", "TARGET"))),
     STRANGER, ("J0321+1234", "Callisto"), VerdictCode.STAGE, "calibrator"),
    ("the PI may name the target", Mous(), PI_EMAIL, ("HL_Tau",), VerdictCode.STAGE, "PI"),
    # --- release dates ---
    ("a NULL release beside a past one", Mous(releases=(PAST, None)), STRANGER, (),
     VerdictCode.NOT_ENTITLED, None),
    ("... and the PI is served", Mous(releases=(PAST, None)), PI_EMAIL, (),
     VerdictCode.STAGE, "PI"),
    ("only a NULL release", Mous(releases=(None,)), STRANGER, (), VerdictCode.NOT_ENTITLED, None),
    ("no delivery at all", Mous(releases=()), STRANGER, (), VerdictCode.NOT_ENTITLED, None),
    ("a past and a future release: the latest counts", Mous(releases=(PAST, FUTURE)), STRANGER,
     (), VerdictCode.NOT_ENTITLED, None),
    ("every release past: public", Mous(releases=(PAST, "2023-06-30")), STRANGER, (),
     VerdictCode.STAGE, "public"),
    ("an old delivery linked by name only", Mous(releases=(PAST,), by_name=True), STRANGER, (),
     VerdictCode.STAGE, "public"),
    ("an old delivery by name, a new one not dated", Mous(releases=(PAST, None), by_name=True),
     STRANGER, (), VerdictCode.NOT_ENTITLED, None),
    # --- QA0 ---
    ("QA0 Pass with a suffix", Mous(qa0=("Pass_Fixed",)), PI_EMAIL, (), VerdictCode.STAGE, "PI"),
    ("QA0 PASS in upper case", Mous(qa0=("PASS",)), PI_EMAIL, (), VerdictCode.STAGE, "PI"),
    ("QA0 SemiPass is not Pass", Mous(qa0=("SemiPass",)), PI_EMAIL, (),
     VerdictCode.NO_QA0_PASS, None),
    ("QA0 NULL, Fail, Unset", Mous(qa0=(None, "Fail", "Unset")), PI_EMAIL, (),
     VerdictCode.NO_QA0_PASS, None),
    # --- accounts and delegations ---
    ("PI's account inactive", Mous(pi=("F", PI_EMAIL)), PI_EMAIL, (),
     VerdictCode.NOT_ENTITLED, None),
    ("PI's account active NULL", Mous(pi=(None, PI_EMAIL)), PI_EMAIL, (),
     VerdictCode.NOT_ENTITLED, None),
    ("PI without an email: known MOUS", Mous(pi=("T", None)), STRANGER, (),
     VerdictCode.NOT_ENTITLED, None),
    ("PI without an account: known MOUS", Mous(pi=None), STRANGER, (),
     VerdictCode.NOT_ENTITLED, None),
    ("data delegation", Mous(delegee=("T", "DATA")), DELEGEE_EMAIL, (),
     VerdictCode.STAGE, "DELEGEE"),
    ("data delegation, type in lower case", Mous(delegee=("T", "data")), DELEGEE_EMAIL, (),
     VerdictCode.STAGE, "DELEGEE"),
    ("delegation for ToO triggers", Mous(delegee=("T", "TOO")), DELEGEE_EMAIL, (),
     VerdictCode.NOT_ENTITLED, None),
    ("delegation of no type", Mous(delegee=("T", None)), DELEGEE_EMAIL, (),
     VerdictCode.NOT_ENTITLED, None),
    ("data delegee with an inactive account", Mous(delegee=("F", "DATA")), DELEGEE_EMAIL, (),
     VerdictCode.NOT_ENTITLED, None),
    # --- state ---
    ("no state (NULL)", Mous(state=None), PI_EMAIL, (), VerdictCode.NOT_DELIVERED, None),
    ("QA3InProgress", Mous(state="QA3InProgress"), PI_EMAIL, (), VerdictCode.NOT_DELIVERED, None),
]  # fmt: skip


def uid(n: int) -> str:
    return f"uid://A001/X2a{n:02x}/X1"


def project(n: int) -> str:
    return f"2023.1.{n:05d}.S"


class Builder:
    """Writes one case's rows into the archive file (a plain SQLite connection)."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def add(self, n: int, mous: Mous) -> None:
        mous_uid, code, project_uid, sb = uid(n), project(n), f"uid://A001/X3b{n:02x}/X1", f"sb{n}"
        pi_id = f"pi{n}" if mous.pi is not None else None
        self.db.execute("INSERT INTO bmmv_obsproject VALUES (?,?,?,?)",
                        (project_uid, code, f"case {n}", pi_id))
        self.db.execute("INSERT INTO bmmv_obsproposal VALUES (?,?,?)",
                        (f"uid://A001/X3c{n:02x}/X1", project_uid, pi_id))
        if mous.pi is not None:
            self._account(f"pi{n}", 1000 + n, *mous.pi)
        if mous.delegee is not None:
            active, kind = mous.delegee
            self._account(f"delegee{n}", 2000 + n, active, DELEGEE_EMAIL)
            self.db.execute("INSERT INTO account_delegation VALUES (?,?,?,?,?)",
                            (n, 1000 + n, 2000 + n, code, kind))
        self.db.execute("INSERT INTO obs_unit_set_status VALUES (?,?,?)",
                        (mous_uid, mous.state, project_uid))
        self.db.execute("INSERT INTO sched_block_status VALUES (?,?,?)",
                        (sb, mous_uid, "FullyObserved"))
        ebs = [f"eb{n}-{k}" for k in range(len(mous.qa0))]
        self.db.executemany("INSERT INTO aqua_execblock VALUES (?,?,?,?)",
                            [(eb, sb, code, qa0) for eb, qa0 in zip(ebs, mous.qa0, strict=True)])
        self.db.executemany(
            "INSERT INTO asa_science VALUES (?,?,?,?,?,?)",
            [(f"{n}.{k}", mous_uid, code, name, intents, ebs[0])
             for k, (name, intents) in enumerate(mous.fields)])
        self._deliveries(n, mous, ebs[0], code)

    def _account(self, account_id: str, rh_id: int, active: str | None,
                 email: str | None) -> None:
        self.db.execute("INSERT INTO account VALUES (?,?,?,?,?,?,?)",
                        (account_id, rh_id, "A", "B", email, "EU", active))

    def _deliveries(self, n: int, mous: Mous, eb: str, code: str) -> None:
        for k, released in enumerate(mous.releases):
            delivery, name = n * 10 + k, f"{code}_uid___A001_X2a{n:02x}_X1" + "_2" * k
            self.db.execute("INSERT INTO dp_delivery_status VALUES (?,?,?,?,?,?)",
                            (delivery, name, 1000 + n, "Y", released, None))
            link = None if mous.by_name and k == 0 else delivery
            self.db.execute("INSERT INTO dp_delivery_asdm_ous VALUES (?,?,?,?)",
                            (delivery, eb, name, link))


@pytest.fixture(scope="module")
def archive_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("contract") / "alma.sqlite"
    demo_archive.create(path)
    with closing(sqlite3.connect(path)) as db, db:
        builder = Builder(db)
        for n, case in enumerate(CASES, start=1):
            builder.add(n, case[1])
    return path


@pytest.fixture(scope="module", params=["shipped", "alternative"])
def archive(request: pytest.FixtureRequest, archive_file: Path,
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[SqlArchive]:
    config = config_in(tmp_path_factory.mktemp("settings"),
                       archive={"url": f"sqlite:///{archive_file}", "retry_seconds": 0.5})
    queries = None if request.param == "shipped" else str(ALT_QUERIES)
    with open_archive(config, queries_dir=queries) as opened:
        yield opened


def judge(archive: SqlArchive, n: int, email: str, calfields: tuple[str, ...]) -> Verdict:
    request = Request(
        mous=uid(n), project=project(n), calfields=calfields, user_name="A User",
        user_email=email, ticket=str(20000 + n), arc_contact="arc@example.org", cc=(),
        message_id=None, received=datetime(2024, 5, 17, 9, 0, tzinfo=UTC),
        origin=Origin(channel="mail", sender="arc@example.org"))
    return decide(request, archive.facts(uid(n)), (), TODAY)


@pytest.mark.parametrize(("n", "email", "calfields", "code", "role"),
                         [(n, *case[2:]) for n, case in enumerate(CASES, start=1)],
                         ids=[case[0] for case in CASES])
def test_each_case_fails_closed(archive: SqlArchive, n: int, email: str,
                                calfields: tuple[str, ...], code: VerdictCode,
                                role: str | None) -> None:
    verdict = judge(archive, n, email, calfields)
    assert verdict.code is code, verdict
    if role is not None:
        assert verdict.detail["role"] == role


def test_every_target_named_as_calfield_is_reported(archive: SqlArchive) -> None:
    mixed = next(n for n, case in enumerate(CASES, 1) if case[0].startswith("mixed"))
    verdict = judge(archive, mixed, STRANGER, ("J0510+1800", "HL_Tau"))
    assert verdict.detail["targets"] == "HL_Tau"


def test_the_shipped_queries_show_why(archive_file: Path, tmp_path: Path) -> None:
    """Rows that entitle nobody are still there, named, for `mailbot explain`."""
    config = config_in(tmp_path, archive={"url": f"sqlite:///{archive_file}"})
    index = {case[0]: n for n, case in enumerate(CASES, start=1)}
    with open_archive(config) as shipped:
        too = shipped.facts(uid(index["delegation for ToO triggers"]))
        gone = shipped.facts(uid(index["data delegee with an inactive account"]))
        pending = shipped.facts(uid(index["a NULL release beside a past one"]))
        blank = shipped.facts(uid(index["NULL intents"]))
    assert {r.role for r in too.entitlement} == {"PI", "DELEGEE (not for data)"}
    assert {r.role for r in gone.entitlement} == {"PI", "DELEGEE (inactive account)"}
    assert sorted((r.release_date is None, r.delivery[-2:]) for r in pending.release_rows) == [
        (False, "X1"), (True, "_2")]
    assert ("HL_Tau", False, None) in {(r.name, r.is_calibrator, r.intents)
                                       for r in blank.field_rows}


def test_cases_cover_both_outcomes_of_every_rule() -> None:
    outcomes = {case[4] for case in CASES}
    assert {VerdictCode.STAGE, VerdictCode.NOT_ENTITLED, VerdictCode.NO_QA0_PASS,
            VerdictCode.NOT_DELIVERED} <= outcomes
    assert len({case[0] for case in CASES}) == len(CASES)



