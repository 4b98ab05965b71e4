"""The C context-mixing model (lab.entropy.cm_native) against its numba reference: the same probabilities,
the same streams, the same .proc files; and a decoder that needs neither numba nor numpy."""
import os
import subprocess
import sys

import numpy as np
import pytest

from lab import FormatError
from lab.entropy import cm, cm_native
from lab.procedural import machine as M
from lab.procedural import procfile

pytestmark = pytest.mark.skipif(cm_native.load() is None, reason="no C compiler: the numba path is the only one")

TEXT = (b"It was the best of times, it was the worst of times, it was the age of wisdom, it was the age of "
        b"foolishness; 1234567890 \xc3\xa9t\xc3\xa9 " * 40)


def _inputs():
    rng = np.random.default_rng(7)
    return {"empty": b"", "one byte": b"A", "text": TEXT, "random": rng.integers(0, 256, 3000, np.uint8).tobytes(),
            "runs": b"\0" * 500 + b"\xff" * 500 + bytes(range(256)) * 4,
            "words": b" ".join(rng.choice([b"alpha", b"Beta", b"gamma", b"DELTA"], 900).tolist())}


@pytest.mark.parametrize("name", list(_inputs()))
def test_c_prices_are_the_numba_prices_bit_for_bit(name):
    data = _inputs()[name]
    c_costs, c_probs = cm_native.price(data)
    n_costs, n_probs = cm.price(data, with_probs=True, native=False)
    assert np.array_equal(c_probs, n_probs)
    assert np.array_equal(c_costs, n_costs)


def _story() -> bytes:
    """Text whose program uses all four operators when parsed eagerly (COPY, REPEAT, TEMPLATE, TRANSFORM)."""
    rng = np.random.default_rng(3)
    nouns = [b"cat", b"dog", b"bird", b"fox", b"girl", b"boy", b"tree", b"ball"]
    verbs = [b"walk", b"jump", b"play", b"look", b"talk"]
    lines = []
    for _ in range(400):
        noun, v = nouns[rng.integers(8)], verbs[rng.integers(5)]
        suffix = [b"ed", b"s", b"ing", b""][rng.integers(4)]
        lines.append(b"Once the " + noun + b" " + v + suffix + b" to the " + nouns[rng.integers(8)] + b" and said: "
                     + v + b"! "
                     + b"zzzz" * int(rng.integers(0, 3)) + b"\n")
    return b"".join(lines)


PLANS = {"literal only": (TEXT[:3000] + bytes(range(256)), M.MachineParams(ops="")),
         "random bytes": (bytes(np.random.default_rng(1).integers(0, 256, 2000, np.uint8)), M.MachineParams(ops="")),
         "copies": (TEXT, M.MachineParams(fallback=False)),
         "all four operators": (_story(), M.MachineParams(fallback=False, prune=False, op_base=4.0))}


@pytest.mark.parametrize("name", list(PLANS))
def test_c_program_coder_writes_the_numba_stream_and_decodes_it(name):
    data, params = PLANS[name]
    p = M.plan(data, params)
    if name == "all four operators":
        assert set(p["okind"].tolist()) == {1, 2, 3, 4} and p["templates"] and p["rules"]
    numba_stream, _ = M._run(data, p, True, log=True)          # log=True: the numba coder
    assert cm_native.program_encode(data, p, p["pstore"]) == numba_stream
    assert cm_native.program_decode(numba_stream, len(data), p["templates"], p["rules"]) == data
    assert M.decode_program(len(data), p["templates"], p["rules"], numba_stream) == data


def test_a_truncated_or_damaged_program_is_a_format_error():
    blob = M.compress(TEXT[:2000] + bytes(range(256)))
    (n, crc, mask), sec = procfile.read_header(blob)
    for stream in (sec["DATA"][: len(sec["DATA"]) // 2], sec["DATA"][:3], bytes(len(sec["DATA"]))):
        with pytest.raises(FormatError, match="truncated|CRC32"):    # read past the end, or garbage decoded
            procfile.decompress(procfile.pack(n, crc, mask, (sec["TMPL"], sec["RULE"]), stream))


def test_files_are_the_same_with_and_without_the_c_model(tmp_path):
    """`LAB_NATIVE=0` (a machine without a C compiler) writes and reads the very same .proc bytes."""
    src = tmp_path / "in.txt"
    src.write_bytes(TEXT)
    outs = {}
    for native in ("1", "0"):
        out = tmp_path / f"n{native}.proc"
        env = {**os.environ, "LAB_NATIVE": native}
        subprocess.run([sys.executable, "-m", "lab", "proc", "compress", str(src), "-o", str(out), "--quiet"],
                       check=True, env=env)
        outs[native] = out.read_bytes()
        back = tmp_path / f"n{native}.txt"
        subprocess.run([sys.executable, "-m", "lab", "proc", "decompress", str(out), "-o", str(back), "--quiet"],
                       check=True, env={**os.environ, "LAB_NATIVE": "0" if native == "1" else "1"})
        assert back.read_bytes() == TEXT
    assert outs["1"] == outs["0"]


def test_a_file_decodes_without_importing_numba_or_numpy(tmp_path):
    prose = _story()
    blob = M.compress(prose, M.MachineParams(fallback=False, prune=False, op_base=4.0))
    f = tmp_path / "t.proc"
    f.write_bytes(blob)
    code = ("import sys; from lab.procedural import procfile; "
            f"out = procfile.decompress(open({str(f)!r}, 'rb').read()); "
            "print(len(out), 'numba' in sys.modules, 'numpy' in sys.modules)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert r.stdout.split() == [str(len(prose)), "False", "False"]


def test_the_library_is_named_by_its_sources_and_rebuilt_into_a_fresh_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("LAB_NATIVE_CACHE", str(tmp_path))
    path = cm_native.build()
    assert path.parent == tmp_path and path.exists() and path.name.startswith("cm-")
    assert cm_native.build() == path                       # built once
