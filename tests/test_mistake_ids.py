"""Every hint the checks can emit names a mistake: an id and a title (issue 16, item 1).

A static scan of ``course_lib/checks/*.py`` finds every place a hint is made: ``hint=``
arguments, the keys of ``hints=`` dicts (``forward_hints=``, ... too), ``exc.hint = ...``
and ``hints[key] = ...``. Each must be a :class:`Mistake`: a ``Mistake(...)`` call, a call of
a function whose returns all are one, a name bound only to such values, a parameter (its
callers are scanned), or None. Then, at run time, every hint constructor called with literal
arguments is called, and must return a Mistake whose id has a title in MISTAKES. A failure
lists every offender as file:line, so each module's author can fix exactly those.
"""

from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path

import pytest

import course_lib.checks as checks
from course_lib.checks import MISTAKES, Mistake
from course_lib.checks._core import CheckFailed

CHECKS_DIR = Path(checks.__file__).parent
FILES = sorted(CHECKS_DIR.glob("*.py"))
ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


class Module:
    """One checks module: its functions, module-level bindings and imports, by name."""

    def __init__(self, path: Path):
        self.path = path
        self.tree = ast.parse(path.read_text(), str(path))
        self.functions: dict[str, ast.FunctionDef] = {}
        self.bindings: dict[str, list[ast.expr]] = {}
        self.imports: dict[str, str] = {}
        for node in self.tree.body:
            if isinstance(node, ast.FunctionDef):
                self.functions[node.name] = node
            elif isinstance(node, ast.Assign | ast.AnnAssign) and node.value is not None:
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                for target in targets:
                    if isinstance(target, ast.Name):
                        self.bindings.setdefault(target.id, []).append(node.value)
            elif isinstance(node, ast.ImportFrom) and node.level == 1:
                for alias in node.names:  # "from . import x": x as the package re-exports it
                    self.imports[alias.asname or alias.name] = node.module or "__init__"


MODULES = {path.stem: Module(path) for path in FILES}


def _parents(tree):
    parent = {}
    for node in ast.walk(tree):
        for child in ast.iter_child_nodes(node):
            parent[child] = node
    return parent


