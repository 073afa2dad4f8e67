"""Datasets: the shipped real data, the official CIFAR-10 download, and toy 2-D sets.

Images come back the way CS231n hands them out: ``X (N, 32, 32, 3) float64`` in the
original 0..255 scale and integer labels ``y (N,) int64``.

Where CIFAR-10 comes from, first match wins:

1. ``root=`` passed explicitly,
2. the ``COURSE_DATA`` environment variable,
3. a full official CIFAR-10 ("python version") in the cache directory
   (``COURSE_CACHE`` or ``~/.cache/course-kit``), put there by ``download=True``,
4. the real CIFAR-10 subset shipped in ``data/cifar-10-subset`` (5,085 train, 1,017 test).

Every file is checked against its known md5 before it is parsed, so a truncated or
corrupt file is refused with a message naming it and saying how to fix it.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import pickle
import shutil
import struct
import tarfile
import tempfile
import urllib.request
from pathlib import Path

import numpy as np

CIFAR10_CLASSES = (
    "airplane", "automobile", "bird", "cat", "deer",
    "dog", "frog", "horse", "ship", "truck",
)
FASHION_MNIST_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)

CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
CIFAR10_TGZ_MD5 = "c58f30108f718f92721af3b95e74349a"
CIFAR10_DIRNAME = "cifar-10-batches-py"
# md5 of every file of the official "python version", so that a copy found on disk is
# verified before it is unpickled (unpickling an unknown file can run arbitrary code).
CIFAR10_BATCH_MD5 = {
    "data_batch_1": "c99cafc152244af753f735de768cd75f",
    "data_batch_2": "d4bba439e000b95fd0a9bffe97cbabec",
    "data_batch_3": "54ebc095f3ab1f0389bbae665268c751",
    "data_batch_4": "634d18415352ddfa80567beed471001a",
    "data_batch_5": "482c414d41f54cd18b22e5b47cb7c3cb",
    "test_batch": "40351d587109b95175f43aff81a1287e",
}
CIFAR10_SUBSET_DIRNAME = "cifar-10-subset"
CIFAR10_SUBSET_FILE = "cifar10_subset.npz"
CIFAR10_SUBSET_MD5 = "de5c1546589b76936d159d484a7beeab"

FASHION_MNIST_DIRNAME = "fashion-mnist"
FASHION_MNIST_MD5 = {
    "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
    "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
    "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
    "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
}

_RESTORE_HINT = (
    "restore the shipped copy with `git checkout -- data/` (or re-clone the course kit)"
)


class DatasetError(RuntimeError):
    """A dataset file is missing, truncated, corrupt or not what it claims to be."""


class Dataset(tuple):
    """``(X_train, y_train, X_test, y_test)``, which also knows its class names and source.

    It unpacks like CS231n's ``load_CIFAR10``::

        X_train, y_train, X_test, y_test = load_cifar10()

    and keeps ``.classes`` (the label names) and ``.source`` (where it was read from).
    """

    def __new__(cls, X_train, y_train, X_test, y_test, *, classes, source):
        self = super().__new__(cls, (X_train, y_train, X_test, y_test))
        self.classes = tuple(classes)
        self.source = str(source)
        return self

    X_train = property(lambda self: self[0])
    y_train = property(lambda self: self[1])
    X_test = property(lambda self: self[2])
    y_test = property(lambda self: self[3])

    def __repr__(self):
        return (
            f"Dataset(train={self[0].shape}, test={self[2].shape}, "
            f"{len(self.classes)} classes, from {self.source})"
        )


# --------------------------------------------------------------------------- files

def _md5(path: Path, _cache: dict = {}) -> str:  # noqa: B006 - deliberate memo
    stat = path.stat()
    key = (str(path), stat.st_size, stat.st_mtime_ns)
    if key not in _cache:
        digest = hashlib.md5()
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
        _cache[key] = digest.hexdigest()
    return _cache[key]


def _verified(path: Path, expected_md5: str, fix: str) -> Path:
    """Return ``path`` if it exists and has the expected md5, else raise DatasetError."""
    if not path.is_file():
        raise DatasetError(f"{path} is missing: {fix}.")
    actual = _md5(path)
    if actual != expected_md5:
        raise DatasetError(
            f"{path} is truncated or corrupt ({path.stat().st_size:,} bytes, md5 {actual}, "
            f"expected {expected_md5}); refusing to read it: {fix}."
        )
    return path


def shipped_data_dir() -> Path | None:
    """The course kit's own ``data/`` folder, found beside the package or the working dir."""
    here = Path(__file__).resolve().parent
    candidates = [here.parent / "data", Path.cwd() / "data", Path.cwd().parent / "data"]
    for candidate in candidates:
        if (candidate / CIFAR10_SUBSET_DIRNAME).is_dir() or (
            candidate / FASHION_MNIST_DIRNAME
        ).is_dir():
            return candidate
    return None


