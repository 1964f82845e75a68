"""Hybrid retrieval over the index: independent signals fused by reciprocal rank.

Each signal fails differently: vectors find paraphrases but miss exact identifiers, BM25 finds identifiers but
not intent, and a name the user typed (`OrderService.pay`, `send_confirmation`) or a traceback frame in a file
the traceback names is best answered by the symbol table. Reciprocal-rank fusion needs no score calibration
between them. At most `max_hits_per_file` hits per file keep one big file from crowding out the rest (as in
Tabby). Tests, documentation and examples rank below source code at equal evidence unless the question asks
for them: they repeat every word of the code they test or describe, which is how BM25 on code corpora ends up
answering with the changelog. Three more signals (definition names made of the question's words, path words,
file-level fusion) are implemented but off by default: on the evaluation they cost more than they gave.
docs/retrieval.md measures each one (`dayone eval --ablation`).
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from dataclasses import asdict, dataclass, field, replace

import numpy as np

from app.search.messages import message_sites, question_messages
from app.search.prose import asked_roles, dense_parts, is_report, role_penalties
from app.search.roles import DOC_KINDS, path_role
from app.search.scope import question_repos
from app.settings import SearchSettings
from indexer.catalog.manifest import ChunkRow
from indexer.embedding import sparse
from indexer.embedding.dense import Embedder
from indexer.reader import IndexReader
from indexer.store import ChunkPayload, Hit, SearchFilter

RRF_K = 60
WEIGHT_DENSE = 1.0
WEIGHT_SPARSE = 1.0
WEIGHT_SYMBOL_CODE = 1.0  # an identifier written like code: `pay_order`, `OrderService.pay`, `pay()`
WEIGHT_SYMBOL_WORD = 0.25  # a plain word that happens to name a definition ("checkout")
DOC_PENALTY = 0.85  # prose and config windows rank a little below code at equal evidence
MODULE_PENALTY = 0.75  # imports and module docstrings mention everything a file does, so they match broadly
UNGROUPED_KINDS = {"module", "section", "text"}  # their parts are different regions, not one symbol
WEIGHT_NAME = 1.0  # question words that make up a definition's name
WEIGHT_PATH = 0.7  # chunks of files whose path the question names or whose path words it uses
WEIGHT_FRAME = 2.0  # a definition named in a traceback frame of a file the traceback names
FILE_WEIGHT = 1.0  # how much a file's own fused score adds to each of its chunks
ROLE_PENALTY = {"test": 0.7, "example": 0.8, "doc": 0.85}
NAME_CANDIDATES = 50
WEIGHT_RAISE = 1.0  # code that raises or handles an error type the question pastes
WEIGHT_MESSAGE = 1.0  # code whose string literals make up a message the question pastes
AMBIGUOUS_DEFINITIONS = 3  # a name defined in more places than this says little on its own (`save`, `filter`)
PATH_FILES = 5  # files taken from the path signal; their chunks are ranked by a filtered dense search

_PATHLIKE = re.compile(r"(?:[A-Za-z]:)?[\w.@~+-]*(?:[/\\][\w.@~+-]+)*\.[A-Za-z][A-Za-z0-9]{0,5}\b")
_PY_FRAME = re.compile(r'File "([^"]+)", line (\d+), in ([\w<>.]+)')
_JS_FRAME = re.compile(r"\bat (?:(?:async |new )?([\w$.<>\[\] ]+?) \()?(?:file://)?([^\s():]+):(\d+)(?::\d+)?\)?")
_GO_JAVA_FRAME = re.compile(r"\b([\w$.]+)\(([\w./-]+\.\w+):(\d+)\)")
_CODE_EXT = ("py", "pyi", "js", "mjs", "cjs", "jsx", "ts", "tsx", "go", "rs", "java", "kt", "scala", "rb", "php", "c",
             "h", "cc", "cpp", "hpp", "cs", "swift", "sh", "md", "rst", "toml", "yaml", "yml", "json", "sql", "html",
             "css", "txt", "cfg", "ini")
# Asking about tests, docs or examples (not "I want to test my code" or "the example below"): then those files
# compete on equal terms.
_WANTS = {
    "test": re.compile(r"\b(which|what|the|a|an|existing|failing|unit|integration|regression)\s+tests?\b|"
                       r"\btests?\s+(case|suite|file|fixture)s?\b|\b(pytest|unittest|conftest|jest|mocha)\b|"
                       r"\btest_\w+", re.IGNORECASE),
    "doc": re.compile(r"\b(update|edit|fix|change|improve|write|find|where (is|are)|which)\b[^.?!\n]{0,30}"
                      r"\b(docs|documentation|readme|changelog|release notes)\b", re.IGNORECASE),
    "example": re.compile(r"\b(examples? (app|project|folder|directory|code)|the examples|demo app)\b",
                          re.IGNORECASE),
}

# An error as Python, Java or JavaScript prints it: `django.core.exceptions.FieldError: Cannot resolve ...`,
# `TypeError: x is not a function`; or any name that reads like an error type.
_ERROR_LINE = re.compile(r"(?<![\w.])(?:[A-Za-z_]\w*\.)*([A-Z]\w*)(?=: \S)")
_ERROR_NAME = re.compile(r"\b([A-Z]\w*(?:Error|Exception|Warning))\b")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:(?:\.|::|#|->)[A-Za-z_][A-Za-z0-9_]*)*(\()?")
# Dotted words that are host names or abbreviations, not code: `app.example.com`, `api.internal:8000`, `i.e`.
_HOSTISH = {"com", "org", "net", "io", "dev", "local", "internal", "corp", "lan", "localhost", "example", "www"}
_KIND_ORDER = {"function": 0, "method": 0, "class": 1, "struct": 1, "interface": 1, "trait": 1, "enum": 1}


@dataclass
class SearchHit:
    """One result, in the shape `dayone search --json` prints (a contract for outside tools)."""

    repo: str
    path: str
    start_line: int
    end_line: int
    symbol: str
    kind: str
    language: str
    score: float
    text: str

    def to_json(self) -> dict:
        return asdict(self)

    @property
    def role(self) -> str:
        """What the hit is to a reader ('source', 'test', 'doc', 'example'): by its path and, for Markdown
        sections, its kind. Unlike the ranking's `path_role`, a text window (an SQL schema, a config file) is
        source unless its path says otherwise: it is what the code runs on, not a description of it."""
        return path_role(self.path, self.kind if self.kind == "section" else "")


def query_identifiers(query: str) -> tuple[list[str], list[str]]:
    """Split a question's identifiers into code-like ones and plain words that might still be names."""
    code, words = [], []
    for m in _IDENT.finditer(query):
        token = m.group(0).rstrip("( \t")
        dotted = re.split(r"\.|::|#|->", token)
        if len(dotted) > 1 and (any(len(p) < 2 for p in dotted) or dotted[-1].lower() in _HOSTISH
                                or query[max(0, m.start() - 2):m.start()] in ("//", "@")
                                or query[m.end():m.end() + 1] == ":" and query[m.end() + 1:m.end() + 2].isdigit()):
            continue  # a host name (`https://app.example.com`, `api.internal:8000`) or `i.e`
        if len(token) < 2 or query[m.end():m.end() + 2] == "s)":
            continue  # `f(x)` in prose, `pattern(s)`
        # Acronyms and shouted words (URL, SQL, POST, DEBUG) are prose here: a constant worth looking up has an
        # underscore (SECURE_SSL_REDIRECT) and a class name has lower case letters (FileResponse).
        is_code = (
            len(dotted) > 1
            or "_" in token.strip("_")
            or bool(re.search(r"[a-z][A-Z]", token))
            or bool(m.group(1))
            or (token[:1].isupper() and any(c.isupper() for c in token[1:]) and any(c.islower() for c in token))
        )
        if is_code:
            code.append(".".join(dotted))
            code.append(dotted[-1])
        elif len(token) >= 4 and token.lower() not in sparse.QUERY_STOPWORDS:
            words.append(token)
    return list(dict.fromkeys(code)), list(dict.fromkeys(words))


