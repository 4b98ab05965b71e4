#!/usr/bin/env python
"""Ideal code lengths (an estimate: -log2 p, no coder) of SmolLM2 alone and mixed with the online models, on long
texts, from logits computed once (sliding window of 1024 tokens, stride 512)."""
import sys, json, time
import numpy as np, torch
from lab import models, data
from lab.llmzip import codec, mixing
torch.set_num_threads(2)
lm, tok = models.load_lm("smollm2-135m-instruct", "cpu")
def logits_of(raw, W=1024, S=512):
    v = codec.Vocab(tok, codec._start(tok)); ids = np.array(v.encode(raw))
    x = [codec._start(tok)] + ids.tolist()
    zs = []
    with torch.no_grad():
        pos = 0
        while pos < len(ids):
            lo = max(0, pos - (W - S)) if pos else 0
            hi = min(len(ids), lo + W)
            z = lm(input_ids=torch.tensor([x[lo:hi]]), use_cache=False).logits[0].to(torch.bfloat16)
            zs.append(z[pos - lo:hi - lo]); pos = hi
    return ids, torch.cat(zs)
name, fname, a, b = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
raw = data.path(name, fname).read_bytes()[a:b]
t0 = time.time(); ids, z = logits_of(raw); print("logits", len(ids), round(time.time() - t0), flush=True)
res = {}
for label, flags, blr, mlr in [("lm", 0, 0, 0), ("bias", mixing.BIAS, 0.1, 0), ("ngram", mixing.NGRAM, 0, 1.0),
                               ("match", mixing.MATCH, 0, 1.0), ("all", mixing.ALL, 0.1, 1.0)]:
    m = mixing.OnlineMix(flags, 1, z.shape[1], "cpu", bias_lr=blr, mix_lr=mlr)
    toks, bits = ids[None], 0.0
    for t in range(len(ids)):
        p = m.probs(z[t:t+1].float(), toks, t) if flags else z[t].float().softmax(-1)[None]
        bits -= np.log2(max(float(p[0, ids[t]]), 1e-30))
        if flags: m.update(toks, t, np.ones(1, bool))
    res[label] = round(bits / len(raw), 4); print(label, res[label], flush=True)
print(json.dumps({"file": fname, "bytes": len(raw), "tokens": len(ids), "bits_per_byte_ideal": res}))
