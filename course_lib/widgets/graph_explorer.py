"""An interactive computational-graph explorer: forward values and the backward pass, gate by gate.

In a notebook::

    from course_lib.widgets.graph_explorer import graph_explorer
    graph_explorer("q = x + y; f = q * z", {"x": -2, "y": 5, "z": -4})

draws the graph left to right as on the lecture slides: the value flowing along each wire
above it in green, its gradient below it in red. The buttons walk the backward pass one
step at a time (the gate being processed is highlighted, and the panel below shows
"upstream × local = downstream" for each of its inputs); the number boxes change the
inputs, and every number updates. The figure is inline SVG in an ``ipywidgets.HTML``, so
it needs no graphviz and works in JupyterLab, Colab and VS Code.

The numbers come from :mod:`course_lib.graph`, whose local gradients are centred
differences of each gate's forward function (see that module for why).
"""

from __future__ import annotations

import html
import re

import ipywidgets as widgets

from ..graph import Graph, Walk, walk

GREEN, RED, ORANGE, INK, GREY = "#1a9641", "#d7191c", "#e66101", "#222222", "#999999"
HIGHLIGHT_FILL = "#fee090"
COL_W, ROW_H, RADIUS = 130, 74, 23
MIN_SCALE = 0.85  # 15 px numbers are never drawn smaller than 12.75 px
LEFT, TOP, OUT_LEN, STEM = 60, 34, 80, 44
FONT = "font-family=\"DejaVu Sans, Helvetica, Arial, sans-serif\""


def fmt_num(v: float) -> str:
    """A number as the slides write it: -12, 0.73, -0.2, 1.2e-05."""
    if v == 0 or abs(v) < 5e-13:
        return "0"
    if abs(v) >= 1e4 or abs(v) < 1e-3:
        return f"{v:.2e}"
    text = f"{v:.2f}" if abs(v) >= 0.1 else f"{v:.3f}"
    text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _short(node) -> str | None:
    """What to call a node in explanations, or None when its expression is too long."""
    return node.label if len(node.label) <= 14 else None


def _paren(text: str) -> str:
    return f"({text})" if text.startswith("-") else text


def _d(label: str) -> str:
    """``label`` as it appears after ∂: parenthesised unless it is a plain name."""
    return label if label.isidentifier() else f"({label})"


# ---------------------------------------------------------------------- layout

def layout(graph: Graph) -> dict[int, tuple[float, float]]:
    """``{node: (column, row)}``: inputs in column 0, each gate one column right of its
    deepest input; rows follow a depth-first walk from the output, so trees do not cross."""
    col: dict[int, int] = {}
    for node in graph.nodes:
        col[node.index] = 0 if node.is_input else 1 + max(col[a] for a in node.args)
    row: dict[int, float] = {}
    slot = [0]

    def visit(i: int) -> None:
        node = graph.nodes[i]
        if i in row:
            return
        if node.is_input:
            row[i] = float(slot[0])
            slot[0] += 1
            return
        for a in node.args:
            visit(a)
        row[i] = sum(row[a] for a in node.args) / len(node.args)

    visit(graph.output)
    # An input used by several gates goes between them (order inputs by the mean row of the
    # gates they feed, twice), which untangles branches.
    inputs = [n.index for n in graph.nodes if n.is_input]
    for _ in range(2):
        order = sorted(inputs, key=lambda i: (
            sum(row[g] for g, _ in graph.nodes[i].consumers) / len(graph.nodes[i].consumers),
            row[i]))
        row = {i: r for i, r in row.items() if not graph.nodes[i].is_input}
        for k, i in enumerate(order):
            row[i] = float(k)
        for node in graph.nodes:
            if not node.is_input:
                row[node.index] = sum(row[a] for a in node.args) / len(node.args)
    # Gates that landed on the same spot of a column are pushed apart.
    for c in set(col.values()):
        members = sorted((row[i], i) for i in row if col[i] == c)
        last = None
        for r, i in members:
            if last is not None and r < last + 1.0:
                row[i] = last + 1.0
            last = row[i]
    return {i: (float(col[i]), row[i]) for i in row}


# ---------------------------------------------------------------------- rendering

