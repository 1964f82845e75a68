"""Which language a file is written in, and the tree-sitter objects for it.

`detect_language` goes by file name and extension only, because the indexer must decide cheaply for
thousands of files. `sniff_language` adds the two content checks that pay off: a `#!` line for scripts
without an extension, and C++ constructs in `.h` headers (which C++ projects use as often as `.hpp`).

`detect_language` returns None for names it does not know. The chunker treats such files as plain text
(line windows), so the pipeline only has to skip binary files; None lets it tell "recognised" from
"guessed" if it wants to (e.g. for statistics or include rules).
"""

from __future__ import annotations

import importlib
import re
import threading
from collections.abc import Callable
from functools import cache
from importlib import resources
from pathlib import PurePosixPath

import tree_sitter

# Languages chunked by syntax tree. Markdown has a grammar too, but the chunker splits it by headings
# with a line scanner (see chunking.py); get_parser still offers its parser for other uses.
_GRAMMARS: dict[str, tuple[str, str]] = {
    "python": ("tree_sitter_python", "language"),
    "javascript": ("tree_sitter_javascript", "language"),
    "typescript": ("tree_sitter_typescript", "language_typescript"),
    "tsx": ("tree_sitter_typescript", "language_tsx"),
    "go": ("tree_sitter_go", "language"),
    "java": ("tree_sitter_java", "language"),
    "kotlin": ("tree_sitter_kotlin", "language"),
    "rust": ("tree_sitter_rust", "language"),
    "c": ("tree_sitter_c", "language"),
    "cpp": ("tree_sitter_cpp", "language"),
    "csharp": ("tree_sitter_c_sharp", "language"),
    "ruby": ("tree_sitter_ruby", "language"),
    "php": ("tree_sitter_php", "language_php"),
    "scala": ("tree_sitter_scala", "language"),
    "swift": ("tree_sitter_swift", "language"),
    "bash": ("tree_sitter_bash", "language"),
    "markdown": ("tree_sitter_markdown", "language"),
}

# Languages whose symbols the chunker extracts with a query file in indexer/chunking/queries/.
CODE_LANGUAGES: frozenset[str] = frozenset(_GRAMMARS) - {"markdown"}

_EXTENSIONS: dict[str, str] = {
    # code
    ".py": "python", ".pyi": "python", ".pyw": "python",
    ".js": "javascript", ".mjs": "javascript", ".cjs": "javascript", ".jsx": "javascript",
    ".ts": "typescript", ".mts": "typescript", ".cts": "typescript",
    ".tsx": "tsx",
    ".go": "go",
    ".java": "java",
    ".kt": "kotlin", ".kts": "kotlin",
    ".rs": "rust",
    ".c": "c", ".h": "c",
    ".cc": "cpp", ".cpp": "cpp", ".cxx": "cpp", ".c++": "cpp", ".hpp": "cpp", ".hh": "cpp", ".hxx": "cpp",
    ".h++": "cpp", ".ipp": "cpp", ".inl": "cpp", ".tpp": "cpp",
    ".cs": "csharp",
    ".rb": "ruby", ".rake": "ruby", ".gemspec": "ruby", ".ru": "ruby",
    ".php": "php", ".phtml": "php",
    ".scala": "scala", ".sc": "scala",
    ".swift": "swift",
    ".sh": "bash", ".bash": "bash", ".zsh": "bash", ".ksh": "bash",
    # documents and data
    ".md": "markdown", ".markdown": "markdown", ".mdx": "markdown", ".mkd": "markdown",
    ".rst": "rst", ".rest": "rst",
    ".yml": "yaml", ".yaml": "yaml",
    ".toml": "toml",
    ".json": "json", ".jsonc": "json", ".json5": "json", ".geojson": "json", ".webmanifest": "json",
    ".ipynb": "json",
    ".dockerfile": "dockerfile",
    ".sql": "sql", ".ddl": "sql", ".psql": "sql",
}

