# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # The procedural compression machine: seed claims re-measured
#
# Every size is a real .proc file that decoded bit-exactly in this run; every baseline ran on the same bytes in the same run.

# %% tags=["parameters"]
profile = "smoke"
report_dir = "outputs/reports"
command = "pytest --nbval-lax notebooks/procedural.ipynb"
story_lines = [200, 1000]          # cpu profile: [1000, 5000] as in the seed
canterbury_text = "grammar.lsp"    # cpu profile: alice29.txt
baseline_files = ["canterbury/grammar.lsp", "canterbury/xargs.1"]  # cpu: every Canterbury file + bible.txt
process_files = ["canterbury/grammar.lsp"]   # cpu: the English texts >= 100 KB (the speed bar of issue 29)
process_repeat = 1                           # cpu: 3 (the best run kept)

# %%
from IPython.display import Markdown, display
from lab import data
from lab.procedural import speed
from lab.procedural import study as S
from lab.report import Report

rep = Report("procedural", "Procedural compression machine (.proc) vs gzip / bzip2 / xz / zstd / brotli",
             report_dir, profile, command)
corpora, notes = {}, []
for n in story_lines:
    d, src = S.tinystories_lines(n)
    corpora[f"tinystories {n} lines"] = d
    notes.append(f"{src} ({len(d):,} bytes)")
corpora[canterbury_text] = data.path("canterbury", canterbury_text).read_bytes()
files = {f.split("/")[1]: data.path(*f.split("/")).read_bytes() for f in baseline_files}
rep.section("Setup", "- Corpora: " + "; ".join(notes) + f"; Canterbury {canterbury_text}.\n"
            "- The machine: LITERAL bytes coded by a bitwise context-mixing model (orders 0-4, 6, word; APM), "
            "COPY from a suffix-array longest-previous-match finder, REPEAT of periodic runs, TEMPLATE frames and "
            "TRANSFORM suffix rules learned from the data, an optimal parse by estimated coded cost, one adaptive "
            "range-coded bitstream, and a literal-only fallback when operators do not pay.\n"
            "- Baselines: Python's zlib (gzip -9), bz2 (-9), lzma (xz -9e), zstandard (-19), brotli (-11).")
print(notes)

# %%
ops = S.operator_rows(corpora)
rep.section("1. The seed's operator table, re-measured",
            "Uses of each operator and bits saved per use against coding the same bytes with the literal model "
            "(real coded bits of the operator program; the literal-only fallback is off here so the operators show).")
display(Markdown(rep.table(ops, key="operators")))

# %%
abl = S.ablation_rows(corpora)
rep.section("2. The seed's BPC table with real bitstreams",
            "Bits per character of real files (round-trip verified), literal-only vs the full machine and the "
            "machine with each operator removed.")
display(Markdown(rep.table(abl, key="ablation")))

# %%
base = S.baseline_rows(files)
rep.section("3. Beside the classic compressors", "bpc and throughput on this machine, every row round-trip-verified.")
display(Markdown(rep.table(S.pivot_bpc(base), key="bpc_pivot")))
rep.text("<details><summary>All rows (sizes, MB/s, round-trip)</summary>\n")
rep.table(base, key="baselines")
rep.text("</details>")
assert all(r["round-trip"] for r in base)
goals = S.goal_rows(base)
if goals:
    rep.text("Goal: below bzip2 -9 on alice29, lcet10 and bible:")
    display(Markdown(rep.table(goals, key="goals")))
pp = S.ppmd_rows(base)
if pp:
    rep.text("Issue 14's bar: below 7-Zip PPMd (order 32) on every English text of 100 KB or more (zpaq -m5 the "
             "stretch); both measured in this run on the same files:")
    display(Markdown(rep.table(pp, key="ppmd_goals")))

# %%
proc = speed.process_rows({f: data.path(*f.split("/")) for f in process_files}, process_repeat)
rep.section("3b. Speed as a user meets it: the whole process",
            "`lab proc compress FILE -o F.proc` and `lab proc decompress F.proc -o FILE` run as separate processes, "
            f"best of {process_repeat}: interpreter start, imports, the coding, reading and writing. MB/s are the "
            "input's bytes over the process's wall time; CPU seconds beside it (compress prices literals on a second "
            "thread, so its CPU time can exceed its wall time). The last row, a 16-byte file, is the fixed start-up "
            "every file pays; section 3's MB/s are the coding alone, in a warm process. Both directions run the C "
            "kernels (`lab/native.py`: the model and program coder in `lab/entropy/cm.c`, the match finder and "
            "parse in `lab/procedural/search.c`, bit-exact with the numba kernels: `tests/test_cm_native.py`): "
            "decompressing imports neither numba nor numpy, compressing no numba; the literal prices run on a "
            "second thread from the moment the file is read, while the main one imports, learns the tables and "
            "finds the matches.")
display(Markdown(rep.table(proc, key="process_speed")))
assert all(r["round-trip"] for r in proc)
pg = speed.goal(proc)
start = proc[-1]
if pg:
    verdict = lambda ok: "met" if ok else "missed"  # noqa: E731
    rep.text(f"Issue 29's bar, >= 0.5 MB/s both ways on every English text of 100 KB or more, whole process: slowest "
             f"encode {pg['enc MB/s']:.2f} MB/s ({pg['enc file']}): **{verdict(pg['enc met'])}**; slowest decode "
             f"{pg['dec MB/s']:.2f} MB/s ({pg['dec file']}): **{verdict(pg['dec met'])}**. The start-up alone takes "
             f"{start['enc s']:.2f} s before compressing (interpreter, numpy, the C kernels) and {start['dec s']:.2f} s "
             "before decompressing a 16-byte file; a 125 KB file at 0.5 MB/s has 0.25 s in all, so the smallest "
             "texts sit near the bar and a busy machine can push them below it (CPU seconds beside each row).")
    rep.data["process_goal"] = pg
# %%
rep.section("4. Verdicts", "\n".join(S.verdicts(ops, abl, base)))
print("\n".join(S.verdicts(ops, abl, base)))
print("wrote", rep.write())