class _Figure:
    """Builds the SVG of one state of a walk."""

    def __init__(self, w: Walk, upto: int):
        self.w, self.g = w, w.graph
        self.pos = layout(self.g)
        self.step = w.steps[upto - 1] if upto > 0 else None
        self.edge_grads, self.node_grads = w.state(upto)
        self.parts: list[str] = []

    def xy(self, i: int) -> tuple[float, float]:
        c, r = self.pos[i]
        return LEFT + 40 + c * COL_W, TOP + 24 + r * ROW_H

    def size(self) -> tuple[int, int]:
        cols = max(c for c, _ in self.pos.values())
        rows = max(r for _, r in self.pos.values())
        width = LEFT + 40 + cols * COL_W + RADIUS + OUT_LEN + 40
        return int(width), int(TOP + 24 + rows * ROW_H + 60)

    def text(self, x, y, s, *, color=INK, size=15, bold=False, anchor="middle", cls="",
             data=None, italic=False):
        attrs = f' class="{cls}"' if cls else ""
        for k, v in (data or {}).items():
            attrs += f' data-{k}="{html.escape(str(v), quote=True)}"'
        weight = ' font-weight="bold"' if bold else ""
        style = ' font-style="italic"' if italic else ""
        self.parts.append(
            f'<text x="{x:.1f}" y="{y:.1f}" fill="{color}" font-size="{size}" '
            f'text-anchor="{anchor}" {FONT}{weight}{style}{attrs}>{html.escape(s)}</text>')

    def line(self, x1, y1, x2, y2, *, color=INK, width=1.6, cls="wire", data=None):
        attrs = "".join(f' data-{k}="{html.escape(str(v), quote=True)}"'
                        for k, v in (data or {}).items())
        self.parts.append(
            f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" stroke="{color}" '
            f'stroke-width="{width}" class="{cls}"{attrs}/>')

    def source_point(self, src: int) -> tuple[float, float]:
        """Where the wires leaving ``src`` start (the end of its stem when it branches)."""
        x, y = self.xy(src)
        x += 10 if self.g.nodes[src].is_input else RADIUS
        if len(self.g.nodes[src].consumers) > 1:
            x += STEM
        return x, y

    def wire_ends(self, src: int, gate: int, slot: int):
        sx, sy = self.source_point(src)
        tx, ty = self.xy(gate)
        nargs = len(self.g.nodes[gate].args)
        dy = (slot - (nargs - 1) / 2) * 14
        return sx, sy, tx - RADIUS * 0.92, ty + dy

    def render(self) -> str:
        step, g = self.step, self.g
        current = step.node if step is not None and step.kind == "gate" else None
        for gate in g.gates:
            for slot, src in enumerate(gate.args):
                self._wire(src, gate.index, slot, step)
        for node in g.nodes:
            if len(node.consumers) > 1:
                self._stem(node, step)
        self._output_wire(step)
        for node in g.nodes:
            if node.is_input:
                self._input(node, step.node if step is not None and step.kind == "branch"
                            else None)
            else:
                self._gate(node, current)
        w, h = self.size()
        return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" '
                f'viewBox="0 0 {w} {h}" class="graph-explorer" '
                # A graph wider than the notebook shrinks to fit, but never below
                # MIN_SCALE (its numbers stay legible): beyond that, it scrolls sideways.
                f'style="max-width:100%;min-width:{MIN_SCALE * w:.0f}px;height:auto">'
                f'<rect width="{w}" height="{h}" fill="white"/>' + "".join(self.parts)
                + "</svg>")

    def _wire(self, src: int, gate: int, slot: int, step) -> None:
        x1, y1, x2, y2 = self.wire_ends(src, gate, slot)
        downstream = step is not None and step.kind == "gate" and step.node == gate
        branching = step is not None and step.kind == "branch" and step.node == src
        hot = downstream or branching
        node = self.g.nodes[src]
        data = {"from": node.label, "to": self.g.nodes[gate].label, "slot": slot}
        self.line(x1, y1, x2, y2, color=ORANGE if hot else INK, width=3 if hot else 1.6,
                  cls="wire current" if hot else "wire", data=data)
        branched = len(node.consumers) > 1
        # An input's only wire is labelled near the input; other wires half way. A value
        # that branches shows its value once, on its stem; each branch shows its gradient.
        lx = x1 + 48 if node.is_input and not branched else (x1 + x2) / 2
        lx = min(max(lx, x1 + 20), x2 - 20)
        ly = y1 + (y2 - y1) * (lx - x1) / (x2 - x1)
        if not branched:
            self.text(lx, ly - 7, fmt_num(self.w.values[src]), color=GREEN, cls="value",
                      data=data)
        if (gate, slot) in self.edge_grads:
            self.text(lx, ly + 17, fmt_num(self.edge_grads[(gate, slot)]), color=RED,
                      bold=hot, cls="grad current" if downstream else "grad", data=data)

    def _stem(self, node, step) -> None:
        """The short common wire of a value used by several gates (a copy gate)."""
        x2, y = self.source_point(node.index)
        x1 = x2 - STEM
        hot = step is not None and step.kind == "branch" and step.node == node.index
        data = {"from": node.label, "to": "branches"}
        self.line(x1, y, x2, y, color=ORANGE if hot else INK, width=3 if hot else 1.6,
                  cls="wire stem current" if hot else "wire stem", data=data)
        self.parts.append(f'<circle cx="{x2:.1f}" cy="{y:.1f}" r="3" fill="{INK}"/>')
        mid = (x1 + x2) / 2
        self.text(mid, y - 7, fmt_num(self.w.values[node.index]), color=GREEN, cls="value",
                  data=data)
        if node.index in self.node_grads:
            self.text(mid, y + 17, fmt_num(self.node_grads[node.index]), color=RED, bold=hot,
                      cls="grad total current" if hot else "grad total", data=data)

    def _output_wire(self, step) -> None:
        out = self.g.output
        x, y = self.xy(out)
        x1, x2 = x + RADIUS, x + RADIUS + OUT_LEN
        seeded = step is not None and step.kind == "seed"
        upstream = step is not None and step.kind == "gate" and step.node == out
        data = {"from": self.g.nodes[out].label, "to": "output"}
        self.line(x1, y, x2, y, color=ORANGE if seeded else INK, width=3 if seeded else 1.6,
                  cls="wire output current" if seeded else "wire output", data=data)
        self.text(x2 + 6, y + 5, self.g.nodes[out].label, anchor="start", size=15, italic=True)
        mid = (x1 + x2) / 2
        self.text(mid, y - 7, fmt_num(self.w.values[out]), color=GREEN, cls="value", data=data)
        if out in self.node_grads:
            self.text(mid, y + 17, fmt_num(self.node_grads[out]), color=RED,
                      bold=seeded or upstream, cls="grad current" if seeded else "grad",
                      data=data)

    def _input(self, node, branch_node) -> None:
        x, y = self.xy(node.index)
        hot = branch_node == node.index
        self.text(x + 4, y + 5, node.name, anchor="end", size=15, italic=True,
                  color=ORANGE if hot else INK, bold=hot, cls="input",
                  data={"node": node.name})

    def _gate(self, node, current) -> None:
        x, y = self.xy(node.index)
        hot = current == node.index
        fill, stroke, width = (HIGHLIGHT_FILL, ORANGE, 3) if hot else ("white", INK, 1.6)
        cls = "gate current" if hot else "gate"
        self.parts.append(
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{RADIUS}" fill="{fill}" stroke="{stroke}" '
            f'stroke-width="{width}" class="{cls}" '
            f'data-node="{html.escape(node.label, quote=True)}"/>')
        symbol = node.op.symbol
        self.text(x, y + 5, symbol, size=15 if len(symbol) <= 3 else 12, bold=True,
                  cls="gate-label", data={"node": node.label})
        if node.name and node.index != self.g.output:
            self.text(x + RADIUS + 6, y - 18, node.name, color=GREY, italic=True, size=13,
                      anchor="start", cls="name")