class Scan:
    """Decides whether expressions produce Mistakes (``hint``) or dicts keyed by them."""

    def __init__(self, module: Module):
        self.module = module
        self.parent = _parents(module.tree)
        self.offenders: list[str] = []
        self._memo: dict = {}  # (kind, what) -> verdict; True while in progress (recursion)

    # -- where a name comes from
    def _function_of(self, node):
        while node is not None and not isinstance(node, ast.FunctionDef | ast.Lambda):
            node = self.parent.get(node)
        return node

    def _local_values(self, func, name: str) -> list[ast.expr] | None:
        """Values bound to ``name`` in ``func`` (None: a parameter or loop variable, whose
        values are checked where they come from)."""
        args = func.args
        params = {a.arg for a in args.args + args.kwonlyargs + args.posonlyargs}
        params |= {a.arg for a in (args.vararg, args.kwarg) if a is not None}
        if name in params:
            return None
        values = []
        for node in ast.walk(func):
            if isinstance(node, ast.Assign | ast.AnnAssign) and node.value is not None:
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                if any(isinstance(t, ast.Name) and t.id == name for t in targets):
                    values.append(node.value)
                elif any(isinstance(t, ast.Tuple | ast.List) and name in {
                        n.id for n in ast.walk(t) if isinstance(n, ast.Name)} for t in targets):
                    return None  # unpacked from a container: its items are scanned where made
            elif isinstance(node, ast.NamedExpr) and node.target.id == name:
                values.append(node.value)
            elif isinstance(node, ast.For | ast.comprehension | ast.ExceptHandler):
                target = getattr(node, "target", None)
                if node.__class__ is ast.ExceptHandler and node.name == name:
                    return None
                if target is not None and name in {n.id for n in ast.walk(target)
                                                   if isinstance(n, ast.Name)}:
                    return None
        return values

    def _values_of(self, name: ast.Name) -> list[ast.expr] | None:
        func = self._function_of(name)
        while func is not None:
            if isinstance(func, ast.FunctionDef):
                values = self._local_values(func, name.id)
                if values is None or values:
                    return values
            else:  # a lambda's parameters
                if name.id in {a.arg for a in func.args.args}:
                    return None
            func = self._function_of(self.parent.get(func))
        # comprehension variables
        node = self.parent.get(name)
        while node is not None:
            if isinstance(node, ast.ListComp | ast.DictComp | ast.SetComp | ast.GeneratorExp):
                for gen in node.generators:
                    if name.id in {n.id for n in ast.walk(gen.target) if isinstance(n, ast.Name)}:
                        return None
            node = self.parent.get(node)
        if name.id in self.module.bindings:
            return self.module.bindings[name.id]
        return []

    def _returns(self, func: ast.FunctionDef) -> list[ast.expr]:
        out = []
        for node in ast.walk(func):
            if isinstance(node, ast.Return) and node.value is not None \
                    and self._function_of(node) is func:
                out.append(node.value)
        return out

    def _source(self, name: str) -> str | None:
        """The sibling module an imported name is defined in."""
        source = self.module.imports.get(name)
        for _ in range(3):
            if source != "__init__" or "__init__" not in MODULES:
                break
            source = MODULES["__init__"].imports.get(name)
        return source

    def _callee(self, call: ast.Call):
        """(scan, function) for a call of a module-level function here or in a sibling."""
        if not isinstance(call.func, ast.Name):
            return None
        name = call.func.id
        if name in self.module.functions:
            return self, self.module.functions[name]
        source = self._source(name)
        if source in MODULES and name in MODULES[source].functions:
            return _scan(source), MODULES[source].functions[name]
        return None

    def _imported_constant(self, name: str):
        source = self._source(name)
        if source in MODULES and name in MODULES[source].bindings:
            return _scan(source), MODULES[source].bindings[name]
        return None

    def _memoized(self, key, decide) -> bool:
        if key not in self._memo:
            self._memo[key] = True
            self._memo[key] = bool(decide())
        return self._memo[key]

    def _name_is_mistake(self, name: ast.Name) -> bool:
        values = self._values_of(name)
        if values is None:
            return True
        if not values:
            imported = self._imported_constant(name.id)
            if imported is None:
                return False
            scan, values = imported
            return all(scan.is_mistake(v) for v in values)
        return all(self.is_mistake(v) for v in values)

    # -- hints
    def is_mistake(self, expr) -> bool:
        if expr is None or (isinstance(expr, ast.Constant) and expr.value is None):
            return True
        if isinstance(expr, ast.Call):
            func = expr.func
            if isinstance(func, ast.Name) and func.id == "Mistake" or \
                    isinstance(func, ast.Attribute) and func.attr == "Mistake":
                return True
            if isinstance(func, ast.Attribute) and func.attr == "get":  # {...: Mistake}.get(k)
                table = func.value
                if isinstance(table, ast.Name):
                    values = self._values_of(table)
                    return values is None or bool(values) and all(
                        isinstance(v, ast.Dict) and all(self.is_mistake(x) for x in v.values)
                        for v in values)
                return isinstance(table, ast.Dict) and all(
                    self.is_mistake(x) for x in table.values)
            callee = self._callee(expr)
            if callee is None:
                return False
            scan, fn = callee
            if isinstance(fn.returns, ast.Name) and fn.returns.id == "Mistake":
                return True
            returns = scan._returns(fn)
            return self._memoized(("returns", scan.module.path, fn.name), lambda: bool(
                returns) and all(scan.is_mistake(r) for r in returns))
        if isinstance(expr, ast.IfExp):
            return self.is_mistake(expr.body) and self.is_mistake(expr.orelse)
        if isinstance(expr, ast.BoolOp):
            return all(self.is_mistake(v) for v in expr.values)
        if isinstance(expr, ast.Attribute):
            return True  # exc.hint, self.hint: a hint made (and scanned) elsewhere
        if isinstance(expr, ast.Subscript) and isinstance(expr.value, ast.Name):
            values = self._values_of(expr.value)
            if values is None:
                return True
            return bool(values) and all(
                isinstance(v, ast.Dict) and all(self.is_mistake(x) for x in v.values)
                for v in values)
        if isinstance(expr, ast.Name):
            return self._memoized(("name", id(expr)), lambda: self._name_is_mistake(expr))
        return False

    def is_hint_dict(self, expr) -> bool:
        if expr is None or isinstance(expr, ast.Constant) and expr.value is None:
            return True
        if isinstance(expr, ast.Dict):
            ok = True
            for key, value in zip(expr.keys, expr.values):
                if key is None:  # {**other}
                    ok &= self.is_hint_dict(value)
                elif not self.is_mistake(key):
                    self.offend(key, "a key of a hints dict")
            return ok
        if isinstance(expr, ast.DictComp):
            if not self.is_mistake(expr.key):
                self.offend(expr.key, "the key of a hints dict comprehension")
            return True
        if isinstance(expr, ast.IfExp):
            return self.is_hint_dict(expr.body) & self.is_hint_dict(expr.orelse)
        if isinstance(expr, ast.BoolOp):
            return all([self.is_hint_dict(v) for v in expr.values])
        if isinstance(expr, ast.Attribute):
            return True
        if isinstance(expr, ast.Subscript) and isinstance(expr.value, ast.Name):
            tables = self._values_of(expr.value)  # hints[name]: a dict of hint dicts
            return tables is None or bool(tables) and all(
                isinstance(t, ast.Dict) and all([self.is_hint_dict(v) for v in t.values])
                for t in tables)
        if isinstance(expr, ast.Name):
            values = self._values_of(expr)
            if values is None:
                return True
            return self._memoized(("dict", id(expr)), lambda: bool(values) and all(
                [self.is_hint_dict(v) for v in values]))
        if isinstance(expr, ast.Call):
            callee = self._callee(expr)
            if callee is None:
                return isinstance(expr.func, ast.Name) and expr.func.id == "dict" and not expr.args
            scan, fn = callee
            returns = scan._returns(fn)
            return self._memoized(("dict-returns", scan.module.path, fn.name), lambda: bool(
                returns) and all([scan.is_hint_dict(r) for r in returns]))
        return False

    def offend(self, node, what: str) -> None:
        text = ast.unparse(node)
        text = text if len(text) <= 70 else text[:67] + "..."
        self.offenders.append(f"{self.module.path.name}:{node.lineno}: {what} is not a "
                              f"Mistake(id, title, text): {text}")

    def run(self) -> list[str]:
        for node in ast.walk(self.module.tree):
            if isinstance(node, ast.Call):
                for kw in node.keywords:
                    if kw.arg == "hint" and not self.is_mistake(kw.value):
                        self.offend(kw.value, "hint=")
                    elif kw.arg and kw.arg.endswith("hints") and not self.is_hint_dict(kw.value):
                        self.offend(kw.value, f"{kw.arg}=")
            elif isinstance(node, ast.Assign):
                for target in node.targets:
                    if isinstance(target, ast.Attribute) and target.attr == "hint" \
                            and not self.is_mistake(node.value):
                        self.offend(node.value, f"{ast.unparse(target)} =")
                    if isinstance(target, ast.Subscript) and isinstance(target.value, ast.Name) \
                            and target.value.id.endswith("hints") \
                            and not self.is_mistake(target.slice):
                        self.offend(target.slice, f"a key of {target.value.id}")
        return sorted(set(self.offenders), key=lambda line: int(line.split(":")[1]))


