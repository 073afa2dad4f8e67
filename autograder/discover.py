"""Finding the submissions in a folder, whatever collected them, and whose each one is.

``find_submissions(root, notebook_ids, roster)`` reads ``root`` and returns
``{(student_id, notebook): Found}`` plus every decision it made and every file it passed
over, one line each (``found:``, ``newest:``, ``ignored:``, ``not on roster:``, ``zip:``).

Layouts recognised under ``root`` (a notebook's file name may carry a copy suffix: ``-1``
from Canvas or a browser, `` (1)`` from a browser or a desktop):

* ``<student>/<nb>.ipynb``: a folder per student.
* ``<student>/<assignment>/<nb>.ipynb`` with ``timestamp.txt`` beside it: nbgrader's
  ``submitted/`` layout (``root`` may also be the course directory that holds it).
* ``<student>_<nb>.ipynb``: a flat folder.
* ``<name>_[LATE_]<user id>_<file id>_<nb>.ipynb``: Canvas "Download Submissions"
  (``lib/content_zipper.rb``): the sortable name lower-cased with everything but letters,
  digits and ``_`` removed (``doejane``), ``LATE_`` when Canvas marked the submission
  late, the Canvas user id (``anon_<id>`` and no name when grading is anonymous), the
  uploaded file's id, the file's name.
* ``<Full Name>_<participant>_assignsubmission_file_/<nb>.ipynb``: Moodle "Download all
  submissions" (``mod/assign/locallib.php``; underscores in the name become spaces; the
  number is the participant id Moodle allots per assignment; blind marking writes
  ``Participant`` for the name), or the flat ``..._assignsubmission_file_<nb>.ipynb``
  when "download submissions in folders" is off.
* ``*.zip``: any of these zipped (the Canvas and Moodle downloads themselves), extracted
  safely into ``extract_to``.

Who a file belongs to: with a roster, a Canvas file is matched on the Canvas user id
(the roster's ``lms_user_id``, or a roster id equal to it), failing that on the name if
only one student has it; a Moodle folder on the full name if only one student has it,
failing that on the participant number (``lms_user_id``; Moodle numbers participants per
assignment, so names are the stable key); a folder or flat name on the roster id, login,
e-mail, SIS id, LMS user id, then full name. A file whose student is not on the roster is
reported (``not on roster:``) and not graded. Without a roster the student id is the
folder or flat name, the Canvas user id, or the Moodle full name written as an id
(``jane_doe``).

Which file is graded when a student has several for one notebook ("the newest"): the
latest nbgrader timestamp; then the highest Canvas file id (Canvas numbers uploads in
order); then the highest copy number (``x-2`` after ``x-1`` after ``x``); then the latest
modification time. Every other file is named in the ``newest:`` line and not graded.

Zip files are read member by member, never trusting them: only ``.ipynb`` and
``timestamp.txt`` members are extracted, each at most ``MAX_NOTEBOOK_BYTES`` (checked on
the bytes read, not the size the zip claims), at most ``MAX_ZIP_MEMBERS`` members and
``MAX_ZIP_BYTES`` in all; absolute paths, ``..``, symbolic links, encrypted members and
zips inside zips are refused with a line each. Nothing is extracted unless the caller
passes ``extract_to``, a folder of its own.
"""

from __future__ import annotations

import os
import re
import stat
import time
import zipfile
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath

from .roster import Roster, canvas_name_slug

MAX_NOTEBOOK_BYTES = 20 * 1024 * 1024  # the same limit as submissions.load
MAX_ZIP_MEMBERS = 20_000
MAX_ZIP_BYTES = 2 * 1024**3
MAX_TIMESTAMP_BYTES = 1024

CANVAS_FILE = re.compile(
    r"^(?:(?P<name>[^\W_]\w*?)_(?P<late>LATE_)?(?P<user>\d+)"
    r"|(?P<anon_late>LATE_)?(?P<anon>anon_[A-Za-z0-9]+))_(?P<file_id>\d+)_(?P<file>.+)$")
MOODLE_FOLDER = re.compile(r"^(?P<name>.+?)_(?P<participant>\d+)_assign(?:submission)?_"
                           r"(?P<plugin>[a-z]+)_$")
MOODLE_FILE = re.compile(r"^(?P<name>.+?)_(?P<participant>\d+)_assignsubmission_"
                         r"(?P<plugin>[a-z]+)_(?P<file>.+)$")
COPY_SUFFIX = re.compile(r"^(?P<stem>.+?)(?:-(?P<dash>\d{1,3})| ?\((?P<paren>\d{1,3})\))$")
_MIN_TIME = datetime.min.replace(tzinfo=UTC)


