"""`lab optical add | search | forget | merge | qa-data | ask | chat | stats | list | set-importance | check`: the memory bank
(lab/optical/bank/store.py) from the command line. Errors about the bank itself are one line, exit 2; `add`
reports files it could not read one per line, commits the rest, and exits 2 if any failed."""
from __future__ import annotations

import json
import sys
import time

from lab.cliargs import in_range

DEFAULT_ENCODER = "model:optical-reader"


def _open(args, create: bool = False):
    from lab.optical.bank.store import MemoryBank, Weights

    w = Weights.from_yaml(args.config) if getattr(args, "config", None) else Weights()
    if create:      # --encoder/--embedder choose them for a new bank; an existing one keeps its own
        new = not MemoryBank.holds_bank(args.bank)
        return MemoryBank.open(args.bank, create=True, weights=w,
                               encoder=args.encoder or (DEFAULT_ENCODER if new else None),
                               embedder=args.embedder or ("all-minilm-l6-v2" if new else None))
    return MemoryBank.open(args.bank, weights=w)


def cmd_add(args) -> int:
    with _open(args, create=True) as bank:
        rep = bank.add(args.paths, importance=args.importance, mode=args.mode,
                       progress=not args.quiet and sys.stderr.isatty())
    for path, why in rep.failed:
        print(f"skipped {why}" if why.startswith(path) else f"skipped {path}: {why}", file=sys.stderr)
    if args.json:
        print(json.dumps({"added": rep.added, "duplicates": rep.duplicates, "files": rep.files, "tokens": rep.tokens,
                          "failed": [{"path": p, "error": e} for p, e in rep.failed]}))
    elif not args.quiet:
        print(f"{args.bank}: {rep.summary()}")
    return 2 if rep.failed else 0


def cmd_search(args) -> int:
    with _open(args) as bank:
        hits = bank.search(args.query, budget=args.budget, k=args.k, ranking=args.ranking, touch=not args.peek)
    if args.json:
        print(json.dumps([{k: v for k, v in h.to_dict().items() if k != "text"} | {"text": h.text[:args.chars]}
                          for h in hits]))
        return 0
    used = sum(h.tokens for h in hits)
    print(f"{len(hits)} memories, {used} tokens" + (f" of {args.budget}" if args.budget else ""))
    for h in hits:
        snippet = " ".join(h.text.split())[:args.chars]
        print(f"#{h.id} {h.source} p{h.page + 1} [{h.mode}, {h.tokens} tok, score {h.score:.3f}] {snippet}")
    return 0


def cmd_forget(args) -> int:
    with _open(args) as bank:
        merged = bank.merge(args.merge, dry_run=args.dry_run) if args.merge else []
        plan = bank.forget(args.budget, args.policy, dry_run=args.dry_run)
        total = bank.total_tokens()
    if args.json:
        print(json.dumps({"merged": merged, "actions": plan, "tokens": total, "dry_run": args.dry_run}))
        return 0
    verb = "would" if args.dry_run else "did"
    counts = {}
    for a in merged + plan:
        counts[a["action"]] = counts.get(a["action"], 0) + 1
    print(f"{args.bank}: {verb} " + (", ".join(f"{n} {k}" for k, n in counts.items()) or "nothing")
          + f" (policy {args.policy}); bank now {total} tokens" + (" (unchanged: dry run)" if args.dry_run else ""))
    return 0


def cmd_merge(args) -> int:
    with _open(args) as bank:
        plan = bank.merge(args.threshold, dry_run=args.dry_run)
    print(json.dumps(plan) if args.json else f"{args.bank}: {'would merge' if args.dry_run else 'merged'} {len(plan)} "
          f"near-duplicate memories (cosine >= {args.threshold})")
    return 0


def cmd_stats(args) -> int:
    with _open(args) as bank:
        s = bank.stats(budget=args.budget)
    if args.json:
        print(json.dumps(s))
        return 0
    print(f"{args.bank}: {s['memories']} memories from {s['sources']} sources, {s['tokens']} tokens "
          f"({', '.join(f'{m} {t}' for m, t in s['tokens_by_mode'].items())})"
          + (f", {s['utilisation']:.0%} of {args.budget}" if args.budget else "")
          + (f", mean importance {s['mean_importance']:.2f}" if s["memories"] else "")
          + f", {s['disk_bytes']:,} bytes on disk; encoder {s['encoder']}, embedder {s['embedder']}")
    for a in s["audit_tail"]:
        rest = {k: v for k, v in a.items() if k not in ("time", "action", "memory")}
        print(f"  {time.strftime('%Y-%m-%d %H:%M:%S', time.gmtime(a['time']))} {a['action']}"
              + (f" #{a['memory']}" if a["memory"] is not None else "") + f" {json.dumps(rest)}")
    return 0


