"""The procedural compression machine: learn, parse by cost, code; and the .proc container.

    blob = compress(data)                  # real bytes
    assert decompress(blob) == data
    program, stats = explain(data)         # the program with real and estimated bits per op

The .proc file and its decoder are lab.procedural.procfile. The inner loops (the literal prices, the match
finder, the candidates, the parse, the program coder) run in C where it is built (lab.native: cm.c and
search.c) and in numba otherwise (cm.py, search_numba.py, bitstream.py): the same program and the same bytes
either way (tests/test_cm_native.py); a `lab proc compress` process with the C kernels never imports numba.
"""
from __future__ import annotations

import time
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from lab import FormatError, native
from lab.entropy import cm_native
from lab.procedural import matcher, parse, procfile, templates
from lab.procedural import ops as O
from lab.procedural.procfile import (MAGIC, MAX_LEN, OP_FLAGS, STORED, VERSION, decompress,  # noqa: F401
                                    read_header)
from lab.procedural.tokens import token_starts


@dataclass(frozen=True)
class MachineParams:
    ops: str = "CRTX"        # operators allowed besides LITERAL: C copy, R repeat, T template, X transform
    flag_lit: float = 0.08   # parse's estimated cost of the literal flag (bits)
    op_base: float = 11.0    # parse's estimated cost of the operator flag + kind (bits)
    fallback: bool = True    # write the literal-only program when it is smaller
    prune: bool = True       # drop templates whose estimated saving does not pay for their table entry

    def mask(self) -> int:
        bad = set(self.ops) - set(OP_FLAGS)
        if bad:
            raise ValueError(f"unknown operator letters {''.join(sorted(bad))!r} (use C, R, T, X)")
        return sum(OP_FLAGS[c] for c in set(self.ops))


def _tables_arrays(tmpl, rules):
    """templates.layout as numpy arrays (the numba kernels' and the candidates' arguments)."""
    return tuple(x if isinstance(x, int) else np.frombuffer(x or b"\0", np.uint8).copy() if isinstance(x, bytes)
                 else np.array(x, np.int64) for x in templates.layout(tmpl, rules))


def _timed(fn, *args):
    t0 = time.perf_counter()
    out = fn(*args)
    return out, time.perf_counter() - t0


def _matches(data: bytes, mask: int):
    """COPY and REPEAT candidates: the longest earlier match and the longest periodic run at each position."""
    z = np.zeros(len(data), np.int64)
    m_off, m_len = matcher.longest_matches(data) if mask & OP_FLAGS["C"] else (z, z)
    r_per, r_len = matcher.periodic_runs(data, 8) if mask & OP_FLAGS["R"] else (z, z)
    return m_off, m_len, r_per, r_len


class _NumbaPricing:
    """parse.literal_costs on a second thread (numba runs it without the GIL), as cm_native.Pricing does in C."""

    def __init__(self, data: bytes):
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="cm-pricing")
        self.job = self.pool.submit(_timed, parse.literal_costs, data)

    def result(self):
        out, self.seconds = self.job.result()
        self.pool.shutdown()
        return out


def start_pricing(data: bytes):
    """The literal prices of `data`, started on a second thread; `.result()` gives (costs, pstore). The CLI
    starts it before importing numpy and this module, so the model's pass overlaps the imports."""
    return cm_native.price_later(data) if cm_native.load() is not None else _NumbaPricing(data)


def _shared(data: bytes, params: MachineParams, pricing=None) -> dict:
    """The expensive, parse-independent part: literal prices, matches, learned tables, candidates."""
    mask = params.mask()
    n = len(data)
    arr = np.frombuffer(data, np.uint8)
    timings = {}
    # the context-mixing prices run on a second thread (C or numba, without the GIL) while this one learns the
    # tables and finds the matches (a third thread for the matches measured 10 ms slower on two cores)
    pricing = pricing or start_pricing(data)
    t0 = time.perf_counter()
    tmpl = templates.learn_templates(data) if mask & OP_FLAGS["T"] else []
    rules = templates.learn_rules(data) if mask & OP_FLAGS["X"] else []
    timings["learn"] = time.perf_counter() - t0
    (m_off, m_len, r_per, r_len), timings["match"] = _timed(_matches, data, mask)
    sh = {"n": n, "arr": arr, "m_off": m_off, "m_len": m_len, "r_per": r_per, "r_len": r_len, "tmpl": tmpl,
          "rules": rules, "mask": mask, "timings": timings, "data": data}
    sh["transform"] = _transform_candidates(sh, rules, params.op_base)      # needs no prices: before waiting
    t0 = time.perf_counter()
    sh["lit"], sh["pstore"] = pricing.result()
    timings["costs"] = getattr(pricing, "seconds", float("nan"))
    timings["costs (waited)"] = time.perf_counter() - t0
    return sh


