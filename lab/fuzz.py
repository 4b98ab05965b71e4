"""Mutation fuzzing of every file format the lab writes (`make fuzz`, registry in lab.formats).

Each case is a valid sample file mutated by one structure-aware operation (bit flips, truncation,
insertion, deletion, a section length or header field set to 0 / -1 / huge, the section count changed,
another format's header, sections swapped / dropped / duplicated, a payload overwritten or spliced from
another sample, the version byte changed) and, most of the time, given a correct CRC32 so that the
mutation reaches the parsers behind the checksum. Case i of a seed is the same mutant on every machine.

Cases run in worker processes with a per-case cap on CPU time (RLIMIT_CPU: a case that exceeds it is a
hang, however busy the machine; the worker is killed and restarted, and the case retried once alone before
it counts) and an address-space cap (an allocation beyond it is a failure). Every
case must end in `lab.FormatError` or decode; anything else is a failure.

    python -m lab.fuzz --cases 10000 --report reports/fuzz.md      # what `make fuzz` runs
"""
from __future__ import annotations

import argparse
import multiprocessing as mp
import struct
import signal
import sys
import time
import zlib
from collections import Counter
from functools import lru_cache

import numpy as np

OPS = ("bitflip", "truncate", "insert", "delete", "length", "header", "count", "foreign", "sections",
       "version", "overwrite", "splice")
EDGE32 = (0, 1, 0xFFFFFFFF, 0x7FFFFFFF, 0x80000000, 0xFFFF)


def fix_crc32(b: bytes) -> bytes:
    """Recompute a trailing CRC32 (little-endian) so that mutations reach the parsers behind the checksum."""
    body = b[:-4]
    return body + struct.pack("<I", zlib.crc32(body))


def sections(blob: bytes, t) -> tuple[int, list[tuple[int, int]]]:
    """Offset of the section count and [(start, end)] of each section record (tag + length + payload) of a
    lab.container file, as far as it parses."""
    fixed = len(t.magic) + 1 + t.head.size
    out, off = [], fixed + 1
    n = blob[fixed] if len(blob) > fixed else 0
    for _ in range(n):
        if off + 8 > len(blob) - 4:
            break
        (length,) = struct.unpack_from("<I", blob, off + 4)
        end = off + 8 + length
        if end > len(blob) - 4:
            break
        out.append((off, end))
        off = end
    return fixed, out


@lru_cache(maxsize=None)
def _field_layout(fmt: str, start: int) -> tuple[tuple[int, str], ...]:
    import re

    fields, off = [], start
    for count, code in re.findall(r"(\d*)([xcbB?hHiIlLqQnNefdspP])", fmt.lstrip("<>=!@")):
        count = int(count or 1)
        if code in "sp":
            fields.append((off, f"{count}s"))
            off += count
        else:
            for _ in range(count):
                fields.append((off, code))
                off += struct.calcsize("<" + code)
    return tuple(fields)


def _header_fields(t) -> tuple[tuple[int, str], ...]:
    """(offset, struct code) of each field of the fixed header (after magic and version)."""
    return _field_layout(t.head.format, len(t.magic) + 1)


