"""A listwise rerank of the search's top files by the local chat model (`search.rerank`).

Fusion ranks chunks by how many signals agree, never by reading them; a chat model can read the question and a
few lines of each candidate at once and say which file answers it. That costs a prompt of about a thousand
tokens per question, which a GPU evaluates in a fraction of a second and a 2-core CPU in many seconds, so
"auto" runs it only where llama.cpp has a GPU. The default is "off": the 0.5B model nearly always repeats the
order it is given and the 1.5B moved one gold file out of the top 5 (docs/retrieval.md, "Rerank with the local
model"); a bigger model on a GPU may read better, and `dayone eval --realistic --rerank` says whether it does.

The rerank only reorders hits the search already returned for the caller's repositories: it cannot add a file,
so access control is untouched. The model sees files, not chunks (one number per file, with the first lines of
its best chunk), because a file is what file@k scores and what a reader opens; the reordered files take the
places the search gave its files, so the hits of a file keep their own order and an agreeing model changes
nothing. A model that answers nothing usable costs the reorder, never the results: the original
order comes back with a one-line warning.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from app.search.retriever import SearchHit

if TYPE_CHECKING:
    from app.answer.chat_model import ChatModel, Message
    from app.search.retriever import Retriever
    from app.settings import Settings

log = logging.getLogger(__name__)

MAX_TOKENS = 48  # "3, 1, 7, 2, 10, 4, 5, 6, 8, 9" is about 30 tokens; a model that starts explaining is cut off
PREVIEW_LINES = (4, 2, 1, 0)  # lines of each file's best chunk, fewer until the prompt fits the context
PREVIEW_CHARS = 120  # per line: long lines are minified code or data, the first characters say enough
QUESTION_CHARS = 2000  # a pasted log beyond this says little more about which file it is, and costs tokens

SYSTEM = ("You rank source files by how well they answer a question about a codebase. Reply with the numbers "
          "of the files, most relevant first, separated by commas, and nothing else.")

_BRACKETED = re.compile(r"\[(\d{1,3})\]")
_NUMBER = re.compile(r"(?<![\w.\-/])(\d{1,3})(?![\w\-/]|\.\w)")


def rerank_active(settings: Settings) -> bool:
    """Whether `search.rerank` asks for the rerank here. "auto" follows the model's own placement
    (`LlamaCppModel` offloads layers only when `llama_gpu()` is true and `llm.n_gpu_layers` is not 0): a CPU
    pays seconds per question for it. A model server's hardware is not visible from here, so "auto" leaves it
    off with `llm.backend = "openai"`; set "on" for a server on a GPU."""
    mode = settings.search.rerank
    if mode != "auto":
        return mode == "on"
    if settings.llm.backend != "llama-cpp" or settings.llm.n_gpu_layers == 0:
        return False
    from app.answer.chat_model import llama_gpu

    return llama_gpu()


def file_groups(hits: list[SearchHit]) -> list[list[SearchHit]]:
    """Hits grouped by file, files in the order of their best hit, each file's hits in their own order."""
    groups: dict[tuple[str, str], list[SearchHit]] = {}
    for hit in hits:
        groups.setdefault((hit.repo, hit.path), []).append(hit)
    return list(groups.values())


def _preview(hit: SearchHit, lines: int) -> list[str]:
    shown = [line.rstrip()[:PREVIEW_CHARS] for line in hit.text.splitlines() if line.strip()]
    return shown[:lines]


def build_messages(question: str, groups: list[list[SearchHit]], preview_lines: int = PREVIEW_LINES[0]
                   ) -> list[Message]:
    """The prompt: the question, then each file as `[n] path (symbol)` and the first lines of its best chunk.
    Repository names appear only when the candidates span more than one, so the model reads paths, not labels."""
    several = len({g[0].repo for g in groups}) > 1
    parts = [f"Question:\n{question.strip()[:QUESTION_CHARS]}\n\nFiles:"]
    for n, group in enumerate(groups, 1):
        best = group[0]
        where = f"{best.repo}:{best.path}" if several else best.path
        parts.append(f"[{n}] {where}" + (f" ({best.symbol})" if best.symbol else ""))
        parts += [f"    {line}" for line in _preview(best, preview_lines)]
    parts.append(f"\nWhich files answer the question? Reply with the numbers 1-{len(groups)}, most relevant "
                 "first, e.g. 3, 1, 2.")
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": "\n".join(parts)}]


def parse_order(text: str, n: int) -> list[int]:
    """0-based candidate indices in the order the model gave them. Bracketed numbers win over bare ones (a model
    that repeats `[3] src/http2.py` must not rank file 2); numbers outside 1..n and repeats are dropped."""
    found = _BRACKETED.findall(text) or _NUMBER.findall(text)
    order: list[int] = []
    for token in found:
        i = int(token) - 1
        if 0 <= i < n and i not in order:
            order.append(i)
    return order


