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
# # LLM activations and the KV cache: what Df says, and what compression generation can use
#
# SmolLM2-135M-Instruct (`lab.models`, the shipped Q4_1 GGUF de-quantised to float): Df = (Σλ)²/Σλ² of its hidden states, queries, keys (before and after rotary) and values, and of its weights; then KV-cache methods as real `transformers` caches (`lab/llm/kv.py`), each scored by held-out bits per byte *through* the cache (text fed in chunks, every chunk attending to what the cache kept) with the bytes the cache holds. Calibration: the start of bible's train split; evaluation: alice29, lcet10 and bible's held-out tail.

# %% tags=["parameters"]
profile = "smoke"
report_dir = "outputs/reports"
command = "pytest --nbval-lax notebooks/llm.ipynb"
model = "tiny-random"            # cpu profile: smollm2-135m-instruct
df_tokens = 512                  # calibration tokens for Df and the eigen bases (cpu: 2048)
texts = ["alice29"]              # evaluation texts (cpu: alice29, bible-test)
window = 256                     # tokens per scored window (cpu: 1024)
windows = 1                      # windows per text (cpu: 1)
chunk = 64                       # tokens fed at a time
weight_bits = [4]                # cpu: [4, 3, 2]
speed_context = 256              # cpu: 1024
gpu_json = "reports/llm_gpu/llm_gpu_kv.json"            # the KV sweep (ran out of time before the last rows)
gpu_json2 = "reports/llm_gpu/llm_gpu_kv2.json"           # its last rows (small eviction budgets, combinations)
gpu_json3 = "reports/llm_gpu/llm_gpu_kv3.json"           # H2O-256 on bible-test, the one row the first call missed
gpu_df_json = "reports/llm_gpu/llm_gpu_try1.json"        # Df on 8,192 calibration tokens
gpu_adapt_json = "reports/llm_gpu/llm_gpu_adapt.json"    # learned low-rank K/V adapters, distilled on bible
gpu_adapt_mixed_json = "reports/llm_gpu/llm_gpu_adapt_mixed.json"   # rank 48 on mixed English (models/llm-latent-r48)
gpu_adapt_long_json = "reports/llm_gpu/llm_gpu_adapt_mixed2.json"   # the same, distilled 420 s instead of 150
gpu_rest_json = "reports/llm_gpu/llm_gpu_rest.json"      # weights sweep, generation speed
latent_ranks = [96, 48]                                  # this run: the pre-rotary low-rank init, untrained
other_model = None               # a second, unrelated model for section 6 (cpu: all-minilm-l6-v2)

# %%
import json
import time
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch
from IPython.display import Markdown, display

from lab.llm import activations as A
from lab.llm import findings as F
from lab.llm import kv, study
from lab.report import Report

torch.set_num_threads(2)
torch.manual_seed(0)
rep = Report("llm", "LLM activations and the KV cache", report_dir, profile, command)
t0 = time.time()
lm, tok = study.load(model)
full_b = kv.full_bytes_per_token(lm.config)
ev = study.eval_texts(texts)
rep.section("Setup", f"- model: `{model}`; full KV cache {full_b:,} bytes per token in fp16\n"
            f"- calibration: {df_tokens} tokens of bible's train split; evaluation: {', '.join(texts)}, {windows} window(s) "
            f"of {window} tokens each, fed {chunk} at a time\n- GPU figures: `{gpu_json}` (one H100; command and log beside it)")

# %% [markdown]
# ## 1. Df of activations and weights

# %%
acts = A.capture(lm, tok, study.calibration_text(), df_tokens, min(512, df_tokens))
df_rows = A.df_rows(acts)
w_rows = A.weight_rows(lm)
cols = ["layer", "hidden_df", "hidden_df_no_outliers", "outlier_dims", "q_df", "k_pre_df", "k_df", "k_df_layer", "v_df", "v_df_layer"]
rep.section("1. Df of activations and weights",
            "Per layer (0 = the embeddings): Df of the hidden state over all its dimensions and with the outlier "
            f"dimensions removed (RMS > {A.OUTLIER_RMS:g}x the median dimension's); Q, K before and after rotary, V: "
            "Df per head (mean over heads, of head_dim) and of the layer's KV heads side by side (`_layer`).")