@dataclass(frozen=True)
class RankingOptions:
    """Which signals take part. The evaluation's ablation switches each one off (or on) in turn."""

    dense: bool = True
    sparse: bool = True
    symbols: bool = True  # identifiers and traceback frames of the question, looked up in the symbol table
    paths: bool = True  # files the question names (a path, a traceback frame)
    roles: bool = True  # tests, docs and examples below source code unless the question asks for them
    # Off by default: on the evaluation (docs/retrieval.md) each of these lowered file@1 by 0.04-0.07 and
    # moved nothing into the top 5; they stay switchable for other corpora and for the ablation table.
    names: bool = False  # question words that make up a definition's name
    path_words: bool = False  # files whose path words the question uses (needs paths)
    files: bool = False  # file-level fusion
    split: bool = True  # a long question is also searched part by part (app/search/prose.py)
    titles: bool = True  # a long report asks for tests or docs only in its title (app/search/prose.py)
    reports: bool = True  # a report scales tests and docs down more than a short question does (prose.py)
    report_files: bool = True  # file-level fusion (`files`) for reports only: their evidence is spread
    messages: bool = True  # pasted error messages matched against string literals (app/search/messages.py)
    repo_names: bool = True  # a question naming repositories ("koa's context") is searched in them (scope.py)


