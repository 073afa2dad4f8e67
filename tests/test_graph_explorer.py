"""The computational-graph explorer: its numbers, its drawing, its buttons and input boxes.

The model (course_lib.graph) is checked against the lecture's numbers and against
numerical gradients of the whole expression computed here independently; the widget is
checked through what it renders: the SVG's green values and red gradients on the right
wires, what is highlighted after each step, the "upstream x local = downstream" panel,
and every number after an input box changes.
"""

import html
import math
import re
import xml.etree.ElementTree as ET

import ipywidgets as widgets
import numpy as np
import pytest

from course_lib.graph import Graph, local_gradients, walk
from course_lib.widgets.graph_explorer import GraphExplorer, fmt_num, graph_explorer

FXYZ = ("q = x + y; f = q * z", {"x": -2, "y": 5, "z": -4})
NEURON = ("f = 1 / (1 + exp(-(w0*x0 + w1*x1 + w2)))",
          {"w0": 2, "x0": -1, "w1": -3, "x1": -2, "w2": -3})
NEURON_GROUPED = ("f = sigmoid(w0*x0 + w1*x1 + w2)", NEURON[1])
BRANCH = ("f = x*y + max(x, z)", {"x": 3, "y": -4, "z": 2})
SVG_NS = "{http://www.w3.org/2000/svg}"


def svg_texts(svg: str, cls: str) -> list[dict]:
    """Every <text> whose class list contains ``cls``: its data attributes and its text."""
    root = ET.fromstring(svg)
    out = []
    for el in root.iter(f"{SVG_NS}text"):
        if cls in el.get("class", "").split():
            item = {k[5:]: v for k, v in el.attrib.items() if k.startswith("data-")}
            item["text"] = el.text
            item["bold"] = el.get("font-weight") == "bold"
            out.append(item)
    return out


def on_wire(svg: str, cls: str) -> dict[tuple[str, str], str]:
    """``{(from, to): number}`` for the values (cls="value") or gradients (cls="grad")."""
    return {(t["from"], t["to"]): t["text"] for t in svg_texts(svg, cls) if "from" in t}


def current(svg: str) -> list[str]:
    """What is highlighted: ``gate:<node>`` for a gate, ``wire:<from>-><to>`` for wires."""
    root = ET.fromstring(svg)
    hot = []
    for el in root.iter():
        classes = el.get("class", "").split()
        if "current" not in classes:
            continue
        if el.tag == f"{SVG_NS}circle":
            hot.append(f"gate:{el.get('data-node')}")
        elif el.tag == f"{SVG_NS}line":
            hot.append(f"wire:{el.get('data-from')}->{el.get('data-to')}")
    return sorted(hot)


def panel(explorer) -> str:
    """The explanation panel as plain text."""
    text = re.sub(r"<[^>]+>", " ", explorer.explanation.value)
    return re.sub(r"\s+", " ", html.unescape(text)).strip()


# ---------------------------------------------------------------------- the model

def test_the_lecture_examples_give_the_lecture_numbers():
    g = Graph(FXYZ[0])
    w = walk(g, FXYZ[1])
    assert g.inputs == ["x", "y", "z"]
    assert w.values[-2:] == [3.0, -12.0]
    assert w.gradients() == pytest.approx({"x": -4, "y": -4, "z": 3}, abs=1e-9)

    for program in (NEURON[0], NEURON_GROUPED[0]):
        w = walk(Graph(program), NEURON[1])
        assert w.values[-1] == pytest.approx(0.7310585786300049, abs=1e-12)
        g = 0.19661193324148185
        assert w.gradients() == pytest.approx(
            {"w0": -g, "x0": 2 * g, "w1": -2 * g, "x1": -3 * g, "w2": g}, abs=1e-8)

    w = walk(Graph(BRANCH[0]), BRANCH[1])
    assert w.values[-1] == -9.0
    assert w.gradients() == pytest.approx({"x": -3, "y": 3, "z": 0}, abs=1e-9)
    branch = [s for s in w.steps if s.kind == "branch"]
    assert len(branch) == 1 and sorted(branch[0].parts) == pytest.approx([-4, 1], abs=1e-9)


def test_steps_go_from_the_output_back_gate_by_gate():
    w = walk(Graph(FXYZ[0]), FXYZ[1])
    kinds = [(s.kind, w.graph.nodes[s.node].label) for s in w.steps]
    assert kinds == [("seed", "f"), ("gate", "f"), ("gate", "q")]
    mul = w.steps[1]
    assert mul.upstream == 1.0
    assert mul.locals == pytest.approx([-4.0, 3.0]) and mul.downstream == pytest.approx([-4, 3])
    add = w.steps[2]
    assert add.upstream == pytest.approx(-4) and add.downstream == pytest.approx([-4, -4])


