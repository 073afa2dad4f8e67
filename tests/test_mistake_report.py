"""Issue 16: the mistake report counts exactly the mistakes a class made.

A class of seven students hands in 03_backprop (the notebook that grades fastest: no
dataset). Each notebook is the student version with the reference answers typed in and zero,
one or two named mutants of the instructor solutions (``tests/mutants``) applied, each to
one answer: two students share a mistake, two items carry two different mistakes, one
student makes two mistakes in different items, one makes none. The real ``course-grade
autograde`` grades them into nbgrader's gradebook; ``course-grade report`` then reads only
the gradebook. Every count in mistakes.csv and report.html must equal the number of
students given that mutant, under the mistake id the checks reported (the mutant's
``mistake`` field where it names one). The page is opened in Chromium (offline: any request
that leaves the file fails the test) and its picture saved as
``test-artifacts/mistake-report.png``.
"""

from __future__ import annotations

import ast
import csv
import importlib
import pkgutil
import re
from collections import Counter, defaultdict
from dataclasses import replace
from pathlib import Path

import nbformat
import pytest
from nbgrader.api import Gradebook

from autograder import config, course, coursedir
from autograder.cli import main as cli_main
from tests import mutants as mutant_catalogue
from tests.mutants import Mutant

pytestmark = pytest.mark.slow

NB_ID = "03_backprop"
STAMP = "2026-11-30 09:15:00.000000 UTC"
ARTIFACT = config.ROOT / "test-artifacts" / "mistake-report.png"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]

# Used only if the catalogue has no mutants of 03_backprop: edits in the catalogue's format
# (no expected id: the report is checked against whatever id the check reports).
FALLBACK = [
    Mutant("Value.backward", "no-topological-order", "value-solution",
           old="for v in reversed(order):", new="for v in order:", nb_id=NB_ID),
    Mutant("Value.backward", "visits-twice", "value-solution",
           old="            if id(v) not in seen:", new="            if True:", nb_id=NB_ID),
    Mutant("xy_plus_max", "overwrites", "xy-plus-max-solution",
           old="dx += dx_max", new="dx = dx_max", nb_id=NB_ID),
    Mutant("l2_matvec", "no-factor-2", "l2-matvec-solution", old="dq = 2 * q", new="dq = q",
           nb_id=NB_ID),
]


def catalogued(nb_id: str) -> list[Mutant]:
    """The catalogue's mutants of ``nb_id`` (read from its own module only, so that a
    half-written catalogue of another notebook does not stop this test)."""
    for info in pkgutil.iter_modules(mutant_catalogue.__path__):
        module = importlib.import_module(f"{mutant_catalogue.__name__}.{info.name}")
        if getattr(module, "NB_ID", None) == nb_id:
            return [replace(m, nb_id=nb_id) for m in module.MUTANTS]
    return []


def leaf_cells() -> set[str]:
    """Solution cells whose top-level names no other solution cell uses: a mistake there
    costs only its own item (a broken MultiplyGate would also fail sigmoid_neuron)."""
    cells = {c.get("id"): course.strip_solution_markers(c.source) for c in
             course.read(course.source_path(NB_ID)).cells
             if c.cell_type == "code" and course.is_solution(c)}
    used = {cid: {n.id for n in ast.walk(ast.parse(text)) if isinstance(n, ast.Name)}
            | {n.attr for n in ast.walk(ast.parse(text)) if isinstance(n, ast.Attribute)}
            for cid, text in cells.items()}
    leaves = set()
    for cid, text in cells.items():
        defined = set()
        for node in ast.parse(text).body:
            if isinstance(node, ast.FunctionDef | ast.ClassDef):
                defined.add(node.name)
            elif isinstance(node, ast.Assign):
                defined |= {n.id for t in node.targets for n in ast.walk(t)
                            if isinstance(n, ast.Name)}
        if not any(defined & names for other, names in used.items() if other != cid):
            leaves.add(cid)
    return leaves


def pick_mutants() -> tuple[Mutant, Mutant, Mutant, Mutant]:
    """(a, b, c, d): a and b in one item with different mistakes, c and d in two other
    items, all in cells no other item depends on; mutants that name their expected id
    preferred."""
    leaves = leaf_cells()
    found = [m for m in catalogued(NB_ID) if m.cell in leaves] or [
        m for m in FALLBACK if m.cell in leaves]
    by_item: dict[str, list[Mutant]] = defaultdict(list)
    for m in sorted(found, key=lambda m: m.mistake is None):  # stable: named ids first
        by_item[m.item].append(m)
    pair = None
    for ms in by_item.values():
        named = list({m.mistake: m for m in ms if m.mistake}.values())
        if len(named) >= 2:
            pair = named[0], named[1]
            break
    if pair is None:  # two mutants of one item; their ids are compared after grading
        item = next(i for i, ms in by_item.items() if len(ms) >= 2)
        pair = by_item[item][0], by_item[item][1]
    others = [ms[0] for i, ms in by_item.items() if i != pair[0].item]
    assert len(others) >= 2, f"the catalogue of {NB_ID} has too few items with mutants"
    return pair[0], pair[1], others[0], others[1]