_SCANS: dict[str, Scan] = {}


def _scan(name: str) -> Scan:
    """One scan per module, so that what was decided about its functions is reused."""
    if name not in _SCANS:
        _SCANS[name] = Scan(MODULES[name])
    return _SCANS[name]


def test_every_hint_in_the_checks_is_a_named_mistake():
    offenders = [line for name in MODULES for line in Scan(MODULES[name]).run()]
    assert not offenders, (
        f"{len(offenders)} hints without a mistake id and title (make each a Mistake):\n"
        + "\n".join(offenders))


def _literal_calls():
    """Calls of Mistake or of a module's Mistake-returning helper whose arguments are all
    literals (f-strings filled with a placeholder): module, line, function, arguments."""
    for name, module in MODULES.items():
        scan = _scan(name)
        for node in ast.walk(module.tree):
            if not isinstance(node, ast.Call) or node.keywords:
                continue
            if isinstance(node.func, ast.Name) and node.func.id == "Mistake":
                fn = "Mistake"
            elif scan._callee(node) and scan._callee(node)[0] is scan and isinstance(
                    node.func, ast.Name) and scan.is_mistake(node) and scan._returns(
                    module.functions[node.func.id]):
                fn = node.func.id
            else:
                continue
            args = []
            for arg in node.args:
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                    args.append(arg.value)
                elif isinstance(arg, ast.JoinedStr):
                    args.append("…")
                else:
                    break
            else:
                yield name, node.lineno, fn, args