PROGRAMS = [
    ("f = (a + b) * c", "(a + b) * c"),
    ("f = sigmoid(a * b + c) * exp(a - c)", "sig(a * b + c) * math.exp(a - c)"),
    ("f = max(a * b, c) + a / (b + 3)", "max(a * b, c) + a / (b + 3)"),
    ("q = a * b; f = q * q + max(q, c) - 2 * a", "(a*b) * (a*b) + max(a*b, c) - 2 * a"),
    ("f = 1 / (1 + exp(-(a * b + c))) + b ** 2", "1 / (1 + math.exp(-(a * b + c))) + b ** 2"),
]


@pytest.mark.parametrize("program, python", PROGRAMS)
def test_gradients_match_numerical_gradients_of_the_whole_expression(program, python):
    rng = np.random.default_rng(0)
    sig = lambda s: 1 / (1 + math.exp(-s))  # noqa: E731
    graph = Graph(program)
    for _ in range(5):
        values = {"a": rng.normal(), "b": rng.uniform(0.5, 2), "c": rng.normal()}

        def f(v):
            return eval(python, {"math": math, "sig": sig, "max": max}, dict(v))

        got = walk(graph, values).gradients()
        for name in values:
            h = 1e-6
            up, down = dict(values), dict(values)
            up[name] += h
            down[name] -= h
            numeric = (f(up) - f(down)) / (2 * h)
            assert got[name] == pytest.approx(numeric, rel=1e-5, abs=1e-6), (program, name)


def test_max_follows_the_course_tie_rule():
    g = Graph("f = max(x, y)")
    assert walk(g, {"x": 2, "y": 2}).gradients() == {"x": 1.0, "y": 0.0}
    assert local_gradients(g.nodes[2].op, [1.0, 3.0]) == pytest.approx([0, 1])


def test_a_named_value_used_twice_gets_a_branch_step():
    w = walk(Graph("q = x * y; f = q + max(q, z)"), {"x": 2, "y": 3, "z": 1})
    branch = [s for s in w.steps if s.kind == "branch"]
    assert [w.graph.nodes[s.node].label for s in branch] == ["q"]
    assert w.gradients() == pytest.approx({"x": 6, "y": 4, "z": 0})


@pytest.mark.parametrize("program, inputs, message", [
    ("f = relu(x)", {"x": 1}, r"cannot draw 'relu\(x\)'"),
    ("f = x * y", {"x": 1}, r"no value for 'y'; expected values for x, y"),
    ("f = x * y", {"x": 1, "y": 2, "z": 3}, r"'z' not in the expression"),
    ("f = x * y", {"x": "1", "y": 2}, r"inputs\['x'\] must be a number, got str"),
    ("f = x * y", {"x": float("nan"), "y": 2}, r"inputs\['x'\] must be finite"),
    ("q = x * y; q = q + 1", {"x": 1, "y": 2}, r"'q' is assigned twice"),
    ("q = x * y; f = x + 1", {"x": 1, "y": 2}, r"'q' is never used in the output"),
    ("f = 2 * 3 + x", {"x": 1}, r"holds only numbers"),
    ("f = x ** y", {"x": 1, "y": 2}, r"'\*\*' needs a number as exponent"),
    ("f = max(x)", {"x": 1}, r"max\(\) takes 2 argument\(s\), got 1"),
    ("", {}, r"program must be a non-empty string"),
    ("f = (x +", {"x": 1}, r"is not valid Python"),
    ("f = 1 / x", {"x": 0}, r"1 / x cannot be computed for these inputs"),
])
def test_bad_programs_and_inputs_get_clear_errors(program, inputs, message):
    with pytest.raises(ValueError, match=message):
        graph_explorer(program, inputs)


def test_numbers_are_written_as_on_the_slides():
    assert [fmt_num(v) for v in (-12.0, 3.0, 0.7310585, -0.19661, 0.0, -1e-17, 12345.6,
                                 0.0004, 0.05)] == [
        "-12", "3", "0.73", "-0.2", "0", "0", "1.23e+04", "4.00e-04", "0.05"]


# ---------------------------------------------------------------------- the widget

def test_it_is_a_real_ipywidgets_tree():
    ex = graph_explorer(*FXYZ)
    assert isinstance(ex, GraphExplorer) and isinstance(ex, widgets.VBox)
    leaves = []

    def walk_tree(w):
        leaves.append(type(w).__name__)
        for child in getattr(w, "children", ()):
            walk_tree(child)

    walk_tree(ex)
    assert leaves.count("FloatText") == 3 and leaves.count("Button") == 4
    assert isinstance(ex.figure, widgets.HTML) and ex.svg.startswith("<svg")
    assert ex.get_state()["children"]  # serialisable model state, as a front end needs
    assert [b.description for b in (ex.boxes["x"], ex.boxes["y"], ex.boxes["z"])] == list("xyz")


