"""The grader's channel to student code: only plain data crosses, and nothing it receives
can run code in the grader."""

import json
import struct

import numpy as np
import pytest

from autograder import channel
from autograder.channel import ChannelError, Client, Loopback, ObjectServer, RemoteRef
from course_lib.checks import NotImplementedYet, StudentCodeError, materialize


def _client(source: str) -> Client:
    namespace = {"__name__": "__main__"}
    exec("import numpy as np\n" + source, namespace)
    return Client(Loopback(ObjectServer(namespace)))


def test_plain_data_round_trips_exactly():
    value = {
        "f": 0.1, "nan": float("nan"), "inf": -float("inf"), "big": 2**80, "s": "é", "n": None,
        "t": (1, [2.5, True]), 3: np.arange(6, dtype=np.int32).reshape(2, 3),
        "a": np.linspace(0, 1, 5), "b": np.array([True, False]), "u8": np.arange(3, dtype=np.uint8),
        "np_scalars": [np.float64(1.5), np.int64(7), np.bool_(True)],
    }
    c = _client("")
    c.ref("__builtins__")  # unused; the namespace is only a store here
    c.transport.server.namespace["value"] = value
    got = materialize(c.ref("value"))
    assert got["f"] == 0.1 and np.isnan(got["nan"]) and got["inf"] == -np.inf
    assert got["big"] == 2**80 and got["s"] == "é" and got["n"] is None
    assert got["t"] == (1, [2.5, True]) and type(got["t"]) is tuple
    assert got[3].dtype == np.int32 and got[3].tolist() == [[0, 1, 2], [3, 4, 5]]
    assert type(got["a"]) is np.ndarray and got["a"].flags.writeable
    assert got["np_scalars"] == [1.5, 7, True]
    assert [type(v) for v in got["np_scalars"]] == [float, int, bool]


def test_objects_that_are_not_plain_data_stay_behind_as_handles():
    c = _client("""
class Evil(float):
    def __eq__(self, other): return True
class Sub(np.ndarray): pass
values = [Evil(1.0), np.zeros(2).view(Sub), np.array(['a']), np.zeros(2, dtype=object),
          np.zeros(2, dtype=np.complex128), lambda: 0]
""")
    got = materialize(c.ref("values"))
    assert all(isinstance(v, RemoteRef) for v in got)
    assert got[0]._course_type_name() == "Evil"
    assert "subclass of ndarray" in got[1]._course_type_name()


def test_calls_attributes_items_and_arithmetic_are_forwarded():
    c = _client("""
class Net:
    def __init__(self, n): self.params = {"W": np.ones((n, n))}; self.seen = None
    def loss(self, X): return float(np.sum(X @ self.params["W"]))
class V:
    def __init__(self, d): self.data = d
    def __mul__(self, o): return V(self.data * (o.data if isinstance(o, V) else o))
    __rmul__ = __mul__
""")
    net = c.ref("Net")(2)
    assert isinstance(net, RemoteRef)
    net.params["W"] = np.full((2, 2), 3.0)
    assert net.loss(np.ones((1, 2))) == 12.0
    net.seen = np.arange(3)
    assert materialize(net.seen).tolist() == [0, 1, 2]
    v = 2.0 * (c.ref("V")(3.0) * c.ref("V")(0.5))
    assert materialize(v.data) == 3.0


def test_student_errors_arrive_as_lessons():
    c = _client("""
def todo(x):
    raise NotImplementedError()
def bad(x):
    return x[10]
""")
    with pytest.raises(NotImplementedYet, match="todo still raises NotImplementedError"):
        c.ref("todo")(1)
    with pytest.raises(StudentCodeError, match="bad raised TypeError"):
        c.ref("bad")(1)
    with pytest.raises(StudentCodeError, match="name 'missing' is not defined"):
        c.ref("missing")(1)


def test_malformed_messages_are_refused_not_evaluated():
    for data in [b"", b"\x00" * 5, struct.pack("<QI", 10**9, 0) + b"{}",
                 struct.pack("<QI", 2, 1) + b"{}" + struct.pack("<Q", 100) + b"short"]:
        with pytest.raises(ChannelError):
            channel.unpack(data)

    def reply(tree, buffers=()):
        return channel.pack({"ok": tree}, list(buffers))

    hostile = [
        {"array": 0, "dtype": "|O", "shape": [1]},  # object arrays would unpickle
        {"array": 0, "dtype": "<f8", "shape": [1000]},  # shape larger than the buffer
        {"pickle": "gASVAAAAAAAAAAA="},  # unknown tags are errors, not guesses
        {"dict": [[[1], 2]]},  # unhashable key
    ]
    for tree in hostile:
        transport = type("T", (), {"request": lambda self, data, t=tree: reply(t, [b"x" * 8])})
        client = Client(transport())
        with pytest.raises(ChannelError):
            client.ref("anything")(1)


