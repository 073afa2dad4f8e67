"""The class list (roster.py) and late penalties and due dates (late.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from autograder import late
from autograder.discover import Found
from autograder.late import Amount, LatePolicy, PolicyError, parse_policy, penalty
from autograder.roster import Roster, RosterError, Student, canvas_name_slug

# --------------------------------------------------------------------------- roster

GOOD = """\ufeffID , Name,Email,sis_id,section,lms_user_id,login,GitHub
s001,Jane Doe,Jane@Uni.edu,1001,A,12345,jdoe,janed
s002,"Doe, John",john@uni.edu,1002,B,23456,jodoe,
"""


def _roster(tmp_path, text: str) -> Roster:
    path = tmp_path / "roster.csv"
    path.write_text(text, encoding="utf-8")
    return Roster.from_csv(path)


def test_roster_csv_keeps_every_column_and_looks_students_up_every_way(tmp_path):
    r = _roster(tmp_path, GOOD)
    assert r.ids == ["s001", "s002"] and len(r) == 2 and "s001" in r
    jane = r.get("s001")
    assert (jane.name, jane.email, jane.sis_id, jane.section, jane.lms_user_id, jane.login) == \
        ("Jane Doe", "Jane@Uni.edu", "1001", "A", "12345", "jdoe")
    assert jane.extra == {"github": "janed"}
    assert r.by_lms_user_id("12345") is jane and r.by_login("JDOE") is jane
    assert r.by_email("jane@uni.edu") is jane and r.by_sis_id("1001") is jane
    assert r.by_name("  jane   DOE ") == [jane] and r.by_name("Doe, Jane") == [jane]
    assert r.by_name("John Doe") == [r.get("s002")]
    assert r.by_canvas_slug("doejane") == [jane] and r.by_canvas_slug("doejohn") == [r.get("s002")]
    assert jane.sortable_name == "Doe, Jane" and r.get("s002").first_name == "John"
    assert r.resolve("jodoe") == (r.get("s002"), "login")
    assert r.resolve("Jane Doe") == (jane, "full name")
    assert r.resolve("nobody")[0] is None


def test_canvas_name_slug_is_what_canvas_writes_in_file_names():
    assert canvas_name_slug("Jane Doe") == "doejane"
    assert canvas_name_slug("Ann O'Hara") == "oharaann"
    assert canvas_name_slug("Doe, Jane") == "doejane"
    assert canvas_name_slug("Zoë Ångström") == "ångströmzoë"


@pytest.mark.parametrize("text, error", [
    ("", "roster.csv: empty; the first line must be a header with an 'id' column"),
    ("name,email\nJane,j@x\n", "roster.csv: no 'id' column in the header (name, email); "
                              "the columns are id, name, email, sis_id, section, "
                              "lms_user_id, login"),
    ("id,id\n1,2\n", "roster.csv: column 'id' appears twice in the header"),
    ("id,name\ns1,Jane\n,Bob\n", "roster.csv line 3: empty id"),
    ("id,name\ns1,Jane\ns1,Bob\n", "roster.csv line 3: student id 's1' appears twice"),
    ("id,name\ns1,Doe, Jane\n", "roster.csv line 2: 3 cells for 2 columns (a comma inside a "
                                "name needs quotes)"),
    ("id,lms_user_id\ns1,5\ns2,5\n", "roster.csv line 3: lms_user_id '5' is given to both "
                                     "'s1' and 's2'"),
    ("id,name\n", "roster.csv: a header but no students"),
])
def test_a_malformed_roster_is_refused_in_one_clear_line(tmp_path, text, error):
    with pytest.raises(RosterError) as exc:
        _roster(tmp_path, text)
    assert str(exc.value) == error and "\n" not in str(exc.value)


def test_a_roster_that_is_not_text_or_not_there(tmp_path):
    (tmp_path / "roster.csv").write_bytes(b"id\n\xff\xfe\n")
    with pytest.raises(RosterError, match="not UTF-8 text"):
        Roster.from_csv(tmp_path / "roster.csv")
    with pytest.raises(RosterError, match="no such file"):
        Roster.from_csv(tmp_path / "missing.csv")


def test_roster_from_a_canvas_gradebook_export(tmp_path):
    path = tmp_path / "export.csv"
    path.write_text('Student,ID,SIS User ID,SIS Login ID,Section,Quiz 1 (111)\n'
                    '    Points Possible,,,,,10\n'
                    '"Doe, Jane",12345,1001,jdoe,A,9\n'
                    '"Student, Test",99999,,,A,\n')
    r = Roster.from_canvas_export(path)
    assert r.ids == ["jdoe"]
    assert r.get("jdoe") == Student("jdoe", "Doe, Jane", "", "1001", "A", "12345", "jdoe")


@pytest.fixture(scope="module")
def gradebook(tmp_path_factory):
    from nbgrader.api import Gradebook

    url = f"sqlite:///{tmp_path_factory.mktemp('gb') / 'gradebook.db'}"
    # nbgrader stamps a new database with the version `alembic heads` prints (a subprocess
    # taking seconds); the stamp plays no part here
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("nbgrader.api.get_alembic_version", lambda: "not-stamped")
        gb = Gradebook(url)
    with gb:
        gb.add_student("s001", first_name="Jane", last_name="Doe", email="jane@uni.edu",
                       lms_user_id="12345")
        gb.add_student("s002")
        gb.add_assignment("02_linear_classifiers", duedate="2026-03-01 23:59:00 UTC")
        gb.add_assignment("01_knn")
    return url


def test_roster_from_nbgraders_student_table(gradebook):
    r = Roster.from_gradebook(gradebook)
    assert sorted(r.ids) == ["s001", "s002"]
    jane = r.get("s001")
    assert (jane.name, jane.email, jane.lms_user_id) == ("Jane Doe", "jane@uni.edu", "12345")
    assert r.by_lms_user_id("12345") is jane
    assert jane.nbgrader_fields() == {"first_name": "Jane", "last_name": "Doe",
                                      "email": "jane@uni.edu", "lms_user_id": "12345"}


# --------------------------------------------------------------------------- late policies

DUE = datetime(2026, 3, 1, 23, 59, tzinfo=UTC)
LATENESS = {"2.8 s": timedelta(seconds=2.8), "3 h": timedelta(hours=3),
            "3 days": timedelta(days=3)}


@pytest.mark.parametrize("spec, expected", [
    # score 8 of 10; penalties for 2.8 s, 3 h and 3 days late
    ("none", (0, 0, 0)),
    ("nbgrader", (8, 8, 8)),
    ("per-hour:0.5", (0.5, 1.5, 8)),  # 72 started hours x 0.5 = 36, never more than 8
    ("per-hour:1:cap=2.5", (1, 2.5, 2.5)),
    ("per-hour:5%:cap=20%", (0.5, 1.5, 2)),
    ("per-day:10%", (1, 1, 3)),
    ("per-day:10%:cap=25%", (1, 1, 2.5)),
    ("per_day:2", (2, 2, 6)),
])
def test_a_submission_2_8_s_3_h_and_3_days_late_gets_exactly_the_configured_penalty(
        spec, expected):
    policy = parse_policy(spec)
    got = tuple(penalty(policy, late.seconds_late(DUE + delta, DUE), 8.0, 10.0)
                for delta in LATENESS.values())
    assert got == pytest.approx(expected, abs=1e-12)


def test_penalties_are_never_more_than_the_score_nor_given_when_on_time():
    policy = parse_policy("per-day:100")
    assert penalty(policy, 1.0, 3.0, 10.0) == 3.0
    assert penalty(policy, 0.0, 3.0, 10.0) == 0.0
    assert penalty(policy, 5.0, 0.0, 10.0) == 0.0
    assert late.seconds_late(DUE - timedelta(hours=1), DUE) == 0.0
    assert late.seconds_late(None, DUE) == 0.0 and late.seconds_late(DUE, None) == 0.0


def test_the_policy_as_the_batch_takes_it():
    assert late.penalty_callback(parse_policy("none")) is None
    callback = late.penalty_callback(parse_policy("per-hour:1:cap=2.5"))
    assert callback("01_knn", 3 * 3600.0, 8.0, 10.0) == 2.5


def test_policy_strings_parse_and_describe_themselves():
    assert parse_policy(None) == LatePolicy("none")
    assert parse_policy("zero") == LatePolicy("nbgrader")
    assert parse_policy("per-day:10%:cap=50%") == LatePolicy(
        "per_day", Amount(10.0, True), Amount(50.0, True))
    assert parse_policy("per-day:10%:cap=50%").describe() == \
        "10% per started day late, at most 50%"


@pytest.mark.parametrize("spec, message", [
    ("weekly:3", "unknown kind 'weekly'; expected none | nbgrader | per-hour"),
    ("per-day", "per-day needs a rate, like per-day:10% or per-day:2"),
    ("per-day:ten", "rate 'ten' is not a number of points or a percentage"),
    ("per-day:150%", "rate 150% is more than 100%"),
    ("per-hour:1:max=3", "'max=3' is not cap=AMOUNT"),
    ("per-hour:1:cap=2:cap=3", "cap given twice"),
    ("nbgrader:5", "nbgrader takes no rate or cap"),
])
def test_bad_policy_strings_say_what_was_expected(spec, message):
    with pytest.raises(PolicyError) as exc:
        parse_policy(spec)
    assert message in str(exc.value) and str(exc.value).startswith(f"late policy {spec!r}")


# --------------------------------------------------------------------------- due dates

def test_due_dates_from_nbgraders_gradebook_and_from_a_mapping(gradebook):
    assert late.due_dates_from_gradebook(gradebook) == {
        "02_linear_classifiers": datetime(2026, 3, 1, 23, 59, tzinfo=UTC)}
    assert late.due_dates_from_mapping({"01_knn": "2026-03-02 10:00:00 Europe/Berlin",
                                        "02": datetime(2026, 3, 2, 9, 0), "03": None}) == {
        "01_knn": datetime(2026, 3, 2, 9, 0, tzinfo=UTC),
        "02": datetime(2026, 3, 2, 9, 0, tzinfo=UTC)}
    with pytest.raises(PolicyError, match="due date of 01_knn"):
        late.due_dates_from_mapping({"01_knn": "next tuesday-ish"})


def test_late_penalty_of_a_found_submission_and_of_an_lms_late_flag():
    policy = parse_policy("per-hour:1")
    stamped = Found(None, "s001", "01_knn", DUE + timedelta(hours=3), "nbgrader")
    assert late.late_penalty(policy, stamped, DUE, 8.0, 10.0) == (
        3.0, "s001/01_knn: 3.0 h late: -3 (1 points per started hour late)")
    flagged = Found(None, "s001", "01_knn", None, "canvas late", lms_late=True)
    points, note = late.late_penalty(policy, flagged, DUE, 8.0, 10.0)
    assert points == 0.0 and "marked late by the LMS" in note and "check it by hand" in note
    assert late.late_penalty(late.NONE, stamped, DUE, 8.0, 10.0) == (0.0, "")