@dataclass
class Found:
    """One submitted notebook, the one that is graded for its student."""

    path: Path
    student_id: str
    notebook: str
    timestamp: datetime | None  # timezone-aware UTC (nbgrader's timestamp.txt), else None
    origin: str  # how it was recognised: nbgrader, folder, flat, canvas, canvas late, moodle
    lms_late: bool = False  # the LMS marked it late (Canvas's LATE_), however late it was
    lms_user: str = ""  # the LMS's name for the student, as in the file name
    shown: str = ""  # the path as the decision lines name it (zip members: zip/member)
    not_graded: list[Path] = field(default_factory=list)  # older copies, passed over
    rank: tuple = field(default=(), repr=False, compare=False)


@dataclass
class _Who:
    kind: str  # canvas | moodle | name
    key: str  # the user id / participant / folder or flat name
    name: str = ""  # the name in the file name (Canvas slug, Moodle full name)


class _Finder:
    def __init__(self, notebook_ids, roster, extract_to):
        self.ids = list(notebook_ids)
        self.roster: Roster | None = roster
        self.extract_to = Path(extract_to) if extract_to is not None else None
        self.lines: list[str] = []
        self.candidates: list[tuple[_Who, Found]] = []

    # ------------------------------------------------------------------ names

    def notebook_of(self, filename: str) -> tuple[str, int] | None:
        """The notebook id a file name stands for, and its copy number (0 for none)."""
        if not filename.lower().endswith(".ipynb"):
            return None
        stem = filename[:-6]
        copy = 0
        if stem not in self.ids:
            m = COPY_SUFFIX.match(stem)
            if m:
                stem, copy = m["stem"], int(m["dash"] or m["paren"])
        if stem in self.ids:
            return stem, copy
        folded = {i.casefold(): i for i in self.ids}
        if stem.casefold() in folded:
            return folded[stem.casefold()], copy
        return None

    def flat_name(self, filename: str) -> tuple[str, str, int] | None:
        """``<student>_<nb>[copy].ipynb`` -> (student, notebook, copy)."""
        if not filename.lower().endswith(".ipynb"):
            return None
        stem = filename[:-6]
        copy = 0
        m = COPY_SUFFIX.match(stem)
        for candidate, n in ((stem, 0),) + (((m["stem"], int(m["dash"] or m["paren"])),)
                                            if m else ()):
            for nb in sorted(self.ids, key=len, reverse=True):
                if candidate.endswith("_" + nb) and len(candidate) > len(nb) + 1:
                    stem, copy = candidate[: -len(nb) - 1], n
                    return stem, nb, copy
        return None

    # ------------------------------------------------------------------ walking

    def top(self, entry: Path, shown: str) -> None:
        """One entry of ``root`` (or of an extracted zip)."""
        name = entry.name
        if name.startswith(".") or name == "__MACOSX":
            return
        info = entry.lstat()
        if stat.S_ISLNK(info.st_mode):
            self.lines.append(f"ignored: {shown}: a symbolic link (links are never followed)")
        elif stat.S_ISDIR(info.st_mode):
            m = MOODLE_FOLDER.match(name)
            if m:
                self.moodle_folder(entry, shown, m)
            else:
                self.student_folder(entry, shown)
        elif not stat.S_ISREG(info.st_mode):
            self.lines.append(f"ignored: {shown}: not a regular file")
        elif name.lower().endswith(".zip"):
            self.zip(entry, shown)
        elif name.lower().endswith(".ipynb"):
            self.flat_file(entry, shown)
        else:
            self.lines.append(f"ignored: {shown}: not a notebook, a zip or a student folder")

    def walk(self, folder: Path, shown: str):
        """(path, parts below folder, shown) of every notebook below ``folder``; symbolic
        links and hidden folders are not entered."""
        for dirpath, dirnames, filenames in os.walk(folder, followlinks=False):
            here = Path(dirpath)
            for d in sorted(dirnames):
                if (here / d).is_symlink():
                    rel = (here / d).relative_to(folder)
                    self.lines.append(f"ignored: {shown}/{rel}: inside a symbolic link to a "
                                      "folder")
            dirnames[:] = sorted(d for d in dirnames
                                 if not d.startswith(".") and not (here / d).is_symlink())
            for f in sorted(filenames):
                if f.lower().endswith(".zip") and not f.startswith("."):
                    rel = (here / f).relative_to(folder)
                    self.lines.append(f"ignored: {shown}/{rel}: a zip inside a folder (unzip "
                                      "it, or put it at the top of the submissions)")
                if not f.lower().endswith(".ipynb") or f.startswith("."):
                    continue
                path = here / f
                rel = path.relative_to(folder)
                yield path, rel.parts, f"{shown}/{rel}"

    def student_folder(self, folder: Path, shown: str) -> None:
        for path, parts, label in self.walk(folder, shown):
            if path.is_symlink():  # never followed: graded as unreadable, so the student
                self.lines.append(f"unreadable: {label}: a symbolic link (never followed)")
            hit = self.notebook_of(parts[-1])
            timestamp, origin = None, "folder"
            if hit and len(parts) == 2:
                ts_file = path.parent / "timestamp.txt"
                timestamp = self.timestamp(ts_file, f"{shown}/{parts[0]}/timestamp.txt")
                if timestamp is not None or ts_file.exists():
                    origin = "nbgrader"
                elif parts[0] not in (hit[0], *self.ids):
                    hit = None
            if hit is None or len(parts) > 2:
                self.lines.append(f"ignored: {label}: not a course notebook (expected "
                                  f"<student>/<notebook>.ipynb or <student>/<assignment>/"
                                  f"<notebook>.ipynb, notebook one of {', '.join(self.ids)})")
                continue
            nb, copy = hit
            self.add(_Who("name", folder.name), path, label, nb, copy, timestamp, origin)

    def moodle_folder(self, folder: Path, shown: str, m: re.Match) -> None:
        who = _Who("moodle", m["participant"], m["name"])
        if m["plugin"] != "file":
            self.lines.append(f"ignored: {shown}: Moodle {m['plugin']} submission (only "
                              "files are graded)")
            return
        any_notebook = False
        for path, parts, label in self.walk(folder, shown):
            any_notebook = True
            hit = self.notebook_of(parts[-1])
            if hit is None or path.is_symlink():
                self.lines.append(f"ignored: {label}: not a course notebook (expected one of "
                                  f"{', '.join(self.ids)})")
                continue
            self.add(who, path, label, hit[0], hit[1], None, "moodle")
        if not any_notebook:
            self.lines.append(f"ignored: {shown}: a Moodle submission without a notebook")

    def flat_file(self, path: Path, shown: str) -> None:
        name = path.name
        m = CANVAS_FILE.match(name)
        if m and (hit := self.notebook_of(m["file"])):
            late = bool(m["late"] or m["anon_late"])
            who = _Who("canvas", m["user"] or m["anon"], m["name"] or "")
            self.add(who, path, shown, hit[0], hit[1], None,
                     "canvas late" if late else "canvas", late=late,
                     canvas_file=int(m["file_id"]))
            return
        m = MOODLE_FILE.match(name)
        if m:
            hit = self.notebook_of(m["file"])
            if m["plugin"] == "file" and hit:
                self.add(_Who("moodle", m["participant"], m["name"]), path, shown,
                         hit[0], hit[1], None, "moodle")
            else:
                self.lines.append(f"ignored: {shown}: Moodle file that is not a course "
                                  f"notebook (expected one of {', '.join(self.ids)})")
            return
        flat = self.flat_name(name)
        if flat:
            student, nb, copy = flat
            self.add(_Who("name", student), path, shown, nb, copy, None, "flat")
        elif self.notebook_of(name):
            self.lines.append(f"ignored: {shown}: a course notebook with no student in its "
                              "name (put it in a folder named after the student)")
        else:
            self.lines.append(f"ignored: {shown}: not <student_id>_<notebook>.ipynb, a "
                              f"Canvas or a Moodle file name (notebooks: {', '.join(self.ids)})")

    def timestamp(self, path: Path, shown: str) -> datetime | None:
        """nbgrader's ``timestamp.txt``: one line, parsed by ``nbgrader.utils.parse_utc``
        (``2026-01-02 10:00:00.123456 UTC``, or any offset dateutil reads), as UTC."""
        try:
            info = path.lstat()
        except FileNotFoundError:
            return None
        if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_TIMESTAMP_BYTES:
            self.lines.append(f"ignored: {shown}: not a small regular file")
            return None
        text = path.read_text(encoding="utf-8", errors="replace").strip()
        if not text:
            self.lines.append(f"ignored: {shown}: empty (as nbgrader does: no timestamp)")
            return None
        from nbgrader.utils import parse_utc  # imported here: it takes seconds

        try:
            return parse_utc(text).replace(tzinfo=UTC)
        except (ValueError, OverflowError):
            self.lines.append(f"ignored: {shown}: not a timestamp ({text[:60]!r})")
            return None

    # ------------------------------------------------------------------ zips

    def zip(self, path: Path, shown: str) -> None:
        if self.extract_to is None:
            self.lines.append(f"ignored: {shown}: a zip, and no folder to extract it into "
                              "was given")
            return
        dest = self.extract_to / re.sub(r"[^\w.-]", "_", path.stem)[:80]
        n = 1
        while dest.exists():
            n += 1
            dest = dest.with_name(f"{dest.name.rsplit('~', 1)[0]}~{n}")
        try:
            with zipfile.ZipFile(path) as zf:
                members = zf.infolist()
                if len(members) > MAX_ZIP_MEMBERS:
                    self.lines.append(f"ignored: {shown}: {len(members)} members (the limit "
                                      f"is {MAX_ZIP_MEMBERS})")
                    return
                dest.mkdir(parents=True)
                self.extract(zf, members, dest, shown)
        except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, OSError,
                EOFError) as exc:
            self.lines.append(f"ignored: {shown}: not a readable zip ({exc})")
            return
        for entry in sorted(dest.iterdir()):
            self.top(entry, f"{shown}/{entry.name}")

    def extract(self, zf: zipfile.ZipFile, members, dest: Path, shown: str) -> None:
        total, skipped = 0, 0
        for info in members:
            name = info.filename.replace("\\", "/")
            parts = PurePosixPath(name).parts
            label = f"{shown}/{name}"
            if info.is_dir():
                continue
            if name.startswith("/") or re.match(r"^[A-Za-z]:", name) or ".." in parts:
                self.lines.append(f"zip: refused {label}: a path outside the zip")
                continue
            if any(p.startswith(".") or p == "__MACOSX" for p in parts):
                continue
            if stat.S_ISLNK(info.external_attr >> 16):
                self.lines.append(f"zip: refused {label}: a symbolic link")
                continue
            base = parts[-1].lower()
            if base.endswith(".zip"):
                self.lines.append(f"zip: refused {label}: a zip inside a zip (unzip it "
                                  "yourself and put its notebooks in the folder)")
                continue
            if not (base.endswith(".ipynb") or base == "timestamp.txt"):
                skipped += 1
                continue
            if info.flag_bits & 0x1:
                self.lines.append(f"zip: refused {label}: encrypted")
                continue
            limit = MAX_NOTEBOOK_BYTES if base.endswith(".ipynb") else MAX_TIMESTAMP_BYTES
            if info.file_size > limit:
                self.lines.append(f"zip: refused {label}: {info.file_size / 2**20:.0f} MB "
                                  f"(the limit is {limit / 2**20:.0f} MB)")
                continue
            try:
                with zf.open(info) as member:
                    data = member.read(limit + 1)
            except (zipfile.BadZipFile, NotImplementedError, OSError, EOFError) as exc:
                self.lines.append(f"zip: refused {label}: cannot be read ({exc})")
                continue
            if len(data) > limit:
                self.lines.append(f"zip: refused {label}: larger than it claims")
                continue
            total += len(data)
            if total > MAX_ZIP_BYTES:
                self.lines.append(f"zip: stopped reading {shown}: more than "
                                  f"{MAX_ZIP_BYTES // 2**30} GB of notebooks")
                return
            target = dest.joinpath(*parts)
            try:
                target.parent.mkdir(parents=True, exist_ok=True)
                fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW,
                             0o600)
            except OSError as exc:  # a repeated member, a file where a folder should be
                self.lines.append(f"zip: refused {label}: {exc.strerror}")
                continue
            with os.fdopen(fd, "wb") as out:
                out.write(data)
            try:  # keep the zip's date, the last tie-breaker between copies
                mtime = time.mktime((*info.date_time, 0, 0, -1))
                os.utime(target, (mtime, mtime))
            except (OverflowError, ValueError):
                pass
        if skipped:
            self.lines.append(f"zip: {shown}: {skipped} member(s) that are not notebooks "
                              "left in the zip")

    # ------------------------------------------------------------------ deciding

    def add(self, who: _Who, path: Path, shown: str, nb: str, copy: int, timestamp,
            origin: str, late: bool = False, canvas_file: int = -1) -> None:
        try:
            mtime = path.lstat().st_mtime_ns
        except OSError:
            mtime = 0
        found = Found(path, "", nb, timestamp, origin, lms_late=late,
                      lms_user=who.name or who.key, shown=shown,
                      rank=(timestamp or _MIN_TIME, canvas_file, copy, mtime))
        self.candidates.append((who, found))

    def student_of(self, who: _Who) -> tuple[str | None, str]:
        """The student id a file goes to, and how it was decided."""
        if who.kind == "canvas":
            described = f"Canvas user {who.key}" + (f" ({who.name})" if who.name else "")
            if self.roster is None:
                return who.key, f"{described}; no roster: the Canvas user id is the id"
            s = self.roster.by_lms_user_id(who.key) or self.roster.get(who.key)
            if s is not None:
                return s.id, f"{described}, matched on the user id"
            named = self.roster.by_canvas_slug(who.name) if who.name else []
            if len(named) == 1:
                return named[0].id, f"{described}, matched on the name"
            why = (f"{len(named)} roster students have this name" if named else
                   "neither its user id nor its name is on the roster")
            return None, f"{described}: {why}"
        if who.kind == "moodle":
            described = f"Moodle participant {who.key} ({who.name})"
            if self.roster is None:
                slug = re.sub(r"\W+", "_", who.name.strip().casefold()).strip("_")
                if slug in ("participant", ""):  # blind marking: no name to go on
                    slug = f"participant_{who.key}"
                return slug, f"{described}; no roster: the name written as an id"
            named = self.roster.by_name(who.name)
            if len(named) == 1:
                return named[0].id, f"{described}, matched on the full name"
            s = self.roster.by_lms_user_id(who.key)
            if s is not None:
                return s.id, f"{described}, matched on the participant number"
            why = (f"{len(named)} roster students have this name" if named else
                   "neither the name nor the participant number is on the roster")
            return None, f"{described}: {why}"
        if self.roster is None:
            return who.key, f"{who.key!r}"
        s, how = self.roster.resolve(who.key)
        if s is None:
            slugged = self.roster.by_canvas_slug(canvas_name_slug(who.key))
            if len(slugged) == 1 and " " in who.key:
                return slugged[0].id, f"{who.key!r}, matched on the name"
            return None, how
        return s.id, f"{who.key!r}, matched on the {how}"

    def decide(self) -> dict[tuple[str, str], Found]:
        groups: dict[tuple[str, str], list[Found]] = defaultdict(list)
        for who, found in self.candidates:
            student, how = self.student_of(who)
            if student is None:
                self.lines.append(f"not on roster: {found.shown}: {how}; not graded")
                continue
            found.student_id = student
            self.lines.append(f"found: {found.shown} -> {student} / {found.notebook} "
                              f"({found.origin}; {how}"
                              + (f"; submitted {found.timestamp:%Y-%m-%d %H:%M:%S} UTC"
                                 if found.timestamp else "") + ")")
            groups[(student, found.notebook)].append(found)
        out = {}
        for key in sorted(groups):
            files = sorted(groups[key], key=lambda f: f.rank)
            best = files[-1]
            best.not_graded = [f.path for f in files[:-1]]
            if len(files) > 1:
                self.lines.append(
                    f"newest: {key[0]}: {len(files)} files for {key[1]}; graded the newest, "
                    f"{best.shown} ({_why_newer(best, files[-2])}); not graded: "
                    + ", ".join(f.shown for f in files[:-1]))
            out[key] = best
        return out


