"""The repository tour: what a new hire reads on day one, before they know what to ask.

It answers, for one indexed repository: what is this (README), how do I build, test and run it (README code
blocks, Makefile targets, package.json scripts, pyproject/tox, CI workflows, Dockerfile), where does execution
start (main functions, CLI commands, HTTP route handlers, scheduled jobs), which modules and symbols matter
most (PageRank over the reference graph, app/tour/repomap.py), and what each directory is for. Every item carries
its location as repo:path:line so the reader can jump there.

Everything is read from the published index generation (manifest, symbol table) and the indexed blobs; the
one-line summaries come from the model-written cache (app/tour/summaries.py) when present, else from the code's
own docstrings and comments. Building a tour never writes anything and never calls a model.
"""

from __future__ import annotations

from app.settings import Settings
from app.tour.commands import repo_commands
from app.tour.entry_points import entry_points
from app.tour.items import Item, Tour
from app.tour.overview import (
    declared_description,
    directory_doc,
    map_directories,
    readme_path,
    readme_summary,
    repo_map,
)
from app.tour.repofiles import RepoFiles, module_doc, symbol_doc
from app.tour.repomap import is_peripheral
from app.tour.summaries import cached_summaries
from indexer.reader import IndexReader

# -- the tour ---------------------------------------------------------------------------------------------------

def build_tour(settings: Settings, reader: IndexReader, repo: str, *, modules: int = 8, symbols: int = 12,
               summaries: dict[tuple[str, str], str] | None = None) -> Tour:
    """The tour of one indexed repository. `summaries` maps (kind, path) to a model-written line, if cached.

    Raises KeyError (with a readable message) for a repository that is not in the index.
    """
    files = RepoFiles(settings, reader, repo)
    if summaries is None:
        summaries = cached_summaries(settings, reader, repo)
    assert reader.generation is not None
    paths = files.paths
    readme = readme_path(paths)
    about = None
    readme_text = files.read(readme) if readme else None
    if readme and readme_text:
        text, line = readme_summary(readme_text)
        if text:
            about = Item(text, repo, readme, line, kind="readme")
    if about is None:
        about = declared_description(files)
    rmap = repo_map(reader, repo)
    central_files = [f.path for f in rmap.files if not is_peripheral(f.path)]
    used_model = False
    module_items = []
    mod_texts = files.read_many(central_files[:modules])
    for path in central_files[:modules]:
        text = mod_texts.get(path)
        summary = module_doc(path, text) if text else ""  # the authors' words first, then the model's
        if not summary and (summary := summaries.get(("module", path), "")):
            used_model = True
        module_items.append(Item(path, repo, path, 1, summary or "", "module"))
    symbol_items = []
    shown = [s for s in rmap.symbols if not is_peripheral(s.path)]
    sym_texts = files.read_many(sorted({s.path for s in shown[:symbols]}))
    seen_names: set[str] = set()
    for s in shown:
        if len(symbol_items) >= symbols:
            break
        short = s.qualified_name
        module = s.path.rsplit(".", 1)[0].replace("/", ".")
        short = short[len(module) + 1:] if short.startswith(module + ".") else short
        if short in seen_names:
            continue
        seen_names.add(short)
        text = sym_texts.get(s.path)
        doc = symbol_doc(text.splitlines(), s.start_line, s.end_line, s.path) if text else ""
        symbol_items.append(Item(short, repo, s.path, s.start_line, doc, s.kind))
    directories = []
    for d, count in map_directories(paths):
        doc, doc_path, line = directory_doc(files, d, central_files)
        if not doc and (doc := summaries.get(("directory", d), "")):
            used_model = True
        label = f"{count} file{'s' if count != 1 else ''}"
        directories.append(Item(d + "/", repo, doc_path or d, line, f"({label}) {doc}".rstrip(), "directory"))
    from app.tour.people import people_for_repo

    people = [p.to_json() for p in people_for_repo(settings, repo, files.entry.source, central_files[:modules])]
    return Tour(
        repo=repo, commit=files.entry.commit, people=people, generation=reader.generation.name, about=about,
        commands=repo_commands(files, readme), entry_points=entry_points(files, reader),
        central_modules=module_items, central_symbols=symbol_items, directories=directories,
        summaries="model" if used_model else "extractive",
    )


__all__ = ["Item", "Tour", "build_tour", "map_directories", "readme_summary"]
