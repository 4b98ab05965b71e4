"""lab.corpora: package corpora read from a (synthetic) package root, mixes that keep held-out text out,
and the k-gram overlap measure."""
import gzip

import pytest

from lab import corpora as C
from lab.data import DataError

GCIDE = (b"00-database-info\n   licence preamble that must not be trained on\n\n"
         b"A \\A\\ (named [=a] in the English).\n   The first letter of the alphabet.\n   [1913 Webster]\n\n\n\n"
         b"Abacus \\Ab\"a*cus\\, n.\n   A table for calculations.\n   [WordNet 1.5]\n")
WORDNET = (b"  1 This software and database is being provided\n"
           b"00001740 03 n 01 entity 0 003 ~ 00001930 n 0000 | that which is perceived to exist  \n"
           b"00002137 03 n 02 abstraction 0 abstract_entity 0 010 | a general concept  \n")


@pytest.fixture
def pkg_root(tmp_path, monkeypatch):
    d = tmp_path / "usr/share/dictd"
    d.mkdir(parents=True)
    (d / "gcide.dict.dz").write_bytes(gzip.compress(GCIDE))
    w = tmp_path / "usr/share/wordnet"
    w.mkdir(parents=True)
    for p in ("noun", "verb", "adj", "adv"):
        (w / f"data.{p}").write_bytes(WORDNET if p == "noun" else b"  licence\n")
    s = tmp_path / "usr/share/doc/python3.11/html/_sources/library"
    s.mkdir(parents=True)
    (s / "os.rst.txt").write_bytes(b"The os module\n=============\n")
    (s.parent / "index.rst.txt").write_bytes(b"Python docs\n")
    monkeypatch.setenv("LAB_PKG_ROOT", str(tmp_path))
    monkeypatch.setattr(C, "_roots", lambda: [tmp_path])
    return tmp_path


def test_gcide_drops_preamble_and_editorial_tags(pkg_root):
    g = C.gcide()
    assert g.startswith(b"A \\A\\ (named")
    assert b"licence preamble" not in g and b"[1913 Webster]" not in g and b"[WordNet 1.5]" not in g
    assert b"\nThe first letter of the alphabet.\n" in g      # the 3-space indent undone
    assert b"\n\n\n" not in g


def test_wordnet_glosses(pkg_root):
    assert C.wordnet() == (b"entity: that which is perceived to exist\n"
                           b"abstraction, abstract entity: a general concept\n")


def test_python_docs_in_path_order(pkg_root):
    assert C.python_docs() == b"Python docs\n\nThe os module\n=============\n"


def test_missing_package_names_it(tmp_path, monkeypatch):
    monkeypatch.setattr(C, "_roots", lambda: [tmp_path])
    with pytest.raises(DataError, match="dict-gcide.*make corpora"):
        C.gcide()
    with pytest.raises(DataError, match="no training mix"):
        C.mix("klingon")


def test_mix_holds_out_selection_and_weights_parts(monkeypatch):
    rng = __import__("random").Random(0)
    parts = {n: bytes(rng.randrange(256) for _ in range(5000)) for n in ("a", "b/train")}
    monkeypatch.setattr(C, "part", parts.__getitem__)
    monkeypatch.setitem(C.MIXES, "t", (("a", 1), ("b/train", 2)))
    fit, sel, comp = C.mix("t", select_bytes=2 * 1000)
    assert [(c["part"], c["bytes"], c["copies"]) for c in comp] == [("a", 4000, 1), ("b/train", 4000, 2)]
    assert sel == parts["a"][-1000:] + b"\n\n" + parts["b/train"][-1000:]
    assert parts["a"][-1000:] not in fit and parts["b/train"][-1000:] not in fit     # selection never trained on
    assert fit.count(parts["b/train"][:4000]) == 2 and fit.count(parts["a"][:4000]) == 1
    assert C.Overlap(fit)(sel) < 0.05 and C.Overlap(fit)(parts["a"][100:900]) == 1.0


def test_english_mix_holds_out_the_test_texts():
    names = [p for p, _ in C.MIXES["english"]]
    assert "canterbury-large/train" in names and not any(p.startswith("canterbury/") for p in names)
    assert set(C.held_out()) >= {"alice29.txt", "lcet10.txt", "canterbury-large/test", "tinystories/test"}


def test_overlap_counts_positions():
    seen = C.Overlap(b"the cat sat on the mat", k=4)
    assert seen(b"the cat") == 1.0
    assert seen(b"xxxxxxx") == 0.0
    assert seen(b"cat!") == 0.0 and seen(b"at s") == 1.0
    assert seen(b"ab") == 0.0                        # shorter than k: no k-gram, nothing seen
    assert abs(seen(b"the catXXXX") - 4 / 8) < 1e-12
