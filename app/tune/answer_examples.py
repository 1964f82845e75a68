"""Question/answer examples for the answering model's LoRA adapter, built from the index; none written by hand.

Each example is a first turn exactly as the chat builds it (system prompt, the worked example, numbered sources,
the question with its answer rules) and the answer a careful reader would give from those sources alone, in
dayone's cited format. The facts in an answer come from the index (where a definition is, its kind, its lines, as
the tree-sitter chunker stored them, secrets already redacted) and from the definition's own docstring, so the
adapter learns the format and to pick the right source among near neighbours, never facts not in the sources:

- where (by name): "Where is `URLSafeTimedSerializer` defined?" -> "`URLSafeTimedSerializer` is the class in
  src/itsdangerous/url_safe.py, lines 79-83 [1]."
- where (by behaviour): "Where is the code that writes re-indented text into the buffer?" -> "The method
  `HelpFormatter.write_text` in src/click/formatting.py does this [2]: \"Writes re-indented text into the buffer.\""
- what for: "What is `Choice` for?" -> "`Choice` (class in src/click/types.py): The choice type allows a value to
  be checked against a fixed set of supported values [3]." (the docstring's first sentence).

The sources are the target and up to two other definitions of the same file or directory (the hard case), in
random order, cut to MAX_SOURCE_LINES like the chat cuts a long source.
"""

from __future__ import annotations

import random
import re
from collections import defaultdict
from dataclasses import asdict, dataclass
from pathlib import PurePosixPath

from app.answer.chat_model import Message
from app.answer.prompts import EXAMPLE_TURN, SYSTEM_PROMPT, question_block
from app.answer.results import Source
from app.tune.mining import is_source_code
from app.tune.pairs import SYMBOL_KINDS, doc_query
from indexer.reader import IndexReader
from indexer.store.payload import ChunkPayload

MAX_SOURCE_LINES = 30  # a source longer than this is cut (the location shrinks with it), as the chat cuts one
NEIGHBOURS = 2  # other definitions shown beside the target
TARGETS_PER_FILE = 8  # definitions asked about per file: many files, not all of one big file
KINDS = ("where_name", "where_doc", "what_for")


@dataclass
class AnswerExample:
    kind: str  # where_name, where_doc, what_for
    repo: str
    path: str
    symbol: str
    messages: list[Message]  # the first turn, as app/answer/conversation.py builds it
    answer: str
    sources: list[Source]  # what the prompt numbers: the answer's [n] is sources[n - 1]

    def to_json(self) -> dict:
        return asdict(self)


def first_sentence(docstring: str) -> str:
    """The docstring's first sentence, without tags: what the definition does, in its author's words."""
    text = re.sub(r":\w+:`~?([^`]+)`", r"`\1`", doc_query(docstring, limit=400))  # reST roles read as code
    match = re.match(r"(.+?[.!?])(?:\s|$)", text)
    return (match.group(1) if match else text).strip()


def _source(chunk: ChunkPayload, number: int) -> Source:
    lines = chunk.text.split("\n")[:MAX_SOURCE_LINES]
    return Source(number=number, repo=chunk.repo, path=chunk.path, start_line=chunk.start_line,
                  end_line=chunk.start_line + len(lines) - 1, symbol=chunk.symbol, kind=chunk.kind,
                  language=chunk.language, text="\n".join(lines))


def first_turn(sources: list[Source], question: str) -> list[Message]:
    """The messages of a conversation's first turn (app/answer/conversation.py `_build_prompt`)."""
    blocks = "\n\n".join(s.block() for s in sources)
    return [{"role": "system", "content": SYSTEM_PROMPT}, *EXAMPLE_TURN,
            {"role": "user", "content": f"Sources:\n\n{blocks}\n\n{question_block(question)}"}]


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:] if text[:2] != text[:2].upper() else text


def leading_doc(text: str, language: str) -> str:
    """A definition's docstring (Python) or the comment block it starts with (other languages), read from the
    chunk's stored text: the index keeps the text, not the docstring on its own."""
    head = text[:1500]
    if language == "python":  # the first string literal, when only the signature (ending in ":") comes before it
        match = re.search(r'[rRuU]?("""|\'\'\')([\s\S]*?)\1', head)
        before = head[:match.start()].rstrip() if match else ""
        return match.group(2) if match and before.endswith(":") and re.search(r"\b(def|class)\b", before) else ""
    lines: list[str] = []
    for line in head.split("\n"):
        s = line.strip()
        if not s.startswith(("/*", "*", "//", "#")) or s.startswith("#["):
            break
        lines.append(re.sub(r"^(?:/\*\*?|\*/|\*|///?|#)\s?", "", s).removesuffix("*/").strip())
    return "\n".join(lines).strip()