def test_every_literal_hint_constructor_gives_an_id_with_a_title():
    problems = []
    for name, line, fn, args in _literal_calls():
        module = importlib.import_module(f"course_lib.checks.{name}")
        where = f"{name}.py:{line}: {fn}({', '.join(map(repr, args))[:60]})"
        try:
            made = Mistake(*args) if fn == "Mistake" else getattr(module, fn)(*args)
        except Exception as exc:
            problems.append(f"{where} raises {type(exc).__name__}: {exc}")
            continue
        if not isinstance(made, Mistake):
            problems.append(f"{where} returns a {type(made).__name__}, not a Mistake")
        elif not (ID.match(made.id) and made.title and MISTAKES.get(made.id) == made.title):
            problems.append(f"{where}: id {made.id!r} / title {made.title!r} not in MISTAKES")
    assert not problems, "\n".join(problems)


def test_each_id_has_one_title_across_the_checks():
    """The same literal id must come with the same literal title in every module (at run
    time a second title is a ValueError in the middle of a check)."""
    titles: dict[str, set] = {}
    for module in MODULES.values():
        for node in ast.walk(module.tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) \
                    and node.func.id == "Mistake" and len(node.args) >= 2 \
                    and all(isinstance(a, ast.Constant) for a in node.args[:2]):
                titles.setdefault(node.args[0].value, set()).add(
                    (node.args[1].value, f"{module.path.name}:{node.lineno}"))
    clashes = {i: sorted(t) for i, t in titles.items() if len({x for x, _ in t}) > 1}
    assert not clashes, "\n".join(f"{i}: {t}" for i, t in clashes.items())


def test_every_registered_mistake_has_a_slug_id_and_a_title():
    bad = [f"{i!r}: {t!r}" for i, t in MISTAKES.items()
           if not (isinstance(i, str) and ID.match(i) and isinstance(t, str) and t.strip())]
    assert not bad, bad


def test_the_scan_finds_a_plain_string_hint(tmp_path):
    """The scan is not blind: plain strings, and dicts keyed by them, are offenders."""
    path = tmp_path / "fake.py"
    path.write_text(
        "from ._core import Mistake\n"
        "GOOD = Mistake('a', 'b', 'c')\n"
        "def _m(i, t):\n    return Mistake(i, 'x', t)\n"
        "def _hints(x):\n    return {'plain': x, _m('i', 't'): x}\n"
        "def body(fn, hint=None):\n"
        "    fail('m', hint='plain text')\n"
        "    fail('m', hint=GOOD if fn else None)\n"
        "    fail('m', hint=hint)\n"
        "    expect_close(1, 2, 'x', hints={f'about {fn}': 3, GOOD: 4})\n"
        "    expect_close(1, 2, 'x', hints=_hints(2))\n"
        "    hints = {}\n    hints['more'] = 5\n"
        "    exc.hint = 'also plain'\n")
    found = Scan(Module(path)).run()
    assert [f.split(":")[1] for f in found] == ["6", "8", "11", "14", "15"], found


@pytest.mark.parametrize("hint", ["plain text", None])
def test_a_failure_without_a_named_hint_still_has_a_generic_id(hint):
    assert CheckFailed("m", hint=hint).mistake == "wrong-value"


def test_strict_mode_refuses_a_hint_without_an_id_at_run_time(monkeypatch):
    """The run-time guard: with COURSE_STRICT_HINTS=1 (for runs over many wrong
    implementations, such as the mutants) an emitted hint without an id is an error."""
    from course_lib.checks import CHECKS, fail, register

    def plain(ctx):
        fail("wrong", hint="a plain hint")

    def named(ctx):
        fail("wrong", hint=Mistake("_test-named", "a named test mistake", "a named hint"))

    register("_test.plain")(plain)
    register("_test.named")(named)
    try:
        assert CHECKS["_test.plain"].evaluate().mistake == "_test.plain/wrong-value"
        monkeypatch.setenv("COURSE_STRICT_HINTS", "1")
        with pytest.raises(TypeError, match="a hint without a mistake id"):
            CHECKS["_test.plain"].evaluate()
        assert CHECKS["_test.named"].evaluate().mistake == "_test.named/_test-named"
    finally:
        del CHECKS["_test.plain"], CHECKS["_test.named"]
