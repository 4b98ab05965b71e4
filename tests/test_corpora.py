"""lab.corpora: package corpora read from a (synthetic) package root, mixes that keep held-out text out,
and the k-gram overlap measure."""
import gzip

import pytest

from lab import corpora as C
from lab import data
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


def test_mix_holds_out_selection_and_test_text(pkg_root):
    fit, sel, comp = C.mix("english", select_bytes=5 * 1000)
    assert [c["part"] for c in comp] == [p for p, _ in C.MIXES["english"]]
    bible_train = data.read_split("canterbury-large", "train")
    assert sel.endswith(bible_train[-1000:]) and bible_train[-1000:] not in fit      # selection never trained on
    assert fit.count(bible_train[1000:1200]) == 2                                     # bible weighted x2
    seen = C.Overlap(fit)
    test = data.read_split("canterbury-large", "test")
    assert seen(test[:20000]) < 0.1 and seen(bible_train[5000:25000]) == 1.0
    assert set(C.held_out()) >= {"alice29.txt", "lcet10.txt", "canterbury-large/test"}


def test_overlap_counts_positions():
    seen = C.Overlap(b"the cat sat on the mat", k=4)
    assert seen(b"the cat") == 1.0
    assert seen(b"xxxxxxx") == 0.0
    assert seen(b"cat!") == 0.0 and seen(b"at s") == 1.0
    assert seen(b"ab") == 0.0                        # shorter than k: no k-gram, nothing seen
    assert abs(seen(b"the catXXXX") - 4 / 8) < 1e-12
