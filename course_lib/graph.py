"""Small scalar expression graphs for display: parse, evaluate, and walk backward step by step.

The model behind :func:`course_lib.widgets.graph_explorer.graph_explorer`. A graph is
written as a tiny program::

    q = x + y
    f = q * z

(statements separated by newlines or ``;``; the last one is the output). It may use
``+ - * / **``, unary minus, numbers, ``max(a, b)``, ``sigmoid(a)`` and ``exp(a)``. Names
that are never assigned are the inputs. A binary operation with a number on one side
becomes a one-input gate labelled with that number, as on the lecture slides (``+1``,
``*-1``, ``1/x``).

On purpose this module holds no backward rules: it knows each gate's forward function
only, and every local gradient it shows is a centred difference of that forward function
(:func:`local_gradients`). The explorer multiplies those by the upstream gradient to show
the chain rule at work; a student cannot import an analytic gradient from here in place of
their own gates. The one rule it applies is the course's documented tie rule for max (all
of the gradient goes to the first input), because a centred difference at a tie splits it.
"""

from __future__ import annotations

import ast
import math
from dataclasses import dataclass, field

FUNCTIONS = ("max", "sigmoid", "exp")


def _sigmoid(a: float) -> float:
    if a >= 0:
        return 1.0 / (1.0 + math.exp(-a))
    e = math.exp(a)
    return e / (1.0 + e)


def _safe_exp(a: float) -> float:
    return math.exp(a) if a < 709.0 else math.inf


@dataclass(frozen=True)
class Op:
    """A gate kind: what is drawn in its circle, its forward function, and how each input's
    local gradient reads in words (``{0}``, ``{1}`` stand for the input names)."""

    symbol: str
    arity: int
    forward: object
    rules: tuple[str, ...]


def _binary_ops() -> dict[type, Op]:
    return {
        ast.Add: Op("+", 2, lambda a, b: a + b, ("1", "1")),
        ast.Sub: Op("-", 2, lambda a, b: a - b, ("1", "-1")),
        ast.Mult: Op("*", 2, lambda a, b: a * b, ("{1}", "{0}")),
        ast.Div: Op("/", 2, lambda a, b: a / b, ("1/{1}", "-{0}/{1}²")),
    }


MAX = Op("max", 2, lambda a, b: a if a >= b else b,
         ("1 if {0} ≥ {1}, else 0", "1 if {1} > {0}, else 0"))
SIGMOID = Op("σ", 1, _sigmoid, ("(1 - σ)·σ, from the output σ",))
EXP = Op("exp", 1, _safe_exp, ("exp({0}), the output itself",))


def _number(c: float) -> str:
    return str(int(c)) if float(c).is_integer() else f"{c:g}"


def _const_op(kind: type, c: float, const_left: bool) -> Op:
    """A binary operation with the number ``c`` on one side, as a one-input gate."""
    n = _number(c)
    if kind is ast.Add:
        return Op(f"+{n}" if c >= 0 else n, 1, lambda a: a + c, ("1",))
    if kind is ast.Mult:
        return Op(f"*{n}", 1, lambda a: a * c, (n,))
    if kind is ast.Sub and not const_left:
        return Op(f"-{n}" if c >= 0 else f"+{_number(-c)}", 1, lambda a: a - c, ("1",))
    if kind is ast.Sub:
        return Op(f"{n}-x", 1, lambda a: c - a, ("-1",))
    if kind is ast.Div and not const_left:
        return Op(f"/{n}", 1, lambda a: a / c, (f"1/{n}",))
    if kind is ast.Div:
        return Op(f"{n}/x", 1, lambda a: c / a, (f"-{n}/{{0}}²",))
    if kind is ast.Pow and not const_left:
        return Op(f"^{n}", 1, lambda a: a ** c, (f"{n}·{{0}}^{_number(c - 1)}",))
    raise ValueError(f"cannot draw a number on the left of {kind.__name__}")