@dataclass
class QueryParts:
    """What a question offers besides its meaning: names, words, paths and stack frames."""

    code: list[str]
    words: list[str]
    terms: list[str]  # stemmed search terms without stopwords
    paths: list[str]  # path-like tokens, '/'-separated
    frames: list[tuple[str, str]]  # (path, function) of traceback frames, innermost first
    wants: set[str] = field(default_factory=set)  # roles the question asks about: test, doc, example
    errors: list[str] = field(default_factory=list)  # error types the question pastes or names


def _pieces(identifier: str) -> list[str]:
    """The stemmed words of an identifier or path part: `_redirect_method` -> [redirect, method]."""
    out = []
    for part in re.split(r"[_\W]+", identifier):
        for piece in sparse._CAMEL.findall(part) or ([part] if part else []):
            low = piece.lower()
            if len(low) >= 2 and low not in sparse.QUERY_STOPWORDS and not low.isdigit():
                out.append(sparse.stem(low))
    return out


def _norm_path(token: str) -> str:
    return token.replace("\\", "/").removeprefix("file://").lstrip("./")


def analyze_query(query: str) -> QueryParts:
    """Pull names, paths and stack frames out of a long question, so they can be looked up exactly instead of
    being diluted in the question's embedding."""
    frames: list[tuple[str, str]] = []
    for m in _PY_FRAME.finditer(query):
        frames.append((_norm_path(m.group(1)), m.group(3)))
    for m in _JS_FRAME.finditer(query):
        name = (m.group(1) or "").split(" [as ")[0].strip()
        frames.append((_norm_path(m.group(2)), name))
    for m in _GO_JAVA_FRAME.finditer(query):
        frames.append((_norm_path(m.group(2)), m.group(1)))
    # Python prints the innermost frame last; JavaScript and Java print it first.
    py_count = len(_PY_FRAME.findall(query))
    frames = frames[:py_count][::-1] + frames[py_count:]
    frames = [(p, n.rsplit(".", 1)[-1] if n and n != "<module>" else "") for p, n in frames]
    paths = []
    for m in _PATHLIKE.finditer(query):
        token = _norm_path(m.group(0))
        ext = token.rsplit(".", 1)[-1].lower()
        if "/" in token or ext in _CODE_EXT:
            paths.append(token)
    paths += [p for p, _ in frames]
    code, words = query_identifiers(query)
    # `core.py` and `layer.js` are paths, not dotted names; the path signal handles them.
    exts = {p.rsplit(".", 1)[-1] for p in paths}
    names_of_paths = {p.rsplit("/", 1)[-1] for p in paths}
    code = [c for c in code if c not in exts and c not in names_of_paths and c != "node_modules"]
    code += [n for _, n in frames if n and n not in code]
    wants = asked_roles(query, _WANTS)
    terms = list(dict.fromkeys(t for t in _pieces(query) if len(t) >= 3))
    # `Usage:`, `Error:` and `Request:` start lines too: a printed error type is qualified or CamelCase.
    printed = [m.group(1) for m in _ERROR_LINE.finditer(query)
               if "." in m.group(0) or sum(c.isupper() for c in m.group(1)) >= 2]
    errors = list(dict.fromkeys([*printed, *(m.group(1) for m in _ERROR_NAME.finditer(query))]))
    return QueryParts(code, words, terms, list(dict.fromkeys(paths)), frames, wants, errors)


