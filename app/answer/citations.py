"""Checking an answer after it streamed: each [n] mapped to a real location and renumbered, and every file
path or code name that the index (within the user's repositories) does not hold flagged, never linked."""

from __future__ import annotations

import re
from collections.abc import Iterator

from app.answer.callgraph import CONSTRUCTOR_NAMES, CallGraph
from app.answer.prompts import EXAMPLE_NAMES, NOT_INDEXED
from app.answer.relations import false_claims
from app.answer.results import Answer, Flag, Source
from indexer.reader import IndexReader

_CITATION = re.compile(r"\[\s*(?:sources?\s*)?(\d+(?:\s*(?:,|;|-|–|and)\s*(?:sources?\s*)?\d+)*)\s*\]", re.I)
_LOCATION = re.compile(r"\[?`?(?:(?P<repo>[A-Za-z0-9][\w.-]*):)?(?P<path>[\w./-]+\.[A-Za-z0-9]+):L?(?P<start>\d+)"
                       r"(?:\s*-\s*L?(?P<end>\d+))?`?\]?")
_FENCE = re.compile(r"```.*?(?:```|\Z)", re.S)
_URL = re.compile(r"\b[a-z][a-z0-9+.-]*://\S+", re.I)
_EXTENSIONS = ("py|pyi|ts|tsx|js|jsx|mjs|go|rs|java|kt|kts|rb|php|c|h|cc|cpp|hpp|cs|swift|scala|sql|md|rst|"
               "toml|yaml|yml|json|sh|bash|html|css|scss|proto|txt|cfg|ini|mod")
# A file path is only recognised with an extension, so "and/or" or a URL route is never taken for one.
_PATH = re.compile(rf"(?<![\w/.:-])(?:(?P<repo>[A-Za-z0-9][\w.-]*):)?(?P<path>(?:[\w.-]+/)*[\w-][\w.-]*"
                   rf"\.(?:{_EXTENSIONS}))(?::L?\d+(?:-L?\d+)?)?(?![\w/])")
_BACKTICKS = re.compile(r"`([^`\n]+)`")
_CODE_HEAD = re.compile(r"^[A-Za-z_$][\w$]*(?:(?:\.|::|#|->)[A-Za-z_$][\w$]*)*")
_CODE_WORD = re.compile(r"(?<![\w.$/`])[A-Za-z_$][\w$]*(?:(?:\.|::|->)[A-Za-z_$][\w$]*)*(?:\(\))?")
# "PaymentError" in prose: a type's name, or a product's ("GitHub", "PostgreSQL"). It only links to a source that
# defines it and is never flagged, so a brand name costs nothing.
_PASCAL = re.compile(r"^[A-Z][a-z0-9]+(?:[A-Z][a-z0-9]+)+$")
_TYPE_KINDS = {"class", "struct", "interface", "trait", "enum", "type", "protocol", "object", "module_type"}
_COMMON = {
    "none", "true", "false", "null", "nil", "undefined", "self", "this", "cls", "super", "str", "int", "float",
    "bool", "dict", "list", "tuple", "set", "bytes", "string", "number", "boolean", "void", "any", "error",
    "err", "ctx", "context", "async", "await", "return", "def", "class", "func", "function", "const", "let",
    "var", "import", "from", "select", "insert", "update", "delete", "where", "into", "values", "begin",
    "commit", "rollback", "transaction", "raise", "try", "except", "with", "yield", "print", "len", "range",
    "exception", "valueerror", "typeerror", "keyerror", "object", "promise", "map", "array", "json", "http",
    "https", "get", "post", "put", "patch", "fmt", "main", "init", "__init__", "args", "kwargs", "node.js",
    "vue.js", "next.js", "react.js", "express.js",
}