def _transform_candidates(sh: dict, rules, op_base: float):
    """Cheapest TRANSFORM at each word start (depends on the rules only, so computed once)."""
    n = sh["n"]
    if not sh["mask"] & OP_FLAGS["X"]:
        z = np.zeros(n, np.int64)
        return z, np.zeros(n), z, z
    _, _, _, _, _, _, r_strip, ra_s, ra_l, rbytes, nru = _tables_arrays([], rules)
    lib = native.load()
    if lib is None:
        from lab.procedural import bitstream as BS

        x_ref, x_rule, x_len = BS.transform_candidates(sh["arr"], r_strip, ra_s, ra_l, rbytes, nru)
    else:
        x_ref, x_rule, x_len = np.full(n, -1, np.int64), np.full(n, -1, np.int64), np.zeros(n, np.int64)
        lib.search_transform_candidates(native.ptr(sh["arr"]), n, *(native.ptr(x) for x in (r_strip, ra_s, ra_l,
                                        rbytes)), nru, *(native.ptr(x) for x in (x_ref, x_rule, x_len)))
    x_end = np.where(x_ref >= 0, np.arange(n) + x_len, 0).astype(np.int64)
    x_cost = op_base + 1.5 + 1.2 * np.log2(np.maximum(x_ref, 0) + 2) + np.where(x_rule > 0, 3.0, 1.0)
    return x_end, x_cost.astype(np.float64), x_ref, x_rule


def _template_candidates(sh: dict, tmpl, op_base: float):
    n, arr = sh["n"], sh["arr"]
    if not tmpl:
        return np.zeros(n, np.int64), np.zeros(n), np.zeros(n, np.int64), np.zeros(n, np.int64)
    ta_s, ta_l, tb_s, tb_l, tbytes, ntm, *_ = _tables_arrays(tmpl, [])
    key = np.array([int.from_bytes(A[:4], "big") for A, _ in tmpl], np.int64)
    order = np.argsort(key, kind="stable").astype(np.int64)
    return parse.template_candidates(arr, sh["lit"], token_starts(sh["data"]), ta_s, ta_l, tb_s, tb_l, tbytes, key,
                                     order, ntm, op_base)


def _parse(sh: dict, tmpl, rules, params: MachineParams, op_base: float) -> dict:
    t_end, t_cost, t_id, t_slot = _template_candidates(sh, tmpl, op_base)
    x_end, x_cost, x_ref, x_rule = sh["transform"]
    mask = sh["mask"]
    opos, okind, oa, ob, est = parse.dp(sh["n"], sh["lit"], sh["m_off"], sh["m_len"], sh["r_per"], sh["r_len"],
                                        t_end, t_cost, t_id, t_slot, x_end, x_cost, x_ref, x_rule, bool(mask & 1),
                                        bool(mask & 2), params.flag_lit, op_base)
    return {"opos": opos, "okind": okind, "oa": oa, "ob": ob, "estimate_bits": float(est)}


def _prune(sh: dict, p: dict, tmpl, rules):
    """Keep the templates whose estimated saving over the literal model exceeds their table cost."""
    lit = sh["lit"]
    gain: dict = {}
    sel = np.nonzero(p["okind"] == O.TEMPLATE)[0]
    for k in sel:
        t = int(p["oa"][k])
        A, B = tmpl[t]
        s = int(p["opos"][k])
        gain[t] = gain.get(t, 0.0) + float(lit[s:s + len(A)].sum() + lit[s + len(A) + int(p["ob"][k]):
                                                                       s + len(A) + int(p["ob"][k]) + len(B)].sum()) - 8.0
    keep = [tmpl[t] for t in sorted(gain) if gain[t] > 8.0 * (len(tmpl[t][0]) + len(tmpl[t][1]) + 2) + 16]
    return keep, rules


