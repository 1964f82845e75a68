"""Ranking signals on a small real index (real tree-sitter, qdrant-edge and MiniLM): each test guards one."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from app.doors.cli import app
from app.search.retriever import RankingOptions, Retriever, analyze_query, path_role
from app.settings import load_settings
from indexer.reader import IndexReader
from tests.conftest import index_repos

runner = CliRunner()

CLIENT = '''"""The HTTP client."""


class Client:
    def send(self, request):
        """Send one request and return its response."""
        return self.transport.handle(request)

    def _redirect_method(self, request, response):
        """When a 303 See Other answers a POST, the next request is a GET."""
        method = request.method
        if response.status_code == 303 and method != "HEAD":
            method = "GET"
        return method

    def _redirect_headers(self, request, url):
        """Drop the Authorization header when the redirect goes to another origin."""
        headers = dict(request.headers)
        if url.host != request.url.host:
            headers.pop("Authorization", None)
        return headers
'''

MULTIPART = '''class FileField:
    def render_headers(self):
        """Content-Disposition with the field name and file name."""
        return b"Content-Disposition: form-data; name=" + self.name.encode()
'''

DOC = "# Redirects\n\n" + "When a POST gets a 303 redirect the client switches the method to GET. " * 6 + "\n"
TEST = '''def test_redirect_303_post_becomes_get(client):
    """A POST redirected with 303 is repeated as a GET: the redirect method switches."""
    response = client.post("/redirect_303")
    assert response.request.method == "GET"
'''

WEB_HANDLER = "def handle(request):\n    user = request.user\n    return user.profile.render()\n"
API_HANDLER = "def handle(request):\n    payload = request.json()\n    return {'ok': payload}\n"
GO_UPLOAD = ("package upload\n\n// Store saves an uploaded multipart file.\n"
             "func Store(name string) error {\n\treturn nil\n}\n")


@pytest.fixture(scope="module")
def index(tmp_path_factory, embedder):
    return index_repos(tmp_path_factory.mktemp("retrieval"), {"net": {
        "net/_client.py": CLIENT, "net/_multipart.py": MULTIPART, "docs/redirects.md": DOC,
        "tests/test_redirects.py": TEST, "web/handler.py": WEB_HANDLER, "api/handler.py": API_HANDLER,
        "upload/store.go": GO_UPLOAD,
    }}, embedder)


@pytest.fixture
def settings(index, monkeypatch):
    monkeypatch.setenv("DAYONE_HOME", str(index))
    monkeypatch.delenv("DAYONE_CONFIG", raising=False)
    monkeypatch.chdir(index.parent)
    return load_settings()


def _search(settings, embedder, query, **options):
    with IndexReader(settings) as reader:
        return Retriever(reader, embedder, settings.search, options=RankingOptions(**options)).search(query, k=10)


PY_TRACEBACK = '''Traceback (most recent call last):
  File "/srv/app/main.py", line 40, in dispatch
    return view(request)
  File "/srv/app/web/handler.py", line 3, in handle
    return user.profile.render()
AttributeError: 'NoneType' object has no attribute 'render'
'''


def test_query_analysis_reads_tracebacks_paths_and_roles():
    parts = analyze_query(PY_TRACEBACK)
    assert parts.frames[0] == ("srv/app/web/handler.py", "handle")  # innermost first
    assert "srv/app/web/handler.py" in parts.paths and "handle" in parts.code
    assert "handler.py" not in parts.code and "py" not in parts.code
    js = analyze_query("TypeError: x is undefined\n    at Layer.handle [as handle_request] "
                       "(/app/node_modules/express/lib/router/layer.js:95:5)\n    at next (/app/lib/route.js:9:3)")
    assert js.frames[0] == ("app/node_modules/express/lib/router/layer.js", "handle")
    assert analyze_query("which test covers the redirect?").wants == {"test"}
    assert path_role("tests/test_x.py") == "test" and path_role("lib/x.test.js") == "test"
    assert path_role("docs/guide.rst") == "doc" and path_role("CHANGELOG.md") == "doc"
    assert path_role("examples/app.py") == "example" and path_role("src/pkg/core.py") == "source"


def test_traceback_frame_finds_the_function_in_the_named_file(settings, embedder):
    hits = _search(settings, embedder, PY_TRACEBACK)
    assert (hits[0].path, hits[0].symbol) == ("web/handler.py", "web.handler.handle")


def test_source_ranks_above_docs_and_tests_that_repeat_its_words(settings, embedder):
    question = "a POST that gets a 303 redirect turns into a GET, where is the method switched?"
    hits = _search(settings, embedder, question)
    assert hits[0].path == "net/_client.py" and hits[0].symbol.endswith("_redirect_method")
    asked = _search(settings, embedder, "which test checks that a POST redirected with 303 becomes a GET?")
    assert asked[0].path == "tests/test_redirects.py"


def test_search_text_output_says_which_hits_are_tests_or_docs(settings):
    result = runner.invoke(app, ["search", "which test checks that a POST redirected with 303 becomes a GET?"])
    assert result.exit_code == 0, result.output
    lines = {line.split()[1].split(":")[1]: line for line in result.output.splitlines()
             if line[:3].strip()[:1].isdigit()}
    assert ", test, " in lines["tests/test_redirects.py"] and ", doc, " in lines["docs/redirects.md"]
    assert ", test, " not in lines["net/_client.py"] and ", doc, " not in lines["net/_client.py"]


def test_name_signal_matches_question_words_to_definition_names(settings, embedder):
    with IndexReader(settings) as reader:
        r = Retriever(reader, embedder, settings.search)
        catalog = r.catalog()
        ids = catalog.names(analyze_query("how is the redirect method picked").terms, None, None)
        rows = {row[0]: row for row in catalog.rows}
        first = reader.manifest.conn.execute("SELECT symbol FROM chunks WHERE id=?", (ids[0],)).fetchone()[0]
        assert first.endswith("Client._redirect_method") and rows[ids[0]][2] == "net/_client.py"
        assert catalog.names(analyze_query("how is the redirect method picked").terms, None, ["go"]) == []


def test_path_signal_uses_named_paths_and_path_words(settings, embedder):
    with IndexReader(settings) as reader:
        catalog = Retriever(reader, embedder, settings.search).catalog()
        assert catalog.path_files(analyze_query("uploads with multipart break"), None, None)[0] == \
            ("net", "net/_multipart.py")
        named = catalog.path_files(analyze_query("see site-packages/net/_client.py line 3"), None, None)
        assert named[0] == ("net", "net/_client.py")
        assert catalog.path_files(analyze_query("multipart upload"), None, ["go"]) == [("net", "upload/store.go")]


def test_filters_hold_for_every_signal(settings, embedder):
    hits = _search(settings, embedder, "multipart upload _redirect_method handler.py")
    assert hits
    with IndexReader(settings) as reader:
        go = Retriever(reader, embedder, settings.search).search("multipart upload _redirect_method handler.py",
                                                                  languages=["go"])
        assert go and {h.language for h in go} == {"go"}
        assert Retriever(reader, embedder, settings.search).search("multipart", repos=["other"]) == []


def test_search_batch_prints_one_line_per_query_like_search_json(settings, embedder, tmp_path):
    batch = tmp_path / "q.jsonl"
    batch.write_text(json.dumps({"id": "a", "query": "where is the redirect method switched"}) + "\n\n"
                     + json.dumps({"id": 7, "query": "multipart file headers", "repo": "net"}) + "\n")
    result = runner.invoke(app, ["search", "--batch", str(batch), "--json", "-k", "3"])
    assert result.exit_code == 0, result.output
    lines = [json.loads(x) for x in result.stdout.strip().splitlines()]
    assert [x["id"] for x in lines] == ["a", 7]
    single = json.loads(runner.invoke(app, ["search", "--json", "-k", "3", "multipart file headers"]).stdout)
    assert lines[1]["query"] == single["query"] and lines[1]["hits"] == single["hits"]
    assert set(lines[0]) == {"id", "query", "hits"} and len(lines[0]["hits"]) == 3


@pytest.mark.parametrize("content, where", [('{"id": 1}\n', ":1:"), ('{"query": "ok"}\nnot json\n', ":2:"),
                                             ('{"query": "x", "repo": 3}\n', ":1:")])
def test_search_batch_bad_line_is_one_line_error_before_any_output(settings, tmp_path, content, where):
    batch = tmp_path / "bad.jsonl"
    batch.write_text(content)
    result = runner.invoke(app, ["search", "--batch", str(batch), "--json"])
    assert result.exit_code == 2 and result.stdout == ""
    lines = [ln for ln in result.stderr.strip().splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and where in lines[0]
    missing = runner.invoke(app, ["search", "--batch", str(Path(tmp_path / "nope.jsonl")), "--json"])
    assert missing.exit_code == 2 and "cannot read" in missing.stderr


# -- pasted errors and names defined in many places (large repositories) -------------------------------------

ERRORS = '''class NoRouteMatch(Exception):
    """No route matches the name and arguments given to reverse()."""


class Forbidden(Exception):
    pass
'''
ROUTER = '''from shop.errors import NoRouteMatch


def reverse(name, kwargs):
    """Build the URL of a named route from its keyword arguments."""
    for route in ROUTES:
        if route.name == name and route.accepts(kwargs):
            return route.format(kwargs)
    raise NoRouteMatch("Reverse for %r with keyword arguments %r not found." % (name, kwargs))
'''
MODELS = "".join(f'''

class {cls}:
    def save(self):
        """{doc}"""
        {body}
''' for cls, doc, body in (
    ("Basket", "Keep the basket in the session cookie.", "session['basket'] = self.items"),
    ("Invoice", "Render the invoice as PDF and archive it.", "archive.put(pdf.render(self))"),
    ("Order", "Write the order row to the database with an INSERT or an UPDATE.", "db.execute(sql_upsert(self))"),
    ("Profile", "Resize the avatar picture before storing it.", "images.resize(self.avatar)"),
    ("Setting", "Persist one configuration value in the settings file.", "config.write(self.key, self.value)"),
))


@pytest.fixture(scope="module")
def big_names(tmp_path_factory, embedder):
    files = {"shop/errors.py": ERRORS, "shop/router.py": ROUTER, "shop/models.py": MODELS}
    return index_repos(tmp_path_factory.mktemp("names"), {"shop": files}, embedder)


def test_query_analysis_skips_hosts_acronyms_and_finds_printed_errors():
    parts = analyze_query("Behind https://app.example.com the SQL and URL checks fail, i.e. POST returns 403 "
                          "for 1 pattern(s) on api.internal:8000")
    assert parts.code == [] and parts.errors == []
    parts = analyze_query("shop.errors.NoRouteMatch: Reverse for 'cart' not found")
    assert parts.errors == ["NoRouteMatch"]
    assert analyze_query("Usage: cli [OPTIONS]\nError: Missing option '--name'.").errors == []
    assert analyze_query("I catch an IntegrityError and then get TransactionManagementError").errors == [
        "IntegrityError", "TransactionManagementError"]


def test_pasted_error_finds_where_it_is_raised_not_its_class(big_names, embedder, monkeypatch):
    monkeypatch.setenv("DAYONE_HOME", str(big_names))
    monkeypatch.chdir(big_names.parent)
    hits = _search(load_settings(), embedder,
                   "shop.errors.NoRouteMatch: Reverse for 'cart' with keyword arguments '{}' not found.")
    assert hits[0].symbol == "shop.router.reverse", [(h.symbol, h.score) for h in hits[:3]]


def test_a_name_defined_in_many_places_keeps_only_the_definitions_the_question_also_found():
    """In a big repository `save` or `filter` name dozens of definitions; in path order the first of them would
    take the exact-name signal's top rank. Only those that dense or BM25 search also found stay, best first."""
    from app.search.retriever import Retriever, _interleave
    from indexer.catalog.manifest import ChunkRow

    rows = [ChunkRow(f"id-{cls}", "shop", f"shop/{cls}.py", f"shop.{cls}.{cls.title()}.save", "save", "method",
                     "python", 1, 3) for cls in ("basket", "invoice", "order", "profile", "setting")]
    rows.append(ChunkRow("id-pay", "shop", "shop/pay.py", "shop.pay.pay_order", "pay_order", "function", "python",
                         1, 9))
    ranked = _interleave(["id-order", "id-x", "id-pay"], ["id-y", "id-profile"])
    kept, rank = Retriever._disambiguate(rows, ranked)
    assert sorted(r.id for r in kept) == ["id-order", "id-pay", "id-profile"]  # `pay_order` is defined once
    assert rank == {"id-order": 0, "id-profile": 3}  # best first when listed: order (dense 1st), profile


def test_symbol_lookup_lists_a_many_times_defined_name_best_first(big_names, embedder, monkeypatch):
    monkeypatch.setenv("DAYONE_HOME", str(big_names))
    monkeypatch.chdir(big_names.parent)
    settings = load_settings()
    with IndexReader(settings) as reader:
        saves = {r.symbol.split(".")[-2]: r.id for r in reader.manifest.chunks_named(["save"])}
        assert len(saves) == 5
        r = Retriever(reader, embedder, settings.search)
        rows = r._symbol_rows(["save"], None, None, dotted=True, ranked=[saves["Profile"], "x", saves["Order"]])
    assert [row.id for row in rows] == [saves["Profile"], saves["Order"]]  # not their order in the file
