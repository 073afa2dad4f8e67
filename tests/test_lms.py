"""Finding submissions in real LMS downloads (discovery only, no grading: quick).

Each test builds a download exactly as the LMS names it, from the course's own student
notebooks, and checks that every file lands on the right roster student or is reported,
and that no student is graded twice:

* Canvas "Download Submissions" (``lib/content_zipper.rb``): ``<sortable name lower-cased,
  punctuation removed>[_LATE]_<user id>_<file id>_<file name>``, resubmitted files
  renamed ``name-1.ipynb``;
* Moodle "Download all submissions" (``mod/assign/locallib.php``): a folder per student
  and plugin, ``<Full Name>_<participant>_assignsubmission_file_/<file name>``;
* nbgrader's ``submitted/<student>/<assignment>/`` with ``timestamp.txt``;
* folders and flat names as people make them, with ``name (1).ipynb`` copies.
"""

from __future__ import annotations

import os
import stat
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import pytest

from autograder import config, discover, submissions
from autograder.discover import find_submissions
from autograder.roster import Roster

IDS = ["01_knn", "02_linear_classifiers", "03_backprop", "04_neural_networks",
       "05_two_layer_net"]
LINEAR = "02_linear_classifiers"

ROSTER_CSV = """\
id,name,email,sis_id,section,lms_user_id,login,github
s001,Jane Doe,jane@uni.edu,1001,A,12345,jdoe,janed
s002,Ann O'Hara,ann@uni.edu,1002,A,23456,aohara,
s003,Bob Smith,bob@uni.edu,1003,B,34567,bsmith,
s004,Wei Chen,wei@uni.edu,1004,B,45678,wchen,
s005,Dana Lee,dana@uni.edu,1005,B,,dlee,
"""


@pytest.fixture(scope="module")
def notebook_bytes():
    return {i: (config.NOTEBOOKS_DIR / f"{i}.ipynb").read_bytes() for i in IDS}


@pytest.fixture(scope="module")
def roster(tmp_path_factory):
    path = tmp_path_factory.mktemp("roster") / "roster.csv"
    path.write_text(ROSTER_CSV)
    return Roster.from_csv(path)


def _zip(path: Path, members: dict[str, bytes], symlinks=(), encrypted=()) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            info = zipfile.ZipInfo(name, date_time=(2026, 3, 1, 12, 0, 0))
            info.external_attr = (stat.S_IFREG | 0o644) << 16
            zf.writestr(info, data)
        for name, target in symlinks:
            info = zipfile.ZipInfo(name, date_time=(2026, 3, 1, 12, 0, 0))
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            zf.writestr(info, target)
    if encrypted:  # zipfile cannot encrypt: set the "encrypted" flag in both headers
        raw = bytearray(path.read_bytes())
        for name in encrypted:
            at = raw.find(name.encode())
            while at != -1:
                for sig, offset, flag in ((b"PK\x03\x04", 30, 6), (b"PK\x01\x02", 46, 8)):
                    if raw[at - offset:at - offset + 4] == sig:
                        raw[at - offset + flag] |= 0x1
                at = raw.find(name.encode(), at + 1)
        path.write_bytes(bytes(raw))
    return path


def _subject(line: str) -> str:
    """The file a decision line is about: ``found: X -> ...``, ``ignored: X: why``."""
    rest = line.split(": ", 1)[1]
    if line.startswith("found: "):
        return rest.split(" -> ")[0]
    return rest.removeprefix("refused ").split(": ")[0]


def _accounted(lines: list[str], names, inside: str = "") -> None:
    """Every file is named by exactly one line saying what became of it (``inside``: the
    zip the files came in)."""
    subjects = [_subject(line) for line in lines if not line.startswith("newest: ")]
    for name in names:
        hits = [s for s in subjects if s == inside + name]
        assert len(hits) == 1, (name, hits)


def _graded_once(found) -> None:
    paths = [f.path for f in found.values()]
    assert len(paths) == len(set(paths))
    older = [p for f in found.values() for p in f.not_graded]
    assert not set(older) & set(paths)


# --------------------------------------------------------------------------- Canvas

