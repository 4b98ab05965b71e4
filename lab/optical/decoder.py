"""Stage 2: a language model reads the vision tokens in its context. SmolLM2-135M-Instruct, unmodified and
adapted with LoRA (peft), reads in its chat format

    <|im_start|>user\\n [slot vectors of the page(s)] \\n{prompt}<|im_end|>\\n<|im_start|>assistant\\n  -> the text

The vision positions come after a text prefix, never at position 0 (the attention sink, which the oracle
probe found is never read). `projector.SlotProjector` turns each token into its inked band slots in reading
order; `rows` restricts a page to a window of cell rows (the curriculum's short examples).

    reader = LMReader(lm, tok, head, vision_dim=384, spec=ReaderSpec())
    loss, n = reader.loss(tokens, texts, rows=[(0, 2), ...])   # mean cross-entropy over the n answer tokens
    texts = reader.generate(tokens)                             # greedy
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

from lab.optical.projector import SlotProjector

PROMPT = "Read the page."
ALL_LINEAR = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
CE_CHUNK = 8192               # answer positions whose vocabulary logits are formed at once
LOOP_TOKENS = 48              # a guided read whose last this-many tokens repeat a cycle of <= LOOP_PERIOD tokens
LOOP_PERIOD = 8               # is in a loop (`looping`): it ends there, the loop cut off


@dataclass(frozen=True)
class ReaderSpec:
    r: int = 32                         # LoRA rank, on every linear layer of `targets`
    alpha: int = 64
    targets: tuple = ALL_LINEAR
    threshold: float = 0.3              # a band slot is kept when some frame is non-blank with this probability
    train_head: bool = False            # the stage-1 head inside the projector learns too (else frozen)

    def to_dict(self) -> dict:
        return {**asdict(self), "targets": list(self.targets)}

    @classmethod
    def from_dict(cls, d: dict) -> "ReaderSpec":
        return cls(**{**d, "targets": tuple(d.get("targets", ALL_LINEAR))})


class LMReader(nn.Module):
    def __init__(self, lm, tok, head, vision_dim: int, spec: ReaderSpec = ReaderSpec()):
        """lm, tok: a causal LM and its tokenizer (with <|im_start|>/<|im_end|>); head: the stage-1 reader
        whose posteriors the projector reads (this module owns it: pass a copy to keep the original)."""
        super().__init__()
        self.tok, self.spec = tok, spec
        rms = float(lm.get_input_embeddings().weight.detach().float().pow(2).mean().sqrt())
        self.projector = SlotProjector(head, vision_dim, lm.config.hidden_size, spec.threshold, rms)
        for p in head.parameters():
            p.requires_grad_(spec.train_head)
        for p in lm.parameters():
            p.requires_grad_(False)
        self.lm = with_lora(lm, spec.r, spec.alpha, spec.targets)
        self.register_buffer("pre", self._ids("<|im_start|>user\n"), persistent=False)
        self.register_buffer("post", self._ids(f"\n{PROMPT}<|im_end|>\n<|im_start|>assistant\n"), persistent=False)
        self.eos = tok.convert_tokens_to_ids("<|im_end|>")

    def _ids(self, s: str) -> torch.Tensor:
        return torch.tensor(self.tok(s, add_special_tokens=False)["input_ids"], dtype=torch.long)

    # -- weights ------------------------------------------------------------------------------------------
    def trainable_state(self) -> dict:
        """What this reader adds to the LM and the stage-1 model: the projector (with the head when it trains)
        and the LoRA weights."""
        from peft import get_peft_model_state_dict

        proj = {f"projector.{k}": v for k, v in self.projector.state_dict().items()
                if self.spec.train_head or not k.startswith("head.")}
        return {**proj, **{f"lora.{k}": v for k, v in get_peft_model_state_dict(self.lm).items()}}

    def load_trainable(self, state: dict) -> None:
        from peft import set_peft_model_state_dict

        proj = {k[10:]: v for k, v in state.items() if k.startswith("projector.")}
        missing, unexpected = self.projector.load_state_dict(proj, strict=False)
        if unexpected or any(not k.startswith("head.") for k in missing):
            raise ValueError(f"projector weights do not fit: missing {missing[:3]}, unexpected {unexpected[:3]}")
        set_peft_model_state_dict(self.lm, {k[5:]: v for k, v in state.items() if k.startswith("lora.")})

    # -- contexts -----------------------------------------------------------------------------------------
    def slots(self, vision: torch.Tensor, rows=None, posteriors=None) -> list[torch.Tensor]:
        """Kept slot vectors per page of (B, N, D) tokens; rows: None (whole pages), one (r0, r1) for every
        page, or one per page (all of one height); posteriors: the projector's, computed for these tokens and
        rows already (`projector.posteriors`; the frozen head is not run again)."""
        if rows is not None and isinstance(rows[0], int):
            rows = [tuple(rows)] * vision.shape[0]
        return self.projector(vision, rows, posteriors)

    def contexts(self, vision, rows=None, prompt: str | list[str] | None = None, posteriors=None) -> list[torch.Tensor]:
        """[chat start; slots; prompt and the answer's start] as input embeddings, one (L_i, H) per batch row;
        vision (B, N, D), or a list of them (several pages, each its own grid, joined in order); prompt: one for
        every row (None: the transcription prompt) or one per row (questions); posteriors: see `slots` (one
        page a row only)."""
        emb = self.lm.get_input_embeddings()
        pages = vision if isinstance(vision, (list, tuple)) else [vision]
        if posteriors is not None and len(pages) != 1:
            raise ValueError("posteriors are those of one page a row")
        per_page = [self.slots(p, rows if len(pages) == 1 else None, posteriors) for p in pages]
        B = len(per_page[0])
        prompts = prompt if isinstance(prompt, (list, tuple)) else [prompt] * B
        if len(prompts) != B:
            raise ValueError(f"{len(prompts)} prompts for {B} pages")
        pre_e = emb(self.pre)
        posts = {p: emb(self.post if p is None else
                        self._ids(f"\n{p}<|im_end|>\n<|im_start|>assistant\n").to(self.post.device)) for p in set(prompts)}
        return [torch.cat([pre_e, *[s[b].to(pre_e.dtype) for s in per_page], posts[prompts[b]]]) for b in range(B)]

    def positions(self, vision, rows=None) -> list[int]:
        """LM positions the vision tokens take in each batch row's context (the LM-context cost)."""
        return [int(c.shape[0]) - len(self.pre) - len(self.post) for c in self.contexts(vision, rows)]

    def answer_ids(self, texts: list[str], max_tokens: int = 2048) -> list[list[int]]:
        """Token ids of each text (at most max_tokens) + <|im_end|>; one batched call of the tokenizer."""
        if not texts:
            return []
        return [ids[:max_tokens] + [self.eos] for ids in self.tok(list(texts), add_special_tokens=False)["input_ids"]]

    # -- training -----------------------------------------------------------------------------------------
    def loss(self, vision, texts: list[str], rows=None, max_tokens: int = 2048) -> tuple[torch.Tensor, int]:
        ctx = self.contexts(vision, rows)
        return self.loss_on(ctx, self.answer_ids(texts, max_tokens))

    def loss_on(self, ctx: list[torch.Tensor], answers: list[list[int]], sampled: float = 0.0) -> tuple[torch.Tensor, int]:
        return answer_loss(self.lm, ctx, answers, sampled)

    # -- reading ------------------------------------------------------------------------------------------
    @torch.no_grad()
    def generate(self, vision, max_new_tokens: int = 1600, temperature: float = 0.0, top_p: float = 1.0,
                 prompt: str | None = None, rows=None, guidance: float = 0.0) -> list[str]:
        """Greedy (temperature 0) or sampled text after [vision; prompt], one per batch row; guidance > 0:
        greedy against the LM's prior (`generate_guided`; the transcription prompt only)."""
        if guidance and prompt is not None:
            raise ValueError("guided reading is for the transcription prompt")
        return self.generate_from(self.contexts(vision, rows, prompt), max_new_tokens, temperature, top_p, guidance)

    @torch.no_grad()
    def generate_from(self, ctx: list[torch.Tensor], max_new_tokens: int = 1600, temperature: float = 0.0,
                      top_p: float = 1.0, guidance: float = 0.0, ctc: list | None = None,
                      ctc_weight: float = 0.0) -> list[str]:
        """guidance > 0: greedy, each token chosen against the LM's guess without the page (`generate_guided`),
        with ctc and ctc_weight > 0 jointly with the stage-1 reader's CTC prefix scores (`ctc_prefix`)."""
        if guidance:
            return generate_guided(self.lm, self.tok, self.eos, ctx, self.blind(len(ctx)), guidance, max_new_tokens,
                                   ctc=ctc, ctc_weight=ctc_weight)
        if ctc_weight:
            raise ValueError("joint CTC decoding is for guided reads (guidance > 0)")
        return generate_after(self.lm, self.tok, self.eos, ctx, max_new_tokens, temperature, top_p)

    def blind(self, n: int) -> list[torch.Tensor]:
        """n contexts holding the transcription prompt and no slots: what the LM writes from its prior alone."""
        emb = self.lm.get_input_embeddings()
        return [torch.cat([emb(self.pre), emb(self.post)])] * n


def with_lora(lm, r: int, alpha: float, targets):
    """peft's LoRA (no dropout) on `targets` of a causal LM, without the FutureWarning peft provokes by asking
    transformers a deprecated question (is_gradient_checkpointing): a user can do nothing about it."""
    import warnings

    from peft import LoraConfig, get_peft_model

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
        return get_peft_model(lm, LoraConfig(r=r, lora_alpha=alpha, lora_dropout=0.0, target_modules=list(targets),
                                             task_type="CAUSAL_LM"))


# -- an LM (peft-wrapped) reading input embeddings: shared with the text-side competitor (qa.pooled) --------------
def answer_loss(lm, ctx: list[torch.Tensor], answers: list[list[int]], sampled: float = 0.0) -> tuple[torch.Tensor, int]:
    """Mean cross-entropy of the answers (each ending in <|im_end|>) after their contexts (input embeddings,
    one (L_i, H) each), teacher-forced. Right-padded, so causal attention needs no mask; the vocabulary logits
    are formed only at the answer positions, CE_CHUNK at a time and recomputed in the backward pass.
    sampled > 0: scheduled sampling (Bengio et al. 2015) against exposure bias: that share of the answer tokens
    fed as input is replaced by the LM's own teacher-forced argmax at that place (one extra forward pass without
    gradients), so the LM learns to write the right next token after its own typical mistakes; the targets stay."""
    emb = lm.get_input_embeddings()
    dev = ctx[0].device
    lens = [c.shape[0] + len(a) - 1 for c, a in zip(ctx, answers)]
    ids = torch.tensor([t for a in answers for t in a[:-1]], dtype=torch.long, device=dev)
    rows, cols, tgt = [], [], []
    for b, (c, a) in enumerate(zip(ctx, answers)):
        rows.append(torch.full((len(a),), b, dtype=torch.long))
        cols.append(torch.arange(c.shape[0] - 1, c.shape[0] - 1 + len(a)))
        tgt += a
    rows, cols = torch.cat(rows).to(dev), torch.cat(cols).to(dev)
    base = lm.get_base_model()
    if sampled > 0 and len(ids):
        with torch.no_grad():
            h = base.model(inputs_embeds=_answer_inputs(emb, ctx, answers, ids, lens)).last_hidden_state[rows, cols]
            own = torch.cat([base.lm_head(h[i:i + CE_CHUNK]).argmax(-1) for i in range(0, len(h), CE_CHUNK)])
        # each answer's prediction of its token j (j < len - 1) is the one fed at input place j
        keep = torch.cat([torch.arange(len(a)) < len(a) - 1 for a in answers]).to(dev)
        ids = torch.where(torch.rand(len(ids), device=dev) < sampled, own[keep], ids)
    x = _answer_inputs(emb, ctx, answers, ids, lens)
    h = base.model(inputs_embeds=x).last_hidden_state[rows, cols]
    y = torch.tensor(tgt, dtype=torch.long, device=dev)
    total = sum(checkpoint(_ce, base.lm_head, h[i:i + CE_CHUNK], y[i:i + CE_CHUNK], use_reentrant=False)
                for i in range(0, len(y), CE_CHUNK))
    return total / len(y), len(y)


def _answer_inputs(emb, ctx: list[torch.Tensor], answers: list[list[int]], ids: torch.Tensor, lens: list[int]):
    """The right-padded input embeddings: each context, then its answer's tokens but the last (`ids`, flat)."""
    x = ctx[0].new_zeros(len(ctx), max(lens), ctx[0].shape[1])
    ans_e = emb(ids).to(x.dtype) if len(ids) else None
    k = 0
    for b, (c, a) in enumerate(zip(ctx, answers)):
        n = len(a) - 1
        x[b, :c.shape[0]] = c
        if n:
            x[b, c.shape[0]:c.shape[0] + n] = ans_e[k:k + n]
            k += n
    return x


@torch.no_grad()
def generate_after(lm, tok, eos: int, ctx: list[torch.Tensor], max_new_tokens: int = 1600, temperature: float = 0.0,
                   top_p: float = 1.0) -> list[str]:
    """Greedy (temperature 0) or sampled generation after contexts of different lengths (left-padded, masked)."""
    L = max(c.shape[0] for c in ctx)
    x = ctx[0].new_zeros(len(ctx), L, ctx[0].shape[1])
    mask = torch.zeros(len(ctx), L, dtype=torch.long, device=ctx[0].device)
    for b, c in enumerate(ctx):
        x[b, L - c.shape[0]:] = c
        mask[b, L - c.shape[0]:] = 1
    kw = dict(do_sample=temperature > 0, max_new_tokens=max_new_tokens, eos_token_id=eos, pad_token_id=eos)
    if temperature > 0:
        kw.update(temperature=temperature, top_p=top_p)
    out = lm.generate(inputs_embeds=x, attention_mask=mask, **kw)
    return [tok.decode(o, skip_special_tokens=True) for o in out]


def looping(hist: torch.Tensor, window: int = LOOP_TOKENS, period: int = LOOP_PERIOD) -> torch.Tensor:
    """For each row of chosen tokens (B, t): the token that would go on with a loop, -1 where there is none. A loop
    is a cycle of at most `period` tokens filling the last `window` tokens (a page's own runs, a rule of stars or
    a dot leader, are shorter; a derailed read writes "C. C. C. ..." to the end of its budget)."""
    ban = torch.full((hist.shape[0],), -1, dtype=torch.long, device=hist.device)
    if hist.shape[1] < window:
        return ban
    w = hist[:, -window:]
    for p in range(min(period, window // 2), 0, -1):   # shortest cycle last: its token wins
        ban = torch.where((w[:, p:] == w[:, :-p]).all(1), w[:, -p], ban)
    return ban


@torch.no_grad()
def generate_guided(lm, tok, eos: int, ctx: list[torch.Tensor], neg: list[torch.Tensor], scale: float,
                    max_new_tokens: int = 1600, plausible: float = 0.1, loop_tokens: int = LOOP_TOKENS,
                    ctc: list | None = None, ctc_weight: float = 0.0, ctc_top: int = 8,
                    ctc_plausible: float = 1e-3) -> list[str]:
    """Greedy decoding that weighs the context's evidence against the LM's prior (classifier-free guidance,
    Sanchez et al. 2023; for images read by an LM, visual contrastive decoding, Leng et al. 2023): each step
    picks argmax of (1 + scale) log p(x | ctx) - scale log p(x | neg) among the tokens whose p(x | ctx) is at
    least `plausible` x the most likely one's (so the contrast never picks what the context makes implausible).
    ctx and neg are run as one left-padded batch, each neg row fed the token its ctx row chose. loop_tokens > 0:
    a row caught in a loop (`looping`: a derailed read, lost on a line it cannot place, writes "C. C. C. ..." to
    the end of its budget; barring the loop's token only moves it on to the next loop) ends there, the loop cut
    off (`cut_loop`), and is marked in the result's `looped` (a `Reads`), for the caller to read it otherwise.
    ctc (one `ctc_prefix.LinePrefixScorer` or None a row) and ctc_weight > 0: joint decoding with the stage-1
    reader's CTC scores of the same tokens: each step takes the `ctc_top` best tokens by the guided score among
    those with p(x | ctx) >= `ctc_plausible` x the best one's, adds ctc_weight x the change in the row's CTC
    prefix score, and picks the best sum."""
    B = len(ctx)
    joint = ctc is not None and ctc_weight > 0
    pieces: dict[int, str] = {}
    allc = list(ctx) + list(neg)
    L = max(c.shape[0] for c in allc)
    x = allc[0].new_zeros(2 * B, L, allc[0].shape[1])
    mask = torch.zeros(2 * B, L, dtype=torch.long, device=allc[0].device)
    for b, c in enumerate(allc):
        x[b, L - c.shape[0]:] = c
        mask[b, L - c.shape[0]:] = 1
    pos = (mask.cumsum(-1) - 1).clamp(min=0)
    out = lm(inputs_embeds=x, attention_mask=mask, position_ids=pos, use_cache=True, logits_to_keep=1)
    past, last = out.past_key_values, pos[:, -1:]
    done = torch.zeros(B, dtype=torch.bool, device=x.device)
    looped = torch.zeros_like(done)
    chosen = []
    for _ in range(max_new_tokens):
        lp = out.logits[:, -1].float().log_softmax(-1)
        own, prior = lp[:B], lp[B:]
        score = (1 + scale) * own - scale * prior
        best = own.max(-1, keepdim=True).values
        if joint:
            nxt = _joint_step(score.masked_fill(own < best + math.log(ctc_plausible), -torch.inf), ctc, done, eos,
                              tok, pieces, ctc_weight, ctc_top)
        else:
            score = score.masked_fill(own < best + math.log(plausible), -torch.inf)
            nxt = score.argmax(-1)
        nxt = torch.where(done, torch.full_like(done, eos, dtype=torch.long), nxt)
        chosen.append(nxt)
        done |= nxt == eos
        if loop_tokens and len(chosen) >= loop_tokens:     # a row caught in a loop ends here
            caught = (looping(torch.stack(chosen[-loop_tokens:], 1), loop_tokens) >= 0) & ~done
            looped |= caught
            done |= caught
        if bool(done.all()):
            break
        mask = torch.cat([mask, mask.new_ones(2 * B, 1)], 1)
        last = last + 1
        out = lm(input_ids=torch.cat([nxt, nxt])[:, None], attention_mask=mask, position_ids=last,
                 past_key_values=past, use_cache=True)
        past = out.past_key_values
    ids = torch.stack(chosen, 1).tolist() if chosen else [[] for _ in range(B)]
    ids = [row[:row.index(eos)] if eos in row else row for row in ids]
    ids = [cut_loop(row, loop_tokens) if lp_ else row for row, lp_ in zip(ids, looped.tolist())]
    return Reads([tok.decode(row, skip_special_tokens=True) for row in ids], looped.tolist())


def _joint_step(score: torch.Tensor, ctc: list, done: torch.Tensor, eos: int, tok, pieces: dict, weight: float,
                top: int) -> torch.Tensor:
    """One step of joint decoding (generate_guided): per row, the best of its `top` tokens by score + weight x
    the CTC prefix score's change; the row's scorer goes on with the chosen token."""
    val, idx = score.topk(top, -1)
    val, idx, fin = val.cpu().tolist(), idx.cpu().tolist(), done.cpu().tolist()

    def piece(i: int) -> str:            # a token's text, decoded once a read
        if i == eos:
            return ""
        if i not in pieces:
            pieces[i] = tok.decode([i], skip_special_tokens=True)
        return pieces[i]

    out = []
    for b in range(score.shape[0]):
        sc = ctc[b]
        if fin[b] or sc is None:
            out.append(idx[b][0])
            continue
        cand = []
        for v, i in zip(val[b], idx[b]):
            if v == -math.inf:
                break
            cand.append((v + weight * sc.delta(piece(i), eos=i == eos), i))
        i = max(cand)[1] if cand else idx[b][0]
        sc.push(piece(i), eos=i == eos)
        out.append(i)
    return torch.tensor(out, dtype=torch.long, device=score.device)


class Reads(list):
    """The texts of a guided read (a list of str), with `looped`: which rows ended in a loop (cut off)."""

    def __init__(self, texts, looped):
        super().__init__(texts)
        self.looped = looped


def cut_loop(row: list[int], window: int = LOOP_TOKENS, period: int = LOOP_PERIOD) -> list[int]:
    """A row's tokens without the loop it ended in: the last `window` tokens and, before them, every token that
    goes on with the same cycle."""
    p = next(p for p in range(1, min(period, window // 2) + 1)
             if all(row[-k] == row[-k - p] for k in range(1, window - p + 1)))
    end = len(row) - window
    while end - 1 >= 0 and row[end - 1] == row[end - 1 + p]:
        end -= 1
    return row[:end]


def _ce(head: nn.Module, h: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(head(h).float(), y, reduction="sum")