def mutate(t, rng: np.random.Generator, foreign: list[bytes] = ()) -> tuple[str, bytes]:
    """One mutant of one of the target's samples: (operation, bytes)."""
    blob = t.samples[rng.integers(len(t.samples))]
    b = bytearray(blob)
    op = OPS[rng.integers(len(OPS))]
    fixed, secs = sections(blob, t)
    if op == "bitflip":
        for _ in range(rng.integers(1, 5)):
            b[rng.integers(len(b))] ^= 1 << rng.integers(8)
    elif op == "truncate":
        b = b[: rng.integers(len(b))] if rng.random() < 0.7 else b[: max(0, len(b) - rng.integers(1, 9))]
    elif op == "insert":
        i = rng.integers(len(b) + 1)
        b[i:i] = rng.integers(0, 256, rng.integers(1, 17)).astype(np.uint8).tobytes()
    elif op == "delete":
        i = rng.integers(len(b))
        del b[i:i + rng.integers(1, 17)]
    elif op == "length" and secs:
        s, _ = secs[rng.integers(len(secs))]
        (old,) = struct.unpack_from("<I", b, s + 4)
        new = [*EDGE32, old + 1, max(0, old - 1), int(rng.integers(0, 1 << 32))][rng.integers(len(EDGE32) + 3)]
        struct.pack_into("<I", b, s + 4, new & 0xFFFFFFFF)
    elif op == "header":
        fields = _header_fields(t)
        off, code = fields[rng.integers(len(fields))]
        size = struct.calcsize("<" + code)
        choice = rng.integers(5)
        if choice == 4 and code in "HIQ":   # large but plausible: a count or size of 2**8 .. 2**15
            val = int(rng.integers(1 << 8, 1 << 15)).to_bytes(size, "little")
        else:
            val = (bytes(size) if choice == 0 else b"\xff" * size if choice == 1 else
                   (b"\x00" * (size - 1) + b"\x80") if choice == 2 else
                   rng.integers(0, 256, size).astype(np.uint8).tobytes())
        b[off:off + size] = val
    elif op == "count":
        b[fixed] = int([0, 1, 255, (b[fixed] + 1) & 255, (b[fixed] - 1) & 255][rng.integers(5)])
    elif op == "foreign" and foreign:
        f = foreign[rng.integers(len(foreign))]
        b[: len(f)] = f
    elif op == "sections" and len(secs) >= 1:
        recs = [bytes(b[s:e]) for s, e in secs]
        choice = rng.integers(3)
        if choice == 0 and len(recs) >= 2:
            i, j = rng.choice(len(recs), 2, replace=False)
            recs[i], recs[j] = recs[j], recs[i]
        elif choice == 1:
            del recs[rng.integers(len(recs))]
        else:
            recs.insert(rng.integers(len(recs) + 1), recs[rng.integers(len(recs))])
        b = b[:secs[0][0]] + b"".join(recs) + b[secs[-1][1]:]
        if rng.random() < 0.5:
            b[fixed] = len(recs) & 255
    elif op == "version":
        b[len(t.magic)] = int([0, t.version + 1, 255, max(0, t.version - 1)][rng.integers(4)])
    elif op == "overwrite":
        i = rng.integers(len(b))
        n = rng.integers(1, 33)
        fill = [b"\x00", b"\xff"][rng.integers(2)] * n if rng.random() < 0.6 else \
            rng.integers(0, 256, n).astype(np.uint8).tobytes()
        b[i:i + n] = fill[: len(b) - i]
    elif op == "splice" and secs and len(t.samples) > 1:
        other = t.samples[rng.integers(len(t.samples))]
        _, osecs = sections(other, t)
        if osecs:
            s, e = secs[rng.integers(len(secs))]
            os_, oe = osecs[rng.integers(len(osecs))]
            rec = bytearray(other[os_:oe])
            rec[:4] = b[s:s + 4]   # keep this section's tag, take the other's payload
            b = b[:s] + rec + b[e:]
    else:   # the operation does not apply to this sample: flip a bit instead
        op = "bitflip"
        b[rng.integers(len(b))] ^= 1 << rng.integers(8)
    b = bytes(b)
    if len(b) > 4 and rng.random() < 0.8:
        b = fix_crc32(b)
    return op, b


def case(t, seed: int, i: int, foreign=()) -> tuple[str, bytes]:
    return mutate(t, np.random.default_rng([seed, i]), foreign)


def foreign_headers(name: str) -> list[bytes]:
    """The fixed headers (magic, version, header, count) of the other registered formats' first samples."""
    from lab import formats

    out = []
    for other in formats.names():
        if other != name and ":" not in name:
            t = formats.target(other)
            out.append(t.samples[0][: len(t.magic) + 1 + t.head.size + 1])
    return out


# -- workers ------------------------------------------------------------------------------------------
def _address_space() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    return 0


def run_case(t, blob: bytes) -> tuple[str, str]:
    """Decode one mutant -> (outcome, message): rejected | decoded are fine; over-cap | error are failures."""
    from lab import FormatError

    try:
        t.decode(blob)
        return "decoded", ""
    except FormatError as e:
        return "rejected", str(e)
    except MemoryError as e:
        return "over-cap", f"MemoryError: {e}"
    except Exception as e:  # noqa: BLE001 - the point is to catch what should not happen
        return "error", f"{e.__class__.__name__}: {e}"


def _worker(conn, name: str, seed: int, ids: list[int], foreign: list[bytes], mem_cap: int, cpu_cap: float):
    import resource

    import torch

    from lab import formats

    torch.set_num_threads(1)
    t = formats.target(name)
    for s in t.samples:     # warm up (JIT compilation) before the cap
        run_case(t, s)
    limit = _address_space() + mem_cap
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    hard = resource.getrlimit(resource.RLIMIT_CPU)[1]
    for i in ids:
        op, blob = case(t, seed, i, foreign)
        ru = resource.getrusage(resource.RUSAGE_SELF)     # the cap is CPU time: a busy machine is no hang
        soft = int(ru.ru_utime + ru.ru_stime + cpu_cap) + 1
        resource.setrlimit(resource.RLIMIT_CPU, (soft if hard == resource.RLIM_INFINITY else min(soft, hard), hard))
        conn.send(("start", i))
        t0 = time.perf_counter()
        res, msg = run_case(t, blob)
        conn.send(("done", i, op, res, msg, time.perf_counter() - t0))
    conn.send(("end", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024))
    conn.close()