def render_svg(w: Walk, upto: int) -> str:
    """The graph after the first ``upto`` backward steps, as an SVG string."""
    return _Figure(w, upto).render()


def _td(content: str, color: str = "inherit") -> str:
    return f"<td align='center' style='padding:1px 10px;color:{color}'>{content}</td>"


def explain(w: Walk, upto: int) -> str:
    """HTML for the explanation panel: what the step just taken did."""
    g, out = w.graph, w.graph.nodes[w.graph.output].label
    n = len(w.steps)
    head = f'<div class="step-counter" style="color:{GREY}">step {upto} of {n}</div>'
    if upto == 0:
        green = f"<span style='color:{GREEN}'>green</span>"
        red = f"<span style='color:{RED}'>red</span>"
        body = (f"<b>Forward pass.</b> Each {green} number above a wire is the value flowing "
                "along it, computed left to right. Press <b>step ▶</b> to walk the backward "
                f"pass from the output, one gate at a time; the {red} numbers below the wires "
                f"are gradients of {out}.")
        return head + f"<div class='explanation'>{body}</div>"
    step = w.steps[upto - 1]
    node = g.nodes[step.node]
    if step.kind == "seed":
        body = (f"<b>Start at the output.</b> ∂{out}/∂{out} = 1: the gradient of the output "
                "with respect to itself.")
    elif step.kind == "branch":
        terms = " + ".join(fmt_num(p) if i == 0 else _paren(fmt_num(p))
                           for i, p in enumerate(step.parts))
        body = (f"<b>{html.escape(node.label)} is used by {len(step.parts)} gates: gradients "
                f"add at branches.</b> ∂{out}/∂{html.escape(_d(node.label))} = {terms} = "
                f"<b>{fmt_num(step.upstream)}</b>")
    else:
        args = [g.nodes[a] for a in node.args]
        # Long unnamed subexpressions are called by their value in the local-gradient rules.
        names = [_short(a) or _paren(fmt_num(w.values[a.index])) for a in args]
        rows = []
        for a, local, down, rule in zip(args, step.locals, step.downstream, node.op.rules):
            # A value already in parentheses needs none more: exp(-1), not exp((-1)).
            rule_text = re.sub(r"\(\(([^()]*)\)\)", r"(\1)", rule.format(*names))
            says = "" if rule_text == fmt_num(local) else f"{html.escape(rule_text)} = "
            to = (f"<i>{html.escape(_short(a))}</i>" if _short(a)
                  else f"the output of {html.escape(a.op.symbol)}")
            rows.append(
                f"<tr>{_td(f'to {to}:')}"
                f"{_td(fmt_num(step.upstream), RED)}<td>×</td>{_td(says + fmt_num(local))}"
                f"<td>=</td>{_td('<b>' + fmt_num(down) + '</b>', RED)}</tr>")
        mine = _short(node)
        what = f"{html.escape(mine)} = " if mine else ""
        wrt = (f"∂{out}/∂{html.escape(_d(mine))}" if mine
               else f"(the gradient of {out} with respect to its output)")
        body = (f"<b>Gate {html.escape(node.op.symbol)}</b> computed "
                f"{what}{fmt_num(w.values[node.index])}. It multiplies the upstream gradient "
                f"{wrt} by the local gradient of each input:"
                "<table style='margin-top:4px;border-collapse:collapse'><tr>"
                + _td("") + _td("upstream", GREY) + "<td>×</td>" + _td("local", GREY)
                + "<td>=</td>" + _td("downstream", GREY) + "</tr>"
                + "".join(rows) + "</table>")
    if upto == n:
        grads = w.gradients()
        done = ", ".join(f"∂{out}/∂{k} = {fmt_num(v)}" for k, v in grads.items())
        body += f"<div style='margin-top:6px'><b>Done:</b> {done}</div>"
    return head + f"<div class='explanation'>{body}</div>"