@dataclass
class Node:
    """One node: an input (``op is None``) or a gate with its argument nodes."""

    index: int
    op: Op | None
    args: tuple[int, ...] = ()
    name: str | None = None  # the input's name, or the name a statement assigned
    text: str = ""  # the subexpression, for explanations
    consumers: list[tuple[int, int]] = field(default_factory=list)  # (gate, slot)

    @property
    def is_input(self) -> bool:
        return self.op is None

    @property
    def label(self) -> str:
        """What to call this value in explanations."""
        return self.name or self.text


class Graph:
    """A parsed expression. ``nodes`` are in topological order: inputs first."""

    def __init__(self, program: str):
        if not isinstance(program, str) or not program.strip():
            raise ValueError(f"program must be a non-empty string such as 'f = (x + y) * z', "
                             f"got {program!r}")
        try:
            tree = ast.parse(program.strip())
        except SyntaxError as exc:
            raise ValueError(f"program {program!r} is not valid Python: {exc.msg}") from None
        self.program = program
        self.nodes: list[Node] = []
        self._bound: dict[str, int] = {}
        inputs = _input_names(tree)
        for name in inputs:
            self._bound[name] = self._add(Node(len(self.nodes), None, name=name, text=name))
        statements = tree.body
        if not statements:
            raise ValueError("program has no statements")
        for i, stmt in enumerate(statements):
            last = i == len(statements) - 1
            if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 \
                    and isinstance(stmt.targets[0], ast.Name):
                name, value = stmt.targets[0].id, stmt.value
            elif isinstance(stmt, ast.Expr) and last:
                name, value = "f", stmt.value
            else:
                raise ValueError(f"each statement must be 'name = expression' (the last may be "
                                 f"a bare expression); got {ast.unparse(stmt)!r}")
            if name in self._bound:
                raise ValueError(f"{name!r} is assigned twice or is also an input")
            if name in FUNCTIONS:
                raise ValueError(f"{name!r} is a function name; pick another variable name")
            index = self._build(value)
            if self.nodes[index].is_input or self.nodes[index].name is not None:
                raise ValueError(f"{name} = {ast.unparse(value)} only renames a value; "
                                 "compute something")
            self.nodes[index].name = name
            self._bound[name] = index
        self.output = index
        for node in self.nodes:
            if node.index != self.output and not node.consumers:
                raise ValueError(f"{node.label!r} is never used in the output")

    # ------------------------------------------------------------------ building
    def _add(self, node: Node) -> int:
        self.nodes.append(node)
        for slot, arg in enumerate(node.args):
            self.nodes[arg].consumers.append((node.index, slot))
        return node.index

    def _gate(self, op: Op, args: list[int], text: str) -> int:
        return self._add(Node(len(self.nodes), op, tuple(args), text=text))

    def _build(self, expr) -> int:
        text = ast.unparse(expr)
        if isinstance(expr, ast.Name):
            if expr.id not in self._bound:
                raise ValueError(f"{expr.id!r} is used before it is assigned")
            return self._bound[expr.id]
        if isinstance(expr, ast.UnaryOp) and isinstance(expr.op, ast.USub):
            if _constant(expr) is not None:
                raise ValueError(f"a number alone ({text}) cannot be a node")
            return self._gate(_const_op(ast.Mult, -1.0, False), [self._build(expr.operand)], text)
        if isinstance(expr, ast.BinOp):
            kind = type(expr.op)
            left, right = _constant(expr.left), _constant(expr.right)
            if left is not None and right is not None:
                raise ValueError(f"{text!r} holds only numbers; write its value instead")
            if left is None and right is None:
                ops = _binary_ops()
                if kind not in ops:
                    raise ValueError(f"{text!r}: '**' needs a number as exponent")
                return self._gate(ops[kind], [self._build(expr.left), self._build(expr.right)],
                                  text)
            if right is not None:
                return self._gate(_const_op(kind, right, False), [self._build(expr.left)], text)
            if kind in (ast.Add, ast.Mult):
                return self._gate(_const_op(kind, left, True), [self._build(expr.right)], text)
            return self._gate(_const_op(kind, left, True), [self._build(expr.right)], text)
        if isinstance(expr, ast.Call) and isinstance(expr.func, ast.Name) \
                and expr.func.id in FUNCTIONS and not expr.keywords:
            fn, nargs = expr.func.id, len(expr.args)
            want = 2 if fn == "max" else 1
            if nargs != want:
                raise ValueError(f"{fn}() takes {want} argument(s), got {nargs} in {text!r}")
            if any(_constant(a) is not None for a in expr.args):
                raise ValueError(f"{text!r}: the arguments of {fn}() must be expressions with "
                                 "names in them, not numbers")
            op = {"max": MAX, "sigmoid": SIGMOID, "exp": EXP}[fn]
            return self._gate(op, [self._build(a) for a in expr.args], text)
        raise ValueError(
            f"cannot draw {text!r}: use + - * / **, unary minus, numbers, names, "
            "max(a, b), sigmoid(a) and exp(a)")

    # ------------------------------------------------------------------ queries
    @property
    def inputs(self) -> list[str]:
        return [n.name for n in self.nodes if n.is_input]

    @property
    def gates(self) -> list[Node]:
        return [n for n in self.nodes if not n.is_input]

    def check_inputs(self, values: dict) -> dict[str, float]:
        """``values`` as floats, or a ValueError naming what is missing or not a number."""
        if not isinstance(values, dict):
            raise ValueError(f"inputs must be a dict of numbers like {{'x': -2}}, "
                             f"got {type(values).__name__}")
        missing = [n for n in self.inputs if n not in values]
        extra = [k for k in values if k not in self.inputs]
        if missing or extra:
            parts = []
            if missing:
                parts.append(f"no value for {', '.join(map(repr, missing))}")
            if extra:
                parts.append(f"{', '.join(map(repr, extra))} not in the expression")
            raise ValueError(f"inputs: {'; '.join(parts)}; expected values for "
                             f"{', '.join(self.inputs)}")
        out = {}
        for name in self.inputs:
            v = values[name]
            try:
                if isinstance(v, bool | str | bytes):
                    raise TypeError
                v = float(v)
            except (TypeError, ValueError):
                raise ValueError(f"inputs[{name!r}] must be a number, got "
                                 f"{type(v).__name__}") from None
            if not math.isfinite(v):
                raise ValueError(f"inputs[{name!r}] must be finite, got {v}")
            out[name] = v
        return out

    def forward(self, values: dict) -> list[float]:
        """The value of every node (by index) for the given inputs."""
        values = self.check_inputs(values)
        out: list[float] = []
        for node in self.nodes:
            if node.is_input:
                out.append(values[node.name])
            else:
                try:
                    out.append(float(node.op.forward(*(out[a] for a in node.args))))
                except (ZeroDivisionError, OverflowError, ValueError) as exc:
                    raise ValueError(f"{node.text} cannot be computed for these inputs: "
                                     f"{exc}") from None
        return out


