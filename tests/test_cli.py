import json
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from conftest import smooth_image


def run(*args, check=True):
    r = subprocess.run([sys.executable, "-m", "lab", *args], capture_output=True, text=True, timeout=300)
    if check:
        assert r.returncode == 0, r.stderr
    return r


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli")
    Image.fromarray(smooth_image(64, 96)).save(d / "in.png")
    run("holo", "compress", str(d / "in.png"), "-o", str(d / "a.holo"), "--step", "8", "--quiet")
    return d


def test_compress_info_view_agree(files):
    d = files
    info = json.loads(run("holo", "info", str(d / "a.holo"), "--reference", str(d / "in.png"), "--json").stdout)
    assert info["bytes"] == os.path.getsize(d / "a.holo")
    run("holo", "view", str(d / "a.holo"), "-o", str(d / "out.png"))
    a = np.asarray(Image.open(d / "in.png").convert("RGB")).astype(float)
    b = np.asarray(Image.open(d / "out.png").convert("RGB")).astype(float)
    p = 10 * np.log10(255 ** 2 / np.mean((a - b) ** 2))
    assert abs(p - info["psnr"]) < 1e-6


def test_compress_modes_and_targets(files):
    d = files
    r = run("holo", "compress", str(d / "in.png"), "-o", str(d / "v.holo"), "--mode", "vq", "-C", "16", "--json")
    assert json.loads(r.stdout)["mode"] == "vq"
    r = run("holo", "compress", str(d / "in.png"), "-o", str(d / "p.holo"), "--psnr", "33", "--json", "--quiet")
    assert json.loads(r.stdout)["psnr"] >= 33
    r = run("holo", "compress", str(d / "in.png"), "-o", str(d / "b.holo"), "--bpp", "1.0", "--json", "--quiet")
    assert json.loads(r.stdout)["bpp"] <= 1.0
    r = run("holo", "compress", str(d / "in.png"), "-o", str(d / "k.holo"), "-k", "auto", "--json")
    assert 1 <= json.loads(r.stdout)["k"] < 64


def test_focus_zoom_outputs(files):
    d = files
    run("holo", "focus", str(d / "a.holo"), "--k", "3", "-o", str(d / "f.png"))
    assert Image.open(d / "f.png").size == (96, 64)
    run("holo", "focus", str(d / "a.holo"), "--sweep", "-o", str(d / "s.gif"), "--quiet")
    assert Image.open(d / "s.gif").n_frames > 2
    run("holo", "zoom", str(d / "a.holo"), "--region", "10,10,20,16", "--scale", "3", "-o", str(d / "z.png"))
    assert Image.open(d / "z.png").size == (60, 48)


@pytest.mark.parametrize("mutate", ["truncate", "flip", "magic", "version", "empty", "dims"])
def test_bad_files_one_line_exit_2_no_output(files, mutate):
    import struct
    import zlib

    d = files
    b = (d / "a.holo").read_bytes()
    bad = {"truncate": b[:40], "flip": b[:50] + bytes([b[50] ^ 4]) + b[51:], "magic": b"XXXX" + b[4:],
           "version": b[:4] + b"\x07" + b[5:], "empty": b"",
           "dims": b[:5] + struct.pack("<II", 4_000_000, 4_000_000) + b[13:]}[mutate]
    if mutate in ("version", "dims"):
        bad = bad[:-4] + struct.pack("<I", zlib.crc32(bad[:-4]))
    (d / "bad.holo").write_bytes(bad)
    out = d / f"never_{mutate}.png"
    for args in (["view", str(d / "bad.holo"), "-o", str(out)], ["info", str(d / "bad.holo")],
                 ["zoom", str(d / "bad.holo"), "--region", "0,0,4,4", "-o", str(out)]):
        r = run("holo", *args, check=False)
        assert r.returncode == 2, r.stderr
        assert r.stderr.count("\n") == 1 and "Traceback" not in r.stderr
        assert not out.exists()
    assert not [p for p in os.listdir(d) if ".tmp" in p]


def test_bad_arguments(files):
    d = files
    r = run("holo", "zoom", str(d / "a.holo"), "--region", "1,2,3", check=False)
    assert r.returncode == 2 and "x,y,w,h" in r.stderr
    r = run("holo", "compress", str(d / "missing.png"), "-o", str(d / "m.holo"), check=False)
    assert r.returncode == 2 and not (d / "m.holo").exists()
    (d / "notimg.png").write_bytes(b"hello")
    r = run("holo", "compress", str(d / "notimg.png"), "-o", str(d / "m.holo"), check=False)
    assert r.returncode == 2 and r.stderr.count("\n") == 1


def test_data_list():
    r = run("data", "list", "--json")
    assert {x["name"] for x in json.loads(r.stdout)} >= {"kodak", "photos", "canterbury"}