def cache_dir() -> Path:
    """Where downloads go: ``$COURSE_CACHE`` or ``~/.cache/course-kit``."""
    return Path(os.environ.get("COURSE_CACHE") or Path.home() / ".cache" / "course-kit")


# --------------------------------------------------------------------------- CIFAR-10

def _cifar_rows_to_images(rows: np.ndarray) -> np.ndarray:
    """(N, 3072) uint8 rows in CIFAR's R-plane, G-plane, B-plane order -> (N, 32, 32, 3) float64."""
    return rows.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1).astype(np.float64)


def _find_official(folder: Path) -> Path | None:
    """The folder holding the official batches: ``folder`` itself or its cifar-10-batches-py."""
    for candidate in (folder / CIFAR10_DIRNAME, folder):
        if (candidate / "data_batch_1").exists() or (candidate / "test_batch").exists():
            return candidate
    return None


def _find_subset(folder: Path) -> Path | None:
    for candidate in (folder / CIFAR10_SUBSET_DIRNAME, folder):
        if (candidate / CIFAR10_SUBSET_FILE).exists():
            return candidate
    return None


def _load_official(folder: Path) -> Dataset:
    fix = (
        f"delete {folder} and run load_cifar10(download=True), or put the official "
        "cifar-10-python.tar.gz contents there"
    )
    xs, ys = [], []
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        path = _verified(folder / name, CIFAR10_BATCH_MD5[name], fix)
        with open(path, "rb") as f:
            batch = pickle.load(f, encoding="latin1")  # safe: md5 verified above
        xs.append(np.asarray(batch["data"], dtype=np.uint8))
        ys.append(np.asarray(batch["labels"], dtype=np.int64))
    return Dataset(
        _cifar_rows_to_images(np.concatenate(xs[:5])), np.concatenate(ys[:5]),
        _cifar_rows_to_images(xs[5]), ys[5],
        classes=CIFAR10_CLASSES, source=folder,
    )


def _load_subset(folder: Path) -> Dataset:
    path = _verified(folder / CIFAR10_SUBSET_FILE, CIFAR10_SUBSET_MD5, _RESTORE_HINT)
    with np.load(path, allow_pickle=False) as z:
        return Dataset(
            _cifar_rows_to_images(z["x_train"]), z["y_train"].astype(np.int64),
            _cifar_rows_to_images(z["x_test"]), z["y_test"].astype(np.int64),
            classes=[str(c) for c in z["label_names"]], source=folder,
        )


def _load_cifar_from(folder: Path) -> Dataset:
    official = _find_official(folder)
    if official is not None:
        return _load_official(official)
    subset = _find_subset(folder)
    if subset is not None:
        return _load_subset(subset)
    raise DatasetError(
        f"no CIFAR-10 found in {folder}: expected the official {CIFAR10_DIRNAME}/ batches "
        f"or {CIFAR10_SUBSET_DIRNAME}/{CIFAR10_SUBSET_FILE}; check the path, or leave it "
        "unset to use the shipped subset"
    )


