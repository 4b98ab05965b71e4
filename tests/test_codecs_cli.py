"""`lab compress` / `lab decompress`: one pair of verbs over every lossless codec (lab.codecs), routed to the
family's own verb by the output's suffix (or --codec) and, decoding, by the file's magic."""
import importlib

import pytest

from lab import cli, codecs
from tests.test_cli_usability import lab, lab_here, one_line_error

TEXT = ("It was the best of times, it was the worst of times; " * 6).encode()


@pytest.mark.parametrize("suffix,options", [(".proc", []), (".llmz", ["--model", "tiny-random"]),
                                            (".vtx", ["--online"])])
def test_generic_verbs_round_trip(tmp_path, capsys, suffix, options):
    src = tmp_path / "in.txt"
    src.write_bytes(TEXT)
    out = tmp_path / f"in{suffix}"
    r = lab_here(capsys, "compress", src, "-o", out, *options)       # in this process; decompress as a real one
    assert r.returncode == 0, r.stderr
    assert out.read_bytes()[:4] == codecs.FILES[suffix][1]
    back = tmp_path / "back.txt"
    r = lab("decompress", out, "-o", back, *[o for o in options if o != "--online"])
    assert r.returncode == 0, r.stderr
    assert back.read_bytes() == TEXT


def test_codec_by_name_and_routing():
    assert cli.routed(["compress", "a", "-o", "b.bin", "--codec", "llmz", "--streams", "4"]) == \
        ["llmzip", "compress", "a", "-o", "b.bin", "--streams", "4"]
    assert cli.routed(["--debug", "compress", "a", "-o", "b.vtx"]) == ["--debug", "vortex", "compress", "a", "-o", "b.vtx"]
    assert cli.routed(["proc", "compress", "a", "-o", "b.proc"]) == ["proc", "compress", "a", "-o", "b.proc"]
    assert cli.routed(["compress", "--help"]) == ["compress", "--help"]


def test_magic_constants_are_the_modules():
    for suffix, (family, magic) in codecs.FILES.items():
        mod = {"proc": "lab.procedural.machine", "vortex": "lab.vortex.codec", "llmzip": "lab.llmzip.codec"}[family]
        assert importlib.import_module(mod).MAGIC == magic, suffix


def test_generic_verbs_errors(tmp_path):
    src = tmp_path / "in.txt"
    src.write_bytes(TEXT)
    one_line_error(lab("compress", src, "-o", tmp_path / "a.zip"), "a.zip", "--codec")
    one_line_error(lab("compress", src, "-o", tmp_path / "a.bin", "--codec", "zz"), "zz", "llmz")
    one_line_error(lab("decompress", src, "-o", tmp_path / "x"), "in.txt", "not a file")
    (tmp_path / "e").write_bytes(b"")
    one_line_error(lab("decompress", tmp_path / "e", "-o", tmp_path / "x"), "empty")
    one_line_error(lab("decompress", tmp_path / "nope", "-o", tmp_path / "x"), "nope")
    (tmp_path / "p.holo").write_bytes(b"HOLO" + bytes(20))
    one_line_error(lab("decompress", tmp_path / "p.holo", "-o", tmp_path / "x"), "lab holo view")
    one_line_error(lab("decompress", src, "-o", tmp_path / "x", "--codec", "proc"), "--codec")
    # a damaged file is routed by its magic, then refused by the codec, naming the path
    (tmp_path / "t.proc").write_bytes(b"PROC\x01")
    one_line_error(lab("decompress", tmp_path / "t.proc", "-o", tmp_path / "x"), "t.proc")
    assert not (tmp_path / "x").exists()