def check_answer(question: str, standalone: str, raw: str, shown: list[Source], reader: IndexReader,
                 repos: list[str] | None = None) -> Answer:
    """Map the answer's citations to real locations and flag what the index does not hold.

    Citations are `[n]` (also `[1, 2]`, `[1-3]`, `[Source 2]`) or a copied source header. A sentence without
    one that names a source's symbol or file cites that source: small models often name the function and
    file but forget the number. The final text numbers citations by first use ([k] is `citations[k-1]`).
    A number that names no source becomes "[?]"; a path or code name the index does not hold is marked
    "(not in the index)", and so is a relation between real names that the symbol table shows to be false
    (app/answer/relations.py), whose sentence then cites nothing; all are listed in `flagged`.
    """
    original = raw
    index = IndexNames(reader, shown, repos)
    raw, flags = _without_example_copies(raw, index)
    by_number = {s.number: s for s in shown}
    by_location = {(s.path, s.start_line): s for s in shown}
    cites: list[tuple[int, int, list[int], bool]] = []  # start, end, source numbers, inserted (implicit)
    occupied: list[tuple[int, int]] = [(m.start(), m.end()) for m in _FENCE.finditer(raw)]
    for m in _CITATION.finditer(raw):
        if not _overlaps(m.start(), m.end(), occupied):
            cites.append((m.start(), m.end(), _expand(m.group(1)), False))
    for m in _LOCATION.finditer(raw):  # a source's header copied as a citation: "[api/orders.py:L64-L92]"
        src = by_location.get((m.group("path"), int(m.group("start"))))
        if src is not None and m.group(0).startswith("[") and not _overlaps(m.start(), m.end(), occupied + [
                (c[0], c[1]) for c in cites]):
            cites.append((m.start(), m.end(), [src.number], False))
    occupied += [(c[0], c[1]) for c in cites]

    marks: list[tuple[int, int, str]] = []
    rewrites: dict[str, str] = {}  # a path written for a source's file -> that file
    mentioned: list[tuple[int, str, str, list[int]]] = []  # position, text, kind, sources it refers to
    for start, end, text, kind in _mentions(raw, occupied):
        if kind == "name":
            if found := _referred(text, "symbol", shown):
                mentioned.append((start, text, "symbol", found))
            continue
        reason = index.path_problem(text) if kind == "path" else index.symbol_problem(text)
        if reason and kind == "path" and index.is_member(text):
            kind, reason = "symbol", None  # `res.json` is express's method `res.json`, not a JSON file
        if reason and kind == "path" and (fixed := _source_path(text, shown)) is not None:
            # "app/application.js" where a source is lib/application.js (the 1.5B borrowed the worked example's
            # app/ folder): the file is the source's; the path is written as the index holds it, and the fix is
            # listed, never counted as a name the index holds
            old = text.rpartition(":")[2]
            rewrites[old.lstrip("./")] = fixed
            marks.append((start, end, raw[start:end].replace(old, fixed, 1)))
            flags.append(Flag(text, "corrected", f"written as {fixed}, the file of a source with that name"))
            text, reason = fixed, None
        if reason:
            if not any(f.text == text and f.kind == kind for f in flags):
                flags.append(Flag(text, kind, reason))
            marks.append((end, end, NOT_INDEXED))
        else:
            mentioned.append((start, text, kind, _referred(text, kind, shown)))
    # A relation the index shows to be false ("`A` calls `B`" with no such call) is marked like an invented name,
    # and its sentence cites nothing: a citation would lend it the authority of the cited lines.
    false_spans: list[tuple[int, int]] = []
    for claim, reason in false_claims(raw, reader, repos, occupied, rewrites):
        false_spans.append((claim.start, claim.end))
        flags.append(Flag(claim.text, "relation", reason))
        if not any(m[0] == claim.end for m in marks):
            marks.append((claim.end, claim.end, NOT_INDEXED))
    # A sentence's citations must agree with what it names: the sources of the functions and files it names
    # come first, a number whose source holds none of those names is dropped (small models copy numbers from
    # the example or cite a neighbour), and a sentence that names a source but cites nothing cites it.
    fences = [(m.start(), m.end()) for m in _FENCE.finditer(raw)]
    for start, end in _sentences(raw, fences):
        if any(start <= c_start < end for c_start, _c_end in false_spans):
            for i in [i for i, c in enumerate(cites) if start <= c[0] < end]:
                c_start, c_end, numbers, inserted = cites[i]
                flags += [Flag(f"[{n}]", "citation", "dropped: its sentence states a relation the index does not "
                               "show") for n in numbers if n in by_number]
                cites[i] = (c_start, c_end, [], inserted)
            continue
        here = [(text, kind, found) for pos, text, kind, found in mentioned if start <= pos < end]
        names = [text for text, _kind, _found in here]
        refs: list[int] = []
        for _text, kind, found in sorted(here, key=lambda m: m[1] == "path"):  # names, then files not covered
            if kind == "path" and any(by_number[n].path == by_number[f].path for n in refs for f in found):
                continue
            refs += [n for n in found if n not in refs]
        if not refs:
            continue
        inside = [i for i, c in enumerate(cites) if start <= c[0] < end]
        if not inside:
            at = end - 1 if raw[end - 1] in ".!?:;," else end
            cites.append((at, at, refs, True))
            continue
        for j, i in enumerate(inside):
            c_start, c_end, numbers, inserted = cites[i]
            kept = [n for n in numbers if n in refs or (n in by_number and _supports(by_number[n], names))
                    or n not in by_number]
            for n in numbers:
                if n not in kept:
                    flags.append(Flag(f"[{n}]", "citation", f"dropped: source [{n}] "
                                      f"({by_number[n].location}) holds nothing its sentence names"))
            cites[i] = (c_start, c_end, (refs + [n for n in kept if n not in refs]) if j == 0 else
                        [n for n in kept if n not in refs], inserted)

    order: list[int] = []
    edits = list(marks)
    for start, end, numbers, inserted in sorted(cites, key=lambda c: c[0]):
        parts = []
        for n in numbers:
            if n in by_number:
                if n not in order:
                    order.append(n)
                parts.append(f"[{order.index(n) + 1}]")
            else:
                flags.append(Flag(f"[{n}]", "citation", f"there is no source [{n}]"))
                parts.append("[?]")
        if not parts and not inserted and start > 0 and raw[start - 1] == " ":
            start -= 1  # a dropped citation takes its leading space with it
        edits.append((start, end, (" " if inserted else "") + "".join(parts)))
    final = _apply(raw, edits).strip()
    citations = [by_number[n] for n in order]
    return Answer(question=question, standalone_question=standalone, text=final, raw_text=original,
                  citations=citations, cited_numbers=order[:], sources=list(shown), flagged=flags)