def load_cifar10(root=None, *, download: bool = False, verbose: bool = True) -> Dataset:
    """Load CIFAR-10 as ``X_train (N,32,32,3) float64, y_train (N,) int64, X_test, y_test``.

    Pixel values stay in 0..255, as in CS231n. The result also has ``.classes`` and
    ``.source``. See the module docstring for where the data is looked for; with
    ``download=True`` the official archive is fetched into the cache first if no full copy
    is found anywhere.
    """
    if root is not None:
        return _load_cifar_from(Path(root).expanduser())
    if os.environ.get("COURSE_DATA"):
        return _load_cifar_from(Path(os.environ["COURSE_DATA"]).expanduser())
    cached = _find_official(cache_dir())
    if cached is not None and (cached / "test_batch").exists():
        return _load_official(cached)
    if download:
        return _load_official(download_cifar10())
    shipped = shipped_data_dir()
    subset = _find_subset(shipped) if shipped else None
    if subset is None:
        raise DatasetError(
            "CIFAR-10 not found: no COURSE_DATA, no download in "
            f"{cache_dir()}, and no shipped data/ folder; run load_cifar10(download=True) "
            "or set COURSE_DATA to a folder holding cifar-10-subset/ or cifar-10-batches-py/"
        )
    data = _load_subset(subset)
    if verbose:
        print(
            f"Using the shipped CIFAR-10 subset ({len(data[1]):,} train / {len(data[3]):,} "
            "test images); load_cifar10(download=True) fetches the full 60,000."
        )
    return data


def download_cifar10(
    cache: Path | str | None = None, *, url: str | None = None, md5: str | None = None
) -> Path:
    """Fetch and extract the official CIFAR-10 archive; return the batches folder.

    The archive is written to a temporary file, checked against its md5, extracted into a
    temporary folder and only then renamed into place, so an interrupted or corrupt
    download never leaves a partial file or folder behind.
    """
    from tqdm.auto import tqdm

    url = url or CIFAR10_URL
    md5 = md5 or CIFAR10_TGZ_MD5
    cache = Path(cache) if cache is not None else cache_dir()
    target = cache / CIFAR10_DIRNAME
    if (target / "test_batch").exists():
        return target
    cache.mkdir(parents=True, exist_ok=True)

    fd, tmp_name = tempfile.mkstemp(prefix=".cifar-10-download-", suffix=".partial", dir=cache)
    tmp_archive = Path(tmp_name)
    tmp_extract = None
    try:
        digest = hashlib.md5()
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=60) as response:
            total = int(response.headers.get("Content-Length") or 0) or None
            with tqdm(total=total, unit="B", unit_scale=True, desc="CIFAR-10") as bar:
                for block in iter(lambda: response.read(1 << 20), b""):
                    out.write(block)
                    digest.update(block)
                    bar.update(len(block))
        if digest.hexdigest() != md5:
            raise DatasetError(
                f"the download from {url} has md5 {digest.hexdigest()}, expected {md5}; "
                "it was deleted. Try again later, or download it by hand and set COURSE_DATA"
            )
        tmp_extract = Path(tempfile.mkdtemp(prefix=".cifar-10-extract-", dir=cache))
        with tarfile.open(tmp_archive, "r:gz") as tar:
            tar.extractall(tmp_extract, filter="data")
        extracted = tmp_extract / CIFAR10_DIRNAME
        if not (extracted / "test_batch").exists():
            raise DatasetError(f"the archive from {url} has no {CIFAR10_DIRNAME}/test_batch")
        os.replace(extracted, target)
    except BaseException:
        if tmp_extract is not None:
            shutil.rmtree(tmp_extract, ignore_errors=True)
        raise
    finally:
        tmp_archive.unlink(missing_ok=True)
    shutil.rmtree(tmp_extract, ignore_errors=True)
    return target


