"""A question that names an indexed repository is searched in it (real tree-sitter, qdrant-edge and MiniLM)."""

from __future__ import annotations

import pytest

from app.search.retriever import RankingOptions, Retriever
from app.search.scope import named_repos
from app.service import Service
from app.settings import load_settings
from indexer.reader import IndexReader
from tests.conftest import index_repos

# Two repositories with a "context object" each; the Python one's docstring matches the question's words better,
# as click's `Context` did against koa's lib/context.js on the answer eval's index.
CLICK = {"src/click/core.py": '''"""Command line parsing."""


class Context:
    """The context is a special internal object that holds state relevant for the script execution: the context
    object of every command, its parameters and its parent context object."""

    def __init__(self, command, parent=None):
        self.command = command
        self.parent = parent
'''}
KOA = {"lib/context.js": '''/**
 * Context prototype: one per request, delegating to the request and response.
 */
const proto = module.exports = {
  throw(...args) {
    throw createError(...args)
  },
  get cookies() {
    return this._cookies
  }
}
''', "lib/request.js": '''module.exports = {
  get header() {
    return this.req.headers
  }
}
'''}


@pytest.fixture(scope="module")
def index(tmp_path_factory, embedder):
    return index_repos(tmp_path_factory.mktemp("scope"), {"click": CLICK, "koa": KOA}, embedder)


@pytest.fixture
def search(index, embedder, monkeypatch):
    monkeypatch.setenv("DAYONE_HOME", str(index))
    monkeypatch.delenv("DAYONE_CONFIG", raising=False)
    monkeypatch.chdir(index.parent)
    settings = load_settings()
    reader = IndexReader(settings)

    run_settings = settings

    def run(question, repos=None, **options):
        return Retriever(reader, embedder, settings.search, options=RankingOptions(**options)).search(
            question, k=5, repos=repos)
    run.settings = run_settings
    yield run
    reader.close()


def test_a_question_naming_a_repository_is_searched_there(search):
    question = "What is koa's context object for?"
    assert search(question, repo_names=False)[0].repo == "click"  # what it got before: click's Context first
    hits = search(question)
    assert hits and {h.repo for h in hits} == {"koa"}
    assert any(h.path == "lib/context.js" for h in hits)
    assert {h.repo for h in search("What is the context object for?")} == {"click", "koa"}  # no name, no narrowing


def test_the_facts_card_is_about_the_named_repository_too(search, embedder):
    """The plain word "context" names click's `Context` exactly; the question is about koa's."""
    service = Service(search.settings, embedder=embedder)
    try:
        assert [f.location.split(":")[0] for f in service.facts("What is the Context for?").symbols][:1] == ["click"]
        card = service.facts("What is koa's Context for?")
        assert card.symbols and {f.location.split(":")[0] for f in card.symbols} == {"koa"}
        # the card says the search was narrowed, on the page and in the terminal
        assert card.scope == ["koa"] and service.facts("What is the Context for?").scope == []
        said = "Searched koa only: the question names it."
        assert card.to_text().startswith(said) and said in card.to_html()
    finally:
        service.close()


def test_a_restricted_user_naming_a_hidden_repository_still_searches_their_own(search):
    hits = search("What is koa's context object for?", repos=["click"])
    assert hits and {h.repo for h in hits} == {"click"}
    assert search("What is koa's context object for?", repos=[]) == []


FOUR = ["click", "httpx", "express", "koa"]


@pytest.mark.parametrize(("question", "in_scope", "named"), [
    ("How does httpx follow redirects?", FOUR, ["httpx"]),
    ("how are routes matched in express?", FOUR, ["express"]),
    ("Where does the koa repo handle errors?", FOUR, ["koa"]),
    ("How does `click` parse options?", FOUR, ["click"]),
    ("how does express.Router work?", FOUR, ["express"]),
    # a word that happens to be a repository's name is not a name
    ("what happens when I click the button?", FOUR, []),
    ("How do I express a dependency between two jobs?", FOUR, []),
    ("explain lib/koa/context.js", FOUR, []),
    # naming every repository in scope narrows nothing
    ("compare click's and koa's context objects", ["click", "koa"], []),
])
def test_which_words_name_a_repository(question, in_scope, named):
    assert named_repos(question, in_scope) == named