class _Catalog:
    """Names and paths of one index generation in memory, for the name and path signals (a few MB at 100k
    chunks, built on the first query)."""

    ROLES = ("source", "test", "doc", "example")

    def __init__(self, reader: IndexReader):
        manifest = reader.manifest
        self.rows: list[tuple[str, str, str, str, str]] = []  # id, repo, path, kind, language
        self.name_terms: list[tuple[tuple[str, ...], tuple[str, ...]]] = []  # (name pieces, parent pieces)
        postings: dict[str, list[int]] = defaultdict(list)
        for cid, repo, path, symbol, name, kind, language in manifest.chunk_names():
            if kind in UNGROUPED_KINDS or not name:
                continue
            pieces = tuple(dict.fromkeys(_pieces(name)))
            if not pieces:
                continue
            parts = symbol.split(".")
            parent = tuple(dict.fromkeys(_pieces(parts[-2]))) if len(parts) > 1 else ()
            i = len(self.rows)
            self.rows.append((cid, repo, path, kind, language))
            self.name_terms.append((pieces, parent))
            for t in pieces:
                postings[t].append(i)
        self.name_postings = {t: np.asarray(ids, dtype=np.int64) for t, ids in postings.items()}
        self.n_pieces = np.asarray([len(p) for p, _ in self.name_terms] or [1], dtype=np.float32)[: len(self.rows)]
        self.repo_codes = {r: i for i, r in enumerate(sorted({row[1] for row in self.rows}))}
        self.lang_codes = {x: i for i, x in enumerate(sorted({row[4] for row in self.rows}))}
        self.repo_of = np.asarray([self.repo_codes[row[1]] for row in self.rows], dtype=np.int32)
        self.lang_of = np.asarray([self.lang_codes[row[4]] for row in self.rows], dtype=np.int32)
        n = max(len(self.rows), 1)
        self.name_idf = {t: math.log(1 + n / len(ids)) for t, ids in postings.items()}
        self.rare_idf = math.log(1 + 50)  # a word in at most 2% of the names
        self.files: list[tuple[str, str, str]] = []  # repo, path, language
        path_postings: dict[str, list[tuple[int, float]]] = defaultdict(list)
        for repo, path, language in manifest.indexed_files():
            i = len(self.files)
            self.files.append((repo, path, language))
            parts = path.split("/")
            stem = parts[-1].rsplit(".", 1)[0]
            weights: dict[str, float] = {}
            for d in parts[:-1]:
                for t in _pieces(d):
                    weights[t] = max(weights.get(t, 0.0), 0.5)
            for t in _pieces(stem):
                weights[t] = 1.0
            for t, w in weights.items():
                path_postings[t].append((i, w))
        self.path_postings = {t: (np.asarray([i for i, _w in v], dtype=np.int64),
                                  np.asarray([w for _i, w in v], dtype=np.float32)) for t, v in path_postings.items()}
        self.by_basename: dict[str, list[int]] = defaultdict(list)
        for i, (_r, path, _l) in enumerate(self.files):
            self.by_basename[path.rsplit("/", 1)[-1]].append(i)
        self.file_role = np.asarray([self.ROLES.index(path_role(f[1])) for f in self.files], dtype=np.int8)
        self.file_repo_codes = {r: i for i, r in enumerate(sorted({f[0] for f in self.files}))}
        self.file_lang_codes = {x: i for i, x in enumerate(sorted({f[2] for f in self.files}))}
        self.file_repo = np.asarray([self.file_repo_codes[f[0]] for f in self.files], dtype=np.int32)
        self.file_lang = np.asarray([self.file_lang_codes[f[2]] for f in self.files], dtype=np.int32)
        nf = max(len(self.files), 1)
        self.path_idf = {t: math.log(1 + nf / len(v)) for t, v in path_postings.items()}

    def names(self, terms: list[str], repos: list[str] | None, languages: list[str] | None) -> list[str]:
        """Chunk ids whose definition name is made of the question's words, best explained names first.

        Vectorised over all names (numpy), so a question full of common words costs a few ms at 100k chunks.
        """
        n = len(self.rows)
        if not n:
            return []
        scores = np.zeros(n, dtype=np.float32)
        matched = np.zeros(n, dtype=np.int16)
        term_set = set(terms)
        for t in term_set:
            ids = self.name_postings.get(t)
            if ids is not None:
                scores[ids] += self.name_idf[t]
                matched[ids] += 1
        # One shared word is weak evidence ("order" names half of a shop's code); two words of the name, or
        # the whole of a rare one-word name, are not.
        ok = (matched >= 2) | ((self.n_pieces == 1) & (matched == 1) & (scores >= self.rare_idf))
        if repos:
            ok &= np.isin(self.repo_of, [self.repo_codes[r] for r in repos if r in self.repo_codes])
        if languages:
            ok &= np.isin(self.lang_of, [self.lang_codes[x] for x in languages if x in self.lang_codes])
        candidates = np.flatnonzero(ok)
        if not len(candidates):
            return []
        final = scores[candidates] * matched[candidates] / self.n_pieces[candidates]
        ranked = []
        for j in np.argsort(-final, kind="stable")[: NAME_CANDIDATES * 2]:
            i = int(candidates[j])
            parent = self.name_terms[i][1]
            bonus = sum(self.name_idf.get(t, 0.0) for t in parent if t in term_set) * 0.3
            ranked.append((float(final[j]) + bonus, i))
        ranked.sort(key=lambda x: (-x[0], self.rows[x[1]][2]))
        return [self.rows[i][0] for _, i in ranked[:NAME_CANDIDATES]]

    def path_files(self, parts: QueryParts, repos: list[str] | None, languages: list[str] | None,
                   limit: int = PATH_FILES, *, words: bool = True) -> list[tuple[str, str]]:
        """(repo, path) of files the question names (longest matching path suffix), then files whose path
        words the question uses."""
        nf = len(self.files)
        if not nf:
            return []
        ok = np.ones(nf, dtype=bool)
        if repos:
            ok &= np.isin(self.file_repo, [self.file_repo_codes[r] for r in repos if r in self.file_repo_codes])
        if languages:
            ok &= np.isin(self.file_lang, [self.file_lang_codes[x] for x in languages if x in self.file_lang_codes])
        named: list[int] = []
        for token in parts.paths:
            pieces = [p for p in token.split("/") if p]
            same_name = [i for i in self.by_basename.get(pieces[-1], []) if ok[i]] if pieces else []
            for start in range(len(pieces)):
                suffix = "/".join(pieces[start:])
                hits = [i for i in same_name if self.files[i][1] == suffix or self.files[i][1].endswith("/" + suffix)]
                if hits:
                    named += [i for i in hits if i not in named]
                    break
        scores = np.zeros(nf, dtype=np.float32)
        for t in set(parts.terms) if words else ():
            posting = self.path_postings.get(t)
            if posting is not None:
                scores[posting[0]] += self.path_idf[t] * posting[1]
        if named:
            ok[named] = False
        # A test or doc file named after the topic (test_redirects.py, docs/options.rst) is the decoy this
        # signal would otherwise add; explicitly named paths above are kept whatever they are.
        ok &= np.isin(self.file_role, [self.ROLES.index(r) for r in ("source", *parts.wants)])
        candidates = np.flatnonzero(ok & (scores > 0))
        order = candidates[np.lexsort((candidates, -scores[candidates]))][:limit]
        picked = named + [int(i) for i in order]
        return [(self.files[i][0], self.files[i][1]) for i in picked[:max(limit, len(named))]]


