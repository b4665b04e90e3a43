"""The demo archive's rows, spelled the way the ALMA archive stores them, and the demo requests.

The values are the archive's, not invented ones, so that the demo cannot hide a
query that works only on tidy data: science targets carry the short intent
`TARGET` (asa_science) or the ASDM spelling `OBSERVE_TARGET#ON_SOURCE`, some
fields have no intents at all, QA0 has `SemiPass`, `Fail` and `Unset`, one MOUS
has a redelivery whose release date is not set yet, old delivery rows are
linked only by name, an account is inactive and one delegation is not for data.
"""

from __future__ import annotations

from dataclasses import dataclass

from mailbot.model import VerdictCode

# account_id, request_handler_id, firstname, lastname, email, preferredarc, active
ACCOUNTS = (
    ("jszulagyi", 40121, "Judit", "Szulágyi", "judit.szulagyi@example.org", "EU", "T"),
    ("lkarrstrom", 40533, "Lina", "Kärrström", "lina.karrstrom@example.org", "EU", "T"),
    ("tnakamura", 31877, "Takeshi", "Nakamura", "t.nakamura@example.net", "EA", "T"),
    ("mgarciaperez", 41277, "María", "García Pérez", "maria.garcia@example.org", "NA", "T"),
    ("kwojcik", 39004, "Katarzyna", "Wójcik", "k.wojcik@example.org", "EU", "T"),
    ("ajensen", 22418, "Anders", "Jensen", "anders.jensen@example.org", "EU", "T"),
    ("amueller", 42190, "Anna", "Müller", "anna.mueller@example.org", "EU", "T"),
    ("objornstad", 42311, "Øystein", "Bjørnstad", "oystein.bjornstad@example.org", "EU", "T"),
    # A delegee who left: the account lingers, inactive.
    ("ssaarinen", 38110, "Sanna", "Saarinen", "sanna.saarinen@example.org", "EU", "F"),
    # Delegated to submit ToO triggers only: no data rights.
    ("pdubois", 42455, "Pierre", "Dubois", "pierre.dubois@example.org", "EU", "T"),
)

PROJECTS = (
    # prj_archive_uid, prj_code, title, pi account
    ("uid://A001/X1288/X3c1", "2017.1.00727.S", "Circumplanetary disks in HL Tau", "jszulagyi"),
    (
        "uid://A001/X879/X2a0",
        "2016.1.00484.L",
        "Disk Substructures at High Angular Resolution",
        "tnakamura",
    ),
    ("uid://A001/X14d7/X15a", "2019.1.00337.S", "Dense gas in the NGC 1068 torus", "mgarciaperez"),
    ("uid://A001/X133d/X3ce1", "2018.1.01406.S", "Water fountains in evolved stars", "kwojcik"),
    ("uid://A002/X2e1c5e/X5", "2011.0.00101.S", "Early Science dust continuum survey", "ajensen"),
)

DELEGATIONS = (
    # PI account, delegee account, project, delegation_type
    ("jszulagyi", "lkarrstrom", "2017.1.00727.S", "DATA"),
    ("mgarciaperez", "jszulagyi", "2019.1.00337.S", "DATA"),
    ("kwojcik", "ssaarinen", "2018.1.01406.S", "DATA"),
    ("kwojcik", "pdubois", "2018.1.01406.S", "TOO"),
)

# Scan intents as asa_science stores them (space separated) ...
_BP = "BANDPASS FLUX WVR"
_PH = "PHASE WVR"
_CHECK = "CHECK WVR"
_SCI = "TARGET"
# ... and as ASDMs and CASA spell them, with sub-intents.
_BP_ASDM = "CALIBRATE_BANDPASS#ON_SOURCE CALIBRATE_FLUX#ON_SOURCE CALIBRATE_WVR#ON_SOURCE"
_PH_ASDM = "CALIBRATE_PHASE#ON_SOURCE CALIBRATE_WVR#ON_SOURCE"
_SCI_ASDM = "OBSERVE_TARGET#ON_SOURCE"


@dataclass(frozen=True)
class DemoMous:
    uid: str
    project: str
    state: str
    ebs: tuple[tuple[str, str], ...]  # (execblockuid, qa0status)
    fields: tuple[tuple[str, str | None], ...]  # (source_name, scan intents or NULL)
    release: str | None  # "proprietary", "YYYY-MM-DD" or None (not delivered yet)
    pending: bool = False  # a redelivery whose release date is not set yet (NULL)
    by_name: bool = False  # delivery rows as old ones are: linked only by deliverable_name


