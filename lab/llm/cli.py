"""`lab llm df | kv | generate`: Df of a real LM's activations, KV-cache methods scored and used."""
from __future__ import annotations

import json

from lab import UsageError
from lab.cliargs import device as _device, in_range


def _lm(args):
    from lab import models

    return models.load_lm(args.model, _device(args.device))


def _read_text(path: str) -> str:
    with open(path, "rb") as f:
        raw = f.read()
    if not raw.strip():
        raise UsageError(f"{path}: empty input")
    return raw.decode("utf-8", "replace")


def _check(args) -> None:
    """Method options that cannot work, refused before the model loads."""
    if args.method in ("sinks", "h2o") and not args.budget:
        raise UsageError(f"--method {args.method} needs --budget TOKENS")
    if args.bits and args.method in ("sinks", "h2o") and args.keep >= 1.0:
        raise UsageError("--bits with sinks/h2o needs --keep < 1 (coefficients of the eigen store)")
    if args.bits and args.method == "full":
        raise UsageError("--method full keeps fp16: no --bits")
    if args.method == "latent" and not (args.rank or args.adapters):
        raise UsageError("--method latent needs --rank R (the pre-rotary PCA, untrained) or --adapters FILE (trained)")


def _method(args, lm, tok):
    from lab.llm import kv, study

    kw = {}
    if args.method == "kivi":
        kw["bits"] = args.bits or 2
    elif args.bits:
        kw["bits"] = args.bits
    if args.method in ("sinks", "h2o"):
        kw["budget"] = args.budget
        if args.method == "h2o":
            kw["recent"] = max(1, args.budget // 4)
        if args.keep < 1.0:
            kw["store"] = "eigen"
    if args.method == "latent":
        from lab.llm import activations as A
        from lab.llm import adapters

        if args.adapters:
            adapters.load(lm, args.adapters)
        else:
            acts = A.capture(lm, tok, study.calibration_text(), args.calib_tokens)
            adapters.apply(lm, adapters.fit(lm, acts["k_pre"], acts["v"], args.rank, args.rank))
        return kv.make("latent", model=lm, bits=args.bits, budget=args.budget or 0)
    if args.method == "eigen" or kw.get("store") == "eigen":
        kw["keep"] = args.keep
        kw["bases"] = study.bases(lm, tok, args.calib_tokens, args.keep)
    try:
        return kv.make(args.method, **kw)
    except ValueError as e:
        raise UsageError(str(e)) from None


def cmd_df(args) -> int:
    from lab.llm import activations as A
    from lab.llm import study

    lm, tok = _lm(args)
    text = _read_text(args.text) if args.text else study.calibration_text()
    rows = A.df_rows(A.capture(lm, tok, text, args.tokens))
    if args.json:
        print(json.dumps(rows))
        return 0
    print(f"{'layer':>5} {'hidden':>7} {'-outl':>7} {'#outl':>5} {'Q':>6} {'K pre':>6} {'K':>6} {'V':>6}  (Df per head, mean)")
    for r in rows:
        extra = "" if r["layer"] == 0 else f" {r['q_df']:6.1f} {r['k_pre_df']:6.1f} {r['k_df']:6.1f} {r['v_df']:6.1f}"
        print(f"{r['layer']:5d} {r['hidden_df']:7.2f} {r['hidden_df_no_outliers']:7.2f} {r['outlier_dims']:5d}{extra}")
    return 0


def cmd_kv(args) -> int:
    from lab.llm import kv, score

    text = _read_text(args.text)
    _check(args)
    lm, tok = _lm(args)
    full = score.bits_per_byte(lm, tok, text, kv.make("full"), args.window, args.chunk, args.windows)
    m = _method(args, lm, tok)                 # after the reference: latent adapters change the model in place
    r = score.bits_per_byte(lm, tok, text, m, args.window, args.chunk, args.windows)
    if r["tokens"] < 1:
        raise UsageError(f"{args.text}: too short to score (fewer than 2 tokens)")
    ratio = full["kv_bytes_per_token"] / r["kv_bytes_per_token"]
    out = {"method": m.label, "bpb": r["bpb"], "full_bpb": full["bpb"], "kv_bytes_per_token": r["kv_bytes_per_token"],
           "ratio": ratio, "tokens": r["tokens"]}
    print(json.dumps(out) if args.json else
          f"{m.label}: {r['bpb']:.4f} bits/byte ({(r['bpb'] / full['bpb'] - 1) * 100:+.1f}% vs the full cache's "
          f"{full['bpb']:.4f}), {r['kv_bytes_per_token']:.0f} KV bytes/token ({ratio:.1f}x smaller), {r['tokens']} tokens")
    return 0


def cmd_generate(args) -> int:
    import torch

    from lab.llm import kv

    if not args.prompt.strip():
        raise UsageError("the prompt is empty")
    _check(args)
    lm, tok = _lm(args)
    m = _method(args, lm, tok)
    msgs = [{"role": "user", "content": args.prompt}]
    ids = tok.apply_chat_template(msgs, add_generation_prompt=True, return_tensors="pt", return_dict=True)["input_ids"]
    cache = m.cache(lm.config)
    handles = kv.attach(lm, cache) if m.scores_attention else []
    try:
        with torch.no_grad():
            out = lm.generate(ids.to(lm.device), past_key_values=cache, max_new_tokens=args.max_new_tokens,
                              do_sample=False, pad_token_id=tok.eos_token_id)
    finally:
        for h in handles:
            h.remove()
    print(tok.decode(out[0, ids.shape[1]:], skip_special_tokens=True).strip())
    print(f"-- {m.label}: {cache.nbytes():,} KV bytes for {out.shape[1]} tokens", flush=True)
    return 0


def add_parser(sub) -> None:
    from lab.llm import METHOD_NAMES as METHODS

    v = sub.add_parser("llm", help="a real LM's activations (Df) and KV-cache compression")
    vs = v.add_subparsers(dest="verb", required=True)

    def common(p):
        p.add_argument("--model", default="smollm2-135m-instruct")
        p.add_argument("--device", default="cpu", choices=["auto", "cpu", "cuda"])
        p.add_argument("--json", action="store_true")

    def method(p):
        p.add_argument("--method", default="kivi", choices=list(METHODS))
        p.add_argument("--bits", type=in_range(int, 1, 8), help="kivi bits (default 2); eigen/eviction stores: quantised coefficients")
        p.add_argument("--budget", type=in_range(int, 1), help="sinks/h2o: tokens kept")
        p.add_argument("--keep", type=in_range(float, 0.01, 1.0), default=1.0, help="eigen: share of K/V dimensions kept")
        p.add_argument("--calib-tokens", type=in_range(int, 64, 65536), default=2048,
                       help="eigen / latent: calibration tokens (bible's train split)")
        p.add_argument("--rank", type=in_range(int, 1, 4096), help="latent: K and V latent size per layer (untrained init)")
        p.add_argument("--adapters", help="latent: trained adapters: llm-latent-r48 (committed) or a safetensors file from scripts/llm_gpu.py --parts adapt")

    p = vs.add_parser("df", help="Df per layer of hidden states, Q, K (pre/post rotary), V")
    p.add_argument("--text", help="a text file (default: the calibration text, bible's train split)")
    p.add_argument("--tokens", type=in_range(int, 16, 65536), default=2048)
    common(p)
    p.set_defaults(func=cmd_df)
    p = vs.add_parser("kv", help="held-out bits/byte of a text through a compressed KV cache, beside the full cache")
    p.add_argument("text")
    p.add_argument("--window", type=in_range(int, 2, 8192), default=1024)
    p.add_argument("--chunk", type=in_range(int, 1, 8192), default=64, help="tokens fed at a time (1 = generation)")
    p.add_argument("--windows", type=in_range(int, 1), help="score this many windows, spread over the text")
    common(p)
    method(p)
    p.set_defaults(func=cmd_kv)
    p = vs.add_parser("generate", help="answer a prompt, greedy, with the compressed cache")
    p.add_argument("prompt")
    p.add_argument("--max-new-tokens", type=in_range(int, 1, 4096), default=64)
    common(p)
    method(p)
    p.set_defaults(func=cmd_generate)