class Retriever:
    """Searches the published index; one instance serves many queries."""

    def __init__(self, reader: IndexReader, embedder: Embedder, settings: SearchSettings | None = None, *,
                 options: RankingOptions | None = None):
        self.reader = reader
        self.embedder = embedder
        self.settings = settings or SearchSettings()
        self.options = options or RankingOptions()
        self._catalog: tuple[object, _Catalog] | None = None

    def catalog(self) -> _Catalog:
        generation = self.reader.generation
        if self._catalog is None or self._catalog[0] != generation:
            self._catalog = (generation, _Catalog(self.reader))
        return self._catalog[1]

    def search(self, query: str, *, k: int | None = None, repos: list[str] | None = None,
               languages: list[str] | None = None) -> list[SearchHit]:
        k = k or self.settings.k
        if repos is not None and not repos:  # an empty allow-list (app/access.py) matches nothing, never all
            return []
        opt = self.options
        store = self.reader.store
        assert store is not None
        if opt.repo_names:
            repos = question_repos(query, repos, self.reader) or repos
        flt = SearchFilter(repos=repos or None, languages=languages or None)
        n = max(self.settings.candidates, 3 * k)
        parts = analyze_query(query)
        if not opt.titles:
            parts.wants = {role for role, pattern in _WANTS.items() if pattern.search(query)}
        vector = self.embedder.embed_query(query) if opt.dense or opt.paths else None
        dense = store.dense_search(vector, n, flt) if opt.dense else []
        if opt.dense and opt.split:
            dense = dense_parts(query, lambda v: store.dense_search(v, n, flt), self.embedder.embed_query, dense)[:n]

        def words_search(text: str) -> list[Hit]:
            t_idx, t_val = sparse.encode_query(text)
            return store.sparse_search(t_idx, t_val, n, flt) if t_idx else []

        lexical = words_search(query) if opt.sparse else []
        # A pasted error names its type, but the answer is where it is raised: the type's own definition joins
        # the code names only when the question also asks about it by another name.
        errors = set(parts.errors) if opt.symbols else set()
        code_names = [c for c in parts.code if c.rsplit(".", 1)[-1] not in errors]
        ranked_ids = _interleave([h.id for h in dense], [h.id for h in lexical])
        symbol_code = self._symbol_rows(code_names, repos, languages, dotted=True,
                                        ranked=ranked_ids) if opt.symbols else []
        symbol_word = self._symbol_rows(parts.words, repos, languages, dotted=False,
                                        ranked=ranked_ids) if opt.symbols else []
        raise_ids = self._raise_sites(parts.errors, repos, languages, ranked_ids) if errors else []
        frame_ids = self._frame_ids(parts, repos, languages) if opt.symbols and parts.frames else []
        message_hits = message_sites(question_messages(query), words_search) if opt.messages else []
        catalog = self.catalog() if opt.names or (opt.paths and (parts.paths or opt.path_words)) else None
        name_ids = catalog.names(parts.terms, repos, languages) if catalog and opt.names else []
        path_hits: list[Hit] = []
        if catalog and opt.paths:
            files = catalog.path_files(parts, repos, languages, words=opt.path_words)
            if files:
                path_flt = SearchFilter(repos=sorted({r for r, _ in files}), languages=languages or None,
                                        paths=sorted({p for _, p in files}))
                path_hits = store.dense_search(vector, 3 * len(files), path_flt)

        payloads: dict[str, ChunkPayload] = {h.id: h.chunk for h in (*dense, *lexical, *path_hits,
                                                                     *message_hits)}
        wanted = [*(r.id for r in (*symbol_code, *symbol_word)), *frame_ids, *name_ids, *raise_ids]
        missing = list(dict.fromkeys(i for i in wanted if i not in payloads))
        if missing:
            for hit in store.retrieve(missing):
                payloads[hit.id] = hit.chunk

        # A long symbol is split into parts, but it is one answer: fusion ranks whole symbols, each list
        # counting a symbol once at its best-ranked part, and the hit spans the whole symbol.
        # A file's top-level code (imports, constants) is one unit too, so it never takes both of a file's
        # slots.
        def unit(cid: str) -> tuple:
            p = payloads[cid]
            if p.kind == "module" and p.symbol:
                return (p.repo, p.path, p.symbol, "module", "top-level")
            if int(p.parts) > 1 and p.kind not in UNGROUPED_KINDS:
                return (p.repo, p.path, p.symbol, p.kind)
            return (cid,)

        scores: dict[tuple, float] = {}
        file_scores: dict[tuple[str, str], float] = {}
        best_part: dict[tuple, tuple[float, str]] = {}
        ranked_lists = ((WEIGHT_DENSE, [h.id for h in dense]), (WEIGHT_SPARSE, [h.id for h in lexical]),
                        (WEIGHT_SYMBOL_CODE, [r.id for r in symbol_code]),
                        (WEIGHT_SYMBOL_WORD, [r.id for r in symbol_word]),
                        (WEIGHT_FRAME, frame_ids), (WEIGHT_NAME, name_ids), (WEIGHT_RAISE, raise_ids),
                        (WEIGHT_MESSAGE, [h.id for h in message_hits]),
                        (WEIGHT_PATH, [h.id for h in path_hits]))
        for weight, ids in ranked_lists:
            seen: set[tuple] = set()
            seen_files: set[tuple[str, str]] = set()
            rank = 0
            for cid in ids:
                if cid not in payloads:  # in the manifest but not the store: never show a dangling location
                    continue
                key = unit(cid)
                if key in seen:
                    continue
                seen.add(key)
                contribution = weight / (RRF_K + rank + 1)
                rank += 1
                scores[key] = scores.get(key, 0.0) + contribution
                if key not in best_part or contribution > best_part[key][0]:
                    best_part[key] = (contribution, cid)
                fkey = (payloads[cid].repo, payloads[cid].path)
                if fkey not in seen_files:
                    seen_files.add(fkey)
                    file_scores[fkey] = file_scores.get(fkey, 0.0) + weight / (RRF_K + len(seen_files))
        penalty, report = role_penalties(query, ROLE_PENALTY, reports=opt.reports), is_report(query)
        ranked = []
        for key, score in scores.items():
            cid = best_part[key][1]
            payload = payloads[cid]
            kind = payload.kind
            if opt.files or (opt.report_files and report):
                score += FILE_WEIGHT * file_scores.get((payload.repo, payload.path), 0.0)
            role = path_role(payload.path, kind)
            if opt.roles and role != "source" and role not in parts.wants:
                score *= penalty[role]
            elif kind in DOC_KINDS:
                score *= DOC_PENALTY
            if kind == "module":
                score *= MODULE_PENALTY
            if len(key) == 4:
                lines = self.reader.manifest.symbol_lines(payload.repo, payload.path, payload.symbol, kind)
                if lines:
                    payload = replace(payload, start_line=lines[0], end_line=lines[1])
            ranked.append((score, cid, payload))
        ranked.sort(key=lambda t: (-t[0], t[2].path, t[2].start_line))
        return _cap_per_file(ranked, k, self.settings.max_hits_per_file)

    def _frame_ids(self, parts: QueryParts, repos: list[str] | None, languages: list[str] | None) -> list[str]:
        """Definitions named by a traceback frame in a file the frame names, innermost frame first."""
        catalog = self.catalog()
        out: list[str] = []
        for path, name in parts.frames:
            if not name:
                continue
            files = catalog.path_files(QueryParts([], [], [], [path], []), repos, languages, limit=0)
            for repo, rel in files[:3]:
                out += [cid for cid in self.reader.manifest.chunk_ids_named(repo, rel, name) if cid not in out]
        return out

    @staticmethod
    def _disambiguate(rows: list[ChunkRow], ranked: list[str]) -> tuple[list[ChunkRow], dict[str, int]]:
        """A name with many definitions (`save`, `filter`, `items` in a big repository) keeps only the ones the
        question's meaning or words also found: otherwise the first of them in path order would outrank
        everything, since an exact name is the strongest signal. Returns the rows kept and, for those of such
        names, their rank in `ranked`, so they are listed best first."""
        pos = {cid: i for i, cid in enumerate(ranked)}
        by_name: dict[str, list[ChunkRow]] = defaultdict(list)
        for r in rows:
            by_name[r.name].append(r)
        out: list[ChunkRow] = []
        rank: dict[str, int] = {}
        for same in by_name.values():
            if len({(r.repo, r.path, r.symbol) for r in same}) <= AMBIGUOUS_DEFINITIONS:
                out += same
            else:
                found = [r for r in same if r.id in pos]
                out += found
                rank |= {r.id: pos[r.id] for r in found}
        return out, rank

    def _raise_sites(self, errors: list[str], repos: list[str] | None, languages: list[str] | None,
                     ranked: list[str]) -> list[str]:
        """Chunks that use an error type the question pastes (raise, catch, construct), those the question's
        meaning or words also found first; a type used in dozens of places keeps only those."""
        by_file: dict[tuple[str, str], list[int]] = defaultdict(list)
        for name in errors[:3]:
            for repo, path, kind, line in self.reader.symbols.references(name, repos)[:200]:
                if kind != "import":
                    by_file[(repo, path)].append(line)
        sites: list[str] = []
        for (repo, path), lines in by_file.items():  # one query per file, not per reference
            spans = self.reader.manifest.code_spans(repo, path)
            for line in lines:
                inner = min((s for s in spans if s[2] <= line <= s[3]), key=lambda s: s[3] - s[2], default=None)
                if inner and inner[0] not in sites and (not languages or inner[1] in languages):
                    sites.append(inner[0])
        return _prefer_ranked(sites, ranked, keep_unranked=len(sites) <= AMBIGUOUS_DEFINITIONS * 3)

    def _symbol_rows(self, names: list[str], repos: list[str] | None, languages: list[str] | None,
                     *, dotted: bool, ranked: list[str] | None = None) -> list[ChunkRow]:
        if not names:
            return []
        manifest = self.reader.manifest
        plain = [n for n in names if "." not in n]
        rows = manifest.chunks_named(plain, repos) if plain else []
        if dotted:
            for name in (n for n in names if "." in n):
                rows += manifest.chunks_with_symbol_suffix(name, repos)
        if languages:
            rows = [r for r in rows if r.language in languages]
        rank: dict[str, int] = {}
        if ranked is not None:
            rows, rank = self._disambiguate(rows, ranked)
        order = {n: i for i, n in enumerate(names)}
        rows.sort(key=lambda r: (
            min(order.get(r.name, 99), min((order[n] for n in order if r.symbol.endswith(n)), default=99)),
            rank.get(r.id, -1), _KIND_ORDER.get(r.kind, 2), r.repo, r.path, r.start_line,
        ))
        return list({r.id: r for r in rows}.values())[:50]