def cmd_list(args) -> int:
    with _open(args) as bank:
        df = bank.list()
    if args.json:
        print(df.to_json(orient="records"))
        return 0
    for col in ("created", "last_access"):       # epoch seconds -> local date and time
        if col in df:
            df[col] = [time.strftime("%Y-%m-%d %H:%M", time.localtime(t)) if t else "-" for t in df[col]]
    print(df.to_string(index=False) if len(df) else "(empty bank)")
    return 0


def cmd_set_importance(args) -> int:
    with _open(args) as bank:
        n = bank.set_importance(args.pattern, args.importance)
    print(f"{args.bank}: importance {args.importance} for {n} memories matching {args.pattern!r}")
    return 0


def cmd_check(args) -> int:
    with _open(args) as bank:
        problems, warnings = bank.check(repair=args.repair)
    for w in warnings:
        print(("removed " if args.repair else "warning: ") + w)
    for p in problems:
        print(f"problem: {p}")
    print(f"{args.bank}: " + ("ok" if not problems else f"{len(problems)} problem(s)"))
    return 2 if problems else 0


def cmd_qa_data(args) -> int:
    from lab import FormatError
    from lab.optical.qa import questions as qa

    with _open(args) as bank:
        rows = bank.con.execute("SELECT source, page, text FROM memories ORDER BY source, page").fetchall()
    if not rows:
        raise FormatError(f"{args.bank}: the bank holds no pages to make questions from")
    qas = qa.questions([(f"{s}#{p + 1}", s, t) for s, p, t in rows], seed=args.seed, per_page=args.per_page)
    qa.write_jsonl(qas, args.out)
    counts = {k: sum(q.kind == k for q in qas) for k in qa.KINDS}
    splits = {k: sum(q.split == k for q in qas) for k in ("train", "val", "test")}
    print(f"{args.out}: {len(qas)} questions from {len(rows)} pages; "
          + ", ".join(f"{k} {v}" for k, v in counts.items()) + "; " + ", ".join(f"{k} {v}" for k, v in splits.items()))
    return 0


def _answer(qa, question: str, args) -> None:
    ans = qa.ask(question, budget=args.budget, k=args.k, max_new_tokens=args.max_new_tokens,
                 temperature=args.temperature, top_p=args.top_p, seed=args.seed)
    if args.json:
        print(json.dumps(ans.to_dict()), flush=True)
        return
    print(ans.text)
    print(f"-- via {ans.via}: {len(ans.memories)} memories, {ans.tokens} vision tokens, {ans.context_tokens} context "
          f"positions, {ans.seconds:.1f} s: "
          + "; ".join(f"#{h.id} {h.source} p{h.page + 1} [{h.mode}]" for h in ans.memories), flush=True)


def cmd_ask(args) -> int:
    from lab import UsageError
    from lab.optical.qa.ask import OpticalQA

    if not " ".join(args.question.split()):          # before any model loads
        raise UsageError("the question is empty")
    with _open(args) as bank:
        _answer(OpticalQA.load(bank, args.model, args.device, via=args.via, lm_reader=args.lm_reader,
                                  qa_adapter=args.qa_adapter), args.question, args)
    return 0


def cmd_chat(args) -> int:
    """The seed's loop: question after question until `quit` (or end of input); a bad question is one line
    on stderr and the loop goes on."""
    from lab import FormatError, UsageError
    from lab.optical.qa.ask import OpticalQA

    with _open(args) as bank:
        qa = OpticalQA.load(bank, args.model, args.device, via=args.via, lm_reader=args.lm_reader,
                                  qa_adapter=args.qa_adapter)
        for line in sys.stdin:
            q = line.strip()
            if q in ("quit", "exit"):
                break
            if not q:
                continue
            try:
                _answer(qa, q, args)
            except (FormatError, UsageError) as e:
                print(f"lab: error: {e}", file=sys.stderr, flush=True)
    return 0


