"""The memory bank (lab/optical/bank/store.py): store, search, forget, durability, concurrency, bad input.
An untrained tiny encoder (random:0) and the hashing embedder keep these fast and offline."""
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

from lab import FormatError, data
from lab.optical import render as R
from lab.optical.bank.store import MemoryBank

ENC, EMB = "random:0", "hashing-256"
DAY = 86400.0


def _docs(tmp_path, n=4, chars=900):
    alice = data.path("canterbury", "alice29.txt").read_text(errors="replace")
    d = tmp_path / "docs"
    (d / "sub").mkdir(parents=True)
    for i in range(n):
        (d / ("sub" if i % 2 else "") / f"doc{i}.txt").write_text(alice[3000 + i * chars: 3000 + (i + 1) * chars])
    return d


def _bank(tmp_path, **kw):
    return MemoryBank.open(tmp_path / "bank", create=True, encoder=ENC, embedder=EMB, **kw)


def _lab(*args, **kw):
    return subprocess.run([sys.executable, "-m", "lab", *map(str, args)], capture_output=True, text=True, **kw)


def test_add_dedups_reports_failures_and_search_fits_the_budget(tmp_path):
    d = _docs(tmp_path)
    (d / "junk.xyz").write_bytes(b"\x00\xff" * 20)             # not text (UTF-8 text of any suffix is)
    (d / "empty.txt").write_text("")
    with _bank(tmp_path) as b:
        rep = b.add([d], importance=6, mode="small", now=0.0)
        assert rep.files == 4 and rep.added == 4 and rep.tokens == 400 and len(rep.failed) == 2
        again = b.add([d / "doc0.txt"], now=1.0)
        assert again.added == 0 and again.duplicates == 1
        target = (d / "sub" / "doc1.txt").read_text()
        query = " ".join(target.split()[10:16])
        hits = b.search(query, budget=250, now=DAY)
        assert hits and hits[0].source.endswith("doc1.txt")
        assert sum(h.tokens for h in hits) <= 250 and len(hits) == 2
        row = b.list().set_index("id").loc[hits[0].id]
        assert row.access_count == 1 and row.last_access == DAY          # the retrieval was recorded
        assert b.search(query, budget=50) == []                           # nothing fits 50 tokens
        t, head = b.tokens(hits[0].id)
        assert t.shape == (100, b.encoder.dim) and head["mode"] == "small"
        assert b.check() == ([], [])


@pytest.mark.parametrize("policy", ["lru", "fifo", "importance", "seed", "fade"])
def test_forget_policies_reach_the_budget(tmp_path, policy):
    d = _docs(tmp_path)
    with _bank(tmp_path) as b:
        for i, f in enumerate(sorted(d.rglob("*.txt"))):    # doc0, doc2, sub/doc1, sub/doc3
            b.add([f], importance=2 + 2 * i, mode="base", now=i * DAY)
        b.search((d / "doc0.txt").read_text()[:80], k=1, now=10 * DAY)          # doc0 accessed last
        assert b.total_tokens() == 4 * 256
        before = b.list()
        assert b.forget(600, policy, dry_run=True, now=11 * DAY) and b.list().equals(before)
        plan = b.forget(600, policy, now=11 * DAY)
        assert b.total_tokens() <= 600 and b.check()[0] == []
        left = b.list()
        if policy == "fade":          # re-encoded one mode lower before anything is dropped
            assert {a["action"] for a in plan} == {"fade"} and sorted(left["mode"]) == ["base", "small", "small", "small"]
            kept = left[left["mode"] == "base"]["source"].iloc[0]
            assert kept.endswith("doc3.txt")          # the highest retention score (importance 8) stays sharp
            t, head = b.tokens(int(left[left["mode"] == "small"]["id"].iloc[0]))
            assert t.shape[0] == 100 and head["mode"] == "small"
        elif policy == "seed":        # pools the most accessed first (where the seed's rule misbehaves)
            assert plan[0]["action"] == "pool" and plan[0]["source"].endswith("doc0.txt")
        else:
            gone = {a["source"].rsplit("/", 1)[1] for a in plan}
            assert len(left) == 2 and gone == {"lru": {"doc1.txt", "doc2.txt"}, "fifo": {"doc0.txt", "doc2.txt"},
                                               "importance": {"doc0.txt", "doc2.txt"}}[policy]
        audit = [a["action"] for a in b.stats(audit_tail=100)["audit_tail"]]
        assert audit.count("drop") + audit.count("fade") + audit.count("pool") == len(plan)