def examples_for(target: ChunkPayload, neighbours: list[ChunkPayload], rng: random.Random) -> list[AnswerExample]:
    """The examples one definition gives: where by name always; where by behaviour and what-for when its
    docstring has a first sentence worth reading."""
    order = [target, *neighbours]
    rng.shuffle(order)
    sources = [_source(c, i + 1) for i, c in enumerate(order)]
    src = sources[order.index(target)]
    name, n, path, repo = src.short_name, src.number, src.path, src.repo
    if not name:
        return []
    kind = target.kind
    out = [AnswerExample("where_name", repo, path, target.symbol, first_turn(sources, f"Where is `{name}` defined?"),
                         f"`{name}` is the {kind} in {path}, lines {src.start_line}-{src.end_line} [{n}].", sources)]
    sentence = first_sentence(leading_doc(target.text, target.language))
    if len(sentence.split()) >= 4 and not sentence.lower().startswith(("todo", "deprecated", "see ")):
        behaviour = _lower_first(sentence).rstrip(".!?")
        out.append(AnswerExample(
            "where_doc", repo, path, target.symbol, first_turn(sources, f"Where is the code that {behaviour}?"),
            f"The {kind} `{name}` in {path} does this [{n}]: \"{sentence}\"", sources))
        out.append(AnswerExample(
            "what_for", repo, path, target.symbol, first_turn(sources, f"What is `{name}` for?"),
            f"`{name}` ({kind} in {path}): {sentence.rstrip('.!?')} [{n}].", sources))
    return out


def mine_answer_examples(reader: IndexReader, repos: list[str] | None = None, *, limit: int = 200,
                         seed: int = 0) -> list[AnswerExample]:
    """Up to `limit` examples from the index's definitions (the stored, redacted text), the kinds balanced: where
    by name, the most plentiful, takes at most a third unless the others run short."""
    rng = random.Random(seed)
    by_file: dict[tuple[str, str], list[str]] = defaultdict(list)
    by_dir: dict[tuple[str, str], list[str]] = defaultdict(list)
    for chunk_id, repo, path, _symbol, _name, kind, _language in reader.manifest.chunk_names():
        if kind in SYMBOL_KINDS and is_source_code(path) and (repos is None or repo in repos):
            by_file[(repo, path)].append(chunk_id)
            by_dir[(repo, str(PurePosixPath(path).parent))].append(chunk_id)
    files = sorted(by_file)
    rng.shuffle(files)
    by_kind: dict[str, list[AnswerExample]] = {k: [] for k in KINDS}
    for repo, path in files:
        if min(len(v) for v in by_kind.values()) >= limit:
            break
        near = by_file[(repo, path)] + [i for i in by_dir[(repo, str(PurePosixPath(path).parent))]
                                        if i not in by_file[(repo, path)]]
        targets = rng.sample(by_file[(repo, path)], min(TARGETS_PER_FILE, len(by_file[(repo, path)])))
        store = reader.store
        assert store is not None
        payloads = {h.id: h.chunk for h in store.retrieve(list(dict.fromkeys(targets + near[:12])))}
        for target_id in targets:
            target = payloads.get(target_id)
            if target is None or target.part != 1:
                continue
            others = [payloads[i] for i in near[:12] if i != target_id and i in payloads]
            neighbours = rng.sample(others, min(NEIGHBOURS, len(others)))
            for example in examples_for(target, neighbours, rng):
                by_kind[example.kind].append(example)
    share = max(1, limit // len(KINDS))
    picked: list[AnswerExample] = []
    for kind in KINDS:
        picked += rng.sample(by_kind[kind], min(share, len(by_kind[kind])))
    rest = [e for k in KINDS for e in by_kind[k] if e not in picked]
    picked += rng.sample(rest, min(limit - len(picked), len(rest)))
    rng.shuffle(picked)
    return picked
