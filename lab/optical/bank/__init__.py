"""The memory bank: documents kept as vision tokens in SQLite (store), their embeddings for search (embed),
forgetting by policy, the CLI verbs (cli) and the forgetting study (study)."""

POLICIES = ("seed", "lru", "fifo", "importance", "fade")   # the forgetting policies of store (for the CLI without numpy)