class _Worker:
    """A worker process over a list of case ids; `pos` is the index of the next case to complete."""

    def __init__(self, ctx, name, seed, ids, foreign, mem_cap, cpu_cap):
        self.ids, self.pos, self.started, self.ready, self.born = ids, 0, None, False, time.perf_counter()
        self.eof = False
        self.conn, child = ctx.Pipe(duplex=False)
        self.proc = ctx.Process(target=_worker, args=(child, name, seed, ids, foreign, mem_cap, cpu_cap), daemon=True)
        self.proc.start()
        child.close()

    def kill(self):
        if self.proc.is_alive():
            self.proc.kill()
        self.proc.join(10)


def _record(out: dict, i: int, op: str, res: str, text: str, seconds: float = 0.0) -> None:
    """Count one finished case: rejected | decoded are fine, anything else is a failure."""
    out["ops"][op] += 1
    out["slowest_s"] = max(out["slowest_s"], seconds)
    if res in ("rejected", "decoded"):
        out[res] += 1
    else:
        out["failures"].append({"case": i, "op": op, "kind": res, "message": text[:300]})


WALL_BACKSTOP = 20     # x the CPU cap: a case whose worker makes no progress at all for this long is a hang


def campaign(name: str, cases: int, seed: int = 0, workers: int = 2, time_cap: float = 10.0,
             mem_cap_mb: int = 1024, progress: bool = False, warmup_cap: float = 300.0) -> dict:
    """Run `cases` mutants of format `name` (a lab.formats name or "module:function" giving a Target) in
    `workers` processes; -> counts, failures (case, op, kind, message), timings. workers=0 runs the cases in
    this process, without the time and memory caps (the fast slice of `make test`)."""
    from tqdm import tqdm

    from lab import formats

    t = formats.target(name)
    foreign = foreign_headers(name)
    ctx = mp.get_context("spawn")
    out = {"format": t.name, "cases": cases, "seed": seed, "rejected": 0, "decoded": 0, "failures": [],
           "ops": Counter(), "slowest_s": 0.0, "peak_rss_mb": 0.0, "time_cap_s": time_cap, "mem_cap_mb": mem_cap_mb}
    t0 = time.perf_counter()
    if workers == 0:
        for i in range(cases):
            op, blob = case(t, seed, i, foreign)
            t1 = time.perf_counter()
            res, text = run_case(t, blob)
            _record(out, i, op, res, text, time.perf_counter() - t1)
        out["seconds"] = time.perf_counter() - t0
        out["ops"] = dict(sorted(out["ops"].items()))
        return out
    spawn = lambda ids: _Worker(ctx, name, seed, ids, foreign, mem_cap_mb << 20, time_cap)  # noqa: E731
    retried = set()
    pool = [spawn(list(range(w, cases, workers))) for w in range(min(workers, cases))]
    bar = tqdm(total=cases, desc=f"fuzz {t.name}", disable=not progress, mininterval=2)
    while pool:
        for w in list(pool):
            msg = None
            if not w.eof and w.conn.poll(0.02):
                try:
                    msg = w.conn.recv()
                except EOFError:          # the worker is gone (a crash, or SIGXCPU at the CPU cap)
                    w.eof = True
            if msg and msg[0] == "start":
                w.started, w.ready = time.perf_counter(), True
            elif msg and msg[0] == "done":
                _record(out, *msg[1:])
                w.pos, w.started = w.pos + 1, None
                bar.update(1)
            elif msg and msg[0] == "end":
                out["peak_rss_mb"] = max(out["peak_rss_mb"], msg[1] / 2 ** 20)
                w.proc.join(10)
                pool.remove(w)
            elif not w.ready and (not w.proc.is_alive() or time.perf_counter() - w.born > warmup_cap):
                w.kill()
                raise RuntimeError(f"fuzz worker for {t.name} failed to start (exit {w.proc.exitcode})")
            else:      # the cap is on CPU time (RLIMIT_CPU, SIGXCPU); the wall clock only as a far backstop
                stuck = w.started is not None and time.perf_counter() - w.started > WALL_BACKSTOP * time_cap
                if stuck or (not w.proc.is_alive() and (w.eof or not w.conn.poll(0))):
                    w.kill()
                    i = w.ids[w.pos]
                    pool.remove(w)
                    hung = stuck or w.proc.exitcode == -signal.SIGXCPU
                    if i not in retried:          # a hang or crash is retried once, alone, before it counts
                        retried.add(i)
                        pool.append(spawn(w.ids[w.pos:]))
                        continue
                    op, _ = case(t, seed, i, foreign)
                    _record(out, i, op, "hang" if hung else f"crash (exit {w.proc.exitcode})", "")
                    bar.update(1)
                    if w.pos + 1 < len(w.ids):
                        pool.append(spawn(w.ids[w.pos + 1:]))
    bar.close()
    out["seconds"] = time.perf_counter() - t0
    out["ops"] = dict(sorted(out["ops"].items()))
    return out


