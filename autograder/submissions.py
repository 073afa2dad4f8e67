"""Submissions: finding them, reading them defensively, and rebuilding what to run.

``discover`` accepts ``SUBMISSIONS/<student>/<notebook>.ipynb``, nbgrader's
``SUBMISSIONS/<student>/<notebook>/<notebook>.ipynb`` and the flat
``SUBMISSIONS/<student>_<notebook>.ipynb`` an LMS download gives.

``load`` reads one file without trusting it: no symbolic links or special files, a size
limit, JSON only (never code), nbformat 4 or later, every field type-checked.

``assemble`` rebuilds the notebook to run from the instructor source: locked cells
(imports, set-up, prose) come from the source, whatever the submission did to them; each
answer cell is the student's cell with the same nbgrader ``grade_id`` (or, failing that,
the same cell id); cells the student added run where they put them; test cells are never
run in the sandbox (the grader runs the checks itself); cells the instructor tagged
``autograde-skip`` are skipped. Deleted, duplicated, reordered and retyped cells are noted,
and an answer that cannot be found is marked missing for the items that follow it.
"""

from __future__ import annotations

import json
import os
import re
import stat
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from . import course

MAX_NOTEBOOK_BYTES = 20 * 1024 * 1024
_SAFE_ID = re.compile(r"[^A-Za-z0-9._@+-]")


class Unreadable(Exception):
    """A submission that cannot be graded at all; ``str()`` is the one-line reason."""


# --------------------------------------------------------------------------- finding

@dataclass
class Submission:
    student_id: str
    notebook: str
    path: Path | None  # None: nothing was submitted for this notebook


def safe_name(student_id: str) -> str:
    """A file-system-safe folder name for a student id (for feedback/<id>/)."""
    name = _SAFE_ID.sub("_", student_id).lstrip(".") or "_"
    return name[:100]


def discover(root: Path, notebook_ids: list[str], roster=None, *,
             extract_to=None) -> tuple[dict, list[str]]:
    """``{(student_id, notebook): path}`` for every submission under ``root``, and warnings
    about files that were ignored or duplicated (``discover.find_submissions`` does the
    work: the layouts, the LMS downloads and the roster matching are described there)."""
    from .discover import find_submissions

    found, lines = find_submissions(root, notebook_ids, roster, extract_to=extract_to)
    return ({key: f.path for key, f in found.items()},
            [line for line in lines if not line.startswith("found: ")])


# --------------------------------------------------------------------------- reading

@dataclass
class SubCell:
    cell_type: str
    source: str
    grade_id: str | None
    cell_id: str | None
    tags: list[str]
    points: object = None
    index: int = 0


def _text(value, what: str) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return "".join(value)
    raise Unreadable(f"{what} is not text")


def load(path: Path) -> list[SubCell]:
    """The cells of a submitted notebook, or :class:`Unreadable` saying why not."""
    try:
        info = os.lstat(path)
    except OSError as exc:
        raise Unreadable(f"cannot be opened: {exc.strerror}") from None
    if stat.S_ISLNK(info.st_mode):
        raise Unreadable("is a symbolic link, not a notebook file")
    if not stat.S_ISREG(info.st_mode):
        raise Unreadable("is not a regular file")
    if info.st_size == 0:
        raise Unreadable("is empty (0 bytes)")
    if info.st_size > MAX_NOTEBOOK_BYTES:
        raise Unreadable(f"is huge ({info.st_size / 2**20:.0f} MB, the limit is "
                         f"{MAX_NOTEBOOK_BYTES // 2**20} MB): clear its outputs and submit again")
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
        with os.fdopen(fd, "rb") as f:
            data = f.read(MAX_NOTEBOOK_BYTES + 1)
    except OSError as exc:
        raise Unreadable(f"cannot be read: {exc.strerror}") from None
    if len(data) > MAX_NOTEBOOK_BYTES:
        raise Unreadable("grew past the size limit while being read")
    try:
        nb = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise Unreadable("is not UTF-8 text (not a notebook file?)") from None
    except json.JSONDecodeError as exc:
        raise Unreadable(f"is not valid JSON (line {exc.lineno}, column {exc.colno}): "
                         "the file is damaged; open it in Jupyter and save it again") from None
    except RecursionError:
        raise Unreadable("is not a notebook (JSON nested too deeply)") from None
    if not isinstance(nb, dict):
        raise Unreadable("is not a notebook (its JSON is not an object)")
    version = nb.get("nbformat")
    if type(version) is not int:
        raise Unreadable("is not a notebook (no nbformat version)")
    if version < 4:
        raise Unreadable(f"uses the old notebook format v{version}: open it in a current "
                         "Jupyter and save it again")
    cells = nb.get("cells")
    if not isinstance(cells, list):
        raise Unreadable("is not a notebook (no list of cells)")
    if not cells:
        raise Unreadable("has no cells")
    out = []
    for i, cell in enumerate(cells):
        if not isinstance(cell, dict) or cell.get("cell_type") not in ("code", "markdown", "raw"):
            raise Unreadable(f"cell {i + 1} is malformed")
        meta = cell.get("metadata") if isinstance(cell.get("metadata"), dict) else {}
        nbg = meta.get("nbgrader") if isinstance(meta.get("nbgrader"), dict) else {}
        gid = nbg.get("grade_id")
        cid = cell.get("id")
        tags = meta.get("tags") if isinstance(meta.get("tags"), list) else []
        out.append(SubCell(cell["cell_type"], _text(cell.get("source", ""), f"cell {i + 1}"),
                           gid if isinstance(gid, str) else None,
                           cid if isinstance(cid, str) else None,
                           [t for t in tags if isinstance(t, str)], nbg.get("points"), i))
    return out