# Other text worth indexing, chunked in line windows.
_TEXT_EXTENSIONS = frozenset(
    {
         ".txt", ".text", ".cfg", ".ini", ".conf", ".config", ".properties", ".env", ".editorconfig",
         ".in", ".lock", ".html", ".htm", ".xhtml", ".css", ".scss", ".sass", ".less", ".xml", ".xsd",
         ".xsl", ".xslt", ".plist", ".gradle", ".groovy", ".cmake", ".mk", ".make", ".proto", ".thrift",
         ".graphql", ".gql", ".tf", ".tfvars", ".hcl", ".nix", ".lua", ".pl", ".pm", ".r", ".dart", ".vue",
         ".svelte", ".el", ".clj", ".cljs", ".edn", ".ex", ".exs", ".erl", ".hrl", ".hs", ".ml", ".mli",
         ".fs", ".fsx", ".jl", ".m", ".mm", ".ps1", ".psm1", ".bat", ".cmd", ".vb", ".pas", ".zig", ".nim",
         ".cr", ".v", ".sv", ".vhd", ".asm", ".s", ".tex", ".bib", ".adoc", ".asciidoc", ".org",
         ".textile", ".rdoc", ".pod", ".po", ".pot", ".jinja", ".jinja2", ".j2", ".tmpl", ".tpl",
         ".mustache", ".hbs", ".ejs", ".erb", ".haml", ".slim", ".twig", ".liquid", ".diff", ".patch",
         ".csproj", ".fsproj", ".vbproj", ".sln", ".props", ".targets", ".resx", ".xaml", ".service",
         ".desktop", ".spec", ".bzl", ".bazel", ".star", ".sbt",
    }
)

_FILENAMES: dict[str, str] = {
    "dockerfile": "dockerfile", "containerfile": "dockerfile",
    "rakefile": "ruby", "gemfile": "ruby", "guardfile": "ruby", "vagrantfile": "ruby", "podfile": "ruby",
    "fastfile": "ruby", "brewfile": "ruby", "capfile": "ruby",
    ".bashrc": "bash", ".bash_profile": "bash", ".bash_aliases": "bash", ".profile": "bash",
    ".zshrc": "bash", ".zprofile": "bash", "pkgbuild": "bash", "apkbuild": "bash",
    "pipfile": "toml", "cargo.lock": "toml", "poetry.lock": "toml",
    "makefile": "text", "gnumakefile": "text", "cmakelists.txt": "text", "jenkinsfile": "text",
    "procfile": "text", "license": "text", "licence": "text", "copying": "text", "authors": "text",
    "contributors": "text", "notice": "text", "readme": "text", "changelog": "text", "changes": "text",
    "history": "text", "news": "text", "todo": "text", "codeowners": "text", "manifest": "text",
    "requirements.txt": "text", ".gitignore": "text", ".gitattributes": "text", ".gitmodules": "text",
    ".dockerignore": "text", ".npmignore": "text", ".eslintignore": "text", ".prettierignore": "text",
    ".editorconfig": "text", ".env": "text", ".npmrc": "text", ".nvmrc": "text", ".flake8": "text",
    ".pylintrc": "text", ".babelrc": "json", ".eslintrc": "json", ".prettierrc": "json",
}

# Interpreters named on a `#!` line, for extensionless scripts.
_SHEBANGS: dict[str, str] = {
    "sh": "bash", "bash": "bash", "dash": "bash", "zsh": "bash", "ksh": "bash", "ash": "bash",
    "python": "python", "python2": "python", "python3": "python", "pypy": "python", "pypy3": "python",
    "node": "javascript", "nodejs": "javascript", "deno": "typescript", "bun": "javascript",
    "ts-node": "typescript", "tsx": "typescript",
    "ruby": "ruby", "php": "php", "scala": "scala", "kotlin": "kotlin", "swift": "swift",
}