def _finalise(p: dict, tmpl, rules) -> dict:
    """Keep only the templates and rules the program uses, renumbered."""
    okind, oa, ob = p["okind"], p["oa"].copy(), p["ob"].copy()
    used_t = sorted(set(oa[okind == O.TEMPLATE].tolist()))
    used_r = sorted(set(r - 1 for r in ob[okind == O.TRANSFORM].tolist() if r > 0))
    tmap = {t: i for i, t in enumerate(used_t)}
    rmap = {r: i + 1 for i, r in enumerate(used_r)}
    sel = okind == O.TEMPLATE
    oa[sel] = [tmap[t] for t in oa[sel]]
    sel = (okind == O.TRANSFORM) & (ob > 0)
    ob[sel] = [rmap[r - 1] for r in ob[sel]]
    return {**p, "oa": oa, "ob": ob, "templates": [tmpl[t] for t in used_t], "rules": [rules[r] for r in used_r]}


def plan(data: bytes, params: MachineParams = MachineParams(), pricing=None) -> dict:
    """Learn, find matches, parse by cost (templates pruned to those that pay for their table entry), code
    the program, and keep it only if its real stream beats the literal-only stream (whose size the stored
    literal prices give exactly), so the machine never loses to its own literal model."""
    sh = _shared(data, params, pricing)
    t0 = time.perf_counter()
    tmpl, rules = sh["tmpl"], sh["rules"]
    prune = bool(tmpl) and params.prune
    with ThreadPoolExecutor(max_workers=1) as ex:
        # the parse without templates, on a second core beside the first parse: it is the re-parse whenever
        # pruning keeps no template (the usual case on prose), so that one costs nothing more
        bare = ex.submit(_parse, sh, [], rules, params, params.op_base) if prune else None
        p = _parse(sh, tmpl, rules, params, params.op_base)
        if prune:
            tmpl, rules = _prune(sh, p, tmpl, rules)
            p = bare.result() if not tmpl else _parse(sh, tmpl, rules, params, params.op_base)
    p = _finalise(p, tmpl, rules)
    sh["timings"]["parse"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    empty = np.zeros(0, np.int64)
    literal = {"opos": empty, "okind": empty, "oa": empty, "ob": empty, "templates": [], "rules": [],
               "estimate_bits": float(sh["lit"].sum())}
    # the program and the literal-only program are coded at once, on two threads (the coder runs without the
    # GIL), and the smaller real stream is kept
    with ThreadPoolExecutor(max_workers=1) as ex:
        lit_job = (ex.submit(_run, data, {**literal, "pstore": sh["pstore"]}, True)
                   if params.fallback and p["opos"].size else None)
        stream, _ = _run(data, {**p, "pstore": sh["pstore"]}, True)
        lit_stream = lit_job.result()[0] if lit_job else None
    size = len(stream) + sum(map(len, templates.pack_tables(p["templates"], p["rules"])))
    lit_only_size = (len(lit_stream) + sum(map(len, templates.pack_tables([], []))) if lit_stream is not None
                     else float(sh["lit"].sum()) / 8 + 8)
    sh["timings"]["code"] = time.perf_counter() - t0
    fell_back = bool(lit_stream is not None and lit_only_size < size)
    if fell_back:
        p, stream = literal, lit_stream
    p.update(mask=sh["mask"], pstore=sh["pstore"], prices=sh["lit"], timings=sh["timings"], stream=stream,
             learned=(len(sh["tmpl"]), len(sh["rules"])), program_bytes=size, literal_only_bytes=lit_only_size,
             fell_back=fell_back)
    return p


_ENC_CM = []


def _encoder_cm():
    """The encoder never touches the CM state (it codes literals with stored probabilities): share one."""
    from lab.entropy import cm

    if not _ENC_CM:
        _ENC_CM.append(cm.new_state())
    return _ENC_CM[0]


def _run(data_or_n, p: dict, enc: bool, blob: bytes | None = None, log: bool = False, native: bool = True):
    """Code (enc) or decode a program: encoding by the C coder where it is built (native), else by
    bitstream.run_program (numba); the same bytes and bit log (marks, when log) either way."""
    if enc and native and cm_native.load() is not None:
        marks = np.zeros(len(data_or_n) + 1 if log else 1)
        return cm_native.program_encode(data_or_n, p, p["pstore"], marks if log else None), marks
    from lab.entropy import cm
    from lab.entropy.rangecoder import dec_buffer, dec_init, enc_flush, new_encoder, new_probs
    from lab.procedural import bitstream as BS

    tab = _tables_arrays(p["templates"], p["rules"])
    if enc:
        out = np.frombuffer(data_or_n, np.uint8).copy()
        n = len(out)
        cap = n + n // 2 + 1024
        st, buf = new_encoder(), np.empty(cap, np.uint8)
        opos, okind, oa, ob = p["opos"], p["okind"], p["oa"], p["ob"]
        pstore = p["pstore"]
    else:
        n = data_or_n
        out = np.zeros(n, np.uint8)
        buf = dec_buffer(blob)
        st = np.zeros(6, np.int64)
        dec_init(st, buf)
        m = n + 1
        opos, okind, oa, ob = (np.zeros(m, np.int64) for _ in range(4))
        pstore = np.zeros(1, np.int32)
    marks = np.zeros(n + 1 if log else 1)
    k = BS.run_program(st, buf, new_probs(BS.N_CTX), _encoder_cm() if enc else cm.new_state(), out, n, opos, okind,
                       oa, ob, len(opos), *tab, enc, marks, log, pstore)
    if enc:
        enc_flush(st, buf)
        if st[5]:
            raise RuntimeError("encoder buffer overflow")
        return buf[: st[4]].tobytes(), marks
    if st[5]:
        raise FormatError("corrupt .proc file (program stream is invalid or truncated)")
    return out.tobytes(), k


def compress(data: bytes, params: MachineParams = MachineParams(), return_plan: bool = False, pricing=None):
    """The .proc file of data (and the plan, if asked); `pricing`: start_pricing(data), if already started."""
    data = bytes(data)
    if len(data) > MAX_LEN:
        raise ValueError("input larger than 2 GiB")
    p = plan(data, params, pricing)
    stream = p["stream"] if p["stream"] is not None else _run(data, p, True)[0]
    blob = _pack(data, p, stream)
    return (blob, p) if return_plan else blob


def _pack(data: bytes, p: dict, stream: bytes) -> bytes:
    """The .proc file of a plan and its coded stream (or of the bytes stored as they are, if smaller)."""
    tsec, rsec = templates.pack_tables(p["templates"], p["rules"])
    mask = p["mask"]
    p["stored"] = len(stream) + len(tsec) + len(rsec) >= len(data)
    if p["stored"]:  # incompressible: store the bytes as they are
        stream, tsec, rsec, mask = data, b"\0", b"\0", mask | STORED
    p["tables_bytes"], p["data_bytes"] = len(tsec) + len(rsec), len(stream)
    return procfile.pack(len(data), zlib.crc32(data), mask, (tsec, rsec), stream)


def decode_program(n: int, tmpl, rules, stream: bytes) -> bytes:
    """The numba decoder of a program (procfile.decompress calls it where the C coder is not built)."""
    return _run(n, {"templates": tmpl, "rules": rules}, False, blob=stream)[0]


def program(data: bytes, p: dict, marks: np.ndarray | None = None, prices: np.ndarray | None = None):
    """The op list (ops.* dataclasses) with real bits (from marks), CM literal price and static estimate."""
    out = []
    pos = 0
    ctx = {"n_templates": max(1, len(p["templates"]))}
    n = len(data)

    def rec(op, s, e):
        real = float(marks[e] - marks[s]) if marks is not None else float("nan")
        price = float(prices[s:e].sum()) if prices is not None else float("nan")
        ctx["pos"] = s
        out.append({"op": op, "start": s, "end": e, "bits": real, "literal_bits": price,
                    "estimate": op.estimate_bits(ctx)})

    for s, kind, a, b in zip(p["opos"], p["okind"], p["oa"], p["ob"]):
        if s > pos:
            rec(O.Literal(data[pos:s]), pos, s)
        if kind == O.COPY:
            op, e = O.Copy(int(a), int(b)), s + int(b)
        elif kind == O.REPEAT:
            op, e = O.Repeat(int(a), int(b)), s + int(b)
        elif kind == O.TEMPLATE:
            A, B = p["templates"][a]
            e = s + len(A) + int(b) + len(B)
            op = O.Template(int(a), data[s + len(A):s + len(A) + int(b)], (A, B))
        else:
            e = s
            while e < n and data[e:e + 1].isalpha():
                e += 1
            rt = "identity" if b == 0 else f"-{p['rules'][b - 1][0]}+{p['rules'][b - 1][1].decode('latin-1')}"
            op = O.Transform(int(a), int(b), data[s:e], rt)
        rec(op, s, e)
        pos = e
    if pos < n:
        rec(O.Literal(data[pos:]), pos, n)
    return out


def explain(data: bytes, params: MachineParams = MachineParams(), with_prices: bool = True):
    """-> (program entries, stats): real coded bits per op, the CM price of the same bytes, estimates."""
    p = plan(data, params)
    stream, marks = _run(data, p, True, log=True)
    prog = program(data, p, marks, p["prices"] if with_prices else None)
    stats = op_stats(prog)
    file_bytes = len(_pack(data, p, stream))
    stats["total"] = {"bytes_in": len(data), "stream_bytes": len(stream), "bpc_stream": 8 * len(stream) / max(1, len(data)),
                      "tables_bytes": p["tables_bytes"], "file_bytes": file_bytes,
                      "container_bytes": file_bytes - p["data_bytes"] - p["tables_bytes"],
                      "bpc_file": 8 * file_bytes / max(1, len(data)), "stored": p["stored"],
                      "literal_only": bool(p["fell_back"]),
                      "templates_learned": p["learned"][0], "rules_learned": p["learned"][1],
                      "templates_used": len(p["templates"]), "rules_used": len(p["rules"])}
    return prog, stats


def op_stats(prog) -> dict:
    """Per operator kind: uses, bytes produced, real bits, bits saved vs coding the same bytes as literals."""
    st: dict = {}
    for e in prog:
        name = type(e["op"]).__name__.upper()
        d = st.setdefault(name, {"uses": 0, "bytes": 0, "bits": 0.0, "saved_bits": 0.0})
        d["uses"] += 1
        d["bytes"] += e["end"] - e["start"]
        d["bits"] += e["bits"]
        d["saved_bits"] += e["literal_bits"] - e["bits"]
    for d in st.values():
        d["saved_per_use"] = d["saved_bits"] / max(1, d["uses"])
    return st


def format_program(prog, limit: int | None = 40) -> str:
    lines = []
    for e in prog[:limit]:
        s = str(e["op"])
        if len(s) > 70:
            s = s[:67] + "..."
        lines.append(f"{s:72s} {e['bits']:8.1f} bits (literal {e['literal_bits']:7.1f}, est {e['estimate']:7.1f})")
    if limit is not None and len(prog) > limit:
        lines.append(f"... {len(prog) - limit} more ops")
    return "\n".join(lines)


def fuzz_target():
    """Small .proc files: operator programs, literal-only, stored and empty (lab.formats registry)."""
    from lab.formats import Target

    text = (b"the cat sat on the mat. the cat walked; the dog walked. " * 6 + b"abcabcabcabcabcabc 1234567\n")
    rng = np.random.default_rng(0)
    samples = [compress(text), compress(text, MachineParams(fallback=False)), compress(text[:90]),
               compress(rng.integers(0, 256, 200).astype(np.uint8).tobytes()), compress(b""),
               compress(b"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")]
    return Target(".proc", MAGIC, VERSION, procfile.HEAD, samples, decompress)
