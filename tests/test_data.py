"""Datasets: the shipped files load as documented, bad files are refused by name, and the
official download path works end to end against a local HTTP server."""

import hashlib
import http.server
import io
import pickle
import shutil
import tarfile
import threading
from pathlib import Path

import numpy as np
import pytest

from course_lib import data

SHIPPED = Path(__file__).resolve().parent.parent / "data"


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch, tmp_path):
    monkeypatch.delenv("COURSE_DATA", raising=False)
    monkeypatch.setenv("COURSE_CACHE", str(tmp_path / "cache"))


@pytest.fixture(scope="module")
def cifar():
    return data.load_cifar10(verbose=False)


def test_shipped_cifar_subset_matches_its_readme(cifar):
    X_train, y_train, X_test, y_test = cifar
    assert X_train.shape == (5085, 32, 32, 3) and X_train.dtype == np.float64
    assert X_test.shape == (1017, 32, 32, 3)
    assert y_train.dtype == np.int64 and y_train.shape == (5085,)
    assert X_train.min() >= 0 and X_train.max() == 255  # the original 0..255 scale
    assert y_test[:10].tolist() == [3, 8, 8, 0, 6, 6, 1, 6, 3, 1]  # cat, ship, ship, ...
    assert cifar.classes[3] == "cat" and len(cifar.classes) == 10
    # README: per-channel mean of the training subset is (125.9, 123.6, 114.3)
    np.testing.assert_allclose(X_train.mean(axis=(0, 1, 2)), [125.9, 123.6, 114.3], atol=0.06)


def test_fallback_to_the_subset_says_so_in_one_line(capsys):
    data.load_cifar10()
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1 and "shipped CIFAR-10 subset" in out[0] and "download=True" in out[0]


def test_course_data_and_explicit_root_take_precedence(tmp_path, monkeypatch):
    other = tmp_path / "elsewhere" / "cifar-10-subset"
    other.parent.mkdir()
    shutil.copytree(SHIPPED / "cifar-10-subset", other)
    monkeypatch.setenv("COURSE_DATA", str(other.parent))
    assert data.load_cifar10().source == str(other)
    monkeypatch.setenv("COURSE_DATA", str(tmp_path / "nothing-here"))
    assert data.load_cifar10(root=other.parent).source == str(other)
    with pytest.raises(data.DatasetError, match="no CIFAR-10 found in .*nothing-here"):
        data.load_cifar10()