def _constant(expr) -> float | None:
    if isinstance(expr, ast.Constant) and type(expr.value) in (int, float):
        return float(expr.value)
    if isinstance(expr, ast.UnaryOp) and isinstance(expr.op, ast.USub | ast.UAdd):
        inner = _constant(expr.operand)
        if inner is not None:
            return -inner if isinstance(expr.op, ast.USub) else inner
    return None


def _input_names(tree) -> list[str]:
    """Names read before any statement assigns them, in order of first appearance."""
    assigned, seen = set(), []
    for stmt in tree.body:
        value = stmt.value if isinstance(stmt, ast.Assign | ast.Expr) else None
        if value is None:
            continue
        reads = [n for n in ast.walk(value) if isinstance(n, ast.Name)]
        calls = {id(c.func) for c in ast.walk(value) if isinstance(c, ast.Call)}
        reads.sort(key=lambda n: (n.lineno, n.col_offset))
        for n in reads:
            if id(n) in calls:
                continue
            if n.id not in assigned and n.id not in seen:
                seen.append(n.id)
        if isinstance(stmt, ast.Assign):
            for target in stmt.targets:
                if isinstance(target, ast.Name):
                    assigned.add(target.id)
    return seen


# ---------------------------------------------------------------------- backward, for display

def local_gradients(op: Op, args: list[float]) -> list[float]:
    """d(out)/d(input) for each input of a gate, by centred differences of its forward.

    At an exact tie, max gives all of the gradient to its first input (the course's rule).
    """
    if op is MAX and args[0] == args[1]:
        return [1.0, 0.0]
    out = []
    for i, a in enumerate(args):
        h = 1e-6 * max(1.0, abs(a))
        up, down = list(args), list(args)
        up[i], down[i] = a + h, a - h
        out.append((op.forward(*up) - op.forward(*down)) / (2 * h))
    return out