# ---------------------------------------------------------------------- the widget

class GraphExplorer(widgets.VBox):
    """The explorer widget: number boxes, the graph, the explanation, and step buttons.

    Attributes for scripting and tests: ``boxes`` (``{input name: FloatText}``),
    ``figure`` and ``explanation`` (``HTML`` widgets), ``reset_button``,
    ``back_button``, ``step_button``, ``end_button``; ``step`` (0 = forward pass only,
    ``len(walk.steps)`` = done) and ``walk`` (the current numbers).
    """

    def __init__(self, program: str, inputs: dict, *, title: str | None = None,
                 step: int | str = 0):
        self.graph = Graph(program)
        values = self.graph.check_inputs(inputs)
        self.walk = walk(self.graph, values)
        self.boxes = {
            name: widgets.FloatText(value=v, description=name, step=0.1,
                                    layout=widgets.Layout(width="150px"),
                                    style={"description_width": "28px"})
            for name, v in values.items()}
        self.figure = widgets.HTML(layout=widgets.Layout(overflow="auto"))
        # As tall as the tallest step, so the buttons do not jump while stepping.
        self.explanation = widgets.HTML(layout=widgets.Layout(min_height=self._panel_height()))
        self.reset_button = widgets.Button(description="◀◀ start",
                                           tooltip="back to the forward pass")
        self.back_button = widgets.Button(description="◀ back", tooltip="one step back")
        self.step_button = widgets.Button(description="step ▶", button_style="primary",
                                          tooltip="one backward step")
        self.end_button = widgets.Button(description="all ▶▶", tooltip="finish the backward pass")
        self.reset_button.on_click(lambda _: self.go(0))
        self.back_button.on_click(lambda _: self.go(self.step - 1))
        self.step_button.on_click(lambda _: self.go(self.step + 1))
        self.end_button.on_click(lambda _: self.go(len(self.walk.steps)))
        for box in self.boxes.values():
            box.observe(self._on_input, names="value")
        header = title if title is not None else program.replace(";", ";  ")
        children = [
            widgets.HTML(f"<b>{html.escape(header)}</b>"),
            widgets.HBox(list(self.boxes.values()), layout=widgets.Layout(flex_flow="row wrap")),
            self.figure,
            widgets.HBox([self.reset_button, self.back_button, self.step_button,
                          self.end_button]),
            self.explanation,
        ]
        super().__init__(children=children)
        self.step = 0
        self.go(len(self.walk.steps) if step == "end" else int(step))

    # ------------------------------------------------------------------ actions
    def go(self, step: int) -> None:
        """Show the state after ``step`` backward steps (clamped to what exists)."""
        self.step = max(0, min(int(step), len(self.walk.steps)))
        self._render()

    def set_inputs(self, **values: float) -> None:
        """Change inputs as if typed into the boxes (every number updates)."""
        unknown = [k for k in values if k not in self.boxes]
        if unknown:
            raise ValueError(f"set_inputs: {', '.join(map(repr, unknown))} not in the "
                             f"expression; its inputs are {', '.join(self.boxes)}")
        for k, v in values.items():
            self.boxes[k].value = float(v)

    @property
    def svg(self) -> str:
        return self.figure.value

    def to_html(self) -> str:
        """A standalone page of the current view (figure and explanation)."""
        return (f"<html><body style='font-family:sans-serif;margin:12px'>{self.svg}"
                f"<div style='max-width:{self._width()}px'>{self.explanation.value}</div>"
                "</body></html>")

    # ------------------------------------------------------------------ internals
    def _panel_height(self) -> str:
        """Room for the tallest explanation: a gate's table (a head row and one per input)
        plus the closing "Done" line, which wraps when there are many inputs."""
        rows = max((len(n.args) for n in self.graph.gates), default=0)
        done_lines = 1 + len(self.boxes) // 4
        return f"{22 + 44 + 26 * (rows + 1) + 24 * done_lines + 16}px"

    def _width(self) -> int:
        return _Figure(self.walk, 0).size()[0]

    def _on_input(self, _change) -> None:
        values = {name: box.value for name, box in self.boxes.items()}
        try:
            self.walk = walk(self.graph, values)
        except ValueError as exc:
            self.explanation.value = f"<span style='color:{RED}'>{html.escape(str(exc))}</span>"
            return
        self._render()

    def _render(self) -> None:
        n = len(self.walk.steps)
        self.figure.value = render_svg(self.walk, self.step)
        self.explanation.value = explain(self.walk, self.step)
        self.back_button.disabled = self.reset_button.disabled = self.step == 0
        self.step_button.disabled = self.end_button.disabled = self.step == n


def graph_explorer(program: str, inputs: dict, *, title: str | None = None,
                   step: int | str = 0) -> GraphExplorer:
    """An interactive graph of ``program`` at ``inputs``; display it by leaving it last in a cell.

    program: e.g. ``"q = x + y; f = q * z"`` or ``"f = sigmoid(w0*x0 + w1*x1 + w2)"`` (see
    :mod:`course_lib.graph` for what it may contain); inputs: a number for every name the
    program reads, e.g. ``{"x": -2, "y": 5, "z": -4}``; step: how many backward steps to
    show at first (0: the forward pass only; "end": all of them).
    """
    return GraphExplorer(program, inputs, title=title, step=step)