def class_plan(a, b, c, d) -> dict[str, list[Mutant]]:
    """Student -> the mutants in their notebook (ids with '_': never inside base64)."""
    return {"stu_ada": [], "stu_bea": [a], "stu_cal": [a], "stu_dan": [a, c],
            "stu_eli": [b], "stu_fox": [c], "stu_gil": [d]}


def notebook_with(mistakes: list[Mutant]):
    """The student version, reference answers typed in, each mutant applied to its cell."""
    source = course.read(course.source_path(NB_ID))
    nb = course.fill_in_answers(course.read(course.student_path(NB_ID)), source)
    gid_of = {c.get("id"): course.grade_id(c) for c in source.cells}
    for m in mistakes:
        cell = next(c for c in nb.cells if course.grade_id(c) == gid_of[m.cell])
        assert cell.source == course.strip_solution_markers(
            next(c for c in source.cells if c.get("id") == m.cell).source)
        cell.source = mutant_catalogue.mutated_source(m)
    return nb


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """The class, graded by `course-grade autograde` in a course directory, and reported."""
    root = tmp_path_factory.mktemp("mistake-report")
    cd = coursedir.init(root / "course")
    picked = pick_mutants()
    plan = class_plan(*picked)
    for student, mistakes in plan.items():
        folder = cd / "submitted" / student / NB_ID
        folder.mkdir(parents=True)
        nbformat.write(notebook_with(mistakes), str(folder / f"{NB_ID}.ipynb"))
        (folder / "timestamp.txt").write_text(STAMP)
    assert cli_main(["autograde", "--course", str(cd), NB_ID, "--quiet"]) == 0
    assert cli_main(["report", "--course", str(cd)]) == 0
    assert cli_main(["report", "--course", str(cd), "--names", "--out",
                     str(root / "named")]) == 0
    return {"cd": cd, "plan": plan, "picked": picked, "root": root}


def _grade_ids() -> dict[str, str]:
    """check name -> the grade_id of the item whose test cell calls it."""
    return {call.item: i["grade_id"] for i in course.graded_items(
        course.read(course.source_path(NB_ID))) for call in i.get("calls", [])}


def _stored(cd) -> dict[tuple[str, str], dict]:
    from autograder.store import Store

    with Store(f"sqlite:///{cd / 'gradebook.db'}") as db:
        return {(s.student_id, r["item"]): r for s in db.results() for r in s.rows}


def expected_counts(graded) -> tuple[dict[str, Counter], dict[str, dict[str, set]]]:
    """Per item: {mistake id: students given it}, and the students behind each id. The id
    of a mutant is its ``mistake`` field when set, else the one the check reported; either
    way every student with the same mutant must carry the same id."""
    stored, gids = _stored(graded["cd"]), _grade_ids()
    counts: dict[str, Counter] = defaultdict(Counter)
    who: dict[str, dict[str, set]] = defaultdict(lambda: defaultdict(set))
    for m in graded["picked"]:
        students = [s for s, ms in graded["plan"].items() if m in ms]
        reported = {stored[(s, gids[m.item])]["mistake"] for s in students}
        assert len(reported) == 1, f"{m.key}: the students got different ids {reported}"
        mid = reported.pop()
        assert mid and mid.startswith(f"{m.item}/"), f"{m.key} was reported as {mid}"
        if m.mistake:
            assert mid == f"{m.item}/{m.mistake}", f"{m.key}: expected {m.mistake}, got {mid}"
        counts[gids[m.item]][mid] += len(students)
        who[gids[m.item]][mid] |= set(students)
    return counts, who