def test_deeply_nested_replies_are_refused():
    tree = 1.0
    for _ in range(channel.MAX_DEPTH + 5):
        tree = {"list": [tree]}
    data = channel.pack({"ok": tree}, [])
    client = Client(type("T", (), {"request": lambda self, d: data})())
    with pytest.raises(ChannelError, match="too deep"):
        client.ref("x")(1)


def test_header_is_plain_json():
    buffers = []
    tree = channel._encode({"x": np.zeros(2)}, buffers, lambda v: {"handle": 0})
    assert json.loads(json.dumps(tree)) == tree and len(buffers) == 1


def test_steps_are_counted_where_the_code_runs():
    c = _client("""
def looped(x):
    total = 0.0
    for v in x:
        total += v
    return total
""")
    counts = c.ref("looped")._course_count_steps((np.arange(10.0),), {})
    assert counts == {"looped": 2 + 2 * 10 + 1}  # total=, (for, +=) x 10, the last for, return
    with pytest.raises(StudentCodeError, match="looped raised TypeError"):
        c.ref("looped")._course_count_steps((1,), {})


def test_a_hostile_step_count_is_refused():
    for counts in ({"f": -1}, {"f": 1.5}, [3], {"f": True}):
        data = channel.pack({"ok": channel._encode(counts, [], None)}, [])
        client = Client(type("T", (), {"request": lambda self, d, data=data: data})())
        with pytest.raises(ChannelError, match="count_steps reply"):
            client.ref("f")._course_count_steps((), {})


def test_the_global_random_state_is_seeded_and_restored_on_request():
    c = _client("import random")
    server = c.transport.server
    np.random.seed(1)
    before = np.random.get_state()[1].copy()
    c.ref("np")._course_seed_random(42)
    drawn = np.random.random()
    np.random.seed(42)
    assert drawn == np.random.random()
    c.ref("np")._course_seed_random(None)
    assert (np.random.get_state()[1] == before).all() and server._random_states == []
    c.ref("np")._course_seed_random(None)  # nothing saved: nothing to restore, no error
    bad = channel.pack({"op": "seed", "seed": "7"}, [])
    assert "channel_error" in channel.unpack(server.handle(bad))[0]


def test_counting_and_seeding_in_a_real_sandbox_worker(tmp_path):
    """Through the real worker: counting runs where the code runs, under the worker's CPU
    timers (which use signals, not a tracer), and seeding reaches the worker's np.random."""
    from autograder import config
    from autograder.grade import Options
    from autograder.session import Sandbox
    from autograder.zygote import Zygote
    from course_lib.checks import CheckFailed, count_steps, expect_vectorized

    zygote = Zygote(tmp_path / "zygote", [], str(config.NOTEBOOKS_DIR)).start()
    worker = Sandbox(zygote, Options(timeout_notebook=60).limits())
    try:
        worker.start()
        cell = worker.run_cell(
            "import numpy as np\n"
            "def looped(X):\n    return np.array([x.sum() for x in X])\n"
            "def whole(X):\n    return X.sum(axis=1)\n"
            "def draw():\n    return np.random.random(3)\n", 10, 60)
        assert cell["status"] == "ok", cell
        worker.begin_item(30, 120)
        client = Client(worker)

        def make(n):
            return (np.ones((n, 3)),)

        expect_vectorized(client.ref("whole"), make, "whole")
        with pytest.raises(CheckFailed, match="looped ran 12 Python lines for N = 10 and 102"):
            expect_vectorized(client.ref("looped"), make, "looped")
        assert count_steps(client.ref("whole"), np.ones((5, 3))) == 1
        ref = client.ref("draw")
        ref._course_seed_random(7)
        first = materialize(ref())
        ref._course_seed_random(None)
        ref._course_seed_random(7)
        assert (materialize(ref()) == first).all()
        ref._course_seed_random(None)
        assert worker.run_cell("1", 10, 60)["status"] == "ok"  # the worker is still fine
    finally:
        worker.close()
        zygote.close()


def test_an_input_changed_in_place_is_named_by_the_remote_parameter_name():
    from course_lib.checks import ChangedInput, call

    c = _client("def backward(dout, cache):\n    dout *= 2\n    return dout\n")
    with pytest.raises(ChangedInput, match=r"changed its input dout in place.*dout\.copy\(\)"):
        call(c.ref("backward"), np.ones(3), None)


def test_a_name_missing_from_the_notebook_is_not_the_students_own_name_error():
    c = _client("def typo(x):\n    return lables\n")
    with pytest.raises(StudentCodeError) as missing:
        c.ref("missing")(1)
    assert missing.value.mistake == "not-defined" and "is not defined in the notebook" in str(
        missing.value)
    with pytest.raises(StudentCodeError) as typo:
        c.ref("typo")(1)
    assert typo.value.mistake == "raised-error"
    assert "typo raised NameError: name 'lables' is not defined" in str(typo.value)