# --------------------------------------------------------------------------- the course side

@dataclass
class SourceCell:
    key: str
    cell_type: str
    source: str
    role: str  # exercise | answer | test | locked | free | prose
    grade_id: str | None
    cell_id: str | None
    skip: bool
    points: float | None = None


@dataclass
class NotebookSpec:
    """One instructor notebook, as the grader needs it."""

    notebook: str
    cells: list[SourceCell]
    items: list[dict]  # course.graded_items + "exercises": [keys], "cell": key

    @property
    def max_auto(self) -> float:
        return sum(i["points"] for i in self.items if i["kind"] == "auto")

    @classmethod
    def from_source(cls, notebook: str, source_nb) -> NotebookSpec:
        cells, exercises, previous = [], [], []
        items = {i["grade_id"]: i for i in course.graded_items(source_nb)}
        ordered = []
        for n, cell in enumerate(source_nb.cells):
            gid = course.grade_id(cell)
            meta = course.nbgrader_meta(cell)
            if course.is_autograded_test(cell):
                role = "test"
            elif course.is_solution(cell):
                role = "exercise" if cell.cell_type == "code" else "answer"
            elif cell.cell_type != "code":
                role = "prose"
            else:
                role = "locked" if meta.get("locked") or not meta else "free"
            key = gid or cell.get("id") or f"cell-{n}"
            cells.append(SourceCell(key, cell.cell_type, cell.source, role, gid, cell.get("id"),
                                    course.is_skipped(cell), meta.get("points")))
            if role == "exercise":
                exercises.append(key)
            if gid in items:
                item = dict(items[gid])
                item["cell"] = key
                if role == "test":
                    # A test cell right after another one checks the same exercise further.
                    item["exercises"] = list(exercises or previous)
                    previous, exercises = item["exercises"], []
                else:
                    item["exercises"] = [key]
                ordered.append(item)
        return cls(notebook, cells, ordered)


# --------------------------------------------------------------------------- assembling

@dataclass
class RunCell:
    """A code cell the sandbox runs."""

    source: str
    origin: str  # instructor | student | added
    key: str  # the source cell's key, or added-<n>
    label: str  # for messages: the cell id the student sees


@dataclass
class Shown:
    """A cell of the graded notebook as the feedback shows it."""

    kind: str  # markdown | code | test | answer | missing | added
    text: str
    key: str
    run: int | None = None  # index into Assembled.run
    item: str | None = None  # grade_id of a graded item shown after this cell
    note: str = ""


@dataclass
class Assembled:
    run: list[RunCell] = field(default_factory=list)
    shown: list[Shown] = field(default_factory=list)
    missing: dict[str, str] = field(default_factory=dict)  # exercise/answer key -> why
    answers: dict[str, str] = field(default_factory=dict)  # manual answer key -> text
    runs_of: dict[str, list[int]] = field(default_factory=dict)  # exercise key -> run idx
    notes: list[str] = field(default_factory=list)


def _hide_tests(source: str) -> str:
    return course._HIDDEN_BLOCK.sub("", source).rstrip()