def _without_example_copies(raw: str, index: IndexNames) -> tuple[str, list[Flag]]:
    """The text without its sentences that name the prompt's worked example (a name only the example has, which
    the index does not hold), and a flag for each: such a sentence is about the example, never the user's code."""
    fences = [(m.start(), m.end()) for m in _FENCE.finditer(raw)]
    cuts: list[tuple[int, int, str]] = []
    flags: list[Flag] = []
    for start, end in _sentences(raw, fences):
        for _s, _e, text, kind in _mentions(raw[start:end], []):
            if kind != "name" and text in EXAMPLE_NAMES and (
                    index.path_problem(text) if kind == "path" else index.symbol_problem(text)):
                sentence = raw[start:end].strip()
                sentence = sentence if len(sentence) <= 100 else sentence[:99] + "…"
                flags.append(Flag(text, "example", f"only the prompt's worked example has it; its sentence was "
                                  f"removed: \"{sentence}\""))
                line_start = raw.rfind("\n", 0, start) + 1
                if re.fullmatch(r"\s*(?:\d+[.)]|[-*+])?\s*", raw[line_start:start]):
                    start = line_start  # a list item's marker goes with it
                while end < len(raw) and raw[end] in " \t":
                    end += 1
                if (start == 0 or raw[start - 1] == "\n") and end < len(raw) and raw[end] == "\n":
                    end += 1  # a whole line (a list item) goes with its line break
                cuts.append((start, end, ""))
                break
    return (_apply(raw, cuts), flags) if cuts else (raw, [])


def _source_path(text: str, shown: list[Source]) -> str | None:
    """The one source file a path that the index does not hold stands for: the same file name (a dotted module
    written as a file, `click.core.py`, read as click/core.py), in exactly one of the prompt's source files, or
    a bare file named after the object whose methods one source file holds."""
    path = text.rpartition(":")[2].lstrip("./")
    stem, dot, ext = path.rpartition(".")
    tries = [path] + ([stem.replace(".", "/") + dot + ext] if "." in stem.rsplit("/", 1)[-1] else [])
    files = {s.path for s in shown}
    for wanted in tries:
        for same in ({f for f in files if f.endswith("/" + wanted)},
                     {f for f in files if f.rsplit("/", 1)[-1] == wanted.rsplit("/", 1)[-1]}):
            if len(same) == 1:
                return same.pop()
            if same:
                return None  # two sources' files by that name: which one is a guess
    if "/" not in path and stem.isidentifier():
        # "app.js" for express's lib/application.js, whose methods are `app.lazyrouter`, `app.handle`: a file
        # written under the name of the object (or class) its source's methods hang on
        owners = {s.path for s in shown if s.path.endswith(dot + ext)
                  and s.short_name.lower().startswith(stem.lower() + ".")}
        if len(owners) == 1:
            return owners.pop()
    return None


def _supports(src: Source, names: list[str]) -> bool:
    """Whether a source holds one of the names a sentence mentions (its path, symbol or code)."""
    hay = f"{src.path}\n{src.symbol}\n{src.text}"
    for name in names:
        bare = name.rpartition(":")[2] if "/" in name else name.removesuffix("()")
        last = re.split(r"\.|::|#|->", bare)[-1]
        if bare in hay or (len(last) >= 3 and re.search(rf"(?<![\w$]){re.escape(last)}(?![\w$])", hay)):
            return True
    return False


