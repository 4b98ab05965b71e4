"""The C kernels (lab.native: lab/entropy/cm.c, lab/procedural/search.c) against their numba references: the
same probabilities, matches, candidates, parse, streams and .proc files; a decoder that needs neither numba nor
numpy, and an encoder that needs no numba."""
import os
import subprocess
import sys

import numpy as np
import pytest

from lab import FormatError, native
from lab.entropy import cm, cm_native
from lab.procedural import matcher, parse, procfile, search_numba
from lab.procedural import machine as M

pytestmark = pytest.mark.skipif(native.load() is None, reason="no C compiler: the numba path is the only one")

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
    n_costs, n_probs = cm.price(data, with_probs=True)
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
    numba_stream, numba_marks = M._run(data, p, True, log=True, native=False)      # the numba coder
    c_stream, c_marks = M._run(data, p, True, log=True)                             # the C coder
    assert c_stream == numba_stream and cm_native.program_encode(data, p, p["pstore"]) == numba_stream
    assert c_marks.shape == numba_marks.shape and np.allclose(c_marks, numba_marks, rtol=0, atol=1e-9)
    assert numba_marks[-1] > 0 and np.count_nonzero(numba_marks) > 1
    assert cm_native.program_decode(numba_stream, len(data), p["templates"], p["rules"]) == data
    assert M.decode_program(len(data), p["templates"], p["rules"], numba_stream) == data


@pytest.mark.parametrize("name", ["text", "story", "random", "runs"])
def test_c_search_kernels_are_the_numba_kernels(name):
    data = {"story": _story(), **_inputs()}[name]
    arr = np.frombuffer(data, np.uint8)
    sa = matcher.suffix_array(data)
    lcp = search_numba.kasai(arr, sa)
    assert np.array_equal(matcher._lcp(arr, sa), lcp)
    ref_src, ref_len = np.full(len(arr), -1, np.int64), np.zeros(len(arr), np.int64)
    for forward in (True, False):
        search_numba.nearest_smaller(sa, lcp, ref_src, ref_len, forward)
    c_src, c_len = matcher._longest_previous(sa, lcp)
    assert np.array_equal(c_src, ref_src) and np.array_equal(c_len, ref_len)
    best_p, best_l = np.zeros(len(arr), np.int64), np.zeros(len(arr), np.int64)
    for p in range(1, min(8, len(arr) - 1) + 1):
        eq = np.zeros(len(arr), bool)
        eq[p:] = arr[p:] == arr[:-p]
        run = search_numba.run_lengths(eq)
        better = run > best_l
        best_l[better], best_p[better] = run[better], p
    c_p, c_l = matcher.periodic_runs(data, 8)
    assert np.array_equal(c_p, best_p) and np.array_equal(c_l, best_l)


@pytest.mark.parametrize("name", ["copies", "all four operators"])
def test_c_candidates_and_parse_are_the_numba_ones(name):
    from lab.procedural import bitstream as BS

    data, params = PLANS[name]
    params = M.MachineParams(**{**params.__dict__, "prune": False})
    sh = M._shared(data, params)
    tmpl, rules = sh["tmpl"], sh["rules"]
    *_, r_strip, ra_s, ra_l, rbytes, nru = M._tables_arrays([], rules)
    ref = BS.transform_candidates(sh["arr"], r_strip, ra_s, ra_l, rbytes, nru)
    assert all(np.array_equal(a, b) for a, b in zip(sh["transform"][2:], ref[:2]))
    ta_s, ta_l, tb_s, tb_l, tbytes, ntm, *_ = M._tables_arrays(tmpl, [])
    key = np.array([int.from_bytes(A[:4], "big") for A, _ in tmpl], np.int64)
    order = np.argsort(key, kind="stable").astype(np.int64)
    args = (sh["arr"], sh["lit"], M.token_starts(data), ta_s, ta_l, tb_s, tb_l, tbytes, key, order, ntm, 4.0)
    c_t, n_t = parse.template_candidates(*args), search_numba.template_candidates(*args)
    assert all(np.array_equal(a, b) for a, b in zip(c_t, n_t)) and (c_t[0] > 0).any() == bool(tmpl)
    dp_args = (sh["n"], sh["lit"], sh["m_off"], sh["m_len"], sh["r_per"], sh["r_len"], *c_t, *sh["transform"],
               True, True, params.flag_lit, params.op_base)
    c_dp, n_dp = parse.dp(*dp_args), search_numba.dp(*dp_args)
    assert all(np.array_equal(a, b) for a, b in zip(c_dp[:4], n_dp[:4])) and c_dp[4] == n_dp[4]
    assert len(c_dp[0]) > 0