def assemble(spec: NotebookSpec, cells: list[SubCell]) -> Assembled:
    """What to run and what to show, from the instructor source and the submitted cells."""
    out = Assembled()
    by_gid, by_id = defaultdict(list), defaultdict(list)
    for c in cells:
        if c.grade_id:
            by_gid[c.grade_id].append(c.index)
        if c.cell_id:
            by_id[c.cell_id].append(c.index)
    owner: dict[int, str] = {}
    slots: dict[str, list[int]] = {}
    for s in spec.cells:  # first by nbgrader grade_id, the id nbgrader itself grades by
        if s.grade_id:
            slots[s.key] = [i for i in by_gid.get(s.grade_id, []) if i not in owner]
            owner.update({i: s.key for i in slots[s.key]})
    for s in spec.cells:  # then by cell id, for cells whose nbgrader metadata was lost
        if not slots.get(s.key) and s.cell_id:
            slots[s.key] = [i for i in by_id.get(s.cell_id, []) if i not in owner]
            owner.update({i: s.key for i in slots[s.key]})
    added: dict[str, list[int]] = defaultdict(list)  # anchor key -> added cells after it
    anchor = "^"
    for c in cells:
        if c.index in owner:
            anchor = owner[c.index]
        else:
            added[anchor].append(c.index)
    _notes(spec, cells, slots, added, out)

    def add_run(source, origin, key, label) -> int:
        out.run.append(RunCell(source, origin, key, label))
        return len(out.run) - 1

    def place_added(anchor_key):
        for i in added.get(anchor_key, []):
            c = cells[i]
            label = c.cell_id or f"cell {i + 1}"
            if c.cell_type == "code" and "autograde-skip" not in c.tags:
                n = add_run(c.source, "added", f"added-{i}", label)
                out.shown.append(Shown("added", c.source, f"added-{i}", n))
            elif c.cell_type == "markdown":
                out.shown.append(Shown("answer", c.source, f"added-{i}"))

    place_added("^")
    for s in spec.cells:
        mine = [cells[i] for i in slots.get(s.key, [])]
        label = s.cell_id or s.key
        if s.role in ("locked", "prose") or (s.role == "free" and not mine):
            if s.cell_type == "code":
                n = None if s.skip else add_run(s.source, "instructor", s.key, label)
                out.shown.append(Shown("code", s.source, s.key, n,
                                       note="not run by the grader" if s.skip else ""))
            else:
                out.shown.append(Shown("markdown", s.source, s.key))
        elif s.role == "free":
            for c in mine:
                if c.cell_type == "code":
                    n = None if s.skip else add_run(c.source, "student", s.key, label)
                    out.shown.append(Shown("code", c.source, s.key, n))
        elif s.role == "test":
            out.shown.append(Shown("test", _hide_tests(s.source), s.key, item=s.grade_id))
        elif s.role == "exercise":
            code = [c for c in mine if c.cell_type == "code"]
            if not code:
                why = (f"your answer cell {label} was changed into a {mine[0].cell_type} cell"
                       if mine else f"your answer cell {label} is missing from the notebook "
                       "(deleted, or its metadata was changed)")
                out.missing[s.key] = why
                out.shown.append(Shown("missing", why, s.key))
            for c in code:
                n = None if s.skip else add_run(c.source, "student", s.key, label)
                if n is not None:
                    out.runs_of.setdefault(s.key, []).append(n)
                out.shown.append(Shown("code", c.source, s.key, n))
        elif s.role == "answer":
            if not mine:
                why = f"your written answer {label} is missing from the notebook"
                out.missing[s.key] = why
                out.shown.append(Shown("missing", why, s.key, item=s.grade_id))
            else:
                text = "\n\n".join(c.source for c in mine)
                out.answers[s.key] = text
                out.shown.append(Shown("answer", text, s.key, item=s.grade_id))
        place_added(s.key)
    return out


def _notes(spec, cells, slots, added, out) -> None:
    """What the submission changed that the grader ignored or worked around (for the log)."""
    edited, points, deleted, dup = [], [], [], []
    for s in spec.cells:
        mine = [cells[i] for i in slots.get(s.key, [])]
        if s.role in ("locked", "test", "prose") and any(c.source.strip() != s.source.strip()
                                                        for c in mine):
            if s.role != "test" or any(c.source.strip() != _hide_tests(s.source).strip()
                                       for c in mine):
                edited.append(s.key)
        if s.role == "test" and any(c.points is not None and c.points != s.points
                                    for c in mine):
            points.append(s.key)
        if not mine and s.role in ("locked", "test", "exercise", "answer"):
            deleted.append(s.key)
        if len(mine) > 1:
            dup.append(s.key)
    order = [slots_key for c in cells for slots_key, idx in slots.items() if c.index in idx]
    expected = [s.key for s in spec.cells if s.key in order]
    seen = list(dict.fromkeys(order))
    if edited:
        out.notes.append("locked cells edited (the instructor's version was used): "
                         + ", ".join(edited))
    if points:
        out.notes.append("points changed in test cells (ignored): " + ", ".join(points))
    if deleted:
        out.notes.append("cells deleted: " + ", ".join(deleted))
    if dup:
        out.notes.append("cells duplicated (all copies run, in order): " + ", ".join(dup))
    if seen != expected:
        out.notes.append("cells reordered (run in the instructor's order)")
    n_added = sum(len(v) for v in added.values())
    if n_added:
        out.notes.append(f"{n_added} cell(s) added by the student (run where they are)")