CANVAS_FILES = {
    f"doejane_12345_678910_{LINEAR}.ipynb": ("s001", "older"),
    f"doejane_LATE_12345_678911_{LINEAR}.ipynb": ("s001", "graded"),  # late resubmission
    f"oharaann_23456_678920_{LINEAR}-1.ipynb": ("s002", "graded"),  # renamed by Canvas
    f"smithbob_34567_678930_{LINEAR}.ipynb": ("s003", "graded"),
    f"leedana_56789_678950_{LINEAR}.ipynb": ("s005", "graded"),  # no lms_user_id: by name
    f"intruder_99999_678960_{LINEAR}.ipynb": (None, "not on roster"),
    "doejane_12345_678970_my_linear_homework.ipynb": (None, "ignored"),
    f"LATE_anon_x7Kq2_678980_{LINEAR}.ipynb": (None, "not on roster"),  # anonymous grading
}


def test_canvas_download_zip_lands_every_file_on_its_roster_student(tmp_path, roster,
                                                                    notebook_bytes):
    members = {name: notebook_bytes[LINEAR] for name in CANVAS_FILES}
    members["smithbob_34567_678990_notes.txt"] = b"my notes"
    members["../escape.ipynb"] = notebook_bytes[LINEAR]
    download = tmp_path / "in" / "submissions.zip"
    download.parent.mkdir()
    _zip(download, members, symlinks=[(f"hacker_1_2_{LINEAR}.ipynb", "/etc/passwd")])
    found, lines = find_submissions(download.parent, IDS, roster,
                                    extract_to=tmp_path / "extracted")

    graded = {name: who for name, (who, what) in CANVAS_FILES.items() if what == "graded"}
    assert {k: Path(f.path).name for k, f in found.items()} == {
        (who, LINEAR): name for name, who in graded.items()}
    jane = found[("s001", LINEAR)]
    assert jane.origin == "canvas late" and jane.lms_late and jane.timestamp is None
    assert [p.name for p in jane.not_graded] == [f"doejane_12345_678910_{LINEAR}.ipynb"]
    _graded_once(found)
    _accounted(lines, CANVAS_FILES, inside="submissions.zip/")
    text = "\n".join(lines)
    assert "not on roster: submissions.zip/intruder_99999" in text
    assert "matched on the name" in text  # Dana Lee, by the name in the file name
    assert "refused submissions.zip/../escape.ipynb: a path outside the zip" in text
    assert f"refused submissions.zip/hacker_1_2_{LINEAR}.ipynb: a symbolic link" in text
    assert "1 member(s) that are not notebooks" in text
    assert "Canvas file id is higher" in text
    assert not (tmp_path / "escape.ipynb").exists() and not (tmp_path / "in" / "x").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["extracted", "in"]


def test_without_a_roster_a_late_canvas_file_is_not_a_second_student(tmp_path,
                                                                      notebook_bytes):
    for name in (f"doejane_12345_678910_{LINEAR}.ipynb",
                 f"doejane_LATE_12345_678911_{LINEAR}.ipynb",
                 f"doejane_12345_678912_{LINEAR}-1.ipynb"):
        (tmp_path / name).write_bytes(notebook_bytes[LINEAR])
    found, lines = find_submissions(tmp_path, IDS)
    assert list(found) == [("12345", LINEAR)]
    assert found[("12345", LINEAR)].path.name == f"doejane_12345_678912_{LINEAR}-1.ipynb"
    assert "no roster: the Canvas user id is the id" in "\n".join(lines)


# --------------------------------------------------------------------------- Moodle

MOODLE_FILES = {
    f"Jane Doe_501_assignsubmission_file_/{LINEAR}.ipynb": ("s001", "graded"),
    f"Ann O'Hara_502_assignsubmission_file_/{LINEAR} (1).ipynb": ("s002", "graded"),
    f"Bob Smith_503_assignsubmission_file_/{LINEAR}.ipynb": ("s003", "older"),
    f"Bob Smith_503_assignsubmission_file_/{LINEAR}-2.ipynb": ("s003", "graded"),
    "Wei Chen_504_assignsubmission_file_/scratch.ipynb": (None, "ignored"),
    f"Zoe Unknown_509_assignsubmission_file_/{LINEAR}.ipynb": (None, "not on roster"),
    f"Participant_507_assignsubmission_file_/{LINEAR}.ipynb": (None, "not on roster"),
}


def test_moodle_download_zip_lands_every_file_on_its_roster_student(tmp_path, roster,
                                                                    notebook_bytes):
    members = {name: notebook_bytes[LINEAR] for name in MOODLE_FILES}
    members["Bob Smith_503_assignsubmission_onlinetext_/onlinetext.html"] = b"<p>hi</p>"
    download = _zip(tmp_path / "CS101-Linear classifiers-3042.zip", members)
    found, lines = find_submissions(download, IDS, roster, extract_to=tmp_path / "x")
    assert {k: f.shown.split("/", 1)[1] for k, f in found.items()} == {
        (who, LINEAR): name for name, (who, what) in MOODLE_FILES.items() if what == "graded"}
    assert all(f.origin == "moodle" and " " not in f.student_id for f in found.values())
    _graded_once(found)
    _accounted(lines, MOODLE_FILES, inside=download.name + "/")
    assert "matched on the full name" in "\n".join(lines)