@dataclass
class Step:
    """One step of the backward pass, as the explorer shows it.

    kind: "seed" (the output's gradient is 1), "gate" (a gate multiplies its upstream
    gradient by each local gradient) or "branch" (a value used by several gates adds the
    gradients that came back along each use).
    """

    kind: str
    node: int
    upstream: float = 0.0
    locals: list[float] = field(default_factory=list)  # gate: one per input
    downstream: list[float] = field(default_factory=list)  # gate: one per input
    parts: list[float] = field(default_factory=list)  # branch: one per use


@dataclass
class Walk:
    """A forward pass and every step of the backward pass for one set of inputs."""

    graph: Graph
    values: list[float]
    steps: list[Step]

    def state(self, upto: int) -> tuple[dict, dict]:
        """After the first ``upto`` steps: ``(edge_grads, node_grads)``.

        edge_grads: ``{(gate, slot): gradient}`` for the wires whose gate has been walked;
        node_grads: ``{node: gradient}`` for the nodes whose gradient is complete.
        """
        edge_grads, node_grads = {}, {}
        for step in self.steps[:upto]:
            if step.kind == "gate":
                for slot, g in enumerate(step.downstream):
                    edge_grads[(step.node, slot)] = g
                    arg = self.graph.nodes[step.node].args[slot]
                    if len(self.graph.nodes[arg].consumers) == 1:
                        node_grads[arg] = g
            else:
                node_grads[step.node] = step.upstream
        return edge_grads, node_grads

    def gradients(self) -> dict[str, float]:
        """The gradient of the output with respect to each input, by name."""
        _, node_grads = self.state(len(self.steps))
        return {n.name: node_grads.get(n.index, 0.0) for n in self.graph.nodes if n.is_input}


def walk(graph: Graph, inputs: dict) -> Walk:
    """Forward pass, then the backward pass as a list of steps (output first)."""
    values = graph.forward(inputs)
    grads: dict[int, float] = {}
    incoming: dict[int, list[float]] = {n.index: [] for n in graph.nodes}
    steps = [Step("seed", graph.output, upstream=1.0)]
    grads[graph.output] = 1.0
    for node in reversed(graph.nodes):
        if node.index != graph.output:
            parts = incoming[node.index]
            grads[node.index] = sum(parts)
            if len(parts) > 1:
                steps.append(Step("branch", node.index, upstream=grads[node.index],
                                  parts=list(parts)))
        if node.is_input:
            continue
        upstream = grads[node.index]
        args = [values[a] for a in node.args]
        local = local_gradients(node.op, args)
        down = [upstream * g for g in local]
        for arg, g in zip(node.args, down):
            incoming[arg].append(g)
        steps.append(Step("gate", node.index, upstream=upstream, locals=local,
                          downstream=down))
    return Walk(graph, values, steps)