def summary_rows(results: list[dict]) -> list[dict]:
    rows = []
    for r in results:
        kinds = Counter(f["kind"].split(" ")[0] for f in r["failures"])
        rows.append({"format": r["format"], "cases": r["cases"], "rejected (FormatError)": r["rejected"],
                     "decoded (valid)": r["decoded"], "other exceptions": kinds.get("error", 0),
                     "hangs": kinds.get("hang", 0), "over-cap allocations": kinds.get("over-cap", 0),
                     "crashes": kinds.get("crash", 0), "seconds": r["seconds"],
                     "slowest case (ms)": 1000 * r["slowest_s"], "peak RSS (MB)": r["peak_rss_mb"]})
    return rows


def write_report(results: list[dict], path: str, command: str) -> None:
    from pathlib import Path

    from lab.report import Report

    p = Path(path)
    rep = Report(p.stem, "Fuzzing campaign: every file format the lab writes", p.parent, "fuzz", command)
    r0 = results[0]
    rep.section("Setup", f"""
- Formats: every entry of `lab.formats.REGISTRY` ({', '.join(r['format'] for r in results)}); samples are small valid
  files from each format's `fuzz_target()` (several modes and contents).
- {r0['cases']:,} mutants per format, seed {r0['seed']}; one structure-aware mutation per case ({', '.join(OPS)}),
  then the CRC32 recomputed in 80% of cases so that the mutation reaches the parsers behind the checksum.
- Each case runs in a worker process with a {r0['time_cap_s']:g} s cap on CPU time (retried once alone; a case over it is a
  hang) and an address-space cap of {r0['mem_cap_mb']:,} MB above the worker's size after warm-up (an
  allocation beyond it is a failure). Pass: every case ends in `lab.FormatError` or decodes.
""")
    rep.section("Results")
    rep.table(summary_rows(results), key="summary", digits=1)
    ops = sorted({op for r in results for op in r["ops"]})
    rep.text("Cases per mutation operation:")
    rep.table([{"format": r["format"], **{op: r["ops"].get(op, 0) for op in ops}} for r in results], key="ops")
    fails = [{"format": r["format"], **f} for r in results for f in r["failures"]]
    rep.data["failures"] = fails
    if fails:
        rep.text(f"**{len(fails)} failure(s)** (first 20; reproduce with `lab.fuzz.case(target, seed, case)`):")
        rep.table(fails[:20], ["format", "case", "op", "kind", "message"])
    else:
        rep.text("**No failures**: every mutant of every format was rejected with one `FormatError` or decoded.")
    rep.write()


def main(argv=None) -> int:
    from lab import formats

    ap = argparse.ArgumentParser(prog="python -m lab.fuzz", description=__doc__.split("\n\n")[0])
    ap.add_argument("--cases", type=int, default=10000, help="mutants per format")
    ap.add_argument("--formats", nargs="*", default=formats.names(), choices=formats.names())
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--time-cap", type=float, default=10.0, help="seconds per case")
    ap.add_argument("--mem-cap-mb", type=int, default=1024, help="address space per case above the warm worker")
    ap.add_argument("--report", help="write a report here (e.g. reports/fuzz.md)")
    args = ap.parse_args(argv)
    results = []
    for name in args.formats:
        r = campaign(name, args.cases, args.seed, args.workers, args.time_cap, args.mem_cap_mb, progress=True)
        print(f"{r['format']}: {r['cases']:,} cases in {r['seconds']:.0f} s, {r['rejected']:,} rejected, "
              f"{r['decoded']:,} decoded, {len(r['failures'])} failures", flush=True)
        for f in r["failures"][:5]:
            print(f"  case {f['case']} ({f['op']}): {f['kind']} {f['message']}")
        results.append(r)
    if args.report:
        cmd = f"make fuzz FUZZ_CASES={args.cases}" if args.formats == formats.names() else \
            "python -m lab.fuzz " + " ".join(sys.argv[1:] if argv is None else argv)
        write_report(results, args.report, cmd)
        print(f"wrote {args.report}")
    return 1 if any(r["failures"] for r in results) else 0


if __name__ == "__main__":
    raise SystemExit(main())