def test_the_forward_pass_shows_values_and_no_gradients_yet():
    ex = graph_explorer(*FXYZ)
    assert on_wire(ex.svg, "value") == {("x", "q"): "-2", ("y", "q"): "5", ("z", "f"): "-4",
                                        ("q", "f"): "3", ("f", "output"): "-12"}
    assert svg_texts(ex.svg, "grad") == [] and current(ex.svg) == []
    assert "Forward pass" in panel(ex) and "step 0 of 3" in panel(ex)
    assert ex.back_button.disabled and not ex.step_button.disabled
    fills = {t.get("fill") for t in ET.fromstring(ex.svg).iter(f"{SVG_NS}text")
             if "value" in t.get("class", "")}
    assert fills == {"#1a9641"}  # green


def test_stepping_walks_the_backward_pass_gate_by_gate():
    ex = graph_explorer(*FXYZ)
    seen = [ex.svg]
    ex.step_button.click()  # the seed
    assert on_wire(ex.svg, "grad") == {("f", "output"): "1"}
    assert current(ex.svg) == ["wire:f->output"]
    assert "∂f/∂f = 1" in panel(ex)
    seen.append(ex.svg)

    ex.step_button.click()  # the multiply gate
    assert current(ex.svg) == ["gate:f", "wire:q->f", "wire:z->f"]
    assert on_wire(ex.svg, "grad") == {("f", "output"): "1", ("q", "f"): "-4", ("z", "f"): "3"}
    text = panel(ex)
    assert "upstream × local = downstream" in text
    assert "to q : 1 × z = -4 = -4" in text and "to z : 1 × q = 3 = 3" in text
    bold = {t["text"] for t in svg_texts(ex.svg, "grad") if t["bold"]}
    assert bold == {"-4", "3", "1"}  # the two downstream gradients and the upstream one
    seen.append(ex.svg)

    ex.step_button.click()  # the add gate: it distributes -4 to both inputs
    assert current(ex.svg) == ["gate:q", "wire:x->q", "wire:y->q"]
    assert on_wire(ex.svg, "grad") == {("f", "output"): "1", ("q", "f"): "-4", ("z", "f"): "3",
                                       ("x", "q"): "-4", ("y", "q"): "-4"}
    assert "to x : -4 × 1 = -4" in panel(ex)
    assert "Done: ∂f/∂x = -4, ∂f/∂y = -4, ∂f/∂z = 3" in panel(ex)
    assert ex.step_button.disabled and ex.end_button.disabled
    seen.append(ex.svg)
    assert len(set(seen)) == 4  # every step changed the picture

    ex.back_button.click()
    assert ex.svg == seen[2]
    ex.reset_button.click()
    assert ex.svg == seen[0] and ex.step == 0
    ex.end_button.click()
    assert ex.svg == seen[3]


def test_changing_an_input_updates_every_number():
    ex = graph_explorer(*FXYZ, step="end")
    ex.boxes["x"].value = 1.0  # as if typed
    assert on_wire(ex.svg, "value") == {("x", "q"): "1", ("y", "q"): "5", ("z", "f"): "-4",
                                        ("q", "f"): "6", ("f", "output"): "-24"}
    assert on_wire(ex.svg, "grad")[("z", "f")] == "6"
    assert "∂f/∂z = 6" in panel(ex)
    ex.set_inputs(z=0.5)
    grads = on_wire(ex.svg, "grad")
    assert grads[("x", "q")] == "0.5" and grads[("q", "f")] == "0.5"
    assert ex.step == len(ex.walk.steps)  # the step shown is kept
    with pytest.raises(ValueError, match="'w' not in the expression"):
        ex.set_inputs(w=1)


def test_inputs_the_expression_cannot_take_show_an_error_and_keep_the_last_picture():
    ex = graph_explorer("f = 1 / x", {"x": 2})
    before = ex.svg
    ex.boxes["x"].value = 0.0
    assert "cannot be computed" in panel(ex) and ex.svg == before
    ex.boxes["x"].value = 4.0
    assert on_wire(ex.svg, "value")[("f", "output")] == "0.25"


