"""The class list: who is in the course, and how each LMS names them.

A roster CSV has a header row and one row per student (UTF-8; Excel's byte-order mark is
accepted):

=============== ==========================================================================
``id``          required, unique: the id grades are kept under (nbgrader's student id)
``name``        full name as the LMS shows it, ``Jane Doe`` (or ``Doe, Jane``)
``email``       e-mail address (Moodle's grade import can match on it)
``sis_id``      the institution's student number (Canvas "SIS User ID", Moodle "ID number")
``section``     Canvas "Section"
``lms_user_id`` Canvas's numeric user id (the "ID" column of a Canvas gradebook export, the
                number after the name in a Canvas download); for Moodle, the participant
                number of its download folders (``Jane Doe_123456_assignsubmission_file_``),
                which Moodle allots per assignment
``login``       Canvas "SIS Login ID" / Moodle username
=============== ==========================================================================

Only ``id`` is required; header names are matched without regard to case or surrounding
spaces; any other column is kept in ``Student.extra``. A malformed roster raises
:class:`RosterError` with one line saying where and what.

``Roster.from_gradebook(db_url)`` reads nbgrader's student table instead (``id``,
``first_name``, ``last_name``, ``email``, ``lms_user_id``), and
``Roster.from_canvas_export(path)`` a Canvas gradebook export (``Student, ID, SIS User ID,
SIS Login ID, Section``; the id is the SIS Login ID, else the SIS User ID, else the Canvas
ID).
"""

from __future__ import annotations

import csv
import re
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

COLUMNS = ("id", "name", "email", "sis_id", "section", "lms_user_id", "login")
MAX_ROSTER_BYTES = 20 * 1024 * 1024
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class RosterError(ValueError):
    """A roster that cannot be used; ``str()`` is one line: where, and what is wrong."""


def normal_name(name: str) -> str:
    """A full name compared loosely: case, accents' composition and spacing ignored, and
    ``Doe, Jane`` read as ``Jane Doe``."""
    name = unicodedata.normalize("NFKC", name).casefold()
    if name.count(",") == 1:
        last, first = name.split(",")
        name = f"{first} {last}"
    return " ".join(name.split())


def canvas_name_slug(name: str) -> str:
    """A name as Canvas writes it into download file names: the sortable name (``Doe,
    Jane``), lower-cased, everything but letters, digits and ``_`` removed: ``doejane``."""
    name = unicodedata.normalize("NFKC", name).strip()
    if "," not in name and " " in name:
        first, last = name.rsplit(" ", 1)
        name = f"{last}, {first}"
    return re.sub(r"\W", "", name.lower())


@dataclass(frozen=True)
class Student:
    id: str
    name: str = ""
    email: str = ""
    sis_id: str = ""
    section: str = ""
    lms_user_id: str = ""
    login: str = ""
    extra: dict = field(default_factory=dict, compare=False, hash=False)

    @property
    def first_name(self) -> str:
        if "," in self.name:
            return self.name.split(",", 1)[1].strip()
        return self.name.rsplit(" ", 1)[0].strip() if " " in self.name.strip() else ""

    @property
    def last_name(self) -> str:
        if "," in self.name:
            return self.name.split(",", 1)[0].strip()
        return self.name.strip().rsplit(" ", 1)[-1] if self.name.strip() else ""

    def nbgrader_fields(self) -> dict:
        """Keyword arguments for ``Gradebook.update_or_create_student(id, **...)``."""
        return {"first_name": self.first_name or None, "last_name": self.last_name or None,
                "email": self.email or None, "lms_user_id": self.lms_user_id or None}

    @property
    def sortable_name(self) -> str:
        """``Doe, Jane``, the form Canvas lists students by."""
        if not self.name.strip():
            return self.id
        if "," in self.name or not self.first_name:
            return self.name.strip()
        return f"{self.last_name}, {self.first_name}"