def _referred(text: str, kind: str, shown: list[Source]) -> list[int]:
    """The sources a valid mention names: a symbol's definition, else the first source in a named file."""
    if kind == "path":
        path = text.rpartition(":")[2].lstrip("./")
        return [next(s.number for s in shown if s.path == path or s.path.endswith("/" + path))] if any(
            s.path == path or s.path.endswith("/" + path) for s in shown) else []
    name = text.removesuffix("()")
    last = re.split(r"\.|::|#|->", name)[-1]
    if len(last) < 3:
        return []
    exact = [s.number for s in shown if s.short_name and (s.short_name == name or s.symbol.endswith("." + name))]
    if exact:
        return exact[:1]
    return [s.number for s in shown if s.short_name and re.split(r"\.|#", s.symbol)[-1] == last][:1]


def _sentences(raw: str, code_spans: list[tuple[int, int]]) -> Iterator[tuple[int, int]]:
    """(start, end) of each sentence or line of prose; fenced code blocks are skipped."""
    for line in re.finditer(r"[^\n]+", raw):
        start = line.start()
        for m in re.finditer(r"(?<=[.!?])\s+(?=[A-Z`*\[(])", line.group(0)):
            end = line.start() + m.start()
            if not _overlaps(start, end, code_spans) and raw[start:end].strip():
                yield start, end
            start = line.start() + m.end()
        end = line.end()
        while end > start and raw[end - 1].isspace():
            end -= 1
        if end > start and not _overlaps(start, end, code_spans):
            yield start, end


def _expand(group: str) -> list[int]:
    numbers: list[int] = []
    for a, sep, b in re.findall(r"(\d+)\s*(?:(-|–)\s*(?:sources?\s*)?(\d+))?", group, flags=re.I):
        if sep and b and 0 < int(b) - int(a) < 20:
            numbers.extend(range(int(a), int(b) + 1))
        else:
            numbers.append(int(a))
    return list(dict.fromkeys(numbers))


def _overlaps(start: int, end: int, spans: list[tuple[int, int]]) -> bool:
    return any(start < e and s < end for s, e in spans)


def _apply(text: str, edits: list[tuple[int, int, str]]) -> str:
    """Apply non-overlapping (start, end, replacement) edits; inserts at one position keep their list order."""
    indexed = sorted(enumerate(edits), key=lambda e: (e[1][0], e[1][1], e[0]), reverse=True)
    for _i, (start, end, new) in indexed:
        text = text[:start] + new + text[end:]
    return text


def _mentions(raw: str, occupied: list[tuple[int, int]]) -> Iterator[tuple[int, int, str, str]]:
    """(start, end, text, kind) of each file path and code name the answer mentions; `end` is where a
    "(not in the index)" mark goes (after the closing backtick for code spans)."""
    taken = list(occupied)
    for m in _URL.finditer(raw):
        taken.append((m.start(), m.end()))
    # Code spans first: `api/orders.py`, `OrderService.pay()`.
    for m in _BACKTICKS.finditer(raw):
        if _overlaps(m.start(), m.end(), taken):
            continue
        inner = m.group(1).strip()
        taken.append((m.start(), m.end()))
        pm = _PATH.fullmatch(inner)
        if pm:
            path = pm.group("path")
            yield m.start(), m.end(), f"{pm.group('repo')}:{path}" if pm.group("repo") else path, "path"
            continue
        head = _CODE_HEAD.match(inner)
        if head and (head.end() == len(inner) or inner[head.end():].lstrip().startswith("(")):
            yield m.start(), m.end(), head.group(0), "symbol"
    # Paths in prose.
    for m in _PATH.finditer(raw):
        if _overlaps(m.start(), m.end(), taken):
            continue
        path = m.group("path")
        if path.lower() in _COMMON:
            continue
        taken.append((m.start(), m.end()))
        text = f"{m.group('repo')}:{path}" if m.group("repo") else path
        yield m.start(), m.end(), text, "path"
    # Code-like names in prose: dotted, snake_case, camelCase, or called().
    for m in _CODE_WORD.finditer(raw):
        if _overlaps(m.start(), m.end(), taken):
            continue
        word = m.group(0)
        bare = word.removesuffix("()")
        parts = re.split(r"\.|::|->", bare)
        code_like = (
            word.endswith("()")
            or (len(parts) > 1 and all(len(p) >= 2 for p in parts) and not bare.replace(".", "").isdigit())
            or "_" in bare.strip("_")
            or bool(re.search(r"^[a-z]+[A-Z]", bare))
        )
        if code_like:
            yield m.start(), m.end(), bare, "symbol"
        elif _PASCAL.match(bare):
            yield m.start(), m.end(), bare, "name"