def test_moodle_folders_without_a_roster_give_ids_without_spaces(tmp_path, notebook_bytes):
    for folder in ("Jane Doe_501_assignsubmission_file_", "Ann O'Hara_502_assignsubmission_file_"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "01_knn.ipynb").write_bytes(notebook_bytes["01_knn"])
    (tmp_path / "Jane Doe_501_assignsubmission_onlinetext_").mkdir()
    found, lines = find_submissions(tmp_path, IDS)
    assert sorted(found) == [("ann_o_hara", "01_knn"), ("jane_doe", "01_knn")]
    assert "Moodle onlinetext submission (only files are graded)" in "\n".join(lines)


def test_moodle_flat_download_without_folders(tmp_path, roster, notebook_bytes):
    """Moodle's "download submissions in folders" switched off: one flat name per file."""
    (tmp_path / f"Dana Lee_506_assignsubmission_file_{LINEAR}.ipynb").write_bytes(
        notebook_bytes[LINEAR])
    found, _ = find_submissions(tmp_path, IDS, roster)
    assert list(found) == [("s005", LINEAR)]


# --------------------------------------------------------------------------- folders, flat

FOLDER_FILES = {
    f"s004/{LINEAR} (1).ipynb": ("s004", "graded"),  # saved twice by a browser
    f"bsmith/{LINEAR}.ipynb": ("s003", "graded"),  # the login
    f"ann@uni.edu_{LINEAR}.ipynb": ("s002", "graded"),  # the e-mail, flat
    f"s001_{LINEAR}.ipynb": ("s001", "older"),
    f"s001_{LINEAR}-1.ipynb": ("s001", "graded"),
    f"Dana Lee/{LINEAR}.ipynb": ("s005", "graded"),  # the full name
    f"mallory/{LINEAR}.ipynb": (None, "not on roster"),
    f"{LINEAR}.ipynb": (None, "ignored"),  # no student in the name
    "s004/notes.ipynb": (None, "ignored"),
    "s004/a/b/01_knn.ipynb": (None, "ignored"),  # too deep
}


def test_folders_and_flat_names_map_through_the_roster(tmp_path, roster, notebook_bytes):
    for rel in FOLDER_FILES:
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(notebook_bytes[LINEAR])
        os.utime(path, (1_700_000_000, 1_700_000_000))  # same time: the copy number decides
    found, lines = find_submissions(tmp_path, IDS, roster)
    assert {k: str(f.path.relative_to(tmp_path)) for k, f in found.items()} == {
        (who, LINEAR): rel for rel, (who, what) in FOLDER_FILES.items() if what == "graded"}
    _graded_once(found)
    _accounted(lines, FOLDER_FILES)
    assert "copy number is higher" in "\n".join(lines)


def test_every_warning_is_returned_not_just_five(tmp_path):
    for n in range(12):
        (tmp_path / f"junk{n}.txt").write_text("x")
    _, lines = find_submissions(tmp_path, IDS)
    assert len([line for line in lines if line.startswith("ignored: junk")]) == 12


# --------------------------------------------------------------------------- nbgrader

def test_nbgrader_submitted_layout_reads_timestamp_txt_as_nbgrader_does(tmp_path,
                                                                        notebook_bytes):
    course = tmp_path / "course"
    (course / "submitted").mkdir(parents=True)
    (course / "nbgrader_config.py").write_text("c = get_config()\n")
    stamps = {"s001": "2026-03-02 10:00:00.000000 UTC",  # nbgrader's own format
              "s002": "2026-03-02T12:00:00+01:00", "s003": "", "s004": "not a date"}
    for student, stamp in stamps.items():
        folder = course / "submitted" / student / LINEAR
        folder.mkdir(parents=True)
        (folder / f"{LINEAR}.ipynb").write_bytes(notebook_bytes[LINEAR])
        (folder / "timestamp.txt").write_text(stamp)
    source = course / "source" / LINEAR  # the instructor's: never a student's
    source.mkdir(parents=True)
    (source / f"{LINEAR}.ipynb").write_bytes(notebook_bytes[LINEAR])
    found, lines = find_submissions(course, IDS)
    assert sorted(found) == [(s, LINEAR) for s in sorted(stamps)]
    assert found[("s001", LINEAR)].timestamp == datetime(2026, 3, 2, 10, tzinfo=UTC)
    assert found[("s002", LINEAR)].timestamp == datetime(2026, 3, 2, 11, tzinfo=UTC)
    assert found[("s003", LINEAR)].timestamp is None
    assert all(f.origin == "nbgrader" for f in found.values())
    text = "\n".join(lines)
    assert "s003/02_linear_classifiers/timestamp.txt: empty" in text
    assert "s004/02_linear_classifiers/timestamp.txt: not a timestamp" in text