def test_the_sigmoid_neuron_shows_the_lecture_numbers():
    ex = graph_explorer(*NEURON, step="end")
    values = sorted(on_wire(ex.svg, "value").values())
    for number in ("2", "-1", "-3", "-2", "6", "4", "1", "0.37", "1.37", "0.73"):
        assert number in values, number
    grads = on_wire(ex.svg, "grad")
    assert grads[("w0", "w0 * x0")] == "-0.2" and grads[("x0", "w0 * x0")] == "0.39"
    assert grads[("w1", "w1 * x1")] == "-0.39" and grads[("x1", "w1 * x1")] == "-0.59"
    assert grads[("w2", "w0 * x0 + w1 * x1 + w2")] == "0.2"
    assert sorted(set(grads.values())) == sorted({"1", "-0.53", "-0.2", "0.2", "0.39",
                                                  "-0.39", "-0.59"})
    labels = {t["text"] for t in svg_texts(ex.svg, "gate-label")}
    assert labels == {"*", "+", "*-1", "exp", "+1", "1/x"}
    ex.go(2)  # the 1/x gate
    assert "-1/1.37² = -0.53" in panel(ex) and "1 × -1/1.37² = -0.53 = -0.53" in panel(ex)

    grouped = graph_explorer(*NEURON_GROUPED, step=2)
    assert "(1 - σ)·σ, from the output σ = 0.2" in panel(grouped)
    assert {t["text"] for t in svg_texts(grouped.svg, "gate-label")} == {"*", "+", "σ"}


def test_a_branch_adds_its_gradients_on_the_stem():
    ex = graph_explorer(*BRANCH)
    stem = [t for t in svg_texts(ex.svg, "value") if t.get("to") == "branches"]
    assert [(t["from"], t["text"]) for t in stem] == [("x", "3")]
    assert ("x", "x * y") not in on_wire(ex.svg, "value")  # the value is shown once
    ex.go(len(ex.walk.steps) - 1)
    grads = on_wire(ex.svg, "grad")
    assert grads[("x", "x * y")] == "-4" and grads[("x", "max(x, z)")] == "1"
    assert not [t for t in svg_texts(ex.svg, "total")]  # not summed yet
    ex.step_button.click()
    assert "x is used by 2 gates: gradients add at branches. ∂f/∂x = 1 + (-4) = -3" \
        in panel(ex)
    totals = svg_texts(ex.svg, "total")
    assert [(t["from"], t["text"], t["bold"]) for t in totals] == [("x", "-3", True)]
    assert current(ex.svg) == ["wire:x->branches", "wire:x->max(x, z)", "wire:x->x * y"]
    ex.set_inputs(z=4)  # now max routes to z
    grads = on_wire(ex.svg, "grad")
    assert grads[("z", "max(x, z)")] == "1" and grads[("x", "max(x, z)")] == "0"
    assert svg_texts(ex.svg, "total")[0]["text"] == "-4"
    ex.set_inputs(z=3)  # a tie: the course's rule, all to x
    assert on_wire(ex.svg, "grad")[("x", "max(x, z)")] == "1"


def test_layout_untangles_a_branch_and_keeps_everything_inside_the_picture():
    ex = graph_explorer(*BRANCH, step="end")
    root = ET.fromstring(ex.svg)
    width, height = float(root.get("width")), float(root.get("height"))
    ys = {t.get("data-node"): float(t.get("y")) for t in root.iter(f"{SVG_NS}text")
          if "input" in t.get("class", "").split()}
    assert ys["y"] < ys["x"] < ys["z"]  # x sits between the two gates it feeds
    for el in root.iter(f"{SVG_NS}text"):
        assert 0 <= float(el.get("x")) <= width and 0 <= float(el.get("y")) <= height


def test_a_number_in_a_function_call_gets_no_second_pair_of_parentheses():
    ex = graph_explorer(*NEURON)
    texts = []
    for step in range(len(ex.walk.steps) + 1):
        ex.go(step)
        texts.append(ex.explanation.value)
    assert any("exp(-1), the output itself" in t for t in texts), texts
    assert not any("((" in t for t in texts)


def test_numbers_are_drawn_large_and_shrink_only_so_far():
    """Legible at 1280x720: numbers at 15 px and the picture scaled down to at most 85 %
    (then it scrolls), so no number is drawn below 12.75 px."""
    for program, inputs in (FXYZ, NEURON, NEURON_GROUPED, BRANCH):
        svg = graph_explorer(program, inputs, step="end").svg
        root = ET.fromstring(svg)
        sizes = [float(t.get("font-size")) for t in root.iter(f"{SVG_NS}text")
                 if t.get("class", "").split()[:1] in (["value"], ["grad"])]
        assert sizes and min(sizes) >= 15, program
        width = float(root.get("width"))
        min_width = float(re.search(r"min-width:([\d.]+)px", root.get("style")).group(1))
        assert min(sizes) * min_width / width >= 12.5, program