class Roster:
    """Students in order, with lookups by id, LMS user id, login, e-mail and full name."""

    def __init__(self, students: Iterable[Student], source: str = "roster"):
        self.source = source
        self.students: list[Student] = []
        self._by_id: dict[str, Student] = {}
        self._by_lms: dict[str, Student] = {}
        self._by_login: dict[str, Student] = {}
        self._by_email: dict[str, Student] = {}
        self._by_sis: dict[str, Student] = {}
        self._by_name: dict[str, list[Student]] = {}
        self._by_slug: dict[str, list[Student]] = {}
        for s in students:
            self._add(s)

    def _add(self, s: Student) -> None:
        if not s.id:
            raise RosterError(f"{self.source}: a student without an id")
        if s.id in self._by_id:
            raise RosterError(f"{self.source}: student id {s.id!r} appears twice")
        for index, value, what in ((self._by_lms, s.lms_user_id, "lms_user_id"),
                                   (self._by_login, s.login.casefold(), "login"),
                                   (self._by_sis, s.sis_id, "sis_id")):
            if value and value in index:
                raise RosterError(f"{self.source}: {what} {value!r} is given to both "
                                  f"{index[value].id!r} and {s.id!r}")
        self.students.append(s)
        self._by_id[s.id] = s
        if s.lms_user_id:
            self._by_lms[s.lms_user_id] = s
        if s.login:
            self._by_login[s.login.casefold()] = s
        if s.sis_id:
            self._by_sis[s.sis_id] = s
        if s.email:
            self._by_email.setdefault(s.email.casefold(), s)
        if s.name.strip():
            self._by_name.setdefault(normal_name(s.name), []).append(s)
            self._by_slug.setdefault(canvas_name_slug(s.name), []).append(s)

    # ------------------------------------------------------------------ reading

    @classmethod
    def from_csv(cls, path: Path | str) -> Roster:
        """Read a roster CSV (the columns are in the module docstring)."""
        path = Path(path)
        where = path.name
        try:
            if path.stat().st_size > MAX_ROSTER_BYTES:
                raise RosterError(f"{where}: larger than {MAX_ROSTER_BYTES // 2**20} MB; "
                                  "is it really a class list?")
            text = path.read_bytes().decode("utf-8-sig")
        except FileNotFoundError:
            raise RosterError(f"{where}: no such file ({path})") from None
        except UnicodeDecodeError as exc:
            raise RosterError(f"{where}: not UTF-8 text (byte {exc.start}); save it as "
                              "'CSV UTF-8'") from None
        except OSError as exc:
            raise RosterError(f"{where}: cannot be read: {exc.strerror}") from None
        rows = list(csv.reader(text.splitlines()))
        if not rows or not any(c.strip() for c in rows[0]):
            raise RosterError(f"{where}: empty; the first line must be a header with an "
                              "'id' column")
        header = [c.strip().lower() for c in rows[0]]
        seen: dict[str, int] = {}
        for n, h in enumerate(header):
            if h and h in seen:
                raise RosterError(f"{where}: column {h!r} appears twice in the header")
            seen[h] = n
        if "id" not in seen:
            raise RosterError(f"{where}: no 'id' column in the header "
                              f"({', '.join(rows[0])}); the columns are {', '.join(COLUMNS)}")
        roster = cls([], source=where)
        for line, row in enumerate(rows[1:], start=2):
            if not any(c.strip() for c in row):
                continue
            if len(row) > len(header):
                raise RosterError(f"{where} line {line}: {len(row)} cells for "
                                  f"{len(header)} columns (a comma inside a name needs "
                                  "quotes)")
            cells = {h: (row[i].strip() if i < len(row) else "") for h, i in seen.items()}
            sid = cells["id"]
            if not sid:
                raise RosterError(f"{where} line {line}: empty id")
            if _CONTROL.search(sid):
                raise RosterError(f"{where} line {line}: id {sid!r} holds control "
                                  "characters")
            known = {k: cells.get(k, "") for k in COLUMNS}
            extra = {h: v for h, v in cells.items() if h not in COLUMNS and h}
            try:
                roster._add(Student(extra=extra, **known))
            except RosterError as exc:
                raise RosterError(f"{where} line {line}: "
                                  f"{str(exc).split(': ', 1)[1]}") from None
        if not roster.students:
            raise RosterError(f"{where}: a header but no students")
        return roster

    @classmethod
    def from_gradebook(cls, db_url: str) -> Roster:
        """nbgrader's student table (``nbgrader.api.Gradebook(db_url).students``)."""
        from nbgrader.api import Gradebook

        with Gradebook(db_url) as gb:
            students = [Student(id=s.id,
                                name=" ".join(p for p in (s.first_name, s.last_name) if p),
                                email=s.email or "", lms_user_id=s.lms_user_id or "")
                        for s in gb.students]
        return cls(students, source="nbgrader gradebook")

    @classmethod
    def from_canvas_export(cls, path: Path | str) -> Roster:
        """A Canvas gradebook export: ``Student`` (``Doe, Jane``), ``ID``, ``SIS User ID``,
        ``SIS Login ID``, ``Section``; the "Points Possible" and test-student rows are
        skipped."""
        path = Path(path)
        with open(path, newline="", encoding="utf-8-sig") as f:
            reader = csv.DictReader(f)
            if not reader.fieldnames or "Student" not in reader.fieldnames \
                    or "ID" not in reader.fieldnames:
                raise RosterError(f"{path.name}: not a Canvas gradebook export (no "
                                  "'Student' and 'ID' columns)")
            students = []
            for row in reader:
                name = (row.get("Student") or "").strip()
                uid = (row.get("ID") or "").strip()
                if not uid or name == "Points Possible" or name == "Student, Test":
                    continue
                login = (row.get("SIS Login ID") or "").strip()
                sis = (row.get("SIS User ID") or "").strip()
                students.append(Student(id=login or sis or uid, name=name, sis_id=sis,
                                        section=(row.get("Section") or "").strip(),
                                        lms_user_id=uid, login=login))
        return cls(students, source=path.name)

    @classmethod
    def from_ids(cls, ids: Iterable[str]) -> Roster:
        """The students seen, when there is no class list: ids only."""
        return cls((Student(id=i) for i in sorted(set(ids))), source="students seen")

    # ------------------------------------------------------------------ lookups

    def __iter__(self) -> Iterator[Student]:
        return iter(self.students)

    def __len__(self) -> int:
        return len(self.students)

    def __contains__(self, student_id: object) -> bool:
        return student_id in self._by_id

    @property
    def ids(self) -> list[str]:
        return [s.id for s in self.students]

    def get(self, student_id: str) -> Student | None:
        return self._by_id.get(student_id)

    def by_lms_user_id(self, user_id: str) -> Student | None:
        return self._by_lms.get(user_id)

    def by_login(self, login: str) -> Student | None:
        return self._by_login.get(login.casefold())

    def by_email(self, email: str) -> Student | None:
        return self._by_email.get(email.casefold())

    def by_sis_id(self, sis_id: str) -> Student | None:
        return self._by_sis.get(sis_id)

    def by_name(self, name: str) -> list[Student]:
        """Every student with this full name (``Jane Doe`` or ``Doe, Jane``)."""
        return list(self._by_name.get(normal_name(name), []))

    def by_canvas_slug(self, slug: str) -> list[Student]:
        """Every student whose name Canvas would write as ``slug`` in a file name."""
        return list(self._by_slug.get(slug.lower(), []))

    def resolve(self, key: str) -> tuple[Student | None, str]:
        """The student a folder or file name stands for, and how it was matched: the id,
        then the login, e-mail, SIS id, LMS user id, then a full name that only one
        student has. ``(None, why)`` when nothing (or more than one student) matches."""
        for what, found in (("id", self.get(key)), ("login", self.by_login(key)),
                            ("e-mail", self.by_email(key)), ("SIS id", self.by_sis_id(key)),
                            ("LMS user id", self.by_lms_user_id(key))):
            if found is not None:
                return found, what
        named = self.by_name(key)
        if len(named) == 1:
            return named[0], "full name"
        if len(named) > 1:
            return None, (f"{len(named)} students are called {key!r} "
                          f"({', '.join(s.id for s in named)})")
        return None, f"{key!r} is not on the {self.source}"
