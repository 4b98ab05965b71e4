"""LLM activations and the KV cache: Df of a real pretrained model (SmolLM2-135M-Instruct through `lab.models`),
and KV-cache compression as caches that generation uses (`kv`), scored by held-out bits per byte (`score`)."""

METHOD_NAMES = ("full", "kivi", "eigen", "sinks", "h2o", "latent")   # lab.llm.kv.METHODS, for the CLI without torch
