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
# # The lab's dashboard
#
# Reads every `reports/data/*.json` (and each report's verdict section) and writes `reports/README.md`: the
# headline numbers, each with its report, machine and date; the seed claims' verdicts; the key figures. It measures
# nothing itself. `make reports` runs it last.

# %% tags=["parameters"]
profile = "smoke"
report_dir = "outputs/reports"     # where README.md goes (cpu: reports)
source_dir = "reports"             # whose JSON and markdown it reads
command = "pytest --nbval-lax notebooks/dashboard.ipynb"

# %%
from IPython.display import Markdown, display

from lab import dashboard as D
from lab.report import Report

reps = D.load(source_dir)
rows = D.headlines(reps)
rep = Report("README", "The compression lab: what is true so far", report_dir, profile, command)
rep.text("Every number below is read from a report's JSON (`reports/data/`), which its notebook wrote from a real "
         "run; GPU figures come from the device runs kept under `reports/<family>_gpu/` (command, log, JSON). "
         "`met` compares with the goal the issues set; anchors marked *quoted* are published figures, not measured "
         "here. Regenerate everything with `make reports` (cpu profile).")
gone = D.missing(reps)
if gone:
    rep.text("Reports not found (not yet generated): " + ", ".join(gone) + ".")

# %% [markdown]
# ## Headline numbers

# %%
rep.section("Headline numbers")
display(Markdown(rep.table(rows, ["family", "result", "value", "goal / anchor", "met", "report", "machine", "date"],
                           key="headlines")))
met = [r for r in rows if r["met"] == "yes"]
missed = [r for r in rows if r["met"] == "no"]
rep.text(f"{len(met)} goals met, {len(missed)} missed, {len(rows) - len(met) - len(missed)} without a goal.")

# %% [markdown]
# ## The seed claims, as each report judges them

# %%
ver = D.verdicts(source_dir)
rep.section("The seed claims, as each report judges them")
for v in ver:
    rep.text(f"**[{v['report']}]({v['report']}.md), {v['section']}.** {v['text']}")
display(Markdown("\n\n".join(f"**{v['report']}**: {v['text'][:200]}" for v in ver)))
rep.data["verdicts"] = ver

# %% [markdown]
# ## Key figures

# %%
figs = [("holo_rd_cpu.png", "holo: rate-distortion on Kodak against JPEG / WebP / AVIF / JPEG XL, CompressAI published curves dotted"),
        ("vortex_curve_cpu.png", "vortex: training curve"),
        ("optical_fox.png", "optical: precision against compression ratio, beside DeepSeek-OCR's Fox table"),
        ("optical_memory_year.png", "optical memory: a simulated year under token budgets"),
        ("llm_kv_pareto.png", "llm: KV-cache bytes against bits/byte"),
        ("shannon_texts.png", "shannon: every lossless codec on the text corpus")]
rep.section("Key figures")
shown = 0
for f, cap in figs:
    if (D._dir(source_dir) / "figures" / f).is_file():
        rep.text(f"![{cap}](figures/{f})\n\n*{cap}*")
        shown += 1
print("figures:", shown, "| wrote", rep.write())