def _interleave(*lists: list[str]) -> list[str]:
    """Ids in order of their best rank over several ranked lists."""
    best: dict[str, int] = {}
    for ids in lists:
        for rank, cid in enumerate(ids):
            best[cid] = min(best.get(cid, rank), rank)
    return sorted(best, key=lambda c: best[c])


def _prefer_ranked(ids: list[str], ranked: list[str], *, keep_unranked: bool) -> list[str]:
    """`ids` reordered so those the question's meaning or words also found come first, best first; the others
    follow in their own order, or are dropped when there are too many to mean anything."""
    pos = {cid: i for i, cid in enumerate(ranked)}
    found = sorted((c for c in ids if c in pos), key=lambda c: pos[c])
    return found + ([c for c in ids if c not in pos] if keep_unranked else [])


def _cap_per_file(ranked: list[tuple[float, str, ChunkPayload]], k: int, per_file: int) -> list[SearchHit]:
    hits: list[SearchHit] = []
    per: dict[tuple[str, str], int] = {}
    for score, _cid, p in ranked:
        key = (p.repo, p.path)
        if per.get(key, 0) >= per_file:
            continue
        per[key] = per.get(key, 0) + 1
        hits.append(SearchHit(repo=p.repo, path=p.path, start_line=int(p.start_line), end_line=int(p.end_line),
                              symbol=p.symbol, kind=p.kind, language=p.language, score=round(score, 6),
                              text=p.text))
        if len(hits) == k:
            break
    return hits


__all__ = ["Hit", "QueryParts", "RankingOptions", "Retriever", "SearchHit", "analyze_query", "path_role",
           "query_identifiers"]