def get_cifar10_splits(
    num_training: int = 4000,
    num_validation: int = 500,
    num_test: int = 500,
    subtract_mean: bool = True,
    bias_trick: bool = False,
    flatten: bool = True,
    seed: int | None = 0,
    num_dev: int = 0,
    root=None,
) -> dict:
    """CIFAR-10 split and preprocessed in the spirit of CS231n's notebooks.

    Returns a dict with ``X_train, y_train, X_val, y_val, X_test, y_test`` (plus
    ``X_dev, y_dev`` when ``num_dev > 0``), ``mean_image`` and ``classes``. With
    ``flatten`` each X is ``(N, 3072)`` (``(N, 3073)`` with ``bias_trick``, a column of ones
    appended); otherwise ``(N, 32, 32, 3)``. ``seed=None`` keeps the file order (CS231n's
    choice); an integer shuffles the training pool with that seed before splitting off the
    validation set. The mean image is computed on the training split only.
    """
    dataset = load_cifar10(root, verbose=False)
    X_pool, y_pool, X_test, y_test = dataset
    if num_training + num_validation > len(y_pool):
        raise ValueError(
            f"asked for {num_training:,} training + {num_validation:,} validation images but "
            f"this CIFAR-10 has only {len(y_pool):,} training images"
        )
    if num_test > len(y_test):
        raise ValueError(
            f"asked for {num_test:,} test images but this CIFAR-10 has only {len(y_test):,}"
        )
    order = np.arange(len(y_pool))
    rng = np.random.default_rng(seed)
    if seed is not None:
        order = rng.permutation(len(y_pool))
    train_idx = order[:num_training]
    val_idx = order[num_training:num_training + num_validation]
    out = {
        "X_train": X_pool[train_idx], "y_train": y_pool[train_idx],
        "X_val": X_pool[val_idx], "y_val": y_pool[val_idx],
        "X_test": X_test[:num_test], "y_test": y_test[:num_test],
    }
    if num_dev:
        dev_idx = rng.choice(num_training, num_dev, replace=False)
        out["X_dev"], out["y_dev"] = out["X_train"][dev_idx], out["y_train"][dev_idx]
    x_keys = [k for k in out if k.startswith("X_")]
    if flatten:
        for k in x_keys:
            out[k] = out[k].reshape(len(out[k]), -1)
    mean_image = out["X_train"].mean(axis=0)
    if subtract_mean:
        for k in x_keys:
            out[k] = out[k] - mean_image
    if bias_trick:
        if not flatten:
            raise ValueError("bias_trick=True needs flatten=True (it appends a column of ones)")
        for k in x_keys:
            out[k] = np.hstack([out[k], np.ones((len(out[k]), 1))])
    out["mean_image"] = mean_image
    out["classes"] = dataset.classes
    return out


# --------------------------------------------------------------------------- Fashion-MNIST

_IDX_DTYPES = {0x08: np.uint8}


def _read_idx_gz(path: Path, expected_ndim: int) -> np.ndarray:
    """Parse one gzipped IDX file (the MNIST format) into a uint8 array."""
    fix = _RESTORE_HINT
    try:
        with gzip.open(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError) as exc:
        raise DatasetError(f"{path} is not a readable gzip file ({exc}): {fix}.") from None
    if len(raw) < 4:
        raise DatasetError(f"{path} is too short to be an IDX file: {fix}.")
    zero, dtype_code, ndim = struct.unpack(">HBB", raw[:4])
    if zero != 0 or dtype_code not in _IDX_DTYPES or ndim != expected_ndim:
        raise DatasetError(
            f"{path} does not start with an IDX header for a {expected_ndim}-d uint8 array: {fix}."
        )
    shape = struct.unpack(">" + "I" * ndim, raw[4:4 + 4 * ndim])
    body = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if body.size != int(np.prod(shape)):
        raise DatasetError(
            f"{path} holds {body.size:,} values but its header promises {shape}: {fix}."
        )
    return body.reshape(shape)