MOUSES = (
    DemoMous(
        "uid://A001/X1296/X675",
        "2017.1.00727.S",
        "Delivered",
        (("uid://A002/Xc7e0a2/X4a1b", "Pass"), ("uid://A002/Xc7e0a2/X5d3e", "Pass")),
        (("J0510+1800", _BP), ("J0431+1731", _PH), ("J0321+1234", _CHECK), ("HL_Tau", _SCI)),
        "proprietary",
    ),
    DemoMous(
        "uid://A001/X1296/X67b",
        "2017.1.00727.S",
        "Delivered",
        (("uid://A002/Xc8a1d5/X2f07", "Pass"), ("uid://A002/Xc8a1d5/X30e2", "SemiPass")),
        (("J0510+1800", _BP_ASDM), ("J0431+1731", _PH_ASDM), ("HL_Tau", _SCI_ASDM)),
        "proprietary",
    ),
    DemoMous(
        "uid://A001/X87a/X4c1",
        "2016.1.00484.L",
        "Delivered",
        (("uid://A002/Xbe7d1b/X1c6", "Pass"),),
        (("J1924-2914", _BP), ("J1733-1304", _PH), ("Elias_2-27", _SCI)),
        "2018-03-15",
        by_name=True,
    ),
    DemoMous(
        "uid://A001/X87a/X4c9",
        "2016.1.00484.L",
        "Delivered",
        (("uid://A002/Xbe8a2f/X3e1", "Pass"),),
        (("J1924-2914", _BP), ("J1625-2527", _PH), ("WSB_52", _SCI)),
        "2018-03-15",
        pending=True,
    ),
    DemoMous(
        "uid://A001/X14d7/X160",
        "2019.1.00337.S",
        "QA3InProgress",
        (("uid://A002/Xe3a5fd/X8b2", "Pass"),),
        (("J0217-0820", _BP), ("J0238+1636", _PH), ("NGC_1068", _SCI)),
        "proprietary",
    ),
    DemoMous(
        "uid://A001/X14d7/X164",
        "2019.1.00337.S",
        "DeliveryInProgress",
        (("uid://A002/Xe3a5fd/X1a7c", "Pass"),),
        (("J0217-0820", _BP), ("J0238+1636", _PH), ("NGC_1068", _SCI)),
        None,
    ),
    DemoMous(
        "uid://A001/X14d7/X168",
        "2019.1.00337.S",
        "FullyObserved",
        (
            ("uid://A002/Xe41b09/X2d4", "Fail"),
            ("uid://A002/Xe41b09/X3f1", "SemiPass"),
            ("uid://A002/Xe41b09/X4a0", "Unset"),
        ),
        (),
        None,
    ),
    DemoMous(
        "uid://A001/X133d/X3cf3",
        "2018.1.01406.S",
        "Delivered",
        (("uid://A002/Xd33a12/X15be", "Pass"),),
        # Science targets whose intents were never filled in: NULL and empty.
        (("J1751+0939", _BP), ("J1743-0350", _PH), ("IRAS_18286-0959", None), ("W43A", "")),
        "proprietary",
    ),
    DemoMous(
        "uid://A002/X3b3400/X90f",
        "2011.0.00101.S",
        "Delivered",
        (("uid://A002/X3c7a84/X1c", "Pass"),),
        (("3c454.3", _BP), ("Callisto", "AMPLITUDE"), ("Arp_220", _SCI)),
        "2013-06-01",
    ),
)


@dataclass(frozen=True)
class DemoCase:
    """One demo request and the verdict it must get from the seeded archive."""

    name: str  # short label for the demo table, e.g. "entitled PI"
    expected: VerdictCode
    mous: str  # URI form
    project: str
    user_name: str
    user_email: str
    ticket: str
    calfields: tuple[str, ...] = ()


_JUDIT = ("Judit Szulágyi", "judit.szulagyi@example.org")
_OYSTEIN = ("Øystein Bjørnstad", "oystein.bjornstad@example.org")
_MARIA = ("María García Pérez", "maria.garcia@example.org")
_ANNA = ("Anna Müller", "anna.mueller@example.org")