def test_merge_folds_the_same_text_in_two_layouts(tmp_path):
    text = data.path("canterbury", "alice29.txt").read_text(errors="replace")[5000:5600]
    with _bank(tmp_path) as b:
        b.add_pages(R.render_text(text, R.Layout(size=20)), "a.txt", importance=3, now=0.0)
        b.add_pages(R.render_text(text, R.Layout(size=22, font="DejaVuSerif")), "b.txt", importance=8, now=0.0)
        assert len(b.list()) == 2
        plan = b.merge(0.99)
        assert len(plan) == 1 and plan[0]["source"] == "a.txt"
        left = b.list()
        assert list(left["source"]) == ["b.txt"] and left["importance"].iloc[0] == 8
        assert b.check() == ([], [])


def test_bad_banks_give_one_line_errors(tmp_path):
    r = _lab("optical", "search", tmp_path / "nope", "q")
    assert r.returncode == 2 and "not a memory bank" in r.stderr and "Traceback" not in r.stderr
    junk = tmp_path / "junk"
    junk.mkdir()
    (junk / "bank.sqlite").write_bytes(b"this is not a database at all" * 100)
    r = _lab("optical", "stats", junk)
    assert r.returncode == 2 and "corrupt memory bank" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    d = _docs(tmp_path, n=1)
    with _bank(tmp_path) as b:
        b.add([d])
        tok = b.con.execute("SELECT tokens_sha FROM memories").fetchone()[0]
    con = sqlite3.connect(tmp_path / "bank" / "bank.sqlite")
    con.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    con.commit()
    r = _lab("optical", "list", tmp_path / "bank")
    assert r.returncode == 2 and "newer than this lab" in r.stderr
    con.execute("UPDATE meta SET value = '1' WHERE key = 'schema_version'")
    con.commit()
    con.close()
    next((tmp_path / "bank" / "blobs").rglob(f"{tok}.vtok")).unlink()
    r = _lab("optical", "check", tmp_path / "bank")
    assert r.returncode == 2 and "missing blob" in r.stdout
    with pytest.raises(FormatError, match="built with encoder"):
        MemoryBank.open(tmp_path / "bank", encoder="random:1")