def test_a_truncated_or_damaged_program_is_a_format_error():
    blob = M.compress(TEXT[:2000] + bytes(range(256)))
    (n, crc, mask), sec = procfile.read_header(blob)
    for stream in (sec["DATA"][: len(sec["DATA"]) // 2], sec["DATA"][:3], bytes(len(sec["DATA"]))):
        with pytest.raises(FormatError, match="truncated|CRC32"):    # read past the end, or garbage decoded
            procfile.decompress(procfile.pack(n, crc, mask, (sec["TMPL"], sec["RULE"]), stream))


@pytest.mark.parametrize("text", ["text", "story"])
def test_files_are_the_same_with_and_without_the_c_kernels(tmp_path, text):
    """`LAB_NATIVE=0` (a machine without a C compiler) writes and reads the very same .proc bytes."""
    TEXT = {"text": globals()["TEXT"], "story": _story()}[text]
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


def test_a_file_is_compressed_without_importing_numba(tmp_path):
    src, out = tmp_path / "story.txt", tmp_path / "story.proc"
    src.write_bytes(_story())
    code = ("import sys; from lab.cli import main; "
            f"main(['proc', 'compress', {str(src)!r}, '-o', {str(out)!r}, '--quiet']); print('numba' in sys.modules)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert r.stdout.split() == ["False"]
    assert procfile.decompress(out.read_bytes()) == _story()


def test_the_library_is_named_by_its_sources_and_rebuilt_into_a_fresh_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("LAB_NATIVE_CACHE", str(tmp_path))
    path = native.build()
    assert path.parent == tmp_path and path.exists() and path.name.startswith("lab-")
    assert native.build() == path                       # built once


def _reference_tables(data: bytes):
    """The tables' learning as first written (a loop over tokens.tokenize): templates.py's faster code must
    learn exactly these (the tables travel in the file, so they decide its bytes)."""
    from collections import Counter

    from lab.procedural.templates import MTF, SAMPLE_RULES, SAMPLE_TEMPLATES
    from lab.procedural.tokens import tokenize

    toks = tokenize(data[:SAMPLE_TEMPLATES])
    keys, words = [], []
    for k in range(4, len(toks) - 2):
        w, B = toks[k], toks[k + 1]
        if not w[:1].isalpha() or B[:1].isalpha() or toks[k - 1][-1:].isalpha():
            continue
        if len(toks[k - 2] + toks[k - 1]) >= 4:
            keys.append((toks[k - 2] + toks[k - 1], B)); words.append(w)
        if len(b"".join(toks[k - 4:k])) >= 4:
            keys.append((b"".join(toks[k - 4:k]), B)); words.append(w)
    counts, seen = Counter(keys), {}
    for key, w in zip(keys, words):
        seen.setdefault(key, set()).add(w)
    scored = [(c * (len(A) + len(B)), A, B) for (A, B), c in counts.items() if c >= 4 and len(seen[(A, B)]) >= 2]
    tmpl = [(A, B) for _, A, B in sorted(scored, key=lambda x: (-x[0], x[1], x[2]))[:255]]
    recent, by_prefix, rc, clock = {}, {}, Counter(), 0
    for w in [t for t in tokenize(data[:SAMPLE_RULES]) if t[:1].isalpha()]:
        clock += 1
        cands = [u for u in by_prefix.get(w[:3], []) if u != w and clock - recent[u] <= 4 * MTF] if len(w) >= 4 else []
        if cands:
            u = max(cands, key=recent.__getitem__)
            p = 3
            while p < min(len(u), len(w)) and u[p] == w[p]:
                p += 1
            if len(u) - p <= 4 and len(w) - p <= 6:
                rc[(len(u) - p, w[p:])] += 1
        if w not in recent:
            by_prefix.setdefault(w[:3], []).append(w)
        recent[w] = clock
    return tmpl, [r for r, c in sorted(rc.items(), key=lambda x: (-x[1], x[0])) if c >= 2][:31]


@pytest.mark.parametrize("name", ["story", "text", "random", "words", "empty", "one byte"])
def test_learned_tables_are_those_of_the_token_loop(name):
    from lab.procedural import templates

    data = {"story": _story(), **_inputs()}[name]
    assert (templates.learn_templates(data), templates.learn_rules(data)) == _reference_tables(data)
    if name == "story":
        assert templates.learn_templates(data) and templates.learn_rules(data)