def _csv(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_every_count_equals_the_students_given_that_mistake(graded):
    counts, _ = expected_counts(graded)
    rows = _csv(graded["cd"] / "grades" / "mistakes.csv")
    n = len(graded["plan"])
    items = {i["grade_id"] for i in course.graded_items(
        course.read(course.source_path(NB_ID))) if i["kind"] == "auto"}
    assert {r["item"] for r in rows} == items
    got: dict[str, Counter] = defaultdict(Counter)
    for r in rows:
        assert r["submitted"] == str(n), r
        wrong = sum(counts[r["item"]].values())
        assert int(r["passed"]) == n - wrong, (r["item"], r["passed"], counts[r["item"]])
        if r["mistake"]:
            got[r["item"]][r["mistake"]] = int(r["count"])
            assert float(r["share"]) == pytest.approx(int(r["count"]) / n, abs=1e-3)
            assert r["example"].strip(), r
            assert "hidden=True" not in r["example"] and "BEGIN HIDDEN" not in r["example"]
    assert {k: v for k, v in got.items() if v} == {k: v for k, v in counts.items() if v}
    # hardest first: the item two mutants hit comes before every item no one missed
    order = list(dict.fromkeys(r["item"] for r in rows))
    assert order[0] == _grade_ids()[graded["picked"][0].item]
    assert all(float(r["median_check_seconds"]) > 0 for r in rows)


def test_the_page_shows_the_same_numbers_and_names_no_one(graded):
    counts, who = expected_counts(graded)
    page = (graded["cd"] / "grades" / "report.html").read_text()
    table = (graded["cd"] / "grades" / "mistakes.csv").read_text()
    for student in graded["plan"]:
        assert student not in page and student not in table, student
    n = len(graded["plan"])
    for ids in counts.values():
        assert f"passed by <b>{n - sum(ids.values())} of {n}</b>" in page
        for mid, k in ids.items():
            assert re.search(rf"<code>{re.escape(mid)}</code></td><td class=\"n\">{k}</td>",
                             page), (mid, k)
    assert "<script" not in page and "http" not in page.split("</style>")[1]
    assert page.count("data:image/png;base64,") == len({r["item"] for r in _csv(
        graded["cd"] / "grades" / "mistakes.csv")})
    named = _csv(graded["root"] / "named" / "mistakes.csv")
    for r in named:
        if r["mistake"]:
            assert set(r["students"].split()) == who[r["item"]][r["mistake"]], r


def test_mistakes_reach_the_gradebook_comment_and_the_per_item_export(graded, tmp_path):
    cd, (a, *_) = graded["cd"], graded["picked"]
    gid = _grade_ids()[a.item]
    mid = _stored(cd)[("stu_bea", gid)]["mistake"]
    with Gradebook(f"sqlite:///{cd / 'gradebook.db'}") as gb:
        nb = gb.find_submission_notebook(NB_ID, NB_ID, "stu_bea")
        comments = "\n".join(c.auto_comment or "" for c in nb.comments)
    assert f"[mistake: {mid}]" in comments
    assert "[mistake:" not in "\n".join(
        c.auto_comment or "" for c in Gradebook(f"sqlite:///{cd / 'gradebook.db'}")
        .find_submission_notebook(NB_ID, NB_ID, "stu_ada").comments)
    out = tmp_path / "items.csv"
    assert cli_main(["export", "--course", str(cd), "--format", "per-item",
                     "--out", str(out)]) == 0
    rows = {(r["student_id"], r["item"]): r for r in _csv(out)}
    assert rows[("stu_bea", gid)]["mistake"] == mid
    assert rows[("stu_ada", gid)]["mistake"] == ""


def test_no_gradebook_or_nothing_graded_is_one_line(graded, tmp_path, capsys):
    empty = coursedir.init(tmp_path / "empty")
    assert cli_main(["report", "--course", str(empty)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "no gradebook" in err and "autograde" in err
    assert not (empty / "gradebook.db").exists()  # the report did not create one
    assert cli_main(["report", "--course", str(graded["cd"]), "01_knn"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "nothing graded for 01_knn" in err


def test_the_report_reads_offline_in_chromium(graded):
    if not CHROMIUM.is_file():
        pytest.fail(f"{CHROMIUM} not found: install Debian's Chromium (`apt-get install -y "
                    "chromium`). The browser tests never skip.", pytrace=False)
    from playwright.sync_api import sync_playwright

    page_path = graded["cd"] / "grades" / "report.html"
    requested = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.route("**/*", lambda route: (requested.append(route.request.url),
                                              route.abort())
                       if not route.request.url.startswith(("file:", "data:"))
                       else route.continue_())
            page.goto(page_path.as_uri())
            images = page.eval_on_selector_all(
                "img", "els => els.map(e => [e.complete, e.naturalWidth, "
                "e.getBoundingClientRect().width])")
            width = page.evaluate("document.documentElement.scrollWidth")
            ARTIFACT.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(ARTIFACT), full_page=True)
        finally:
            browser.close()
    assert requested == [], f"the page asked the network for {requested}"
    assert images and all(done and natural > 300 and shown > 300
                          for done, natural, shown in images), images
    assert width <= 1280, f"the page is {width} px wide at 1280"