def test_cli_add_search_forget_stats(tmp_path):
    d = _docs(tmp_path)
    bank = tmp_path / "b"
    r = _lab("optical", "add", bank, d, "--encoder", ENC, "--embedder", EMB, "--mode", "tiny", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["added"] == 4
    (d / "bad.pdf").write_bytes(b"%PDF-1.4 broken")
    r = _lab("optical", "add", bank, d)
    assert r.returncode == 2 and "bad.pdf" in r.stderr and "4 duplicate(s)" in r.stdout
    r = _lab("optical", "search", bank, "Alice", "--budget", "128", "--json")
    assert r.returncode == 0 and sum(h["tokens"] for h in json.loads(r.stdout)) <= 128
    r = _lab("optical", "forget", bank, "--budget", "128", "--policy", "lru")
    assert r.returncode == 0 and "bank now 128 tokens" in r.stdout
    r = _lab("optical", "stats", bank, "--json")
    assert json.loads(r.stdout)["tokens"] == 128
    r = _lab("optical", "set-importance", bank, "*doc*", "11")
    assert r.returncode == 2 and "importance" in r.stderr


_CHILD = """
import sys
from pathlib import Path
from lab.optical.bank.store import MemoryBank
b = MemoryBank.open(sys.argv[1], create=True, encoder="random:0", embedder="hashing-256")
for f in sys.argv[2:]:
    rep = b.add([f], mode="tiny")
    print("committed", Path(f).name, rep.added, flush=True)
"""


def _many(tmp_path, n, tag):
    alice = data.path("canterbury", "alice29.txt").read_text(errors="replace")
    out = []
    for i in range(n):
        f = tmp_path / f"{tag}{i}.txt"
        f.write_text(f"{tag} {i}\n" + alice[i * 400:(i + 1) * 400])
        out.append(f)
    return out


def test_sigkill_mid_add_leaves_a_whole_bank(tmp_path):
    files = _many(tmp_path, 40, "k")
    p = subprocess.Popen([sys.executable, "-c", _CHILD, str(tmp_path / "bank"), *map(str, files)],
                         stdout=subprocess.PIPE, text=True)
    done = []
    while len(done) < 5:
        line = p.stdout.readline()
        assert line, "the child ended early"
        done.append(line.split()[1])
    time.sleep(0.05)
    os.kill(p.pid, signal.SIGKILL)
    p.wait()
    with MemoryBank.open(tmp_path / "bank") as b:
        problems, _ = b.check(repair=True)
        assert problems == []
        have = set(b.list()["source"].map(lambda s: s.rsplit("/", 1)[1]))
        assert set(done) <= have and len(have) < 40
        assert b.check() == ([], [])


_FORGET = """
import sys
from lab.optical.bank.store import MemoryBank
b = MemoryBank.open(sys.argv[1])
print("go", flush=True)
b.forget(0, policy="fade")
"""


def test_sigkill_mid_forget_leaves_a_whole_bank(tmp_path):
    """Killed while fading and dropping: every memory left is whole (its tokens match its mode), every action
    that committed is in the audit table, and none is half done."""
    with _bank(tmp_path) as b:
        rep = b.add(_many(tmp_path, 24, "f"), mode="small")
        assert rep.added == 24
    p = subprocess.Popen([sys.executable, "-c", _FORGET, str(tmp_path / "bank")], stdout=subprocess.PIPE, text=True)
    assert p.stdout.readline().strip() == "go"
    con = sqlite3.connect(tmp_path / "bank" / "bank.sqlite", timeout=30)
    deadline = time.time() + 120
    while con.execute("SELECT count(*) FROM audit WHERE action IN ('fade', 'drop')").fetchone()[0] < 4:
        assert time.time() < deadline and p.poll() is None, "forget ended or stalled before the kill"
        time.sleep(0.01)
    os.kill(p.pid, signal.SIGKILL)
    p.wait()
    con.close()
    with MemoryBank.open(tmp_path / "bank") as b:
        problems, _ = b.check(repair=True)
        assert problems == []
        mem = b.list()
        audit = b.con.execute("SELECT action, count(*) FROM audit GROUP BY action").fetchall()
        done = dict(audit)
        assert len(mem) + done.get("drop", 0) == 24
        assert 0 < b.total_tokens() < 2400 and done.get("fade", 0) <= 24
        assert b.check() == ([], [])


def test_two_processes_adding_at_once_lose_nothing(tmp_path):
    a, c = _many(tmp_path, 8, "a"), _many(tmp_path, 8, "c")
    procs = [subprocess.Popen([sys.executable, "-c", _CHILD, str(tmp_path / "bank"), *map(str, fs)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for fs in (a + c[:4], c + a[4:])]
    outs = [p.communicate(timeout=300) for p in procs]
    assert all(p.returncode == 0 for p in procs), [o[1][-500:] for o in outs]
    with MemoryBank.open(tmp_path / "bank") as b:
        assert len(b.list()) == 16 and b.check() == ([], [])


def test_committed_search_weights_are_the_defaults():
    from lab.optical.bank.store import Weights

    assert Weights.from_yaml("configs/optical/memory.yaml") == Weights()


def test_hashing_embedder_and_minilm_when_present():
    from lab import models
    from lab.optical.bank import embed

    h = embed.HashingEmbedder(64)
    v = h.embed(["the white rabbit", "The White Rabbit!", "a grinning cat", ""])
    assert v.shape == (4, 64) and abs(float(v[0] @ v[1]) - 1) < 1e-6 and float(v[0] @ v[2]) < 0.9
    assert not v[3].any() and embed.by_name("hashing-64").name == "hashing-64"
    with pytest.raises(ValueError, match="unknown embedder"):
        embed.by_name("word2vec")
    if models.locate("all-minilm-l6-v2") is None:
        pytest.skip("all-MiniLM-L6-v2 not fetched (`lab models fetch all-minilm-l6-v2`); not downloaded in tests")
    m = embed.MiniLM().embed(["A rabbit ran down the hole.", "The bunny hurried into the burrow.", "Tax law of 1998."])
    assert m.shape == (3, 384) and m[0] @ m[1] > m[0] @ m[2] + 0.2


def test_simulated_year_is_seeded_and_forgetting_costs_answers(tmp_path):
    from lab.optical import vision
    from lab.optical.bank import embed, study as M

    docs = M.year_documents(4, 1)
    qs = M.query_stream(docs, per_day=1)
    assert [q.text for q in qs] == [q.text for q in M.query_stream(M.year_documents(4, 1), per_day=1)]
    assert all(docs[q.doc].day <= q.day for q in qs)
    enc, emb = M.Cached(vision.load(ENC)), M.Cached(embed.by_name(EMB))
    fid = M.Fidelity(enc.read)
    full = M.simulate(docs, qs, None, None, tmp_path, enc, emb, fid)
    lru = M.simulate(docs, qs, "lru", 200, tmp_path, enc, emb, fid)
    assert full["answered"] > 0.9 and full["tokens at the end"] == 400
    assert lru["tokens at the end"] <= 200 and lru["answered"] < full["answered"]
    assert enc.items == 4            # every page encoded once across both banks