def rerank(question: str, hits: list[SearchHit], model: ChatModel, *, files: int = 10) -> list[SearchHit]:
    """`hits` with their first `files` files in the order the model gives; files it leaves out follow in their
    original order, then the files beyond the first `files`. Any failure returns `hits` unchanged."""
    groups = file_groups(hits)
    top, rest = groups[:files], groups[files:]
    if len(top) < 2:
        return hits
    try:
        messages = _fitting_messages(question, top, model)
        with model.aside():  # a conversation's evaluated prefix survives for the answer that follows
            answer = model.complete(messages, max_tokens=MAX_TOKENS, temperature=0.0)
    except Exception as exc:  # noqa: BLE001 - the search must answer whatever the model does
        log.warning("rerank skipped, search order kept: %s", " ".join(str(exc).split())[:200] or type(exc).__name__)
        return hits
    order = parse_order(answer, len(top))
    if not order:
        log.warning("rerank skipped, search order kept: no file numbers in the model's answer %r", answer[:80])
        return hits
    ranked = [top[i] for i in order] + [g for i, g in enumerate(top) if i not in order]
    return _into_slots(hits, [*top, *rest], [*ranked, *rest])


def _into_slots(hits: list[SearchHit], before: list[list[SearchHit]], after: list[list[SearchHit]]
                ) -> list[SearchHit]:
    """The new file order laid into the search's own pattern of places: where the search had the n-th hit of
    its r-th file, the n-th hit of the new r-th file goes. An unchanged order gives back `hits` as they were
    (the search interleaves files, and sym@10 counts hits, so grouping a file's hits would change results
    without the model changing anything); a hit with no such place follows its file's last placed hit."""
    rank = {id(hit): (r, n) for r, group in enumerate(before) for n, hit in enumerate(group)}
    out = [after[r][n] for r, n in (rank[id(hit)] for hit in hits) if n < len(after[r])]
    placed = {id(hit) for hit in out}
    for group in after:
        for n, hit in enumerate(group):
            if id(hit) not in placed:
                out.insert(out.index(group[n - 1]) + 1, hit)
                placed.add(id(hit))
    return out


def _fitting_messages(question: str, top: list[list[SearchHit]], model: ChatModel) -> list[Message]:
    """The prompt with as many preview lines per file as the model's context holds beside the reply."""
    room = model.context_size - MAX_TOKENS
    for lines in PREVIEW_LINES:
        messages = build_messages(question, top, lines)
        if model.count_messages(messages) <= room:
            return messages
    raise ValueError(f"{len(top)} file names and the question do not fit the model's {model.context_size} tokens")


class Reranker:
    """The rerank as the service applies it: the search asked for enough hits to cover `files` files, the rerank,
    then the first `k`. The model is loaded on first use (`model` is called then), so a search that never
    reranks never loads it; a model that cannot be loaded leaves the search order, with a warning."""

    def __init__(self, model: Callable[[], ChatModel], *, files: int = 10):
        self._load = model
        self._model: ChatModel | None = None
        self._failed = False
        self.files = files
        self.seconds: list[float] = []  # per rerank that called the model, for the evaluation's report
        self.skipped = 0  # reranks that kept the search order because the model failed or answered no numbers
        self.reordered = 0  # reranks whose order differs from the search's (the rest: the model agreed with it)

    def model(self) -> ChatModel | None:
        if self._model is None and not self._failed:
            try:
                self._model = self._load()
            except Exception as exc:  # noqa: BLE001 - ModelError, ModelFileError: one line, said once
                self._failed = True
                log.warning("rerank off, search order kept: the model cannot be loaded (%s)",
                            " ".join(str(exc).split())[:200])
        return self._model

    def search(self, retriever: Retriever, query: str, *, k: int | None = None, repos: list[str] | None = None,
               languages: list[str] | None = None) -> list[SearchHit]:
        """`retriever.search`, reranked. Asking for more hits does not change the first `k` of the search's own
        order (the per-file cap walks one ranked list), so a skipped rerank returns exactly what search does."""
        k = k or retriever.settings.k
        wanted = max(k, self.files * retriever.settings.max_hits_per_file)
        hits = retriever.search(query, k=wanted, repos=repos, languages=languages)
        model = self.model() if len(file_groups(hits)) > 1 else None
        if model is None:
            return hits[:k]
        started = time.perf_counter()
        reranked = rerank(query, hits, model, files=self.files)
        self.seconds.append(time.perf_counter() - started)
        self.skipped += reranked is hits
        self.reordered += _file_order(reranked) != _file_order(hits)
        return reranked[:k]


def _file_order(hits: list[SearchHit]) -> list[tuple[str, str]]:
    return [(g[0].repo, g[0].path) for g in file_groups(hits)]


__all__ = ["Reranker", "build_messages", "file_groups", "parse_order", "rerank", "rerank_active"]