def test_truncated_subset_is_refused_naming_the_file(tmp_path):
    folder = tmp_path / "cifar-10-subset"
    folder.mkdir()
    raw = (SHIPPED / "cifar-10-subset" / "cifar10_subset.npz").read_bytes()
    (folder / "cifar10_subset.npz").write_bytes(raw[: len(raw) // 3])
    with pytest.raises(data.DatasetError) as err:
        data.load_cifar10(root=tmp_path)
    assert "cifar10_subset.npz" in str(err.value) and "truncated or corrupt" in str(err.value)
    assert "git checkout -- data/" in str(err.value)  # says how to fix it


def test_fashion_mnist_is_complete():
    X_train, y_train, X_test, y_test = ds = data.load_fashion_mnist()
    assert X_train.shape == (60000, 28, 28) and X_test.shape == (10000, 28, 28)
    assert np.bincount(y_train).tolist() == [6000] * 10
    assert np.bincount(y_test).tolist() == [1000] * 10
    assert abs(X_train.mean() / 255 - 0.286) < 0.001  # README: mean pixel 0.286
    assert ds.classes[9] == "Ankle boot"


def test_fashion_mnist_corrupt_or_missing_file(tmp_path):
    folder = tmp_path / "fashion-mnist"
    shutil.copytree(SHIPPED / "fashion-mnist", folder)
    victim = folder / "t10k-labels-idx1-ubyte.gz"
    victim.write_bytes(victim.read_bytes()[:100])
    with pytest.raises(data.DatasetError, match="t10k-labels-idx1-ubyte.gz.*truncated or corrupt"):
        data.load_fashion_mnist(tmp_path)
    victim.unlink()
    with pytest.raises(data.DatasetError, match="t10k-labels-idx1-ubyte.gz is missing"):
        data.load_fashion_mnist(tmp_path)


def test_idx_parser_rejects_a_bad_header(tmp_path):
    import gzip

    path = tmp_path / "bad.gz"
    with gzip.open(path, "wb") as f:
        dims = b"".join(n.to_bytes(4, "big") for n in (2, 3, 3))
        f.write(b"\x00\x00\x08\x03" + dims + b"\x00" * 10)
    promise = r"holds 10 values but its header promises \(2, 3, 3\)"
    with pytest.raises(data.DatasetError, match=promise):
        data._read_idx_gz(path, 3)
    with pytest.raises(data.DatasetError, match="IDX header for a 1-d"):
        data._read_idx_gz(path, 1)


def test_splits_follow_cs231n_preprocessing():
    s = data.get_cifar10_splits(4000, 500, 500, bias_trick=True, num_dev=50)
    assert s["X_train"].shape == (4000, 3073) and s["X_val"].shape == (500, 3073)
    assert s["X_dev"].shape == (50, 3073) and s["y_dev"].shape == (50,)
    np.testing.assert_allclose(s["X_train"][:, :-1].mean(axis=0), 0, atol=1e-9)
    assert np.all(s["X_test"][:, -1] == 1)
    plain = data.get_cifar10_splits(100, 10, 10, subtract_mean=False, flatten=False, seed=None)
    assert plain["X_train"].shape == (100, 32, 32, 3) and plain["X_train"].max() == 255
    X_train, y_train, _, _ = data.load_cifar10(verbose=False)
    np.testing.assert_array_equal(plain["y_train"], y_train[:100])  # seed=None: file order
    with pytest.raises(ValueError, match="only 5,085 training images"):
        data.get_cifar10_splits(49000, 1000, 1000)


@pytest.mark.parametrize("maker,n,k", [
    (lambda: data.make_spiral(50, 4), 200, 4),
    (lambda: data.make_circles(300), 300, 2),
    (lambda: data.make_blobs(30, 5), 150, 5),
])
def test_toy_sets_are_balanced_2d(maker, n, k):
    X, y = maker()
    assert X.shape == (n, 2) and y.dtype == np.int64
    assert np.bincount(y).tolist() == [n // k] * k


def test_circles_are_not_linearly_separable_but_radially_are():
    X, y = data.make_circles(400, noise=0.05)
    r = np.hypot(X[:, 0], X[:, 1])
    assert r[y == 1].max() < r[y == 0].min()  # a threshold on r separates them
    # no direction separates them: projections overlap on every axis tried
    for angle in np.linspace(0, np.pi, 12):
        p = X @ np.array([np.cos(angle), np.sin(angle)])
        assert p[y == 0].min() < p[y == 1].min() and p[y == 0].max() > p[y == 1].max()


# --------------------------------------------------------------------------- download

def _official_format_tarball(tmp_path) -> tuple[bytes, dict]:
    """A small cifar-10-python.tar.gz in the official layout, built from the subset."""
    with np.load(SHIPPED / "cifar-10-subset" / "cifar10_subset.npz") as z:
        x_train, y_train, x_test, y_test = z["x_train"], z["y_train"], z["x_test"], z["y_test"]
    files = {}
    for i in range(5):
        rows = slice(i * 20, (i + 1) * 20)
        files[f"data_batch_{i + 1}"] = {"data": x_train[rows], "labels": y_train[rows].tolist(),
                                        "batch_label": f"training batch {i + 1} of 5"}
    files["test_batch"] = {"data": x_test[:10], "labels": y_test[:10].tolist()}
    buf = io.BytesIO()
    md5s = {}
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, content in files.items():
            raw = pickle.dumps(content, protocol=2)
            md5s[name] = hashlib.md5(raw).hexdigest()
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(raw)
            tar.addfile(info, io.BytesIO(raw))
    return buf.getvalue(), md5s


class _Server:
    """Serves one payload on 127.0.0.1; ``cut`` stops the body after that many bytes."""

    def __init__(self, payload: bytes, cut: int | None = None):
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                self.send_response(200)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload if outer.cut is None else payload[: outer.cut])

            def log_message(self, *args):
                pass

        self.cut = cut
        self.httpd = http.server.HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_port}/cifar-10-python.tar.gz"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def official(tmp_path, monkeypatch):
    payload, md5s = _official_format_tarball(tmp_path)
    monkeypatch.setattr(data, "CIFAR10_BATCH_MD5", md5s)
    server = _Server(payload)
    monkeypatch.setattr(data, "CIFAR10_URL", server.url)
    monkeypatch.setattr(data, "CIFAR10_TGZ_MD5", hashlib.md5(payload).hexdigest())
    yield server
    server.close()


def test_download_verifies_extracts_and_is_then_found_in_the_cache(official, tmp_path, capsys):
    ds = data.load_cifar10(download=True)
    cache = tmp_path / "cache"
    assert ds.source == str(cache / "cifar-10-batches-py")
    assert ds[0].shape == (100, 32, 32, 3) and ds[2].shape == (10, 32, 32, 3)
    assert ds[3][:4].tolist() == [3, 8, 8, 0]
    assert sorted(p.name for p in cache.iterdir()) == ["cifar-10-batches-py"]  # nothing partial
    assert "CIFAR-10" in capsys.readouterr().err  # the tqdm progress bar
    official.close()  # no network needed any more: found in the cache
    assert data.load_cifar10().source == ds.source


def test_download_with_wrong_md5_leaves_nothing_behind(official, tmp_path, monkeypatch):
    monkeypatch.setattr(data, "CIFAR10_TGZ_MD5", "0" * 32)
    with pytest.raises(data.DatasetError, match="md5 .* expected 0{32}.*deleted"):
        data.download_cifar10()
    assert list((tmp_path / "cache").iterdir()) == []


def test_interrupted_download_leaves_nothing_behind(official, tmp_path):
    official.cut = 1000  # the server hangs up early
    with pytest.raises(Exception):  # noqa: B017 - urllib's IncompleteRead or ours
        data.download_cifar10()
    assert list((tmp_path / "cache").iterdir()) == []


def test_corrupt_official_batch_is_refused_before_unpickling(official, tmp_path):
    folder = data.download_cifar10()
    (folder / "data_batch_3").write_bytes(b"not a pickle")
    with pytest.raises(data.DatasetError, match="data_batch_3 is truncated or corrupt"):
        data.load_cifar10()
