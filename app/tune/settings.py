"""`[tune]` in dayone.toml: how `dayone tune embedder` mines, trains and proves a tuned embedder."""

from __future__ import annotations

from pydantic import BaseModel, Field


class TuneSettings(BaseModel):
    model_config = {"extra": "forbid"}

    # Repositories (names from [[repos]]) whose history trains the model; empty: every one with git history.
    repos: list[str] = Field(default_factory=list)
    # Codebases the model is NOT tuned on, measured to show what tuning costs elsewhere: a configured repository
    # with history (its held-out commits) and/or a pinned `dayone eval` codebase (its hand-written questions).
    control: list[str] = Field(default_factory=lambda: ["itsdangerous"])
    # The last `holdout` usable commits of each repository (at least 15%, at most 40% of them) are held out.
    holdout: int = Field(default=100, ge=5)
    epochs: int = Field(default=1, ge=1, le=20)
    batch_size: int = Field(default=32, ge=4)
    learning_rate: float = Field(default=3e-5, gt=0)
    # Tokens per code text while training (the index embeds 256): the path, name, signature and first lines
    # of a definition carry most of what a question matches, and 128 trains about twice as fast on a CPU.
    max_seq_length: int = Field(default=128, ge=32, le=512)
    # Train only the top N of the model's transformer layers (0: all): about half the time per step on a CPU.
    train_layers: int = Field(default=3, ge=0)
    # Pairs per training run (all repositories together), commit pairs first; bounds the time on a CPU.
    max_pairs: int = Field(default=1500, ge=16)
    # Changed definitions per commit used as positives.
    max_targets: int = Field(default=2, ge=1)
    # Cap per kind (docstring, identifier, docs section) and repository; commit pairs are never capped.
    max_snapshot_pairs: int = Field(default=800, ge=0)
    # Nightly retune (reindex.tune = true): only when this many new commits arrived since the last tune.
    min_new_commits: int = Field(default=100, ge=1)
