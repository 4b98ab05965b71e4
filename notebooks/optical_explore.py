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
# # Ask a memory bank
#
# A few pages the encoder never trained on (alice29.txt) go into a fresh memory bank as vision tokens; type a question and press Enter (or **Ask**). The bank retrieves the memories that fit the **budget** of vision tokens, the language model answers, and the pages it used are shown with what the lab's reader read from their tokens. With no language model fetched, the explorer still shows what retrieval finds.

# %% tags=["parameters"]
document = "canterbury/alice29.txt"   # dataset/file from lab.data
chars = 9000                          # how much of it becomes pages
bank_dir = ""                         # a bank folder to use (empty: a fresh one in a temporary folder)
model = "optical-reader"              # encoder + stage-1 reader (lab.models name or checkpoint folder)
lm = "smollm2-135m-instruct"          # the answering LM, if fetched (empty: retrieval only)
budget = 200                          # vision tokens of context
question = "What did the Rabbit take out of its waistcoat-pocket?"

# %%
import tempfile

from lab import data, models
from lab.optical.bank.store import MemoryBank
from lab.optical.render import Layout, render_text
from lab.optical.widgets import AskExplorer

folder = bank_dir or tempfile.mkdtemp(prefix="optical-bank-")
enc = str(models.trained_path(model) if model in models.TRAINED else model)
bank = MemoryBank.open(folder, create=True, encoder=enc, embedder="hashing-256")
ds, fname = document.split("/")
pages = render_text(data.path(ds, fname).read_text(errors="replace")[:chars], Layout(width=640, height=640, margin=24,
                                                                                   size=14), source=document)
added, dup, tokens = bank.add_pages(pages, document, mode="small")
print(f"{folder}: {added} pages added ({tokens} vision tokens), {dup} already there")

qa = None
if lm and models.locate(lm) is not None:
    from lab.optical.qa.ask import OpticalQA
    qa = OpticalQA.load(bank, model, lm_name=lm)
print("answering:", f"{lm} via {qa.via}" if qa else "retrieval only (no language model fetched)")
explorer = AskExplorer(bank, qa, budget=budget)
explorer.ask(question)
explorer
