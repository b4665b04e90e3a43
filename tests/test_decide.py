"""The checks of the procedure, one case per branch and per ordering conflict (no database)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mailbot import decide as decide_module
from mailbot.decide import ActiveRequest, decide
from mailbot.model import EntitlementRow, Facts, Origin, Request, Verdict, VerdictCode

TODAY = date(2024, 5, 17)
MOUS = "uid://A001/X1296/X675"
PROJECT = "2017.1.00727.S"
PI = "judit.szulagyi@example.org"
DELEGEE = "lina.karrstrom@example.org"
STRANGER = "oystein.bjornstad@example.org"
TICKET = "16140"


def make_request(**changes: Any) -> Request:
    values: dict[str, Any] = {
        "mous": MOUS,
        "project": PROJECT,
        "calfields": (),
        "user_name": "Judit Szulágyi",
        "user_email": PI,
        "ticket": TICKET,
        "arc_contact": "arc@example.org",
        "cc": (),
        "message_id": "<req-1@example.org>",
        "received": datetime(2024, 5, 17, 9, 30, tzinfo=UTC),
        "origin": Origin(channel="mail", sender="arc@example.org"),
    }
    values.update(changes)
    return Request(**values)


def make_facts(**changes: Any) -> Facts:
    values: dict[str, Any] = {
        "entitlement": (
            EntitlementRow(PROJECT, "PI", PI),
            EntitlementRow(PROJECT, "DELEGEE", DELEGEE),
        ),
        "state": "Delivered",
        "qa0_pass": 2,
        "fields": (("J0510+1800", True), ("J0321+1234", True), ("HL_Tau", False)),
        "release_date": None,
    }
    values.update(changes)
    return Facts(**values)


ACTIVE_SAME = ActiveRequest(MOUS, (), TICKET, PI)

# id, request changes, facts changes, active requests, code, check, expected detail (subset)
CASES: list[tuple[str, dict[str, Any], dict[str, Any], tuple[ActiveRequest, ...],
                  VerdictCode, str, dict[str, str]]] = [
    # --- the plain branches, in the order of the table ---
    ("cycle 0", {"project": "2011.0.00101.S"}, {}, (),
     VerdictCode.CYCLE_0, "cycle_0", {"project": "2011.0.00101.S"}),
    ("unknown MOUS", {}, {"entitlement": ()}, (),
     VerdictCode.INVALID_MOUS, "known_mous", {"mous": MOUS}),
    ("project mismatch", {"project": "2018.1.01406.S"}, {}, (),
     VerdictCode.PROJECT_MISMATCH, "project_matches",
     {"request_project": "2018.1.01406.S", "archive_project": PROJECT}),
    ("no QA0 Pass", {}, {"qa0_pass": 0}, (),
     VerdictCode.NO_QA0_PASS, "qa0_pass", {"mous": MOUS}),
    ("unknown calfield", {"calfields": ("J0510+1800", "J9999+0000")}, {}, (),
     VerdictCode.UNKNOWN_CALFIELD, "calibrator_fields",
     {"fields": "J9999+0000", "calibrators": "J0510+1800,J0321+1234"}),
    ("not entitled", {"user_email": STRANGER}, {}, (),
     VerdictCode.NOT_ENTITLED, "entitlement", {"email": STRANGER, "release_date": ""}),
    ("QA3InProgress, PI", {}, {"state": "QA3InProgress"}, (),
     VerdictCode.NOT_DELIVERED, "delivered", {"state": "QA3InProgress"}),
    ("DeliveryInProgress, delegee", {"user_email": DELEGEE}, {"state": "DeliveryInProgress"}, (),
     VerdictCode.NOT_DELIVERED, "delivered", {"state": "DeliveryInProgress"}),
    ("no state row", {}, {"state": None}, (),
     VerdictCode.NOT_DELIVERED, "delivered", {"state": "unknown"}),
    ("duplicate", {}, {}, (ACTIVE_SAME,),
     VerdictCode.DUPLICATE, "not_duplicate", {"ticket": TICKET}),
    ("PI stages", {}, {}, (),
     VerdictCode.STAGE, "stage", {"role": "PI"}),
    # --- entitlement details ---
    ("delegee, email in other case with spaces",
     {"user_email": "  Lina.Karrstrom@EXAMPLE.org "}, {}, (),
     VerdictCode.STAGE, "stage", {"role": "DELEGEE"}),
    ("PI who is also a delegee is named PI",
     {}, {"entitlement": (EntitlementRow(PROJECT, "DELEGEE", PI),
                          EntitlementRow(PROJECT, "PI", PI))}, (),
     VerdictCode.STAGE, "stage", {"role": "PI"}),
    ("Oracle-padded role", {}, {"entitlement": (EntitlementRow(PROJECT, "PI     ", PI),)}, (),
     VerdictCode.STAGE, "stage", {"role": "PI"}),
    ("empty email never matches a NULL email",
     {"user_email": ""}, {"entitlement": (EntitlementRow(PROJECT, "PI", ""),)}, (),
     VerdictCode.NOT_ENTITLED, "entitlement", {}),
    ("release date yesterday: public", {"user_email": STRANGER},
     {"release_date": TODAY - timedelta(days=1)}, (),
     VerdictCode.STAGE, "stage", {"role": "public", "release_date": "2024-05-16"}),
    ("release date today: public", {"user_email": STRANGER}, {"release_date": TODAY}, (),
     VerdictCode.STAGE, "stage", {"role": "public", "release_date": "2024-05-17"}),
    ("release date tomorrow: proprietary", {"user_email": STRANGER},
     {"release_date": TODAY + timedelta(days=1)}, (),
     VerdictCode.NOT_ENTITLED, "entitlement", {"release_date": "2024-05-18"}),
    ("project code compared without case and spaces", {"project": " 2017.1.00727.s "}, {}, (),
     VerdictCode.STAGE, "stage", {"role": "PI"}),
    ("state compared without case", {}, {"state": "delivered"}, (),
     VerdictCode.STAGE, "stage", {"role": "PI"}),
    # --- calibrator fields ---
    ("calibrators only, stranger", {"user_email": STRANGER,
                                    "calfields": ("J0510+1800", "J0321+1234")}, {}, (),
     VerdictCode.STAGE, "stage", {"role": "calibrator"}),
    ("calfield names are exact", {"calfields": ("j0510+1800",)}, {}, (),
     VerdictCode.UNKNOWN_CALFIELD, "calibrator_fields", {"fields": "j0510+1800"}),
    ("science target as calfield, stranger", {"user_email": STRANGER, "calfields": ("HL_Tau",)},
     {}, (), VerdictCode.NOT_ENTITLED, "entitlement", {"targets": "HL_Tau"}),
    ("science target and calibrator, stranger",
     {"user_email": STRANGER, "calfields": ("J0510+1800", "HL_Tau")}, {}, (),
     VerdictCode.NOT_ENTITLED, "entitlement", {"targets": "HL_Tau"}),
    ("science target as calfield, PI", {"calfields": ("HL_Tau",)}, {}, (),
     VerdictCode.STAGE, "stage", {"role": "PI"}),
    ("science target as calfield, public", {"user_email": STRANGER, "calfields": ("HL_Tau",)},
     {"release_date": TODAY}, (),
     VerdictCode.STAGE, "stage", {"role": "public"}),
    ("calibrators only, still must be delivered",
     {"user_email": STRANGER, "calfields": ("J0510+1800",)}, {"state": "QA3InProgress"}, (),
     VerdictCode.NOT_DELIVERED, "delivered", {"state": "QA3InProgress"}),
    # --- ordering conflicts ---
    ("cycle 0 and unknown MOUS", {"project": "2011.0.00101.S"}, {"entitlement": ()}, (),
     VerdictCode.CYCLE_0, "cycle_0", {}),
    ("unknown MOUS and no QA0 Pass", {}, {"entitlement": (), "qa0_pass": 0}, (),
     VerdictCode.INVALID_MOUS, "known_mous", {}),
    ("project mismatch and no QA0 Pass", {"project": "2018.1.01406.S"}, {"qa0_pass": 0}, (),
     VerdictCode.PROJECT_MISMATCH, "project_matches", {}),
    ("no QA0 Pass and unknown calfield", {"calfields": ("J9999+0000",)}, {"qa0_pass": 0}, (),
     VerdictCode.NO_QA0_PASS, "qa0_pass", {}),
    ("unknown calfield and not entitled",
     {"user_email": STRANGER, "calfields": ("J9999+0000",)}, {}, (),
     VerdictCode.UNKNOWN_CALFIELD, "calibrator_fields", {"fields": "J9999+0000"}),
    ("QA3InProgress and not entitled", {"user_email": STRANGER}, {"state": "QA3InProgress"}, (),
     VerdictCode.NOT_ENTITLED, "entitlement", {}),
    ("not delivered and duplicate", {}, {"state": "DeliveryInProgress"}, (ACTIVE_SAME,),
     VerdictCode.NOT_DELIVERED, "delivered", {}),
    ("not entitled and duplicate", {"user_email": STRANGER}, {}, (ACTIVE_SAME,),
     VerdictCode.NOT_ENTITLED, "entitlement", {}),
    # --- duplicates ---
    ("same MOUS, other ticket", {}, {}, (ActiveRequest(MOUS, (), "16999", PI),),
     VerdictCode.STAGE, "stage", {}),
    ("same ticket, other MOUS", {}, {}, (ActiveRequest("uid://A001/X1296/X67b", (), TICKET, PI),),
     VerdictCode.STAGE, "stage", {}),
    ("same MOUS and ticket, other fields", {"calfields": ("J0510+1800",)}, {},
     (ACTIVE_SAME,), VerdictCode.STAGE, "stage", {"role": "calibrator"}),
    ("same fields in another order", {"calfields": ("J0321+1234", "J0510+1800")}, {},
     (ActiveRequest(MOUS, ("J0510+1800", "J0321+1234"), TICKET, PI),),
     VerdictCode.DUPLICATE, "not_duplicate", {"ticket": TICKET}),
    ("same MOUS and ticket, the delegee asks too", {"user_email": DELEGEE}, {}, (ACTIVE_SAME,),
     VerdictCode.STAGE, "stage", {"role": "DELEGEE"}),
    ("same user in another case, with spaces", {"user_email": " Judit.Szulagyi@Example.ORG "},
     {}, (ACTIVE_SAME,), VerdictCode.DUPLICATE, "not_duplicate", {"ticket": TICKET}),
    # --- rows that do not entitle (fail closed) ---
    ("PI row of an inactive account", {},
     {"entitlement": (EntitlementRow(PROJECT, "PI (inactive account)", PI),)}, (),
     VerdictCode.NOT_ENTITLED, "entitlement", {"email": PI}),
    ("delegation not for data", {"user_email": DELEGEE},
     {"entitlement": (EntitlementRow(PROJECT, "PI", PI),
                      EntitlementRow(PROJECT, "DELEGEE (not for data)", DELEGEE))}, (),
     VerdictCode.NOT_ENTITLED, "entitlement", {"email": DELEGEE}),
    ("a role that is no role", {}, {"entitlement": (EntitlementRow(PROJECT, "PI-ish", PI),)}, (),
     VerdictCode.NOT_ENTITLED, "entitlement", {}),
    ("only rows that do not entitle: the MOUS is still known", {"user_email": STRANGER},
     {"entitlement": (EntitlementRow(PROJECT, "PI (no account)", ""),)}, (),
     VerdictCode.NOT_ENTITLED, "entitlement", {}),
]  # fmt: skip


@pytest.mark.parametrize(
    ("request_changes", "facts_changes", "active", "code", "check", "detail"),
    [pytest.param(*case[1:], id=case[0]) for case in CASES],
)
def test_decide(
    request_changes: dict[str, Any],
    facts_changes: dict[str, Any],
    active: tuple[ActiveRequest, ...],
    code: VerdictCode,
    check: str,
    detail: dict[str, str],
) -> None:
    verdict = decide(make_request(**request_changes), make_facts(**facts_changes), active, TODAY)
    assert verdict.code is code
    assert verdict.check == check
    assert {k: verdict.detail.get(k) for k in detail} == detail
    assert all(isinstance(v, str) for v in verdict.detail.values())


def test_every_code_is_reached_by_the_table() -> None:
    assert {case[4] for case in CASES} == set(VerdictCode)


def test_checks_follow_the_procedure_order() -> None:
    assert [c.__name__ for c in decide_module.CHECKS] == [
        "cycle_0",
        "known_mous",
        "project_matches",
        "qa0_pass",
        "calibrator_fields",
        "entitlement",
        "delivered",
        "not_duplicate",
    ]


def test_detail_keys_are_documented() -> None:
    doc = decide_module.__doc__ or ""
    for case in CASES:
        verdict = decide(make_request(**case[1]), make_facts(**case[2]), case[3], TODAY)
        section = doc.split(f"- {verdict.code.value}:", 1)
        assert len(section) == 2, f"{verdict.code} not documented"
        documented = section[1].split("\n- ", 1)[0]
        for key in verdict.detail:
            assert key in documented, f"{verdict.code}: detail key {key!r} not documented"


def test_active_may_be_a_one_shot_iterable() -> None:
    verdict = decide(make_request(), make_facts(), iter([ACTIVE_SAME]), TODAY)
    assert verdict.code is VerdictCode.DUPLICATE


def test_received_day_is_what_counts_not_the_request_timestamp() -> None:
    # `today` is passed in; the function reads no clock.
    facts = make_facts(release_date=date(2030, 1, 1))
    request = make_request(user_email=STRANGER)
    assert decide(request, facts, (), date(2029, 12, 31)).code is VerdictCode.NOT_ENTITLED
    assert decide(request, facts, (), date(2030, 1, 1)).code is VerdictCode.STAGE


_facts_strategy = st.builds(
    Facts,
    entitlement=st.lists(
        st.builds(
            EntitlementRow,
            project_code=st.sampled_from([PROJECT, "2011.0.00101.S", "2019.1.00337.S", ""]),
            role=st.sampled_from(["PI", "DELEGEE", "pi", ""]),
            email=st.sampled_from([PI, DELEGEE, STRANGER, "", " PI@x.org "]),
        ),
        max_size=4,
    ).map(tuple),
    state=st.none() | st.sampled_from(["Delivered", "QA3InProgress", "Processing", ""]),
    qa0_pass=st.integers(min_value=-1, max_value=3),
    fields=st.lists(
        st.tuples(st.sampled_from(["J0510+1800", "HL_Tau", "3c454.3", "Titan"]), st.booleans()),
        max_size=4,
    ).map(tuple),
    release_date=st.none() | st.dates(date(2015, 1, 1), date(2035, 1, 1)),
)


@given(
    facts=_facts_strategy,
    project=st.sampled_from([PROJECT, "2011.0.00101.S", "2019.1.00337.S"]),
    email=st.sampled_from([PI, DELEGEE, STRANGER, ""]),
    calfields=st.lists(st.sampled_from(["J0510+1800", "HL_Tau", "Titan", "J9"]), max_size=3),
)
def test_any_input_gets_one_verdict_from_its_first_deciding_check(
    facts: Facts, project: str, email: str, calfields: list[str]
) -> None:
    request = make_request(project=project, user_email=email, calfields=tuple(calfields))
    verdict = decide(request, facts, (), TODAY)
    assert isinstance(verdict, Verdict)
    if project.startswith("2011."):
        assert verdict.code is VerdictCode.CYCLE_0
    # No check before the deciding one would have decided.
    names = [c.__name__ for c in decide_module.CHECKS]
    position = names.index(verdict.check) if verdict.check in names else len(names)
    case = decide_module._Case(request, facts, (), TODAY)
    assert all(c(case) is None for c in decide_module.CHECKS[:position])
    if verdict.stages:
        assert verdict.detail["role"] in {"PI", "DELEGEE", "public", "calibrator"}
        assert _norm_state(facts.state) == "delivered" and facts.qa0_pass > 0


def _norm_state(state: str | None) -> str:
    return (state or "").strip().lower()


# --- what the verdict was judged on, and every check's say (mailbot explain) ----------------


def test_the_verdict_carries_what_it_was_judged_on() -> None:
    facts = make_facts()
    verdict = decide(make_request(user_email=STRANGER), facts, (), TODAY)
    assert verdict.code is VerdictCode.NOT_ENTITLED
    assert verdict.passed == ("cycle_0", "known_mous", "project_matches", "qa0_pass",
                              "calibrator_fields")
    assert verdict.facts is facts and verdict.day == TODAY
    staged = decide(make_request(), facts, (), TODAY)
    assert staged.passed == tuple(c.__name__ for c in decide_module.CHECKS)


def test_explain_says_what_every_check_says() -> None:
    request = make_request(user_email=STRANGER, calfields=("HL_Tau",))
    decision = decide_module.explain(request, make_facts(state="QA3InProgress"),
                                     (ActiveRequest(MOUS, ("HL_Tau",), TICKET, STRANGER),), TODAY)
    said = [(o.check, o.verdict.code if o.verdict else None, o.reached)
            for o in decision.outcomes]
    assert said == [
        ("cycle_0", None, True),
        ("known_mous", None, True),
        ("project_matches", None, True),
        ("qa0_pass", None, True),
        ("calibrator_fields", None, True),
        ("entitlement", VerdictCode.NOT_ENTITLED, True),
        ("delivered", VerdictCode.NOT_DELIVERED, False),
        ("not_duplicate", VerdictCode.DUPLICATE, False),
    ]
    assert decision.verdict.code is VerdictCode.NOT_ENTITLED
    assert decision.verdict.detail["targets"] == "HL_Tau"


@pytest.mark.parametrize(
    ("received", "day"),
    [
        # 00:30 in Garching (summer, UTC+2) is still the day before in UTC.
        (datetime(2024, 5, 16, 22, 30, tzinfo=UTC), date(2024, 5, 17)),
        # 00:30 in winter (UTC+1).
        (datetime(2024, 1, 15, 23, 30, tzinfo=UTC), date(2024, 1, 16)),
        (datetime(2024, 1, 15, 22, 59, tzinfo=UTC), date(2024, 1, 15)),
        # An offset of the sender's own is only a way of writing the instant.
        (datetime(2024, 5, 17, 1, 0, tzinfo=timezone(timedelta(hours=-7))), date(2024, 5, 17)),
    ],
)
def test_the_day_of_the_request_is_a_day_in_garching(received: datetime, day: date) -> None:
    assert decide_module.request_day(received, ZoneInfo(decide_module.DEFAULT_TIMEZONE)) == day


def test_a_mail_just_after_midnight_in_garching_is_judged_on_that_day() -> None:
    # Public from 2024-05-17; the mail arrives at 00:30 CEST, i.e. 22:30 UTC the day before.
    received = datetime(2024, 5, 16, 22, 30, tzinfo=UTC)
    request = make_request(user_email=STRANGER, received=received)
    facts = make_facts(release_date=date(2024, 5, 17))
    berlin = decide_module.request_day(received, ZoneInfo("Europe/Berlin"))
    assert decide(request, facts, (), berlin).code is VerdictCode.STAGE
    assert decide(request, facts, (), received.date()).code is VerdictCode.NOT_ENTITLED