class IndexNames:
    """Answers "is this path / name in the index?" from the manifest and the sources the prompt carried."""

    def __init__(self, reader: IndexReader, shown: list[Source], repos: list[str] | None):
        self.reader = reader
        self.repos = repos
        self.source_text = "\n".join(f"{s.path}\n{s.symbol}\n{s.text}" for s in shown)
        self._files: dict[str, set[str]] | None = None

    def files(self) -> dict[str, set[str]]:
        if self._files is None:
            manifest = self.reader.manifest
            names = [r.name for r in manifest.repos() if self.repos is None or r.name in self.repos]
            self._files = {name: set(manifest.files(name)) for name in names}
        return self._files

    def path_problem(self, text: str) -> str | None:
        repo, _, path = text.rpartition(":") if ":" in text else ("", "", text)
        path = path.lstrip("./")
        repos = self.files()
        candidates = {repo: repos[repo]} if repo in repos else repos
        if repo and repo not in repos:
            return f"no indexed repository is named {repo!r}"
        head, _, rest = path.partition("/")
        if not repo and head in repos and rest and rest in repos[head]:
            return None  # "click/src/click/core.py": the repository's name written as a folder (larger models do)
        for files in candidates.values():
            if path in files or any(f.endswith("/" + path) for f in files):
                return None
            if any(f.startswith(path.rstrip("/") + "/") for f in files):  # a directory
                return None
        return "no indexed file has this path"

    def is_member(self, text: str) -> bool:
        """Whether a mention read as a file name (`res.json`) is a definition's dotted name in the index."""
        return "/" not in text and ":" not in text and "." in text and bool(
            self.reader.manifest.chunks_with_symbol_suffix(text, self.repos))

    def _field(self, owners: list, name: str) -> bool:
        """Whether one of the classes sets `name` as a field: `self.name =`/`this.name =` in its own code or its
        constructor's (click's `Result.__init__` sets `self.stdout_bytes`), or `name = ...`/`name: ...` in its
        body. Fields are no definitions of their own, so the symbol table alone never knows them."""
        graph = CallGraph(self.reader, self.repos)
        assigned = re.compile(rf"(?:\b(?:self|this)\.{re.escape(name)}\s*=(?!=)|^\s*{re.escape(name)}\s*[:=](?!=))",
                              re.M)
        for row in owners:
            for d in graph.file_definitions(row.repo, row.path):
                inside = d.qualified_name == row.symbol or (d.qualified_name.startswith(row.symbol + ".")
                                                             and d.name in CONSTRUCTOR_NAMES)
                if inside and assigned.search(graph.code(d)):
                    return True
        return False

    def symbol_problem(self, name: str) -> str | None:
        if name.lower() in _COMMON or len(name) < 3:
            return None
        if re.search(rf"(?<![\w$]){re.escape(name)}(?![\w$])", self.source_text):
            return None
        parts = [p for p in re.split(r"\.|::|#|->", name) if p]
        last = parts[-1]
        manifest = self.reader.manifest
        defined = bool(manifest.chunks_named([last], self.repos) or self.reader.symbols.known_names([last], self.repos))
        if not defined and not re.search(rf"(?<![\w$]){re.escape(last)}(?![\w$])", self.source_text):
            owners = [r for r in manifest.chunks_named([parts[-2]], self.repos) if r.kind in _TYPE_KINDS] \
                if len(parts) > 1 else []
            if not self._field(owners, last):
                return "no indexed definition or source has this name"
        if len(parts) > 1:
            if manifest.chunks_with_symbol_suffix(".".join(parts[-2:]), self.repos):
                return None
            owners = [r for r in manifest.chunks_named([parts[-2]], self.repos) if r.kind in _TYPE_KINDS]
            if owners and not self._field(owners, last):
                # `OrderService.reserve_stock`: a real class, a real name, but not its member
                return f"{parts[-2]} has no member {last!r} in the index"
        for part in parts[:-1]:
            if part.lower() in _COMMON or re.search(rf"(?<![\w$]){re.escape(part)}(?![\w$])", self.source_text):
                continue
            if manifest.chunks_named([part], self.repos) or self.reader.symbols.known_names([part], self.repos):
                continue
            if any(part in p.split("/") or p.split("/")[-1].split(".")[0] == part
                   for files in self.files().values() for p in files):
                continue
            return f"{part!r} is not defined in the index"
        return None


def strip_citations(text: str) -> str:
    return re.sub(r"\s*" + _CITATION.pattern, "", text, flags=re.I).strip()