def test_a_later_timestamp_wins_over_a_later_file(tmp_path, notebook_bytes):
    for folder, stamp, mtime in (("a", "2026-03-02 10:00:00 UTC", 2_000_000_000),
                                 ("b", "2026-03-03 10:00:00 UTC", 1_000_000_000)):
        path = tmp_path / "ada" / folder
        path.mkdir(parents=True)
        (path / f"{LINEAR}.ipynb").write_bytes(notebook_bytes[LINEAR])
        (path / "timestamp.txt").write_text(stamp)
        os.utime(path / f"{LINEAR}.ipynb", (mtime, mtime))
    found, lines = find_submissions(tmp_path, IDS)
    assert found[("ada", LINEAR)].path.parent.name == "b"
    assert "its nbgrader timestamp is later" in "\n".join(lines)


# --------------------------------------------------------------------------- zips, safely

def test_zips_are_read_defensively(tmp_path, notebook_bytes, monkeypatch):
    nb = notebook_bytes["01_knn"]
    _zip(tmp_path / "a.zip", {"/abs/ada_01_knn.ipynb": nb, "C:/win/ada_01_knn.ipynb": nb,
                              "inner.zip": b"PK", "bob_01_knn.ipynb": nb,
                              "cy_01_knn.ipynb": nb, "big_01_knn.ipynb": nb * 3},
         encrypted=("cy_01_knn.ipynb",))
    (tmp_path / "broken.zip").write_bytes(b"not a zip at all")
    monkeypatch.setattr(discover, "MAX_NOTEBOOK_BYTES", len(nb) * 2)
    found, lines = find_submissions(tmp_path, IDS, extract_to=tmp_path / "out")
    assert list(found) == [("bob", "01_knn")]
    text = "\n".join(lines)
    for expected in ("refused a.zip//abs/ada_01_knn.ipynb: a path outside",
                     "refused a.zip/C:/win/ada_01_knn.ipynb: a path outside",
                     "refused a.zip/inner.zip: a zip inside a zip",
                     "refused a.zip/cy_01_knn.ipynb: encrypted",
                     "refused a.zip/big_01_knn.ipynb:",
                     "ignored: broken.zip: not a readable zip"):
        assert expected in text, expected
    assert sorted(p.name for p in (tmp_path / "out" / "a").iterdir()) == ["bob_01_knn.ipynb"]


def test_zips_with_too_many_members_or_no_place_to_go_are_reported(tmp_path, monkeypatch,
                                                                   notebook_bytes):
    _zip(tmp_path / "many.zip", {f"s{n}_01_knn.ipynb": b"{}" for n in range(5)})
    _, lines = find_submissions(tmp_path, IDS)
    assert lines == ["ignored: many.zip: a zip, and no folder to extract it into was given"]
    monkeypatch.setattr(discover, "MAX_ZIP_MEMBERS", 3)
    found, lines = find_submissions(tmp_path, IDS, extract_to=tmp_path / "out")
    assert found == {} and "5 members (the limit is 3)" in lines[0]
    assert not (tmp_path / "out").exists()


def test_the_old_discover_is_a_wrapper_and_takes_the_roster(tmp_path, roster, notebook_bytes):
    (tmp_path / f"doejane_LATE_12345_678911_{LINEAR}.ipynb").write_bytes(
        notebook_bytes[LINEAR])
    (tmp_path / "who_01_knn.ipynb").write_bytes(notebook_bytes["01_knn"])
    paths, warnings = submissions.discover(tmp_path, IDS, roster)
    assert paths == {("s001", LINEAR): tmp_path / f"doejane_LATE_12345_678911_{LINEAR}.ipynb"}
    assert warnings == ["not on roster: who_01_knn.ipynb: 'who' is not on the roster.csv; "
                        "not graded"]