def add_parsers(os_) -> None:
    from lab.optical.modes import MODES
    from lab.optical.bank import POLICIES

    def bank(p, config=False):
        p.add_argument("bank", help="memory bank folder")
        if config:
            p.add_argument("--config", help="YAML with the search weights (configs/optical/memory.yaml)")

    p = os_.add_parser("add", help="add files and folders (recursive) to a memory bank, creating it if needed")
    bank(p)
    p.add_argument("paths", nargs="+")
    p.add_argument("--importance", type=in_range(float, 0, 10), default=5.0)
    p.add_argument("--mode", choices=list(MODES), default="small")
    p.add_argument("--encoder", help=f"for a new bank (default {DEFAULT_ENCODER}): model:NAME, a checkpoint folder, "
                   "or random:SEED (untrained; for tests)")
    p.add_argument("--embedder", help="for a new bank: all-minilm-l6-v2 (default) or hashing-N (no model)")
    p.add_argument("--json", action="store_true")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_add)

    p = os_.add_parser("search", help="the memories that best answer a query within a token budget")
    bank(p, True)
    p.add_argument("query")
    p.add_argument("--budget", type=in_range(int, 1), help="vision tokens available (default: no limit)")
    p.add_argument("-k", type=in_range(int, 1, 10000), default=10, help="at most this many memories")
    p.add_argument("--ranking", choices=["hybrid", "bm25", "embedding"], default="hybrid")
    p.add_argument("--peek", action="store_true", help="do not count this as an access")
    p.add_argument("--chars", type=in_range(int, 0), default=100, help="text shown per memory")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_search)

    p = os_.add_parser("forget", help="bring the bank within a token budget")
    bank(p)
    p.add_argument("--budget", type=in_range(int, 0), required=True)
    p.add_argument("--policy", choices=POLICIES, default="fade")
    p.add_argument("--merge", type=in_range(float, 0, 1), help="first fold memories at least this similar")
    p.add_argument("--dry-run", action="store_true")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_forget)

    p = os_.add_parser("merge", help="fold near-duplicate memories into one")
    bank(p)
    p.add_argument("--threshold", type=in_range(float, 0, 1), default=0.95)
    p.add_argument("--dry-run", action="store_true")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_merge)

    p = os_.add_parser("qa-data", help="question-answer pairs (JSONL) from the bank's pages, seeded, fixed split")
    bank(p)
    p.add_argument("-o", "--out", required=True, help="JSONL file (written whole or not at all)")
    p.add_argument("--seed", type=in_range(int, 0), default=0)
    p.add_argument("--per-page", type=in_range(int, 1, 50), default=4, help="extractive questions per page")
    p.set_defaults(func=cmd_qa_data)

    for name, helptext in (("ask", "answer a question from the bank's vision-token memories"),
                           ("chat", "ask question after question (stdin) until 'quit'")):
        p = os_.add_parser(name, help=helptext)
        bank(p)
        if name == "ask":
            p.add_argument("question")
        p.add_argument("--model", default="optical-reader", help="the stage-1 checkpoint (folder, or a lab.models "
                       "trained model) whose encoder made the bank's tokens")
        p.add_argument("--via", choices=("auto", "vision", "ocr", "text"), default="auto",
                       help="vision: the stage-2 LM reader reads the tokens with the question after them; ocr: the "
                       "stage-1 reader reads them into text for SmolLM2; text: SmolLM2 answers from the pages' "
                       "stored text (the competitor that keeps the text); auto: ocr (the better path measured)")
        p.add_argument("--lm-reader", help="--via vision: the stage-2 reader folder or registered name (default: "
                       "the committed optical-qa-vision, optical-lm-reader fine-tuned to answer)")
        p.add_argument("--qa-adapter", default="default",
                       help="--via ocr|text (and auto): the answering model's LoRA on SmolLM2, a folder of "
                       "scripts/optical_qa_finetune.py or a registered name (default: the committed "
                       "optical-qa-answerer; `none`: the unadapted model)")
        p.add_argument("--budget", type=in_range(int, 1), default=400, help="vision tokens of context")
        p.add_argument("-k", type=in_range(int, 1, 64), default=8, help="at most this many memories")
        p.add_argument("--max-new-tokens", type=in_range(int, 1, 4096), default=64)
        p.add_argument("--temperature", type=in_range(float, 0, 10), default=0.0, help="0: greedy")
        p.add_argument("--top-p", type=in_range(float, 0, 1), default=1.0)
        p.add_argument("--seed", type=in_range(int, 0), default=0)
        p.add_argument("--device", default="cpu")
        p.add_argument("--json", action="store_true")
        p.set_defaults(func=cmd_ask if name == "ask" else cmd_chat)

    p = os_.add_parser("stats", help="memories, tokens per mode, utilisation, importance, the audit tail")
    bank(p)
    p.add_argument("--budget", type=in_range(int, 1), help="report utilisation of this budget")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_stats)

    p = os_.add_parser("list", help="every memory (no text)")
    bank(p)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_list)

    p = os_.add_parser("set-importance", help="set the importance of memories whose source matches a pattern")
    bank(p)
    p.add_argument("pattern", help="fnmatch pattern over sources, e.g. 'notes/*'")
    p.add_argument("importance", type=in_range(float, 0, 10))
    p.set_defaults(func=cmd_set_importance)

    p = os_.add_parser("check", help="integrity check: SQLite, the FTS index, every blob")
    bank(p)
    p.add_argument("--repair", action="store_true", help="remove orphan blobs and temp files")
    p.set_defaults(func=cmd_check)