def detect_language(path: str) -> str | None:
    """The language of `path` from its name alone, or None when the name says nothing we know.

    Names are case-insensitive. Besides the code languages this returns "markdown", "rst", "yaml", "toml",
    "json", "dockerfile", "sql" and "text" (other known text formats). Callers that want every non-binary
    file indexed may treat None as "text"; `chunk_file` does exactly that.
    """
    name = PurePosixPath(path.replace("\\", "/")).name.lower()
    if not name:
        return None
    if name in _FILENAMES:
        return _FILENAMES[name]
    if name.startswith(("dockerfile.", "containerfile.")) or name.endswith(".dockerfile"):
        return "dockerfile"
    dot = name.rfind(".")
    if dot <= 0:  # no extension, or a dotfile such as ".foo" that is not listed above
        return None
    suffix = name[dot:]
    if suffix in _EXTENSIONS:
        return _EXTENSIONS[suffix]
    if suffix in _TEXT_EXTENSIONS or _FILENAMES.get(name[: name.index(".")]) == "text":
        return "text"  # the second test catches "Makefile.am", "LICENSE.mit" and the like
    return None


_CPP_HEADER = re.compile(rb"^\s*(?:class\s+\w+\s*[:{]|namespace\s+\w*\s*\{|template\s*<)", re.M)


def sniff_language(path: str, data: bytes) -> str | None:
    """Like `detect_language`, but extensionless files with a `#!` line get their interpreter's language,
    and a `.h` header that declares classes, namespaces or templates is C++."""
    lang = detect_language(path)
    if lang == "c" and path.lower().endswith(".h") and _CPP_HEADER.search(data, 0, 65536):
        return "cpp"
    if lang not in (None, "text") or not data.startswith(b"#!"):
        return lang
    first = data[2:200].split(b"\n", 1)[0].decode("utf-8", "replace").strip().split()
    if not first:
        return lang
    prog = first[0].rsplit("/", 1)[-1]
    if prog == "env":
        args = [a for a in first[1:] if not a.startswith("-") and "=" not in a]
        prog = args[0] if args else ""
    prog = prog.rstrip("0123456789.") or prog  # python3.11 -> python
    return _SHEBANGS.get(prog, _SHEBANGS.get(prog + "3", lang))


@cache
def get_language(language: str) -> tree_sitter.Language | None:
    """The tree-sitter Language for `language`, or None when no grammar is installed for it."""
    spec = _GRAMMARS.get(language)
    if spec is None:
        return None
    module_name, func_name = spec
    try:
        module = importlib.import_module(module_name)
    except ImportError:
        return None
    factory: Callable[[], object] = getattr(module, func_name)
    return tree_sitter.Language(factory())


# Parsers keep per-parse state, so each thread gets its own; within a (single-threaded) worker process
# that is one parser per language for the life of the process.
_local = threading.local()


def get_parser(language: str) -> tree_sitter.Parser | None:
    """A reusable parser for `language` (cached per thread), or None for languages without a grammar."""
    parsers: dict[str, tree_sitter.Parser | None] | None = getattr(_local, "parsers", None)
    if parsers is None:
        parsers = _local.parsers = {}
    if language not in parsers:
        lang = get_language(language)
        parsers[language] = tree_sitter.Parser(lang) if lang is not None else None
    return parsers[language]


@cache
def get_query(language: str) -> tree_sitter.Query | None:
    """The compiled definitions-and-references query for a code language (indexer/chunking/queries/<lang>.scm).

    Queries are immutable and compiled once per process; callers make a QueryCursor per use.
    """
    lang = get_language(language)
    if lang is None or language not in CODE_LANGUAGES:
        return None
    return tree_sitter.Query(lang, _query_text(language))


def _query_text(name: str, depth: int = 0) -> str:
    """A query file with the files its `; inherits: a, b` first line names before it (JavaScript, TypeScript and
    TSX share their common patterns in ecmascript.scm; TSX is TypeScript plus JSX)."""
    text = resources.files("indexer.chunking").joinpath("queries", f"{name}.scm").read_text(encoding="utf-8")
    first = text.split("\n", 1)[0]
    if not first.startswith("; inherits:") or depth > 4:
        return text
    parents = [p.strip() for p in first.removeprefix("; inherits:").split(",") if p.strip()]
    return "\n".join([*(_query_text(p, depth + 1) for p in parents), text])