def load_fashion_mnist(root=None, *, dtype=np.uint8) -> Dataset:
    """Load Fashion-MNIST: ``X_train (60000, 28, 28)``, ``y_train (60000,) int64``, test 10,000.

    Pixels are 0..255 in ``dtype`` (uint8 by default: 47 MB instead of 376 MB as float64).
    ``root`` (or ``$COURSE_DATA``) may point at the folder holding the four ``.gz`` files or
    at its parent.
    """
    base = root or os.environ.get("COURSE_DATA") or shipped_data_dir()
    if base is None:
        raise DatasetError(
            "Fashion-MNIST not found: set COURSE_DATA to the folder holding fashion-mnist/"
        )
    folder = Path(base).expanduser()
    if (folder / FASHION_MNIST_DIRNAME).is_dir():
        folder = folder / FASHION_MNIST_DIRNAME
    arrays = {}
    for name, md5 in FASHION_MNIST_MD5.items():
        path = _verified(folder / name, md5, _RESTORE_HINT)
        arrays[name] = _read_idx_gz(path, 3 if "images" in name else 1)
    return Dataset(
        arrays["train-images-idx3-ubyte.gz"].astype(dtype),
        arrays["train-labels-idx1-ubyte.gz"].astype(np.int64),
        arrays["t10k-images-idx3-ubyte.gz"].astype(dtype),
        arrays["t10k-labels-idx1-ubyte.gz"].astype(np.int64),
        classes=FASHION_MNIST_CLASSES, source=folder,
    )


# --------------------------------------------------------------------------- toy 2-D sets

def make_spiral(n_per_class: int = 100, n_classes: int = 3, noise: float = 0.2, seed: int = 0):
    """K interleaved spiral arms (CS231n's neural-network case study).

    Returns ``X (n_per_class * n_classes, 2) float64`` and ``y (N,) int64``.
    """
    rng = np.random.default_rng(seed)
    X = np.zeros((n_per_class * n_classes, 2))
    y = np.zeros(n_per_class * n_classes, dtype=np.int64)
    for k in range(n_classes):
        rows = slice(n_per_class * k, n_per_class * (k + 1))
        radius = np.linspace(0.0, 1.0, n_per_class)
        theta = (
            np.linspace(k * 4.0, (k + 1) * 4.0, n_per_class)
            + rng.standard_normal(n_per_class) * noise
        )
        X[rows] = np.c_[radius * np.sin(theta), radius * np.cos(theta)]
        y[rows] = k
    return X, y


def make_circles(n: int = 400, factor: float = 0.5, noise: float = 0.05, seed: int = 0):
    """Two concentric rings: class 0 outside (radius 1), class 1 inside (radius ``factor``).

    No straight line separates them; polar coordinates (r, theta) do. Returns ``X (n, 2)``,
    ``y (n,) int64``.
    """
    rng = np.random.default_rng(seed)
    n_outer = n // 2
    theta = rng.uniform(0.0, 2 * np.pi, n)
    radius = np.where(np.arange(n) < n_outer, 1.0, factor)
    X = np.c_[radius * np.cos(theta), radius * np.sin(theta)]
    X += rng.standard_normal(X.shape) * noise
    y = (np.arange(n) >= n_outer).astype(np.int64)
    return X, y


def make_blobs(n_per_class: int = 100, n_classes: int = 3, std: float = 0.5, seed: int = 0):
    """Gaussian blobs with centres evenly spaced on a circle of radius 2.

    Returns ``X (n_per_class * n_classes, 2)``, ``y (N,) int64``.
    """
    rng = np.random.default_rng(seed)
    angles = 2 * np.pi * np.arange(n_classes) / n_classes
    centres = 2.0 * np.c_[np.cos(angles), np.sin(angles)]
    y = np.repeat(np.arange(n_classes), n_per_class).astype(np.int64)
    X = centres[y] + rng.standard_normal((len(y), 2)) * std
    return X, y