def _why_newer(best: Found, runner_up: Found) -> str:
    names = ("its nbgrader timestamp is later", "its Canvas file id is higher",
             "its copy number is higher", "it was modified later")
    for name, a, b in zip(names, best.rank, runner_up.rank):
        if a != b:
            return name
    return "the files are indistinguishable; the last in name order"


def find_submissions(root, notebook_ids: list[str], roster: Roster | None = None, *,
                     extract_to=None) -> tuple[dict[tuple[str, str], Found], list[str]]:
    """``{(student_id, notebook): Found}`` for the newest submission of every student and
    notebook under ``root`` (a folder or a ``.zip``), and every decision and warning, one
    line each, in the order made. See the module docstring for the layouts, the roster
    matching and the rule for "newest"; ``extract_to`` is a folder for zip contents."""
    root = Path(root)
    finder = _Finder(notebook_ids, roster, extract_to)
    if root.is_file() and root.suffix.lower() == ".zip":
        finder.zip(root, root.name)
    elif not root.is_dir():
        raise FileNotFoundError(f"SUBMISSIONS folder {root} does not exist")
    else:
        base = root
        if (root / "nbgrader_config.py").exists():  # a course directory: only submitted/
            base = root / "submitted"
            finder.lines.append(f"found: {root} is an nbgrader course directory: reading "
                                "its submitted/ folder")
        if base.is_dir() and not base.is_symlink():
            for entry in sorted(base.iterdir()):
                finder.top(entry, entry.name)
        else:
            finder.lines.append(f"ignored: {base}: no such folder (nothing submitted yet)")
    found = finder.decide()
    return found, finder.lines