# fmt: off
# In order: a run processes them one after the other, so the repeat of the first
# request meets it as an active request.
DEMO_CASES: tuple[DemoCase, ...] = (
    DemoCase("entitled PI", VerdictCode.STAGE,
             "uid://A001/X1296/X675", "2017.1.00727.S", *_JUDIT, "16140"),
    DemoCase("same request again", VerdictCode.DUPLICATE,
             "uid://A001/X1296/X675", "2017.1.00727.S", *_JUDIT, "16140"),
    DemoCase("delegee, email in other case and spaces", VerdictCode.STAGE,
             "uid://A001/X1296/X67b", "2017.1.00727.S",
             "Lina Kärrström", "  Lina.Karrstrom@EXAMPLE.org ", "16152"),
    DemoCase("public since its release date", VerdictCode.STAGE,
             "uid://A001/X87a/X4c1", "2016.1.00484.L", *_ANNA, "16203"),
    DemoCase("calibrators only, user not entitled", VerdictCode.STAGE,
             "uid://A001/X1296/X675", "2017.1.00727.S", *_OYSTEIN, "16267",
             ("J0510+1800", "J0321+1234")),
    DemoCase("science target named as calfield", VerdictCode.NOT_ENTITLED,
             "uid://A001/X1296/X675", "2017.1.00727.S", *_OYSTEIN, "16268", ("HL_Tau",)),
    DemoCase("unknown calfield", VerdictCode.UNKNOWN_CALFIELD,
             "uid://A001/X1296/X675", "2017.1.00727.S", *_OYSTEIN, "16270",
             ("J0510+1800", "J0510+1801")),
    DemoCase("Cycle 0 project", VerdictCode.CYCLE_0,
             "uid://A002/X3b3400/X90f", "2011.0.00101.S",
             "Anders Jensen", "anders.jensen@example.org", "16311"),
    DemoCase("unknown MOUS", VerdictCode.INVALID_MOUS,
             "uid://A001/X1296/X9ff", "2017.1.00727.S", *_JUDIT, "16342"),
    DemoCase("MOUS of another project", VerdictCode.PROJECT_MISMATCH,
             "uid://A001/X1296/X675", "2018.1.01406.S",
             "Katarzyna Wójcik", "k.wojcik@example.org", "16355"),
    DemoCase("no QA0 Pass execution block", VerdictCode.NO_QA0_PASS,
             "uid://A001/X14d7/X168", "2019.1.00337.S", *_MARIA, "18702"),
    DemoCase("in QA3", VerdictCode.NOT_DELIVERED,
             "uid://A001/X14d7/X160", "2019.1.00337.S", *_MARIA, "18704"),
    DemoCase("delivery in progress", VerdictCode.NOT_DELIVERED,
             "uid://A001/X14d7/X164", "2019.1.00337.S", *_JUDIT, "18705"),
    DemoCase("user not entitled", VerdictCode.NOT_ENTITLED,
             "uid://A001/X133d/X3cf3", "2018.1.01406.S", *_OYSTEIN, "18711"),
    DemoCase("target as OBSERVE_TARGET#ON_SOURCE named as calfield", VerdictCode.NOT_ENTITLED,
             "uid://A001/X1296/X67b", "2017.1.00727.S", *_OYSTEIN, "18720", ("HL_Tau",)),
    DemoCase("field without scan intents named as calfield", VerdictCode.NOT_ENTITLED,
             "uid://A001/X133d/X3cf3", "2018.1.01406.S", *_OYSTEIN, "18721",
             ("J1751+0939", "IRAS_18286-0959")),
    DemoCase("a redelivery not dated yet, older one public", VerdictCode.NOT_ENTITLED,
             "uid://A001/X87a/X4c9", "2016.1.00484.L", *_ANNA, "18722"),
    DemoCase("delegated for ToO triggers, not for data", VerdictCode.NOT_ENTITLED,
             "uid://A001/X133d/X3cf3", "2018.1.01406.S",
             "Pierre Dubois", "pierre.dubois@example.org", "18723"),
    DemoCase("delegee whose account is inactive", VerdictCode.NOT_ENTITLED,
             "uid://A001/X133d/X3cf3", "2018.1.01406.S",
             "Sanna Saarinen", "sanna.saarinen@example.org", "18724"),
)
# fmt: on