display(Markdown(rep.table([{c: r.get(c) for c in cols} for r in df_rows], key="df", digits=2)))
display(Markdown(rep.table(F.weight_df_table(w_rows), key="weights_df", digits=1)))
fig, ax = plt.subplots(1, 2, figsize=(10, 3.5))
L = [r["layer"] for r in df_rows]
ax[0].plot(L, [r["hidden_df"] for r in df_rows], "o-", label="hidden")
ax[0].plot(L, [r["hidden_df_no_outliers"] for r in df_rows], "s-", label="hidden, outliers removed")
ax[0].set_yscale("log"); ax[0].set_xlabel("layer"); ax[0].set_ylabel("Df"); ax[0].legend()
for name in ("q", "k_pre", "k", "v"):
    ax[1].plot(L[1:], [r[f"{name}_df"] for r in df_rows[1:]], "o-", label=name)
ax[1].set_xlabel("layer"); ax[1].set_ylabel("Df per head"); ax[1].legend()
rep.figure(fig, "llm_df.png", "Df per layer: hidden states (left, log scale), Q/K/V per head (right).")
plt.show()

# %% [markdown]
# ## 2. KV-cache compression: bits per byte against bytes per token

# %%
methods = [kv.make("full"), *[kv.make("kivi", bits=b) for b in (4, 3, 2)]]
fit = {k: study.bases_from(acts, k) for k in (0.5, 0.25)}          # the calibration capture of section 1
methods += [kv.make("eigen", keep=0.5, bases=fit[0.5]), kv.make("eigen", keep=0.25, bases=fit[0.25], bits=4)]
methods += [kv.make("sinks", budget=window // 4), kv.make("h2o", budget=window // 4, recent=window // 16),
            kv.make("h2o", budget=window // 8, recent=window // 32, store="eigen", keep=0.25, bases=fit[0.25], bits=4)]
rows = study.kv_sweep(lm, tok, ev, methods, window, chunk, windows)
from lab.llm import adapters
kv_dim = lm.config.num_key_value_heads * lm.config.head_dim
for r_ in [min(r, kv_dim) for r in latent_ranks]:
    adapters.apply(lm, adapters.fit(lm, acts["k_pre"], acts["v"], r_, r_))
    try:
        rows += study.kv_sweep(lm, tok, ev, [kv.make("latent", model=lm)], window, chunk, windows)
    finally:
        adapters.remove(lm)
F.with_delta(rows)
rep.section("2. KV-cache compression (this run)",
            "Bits per byte through each cache; `ratio` = full fp16 bytes per token / the bytes the cache holds at the "
            "window's end per window token (codes, scales, coefficients as stored). Methods: KIVI (keys per channel "
            "in groups of 32 tokens, values per token, 32 recent tokens fp16), eigen-KV (post-rotary principal "
            "directions per layer and KV head, ranks by one global budget), StreamingLLM (4 sinks + recent), H2O "
            "(recent + heavy hitters by accumulated attention, per KV head), H2O over 4-bit eigen coefficients, and "
            "`latent rN` = W_k, W_v factored through an N-dimensional latent from the *pre*-rotary joint PCA "
            "(the initialisation of the learned adapters, untrained here; the cache stores the latents).")
display(Markdown(rep.table(rows, ["label", "text", "bpb", "delta_%", "kv_bytes_per_token", "ratio", "seconds"], key="kv_cpu", digits=3)))

# %%
gpu = F.merge_gpu_kv([gpu_json, gpu_json2, gpu_json3])
if gpu:
    g = gpu["kv"]
    a = gpu["args"]
    rep.section("2b. KV-cache compression on the GPU (SmolLM2, every text)",
                f"`{gpu['command']}` on {gpu['machine']['gpu']}: {a['windows']} windows of {a['window']} tokens per text, "
                f"chunks of {a['chunk']}, eigen bases from {a['calib_tokens']} calibration tokens. The first call ran out of its "
                f"10 minutes at H2O-256 on bible-test; the smaller budgets and the combinations come from a second call "
                f"(`{gpu_json2}`, same arguments, `--methods`), and H2O-256 on bible-test from a third (`{gpu_json3}`, "
                "which also re-measured its alice29 and lcet10 rows: the same numbers).")
    display(Markdown(rep.table(g, ["label", "text", "bpb", "delta_%", "ratio"], key="kv_gpu", digits=3)))
    tab = F.ratio_table(g)
    rep.text("The largest ratio each method reaches within +1%, +5% and +10% bits/byte of the full cache (GPU rows):")
    display(Markdown(rep.table(tab, key="ratio_at", digits=1)))
    fig, ax = plt.subplots(figsize=(7, 4))
    for m in sorted({r["method"] for r in g}):
        pts = sorted((r["ratio"], r["bpb"]) for r in g if r["method"] == m and r["text"] == "alice29")
        ax.plot([p[0] for p in pts], [p[1] for p in pts], "o-", label=m)
    ax.set_xscale("log"); ax.set_xlabel("KV compression ratio (fp16 bytes / held bytes)"); ax.set_ylabel("bits/byte, alice29")
    ax.legend(); rep.figure(fig, "llm_kv_pareto.png", "Bits per byte against KV-cache compression on alice29 (GPU run).")
    plt.show()

# %% [markdown]
# ## 2c. Learned low-rank K/V adapters (GPU)

# %%
adapt = json.loads(Path(gpu_adapt_json).read_text()) if Path(gpu_adapt_json).is_file() else None
mixed = json.loads(Path(gpu_adapt_mixed_json).read_text()) if Path(gpu_adapt_mixed_json).is_file() else None
longer = json.loads(Path(gpu_adapt_long_json).read_text()) if Path(gpu_adapt_long_json).is_file() else None
if adapt:
    gb = {r["text"]: r["bpb"] for r in gpu["kv"] if r["method"] == "full"} if gpu else {}
    arows = F.adapter_rows(adapt, [{"run": r, "longer": r is longer} for r in (mixed, longer) if r], gb)
    steps = [row["log"][-1]["step"] + 1 for row in adapt["adapt"]]
    rep.section("2c. Learned adapters: low-rank K/V distilled (Palu-style), the 85x question",
                f"`{adapt['command']}` on {adapt['machine']['gpu']}: each layer's W_k and W_v factored as B A through an "
                "r-dimensional latent per token (r for K and r for V, of 192 each), initialised from the pre-rotary joint "
                "PCA (the data-aware SVD), then A and B fine-tuned by distillation (KL to the unmodified model's next-token "
                f"distribution; bible's train split, 8 x 1,024 tokens a step, {', '.join(map(str, steps))} steps in "
                f"{adapt['args']['adapt_seconds']:.0f} s each). The cache stores the latents (fp16, or 4 bits per token with an "
                "fp16 scale and zero), optionally with StreamingLLM eviction to 1/8 of the window. Bits/byte per text "
                "(bible-test is in the adapters' training domain; alice29 and lcet10 are not). The rank-96 run did not fit in "
                "the call." + (f" The `mixed` row: `{mixed['command']}`, distilled {mixed['adapt'][0]['log'][-1]['step'] + 1} "
                f"steps in {mixed['args']['adapt_seconds']:.0f} s on bible's train split, TinyStories' train split, asyoulik "
                "and plrabn12 (never alice29 or lcet10); it is the committed `models/llm-latent-r48`." if mixed else ""))
    display(Markdown(rep.table(arows, ["method", "ratio", "alice29", "lcet10", "bible-test"], key="adapters", digits=3)))
    if mixed and longer:
        rep.text(F.distillation_note(mixed, longer))

# %% [markdown]
# ## 3. Weights: INT-b against low rank at equal bytes

# %%
wrows = study.weight_sweep(lm, tok, ev, weight_bits, window, windows)
rep.section("3. Weights: re-quantisation against low rank at equal bytes",
            "Every attention and MLP matrix re-quantised to b bits (groups of 32, fp16 scale and zero), or replaced by "
            "its truncated SVD with the same bytes; held-out bits/byte. The shipped weights are Q4_1 already, so the "
            "first row is the starting point, not a float original.")
display(Markdown(rep.table(wrows, ["how", "bits", "text", "bpb", "mbytes"], key="weights", digits=3)))
rest = json.loads(Path(gpu_rest_json).read_text()) if Path(gpu_rest_json).is_file() else None
if rest:
    rep.text(f"The same on the GPU, every text, {rest['args']['windows']} windows of {rest['args']['window']} tokens "
             f"(`{rest['command']}`):")
    display(Markdown(rep.table(rest["weights"], ["how", "bits", "text", "bpb", "mbytes"], key="weights_gpu", digits=3)))

# %% [markdown]
# ## 4. Generation with the compressed cache (CPU)

# %%
text_all = "\n".join(ev.values())
speed = [study.generation_speed(lm, tok, m, speed_context, 16, text_all) for m in
         (kv.make("full"), kv.make("kivi", bits=2), kv.make("h2o", budget=speed_context // 8, recent=speed_context // 32))]
rep.section("4. Generation speed (CPU, this machine)",
            f"Prefill {speed_context} tokens, then 16 greedy tokens one at a time (tokens/s timed, not asserted). KIVI "
            "here de-quantises its whole store at every step (no fused kernel), so it is slower than the full cache.")
display(Markdown(rep.table(speed, key="speed", digits=1)))
if rest:
    rep.text(f"On the GPU ({rest['machine']['gpu']}, batch 1, eager `transformers`, 64 new tokens; `cuda_peak_bytes` "
             "includes the fp32 model's 0.54 GB):")
    display(Markdown(rep.table(rest["speed"], key="speed_gpu", digits=1)))

# %% [markdown]
# ## 5. The seed's sentences

# %%
dfg = json.loads(Path(gpu_df_json).read_text()) if Path(gpu_df_json).is_file() else None
d_rows = dfg["df"] if dfg else df_rows
lines = F.df_lines(d_rows, dfg["weights_df"] if dfg else w_rows,
                  f"the GPU run ({dfg['args']['calib_tokens']} calibration tokens)" if dfg else "this run")
if gpu:
    lines += F.kv_lines(gpu, [r for r in (adapt, mixed) if r])
rep.section("5. The seed's sentences, measured", "\n".join(lines))
display(Markdown("\n".join(lines)))

# %% [markdown]
# ## 6. "The same eigenvalue structure": how much a correlation of sorted spectra says

# %%
H = acts["hidden"]
sim = F.similarity_rows(H)
cross, other_rows = [], []
if other_model:
    from lab import models as M
    enc, etok = M.load_embedder(other_model)
    H2 = A.capture_encoder(enc, etok, study.calibration_text(), df_tokens)
    del enc
    cross = F.cross_model_rows(H, H2, model, other_model)
    other_rows = A.hidden_df_rows(H2)
rep.section("6. Spectrum similarity (the seed's 0.994)",
            "Pearson correlation of two spectra sorted descending and normalised (top 64 values): the seed's "
            "comparison. Any two decreasing spectra correlate strongly, so a high number alone is weak evidence."
            + (f" The second model is `{other_model}` (a 6-layer sentence encoder with its own tokenizer and "
               "training; bidirectional, 384 wide), on the same calibration text." if other_model else ""))
display(Markdown(rep.table(sim + cross, key="similarity", digits=3)))
if other_rows:
    rep.text(f"Df of `{other_model}`'s hidden states per layer (the same definitions as section 1):")
    display(Markdown(rep.table(other_rows, ["layer", "hidden_df", "hidden_df_no_outliers", "outlier_dims"],
                               key="df_other", digits=2)))
    rep.text(F.similarity_verdict(sim, cross, df_rows, other_rows, model, other_model))
rep.text(f"Notebook time: {time.time() - t0:.0f} s.")
print("wrote", rep.write())
