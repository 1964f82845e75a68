"""Repository tours of real indexed repositories: the example shop and small Python, TypeScript and Go projects."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import EXAMPLE_SHOP, ROOT, make_repo

PY_PROJECT = {
    "README.md": "# Ledger\n\n[![ci](https://x/badge.svg)](https://x)\n\nLedger keeps double-entry books for small "
                 "teams. It has a CLI and an HTTP API.\n\n## Development\n\n```sh\npip install -e .\npytest -q\n"
                 "```\n\n## Running\n\n```console\n$ ledger serve --port 8000\nServing on :8000\n```\n",
    "pyproject.toml": "[project]\nname = \"ledger\"\nversion = \"1.0\"\n\n[project.scripts]\nledger = "
                      "\"ledger.cli:main\"\n\n[tool.pytest.ini_options]\ntestpaths = [\"tests\"]\n",
    "Makefile": "test:\n\tpytest\n\nlint:\n\truff check .\n\ndocs:\n\tmkdocs build\n",
    "ledger/__init__.py": '"""Double-entry bookkeeping: accounts, postings and balances."""\n',
    "ledger/cli.py": '"""The ledger command."""\nimport click\n\n\n@click.group()\ndef main():\n    """Ledger."""\n\n\n'
                     '@main.command()\n@click.option("--port", default=8000)\ndef serve(port):\n'
                     '    """Run the API."""\n'
                     '    from ledger.api import app\n    app.run(port=port)\n\n\n@main.command("close-month")\n'
                     'def close_month():\n    pass\n',
    "ledger/api.py": '"""HTTP API."""\nfrom fastapi import FastAPI\n\nfrom ledger.books import Book\n\napp = FastAPI()'
                     '\n\n\n@app.get("/accounts/{name}")\ndef get_account(name: str):\n    return Book().balance(name)'
                     '\n\n\n@app.post("/postings")\ndef post(entry: dict):\n    return Book().post(entry)\n',
    "ledger/books.py": '"""The books.\n\nUsed by routes like::\n\n    @app.get("/not-a-route")\n'
                       '    def fake(): ...\n"""\n\n\nclass Book:\n    """All accounts of one company."""\n\n'
                       '    def balance(self, name):\n        return 0\n\n'
                       '    def post(self, entry):\n        return entry\n',
    "ledger/jobs.py": '"""Nightly jobs."""\nfrom celery import shared_task\n\nfrom ledger.books import Book\n\n\n'
                      '@shared_task\ndef close_day():\n    Book().post({})\n\n\nif __name__ == "__main__":\n'
                      '    close_day()\n',
    ".github/workflows/ci.yml": "on:\n  push:\n  schedule:\n    - cron: '0 3 * * *'\njobs:\n  test:\n    steps:\n"
                                "      - run: pip install -e .[test]\n      - run: |\n          ruff check .\n"
                                "          pytest -x\n",
}

TS_PROJECT = {
    "package.json": json.dumps({"name": "notes", "description": "A notes service.", "main": "dist/server.js",
                                "bin": {"notes": "dist/cli.js"},
                                "scripts": {"build": "tsc", "test": "vitest run", "dev": "tsx watch src/server.ts"}},
                               indent=2),
    "src/server.ts": "/** The HTTP server. */\nimport express from 'express';\nimport { Store } from './store';\n\n"
                     "const app = express();\nconst store = new Store();\napp.get('/notes/:id', (req, res) => "
                     "res.json(store.get(req.params.id)));\napp.post('/notes', (req, res) => res.json(store.add("
                     "req.body)));\napp.listen(3000);\n",
    "src/store.ts": "/** Notes kept in memory. */\nexport class Store {\n  get(id: string) { return id; }\n"
                    "  add(note: object) { return note; }\n}\n",
    "src/cleanup.ts": "import cron from 'node-cron';\nimport { Store } from './store';\n\n"
                      "cron.schedule('0 * * * *', () => new Store());\n",
    "src/cli.ts": "import { Command } from 'commander';\nconst program = new Command();\n"
                  "program.command('export').action(() => {});\nprogram.parse();\n",
    "app/api/health/route.ts": "export async function GET() {\n  return new Response('ok');\n}\n",
}

GO_PROJECT = {
    "go.mod": "module example.com/relay\n\ngo 1.22\n",
    "cmd/relay/main.go": "// Command relay forwards webhooks.\npackage main\n\nimport (\n\t\"net/http\"\n\n"
                         "\t\"example.com/relay/hooks\"\n)\n\nfunc main() {\n"
                         "\thttp.HandleFunc(\"/hooks\", hooks.Receive)\n\thttp.ListenAndServe(\":8080\", nil)\n}\n",
    "hooks/hooks.go": "// Package hooks receives and forwards webhooks.\npackage hooks\n\nimport \"net/http\"\n\n"
                      "// Receive accepts one webhook.\nfunc Receive(w http.ResponseWriter, r *http.Request) {}\n",
    "hooks/retry.go": "package hooks\n\nimport \"time\"\n\nfunc RetryLoop() {\n\tt := time.NewTicker(time.Minute)\n"
                      "\t_ = t\n}\n",
    "cmd/relay/root.go": "package main\n\nimport \"github.com/spf13/cobra\"\n\nvar rootCmd = &cobra.Command{\n"
                         "\tUse:   \"relay\",\n}\n",
}


@pytest.fixture(scope="module")
def index(tmp_path_factory, embedder):
    from app.settings import Settings
    from indexer.pipeline.run import Indexer
    from indexer.settings import RepoConfig

    base = tmp_path_factory.mktemp("tour")
    repos = {name: make_repo(base / name, files) for name, files in
             (("ledger", PY_PROJECT), ("notes", TS_PROJECT), ("relay", GO_PROJECT))}
    settings = Settings(home=base / "home")
    result = Indexer(settings, embedder=embedder).run(
        [RepoConfig(name="shop", path=str(EXAMPLE_SHOP))] + [RepoConfig(name=n, path=str(p)) for n, p in repos.items()])
    assert not result.failed
    return settings


def _tour(settings, repo):
    from app.tour.tour import build_tour
    from indexer.reader import IndexReader

    with IndexReader(settings) as reader:
        return build_tour(settings, reader, repo, summaries={})


def _entries(tour, kind):
    return {(i.text, i.path, i.line) for i in tour.entry_points if i.kind == kind}


def test_python_project_tour(index):
    tour = _tour(index, "ledger")
    assert tour.about.text == "Ledger keeps double-entry books for small teams. It has a CLI and an HTTP API."
    assert tour.about.location == "ledger:README.md:5"
    commands = {cat: [i.text for i in items] for cat, items in tour.commands.items()}
    assert commands["build"][0] == "pip install -e ."
    assert "pytest -q" in commands["test"] and "make test" in commands["test"] and "make lint" in commands["test"]
    assert "ruff check ." in commands["test"] and "pytest -x" in commands["test"]  # from the CI workflow
    assert "ledger serve --port 8000" in commands["run"]
    assert "Serving on :8000" not in sum(commands.values(), [])  # console output is not a command
    assert {("GET /accounts/{name}", "ledger/api.py", 10), ("POST /postings", "ledger/api.py", 15)} == \
        _entries(tour, "route")  # not the example inside books.py's docstring
    commands_found = _entries(tour, "command")
    assert ("serve", "ledger/cli.py", 12) in commands_found and ("close-month", "ledger/cli.py", 19) in commands_found
    assert ("ledger", "ledger/cli.py", 5) in commands_found  # the console script, linked to its function
    assert ("close_day", "ledger/jobs.py", 8) in _entries(tour, "scheduled")
    assert ("cron 0 3 * * *", ".github/workflows/ci.yml", 4) in _entries(tour, "scheduled")
    assert ("python -m ledger.jobs", "ledger/jobs.py", 12) in _entries(tour, "main")
    assert tour.central_symbols[0].text == "Book"
    assert tour.central_symbols[0].detail == "All accounts of one company."
    dirs = {i.text: i for i in tour.directories}
    assert dirs["ledger/"].detail.endswith("Double-entry bookkeeping: accounts, postings and balances.")
    assert [(p["name"], p["email"]) for p in tour.people] == [("Test", "test@example.invalid")]


def test_typescript_project_tour(index):
    tour = _tour(index, "notes")
    routes = _entries(tour, "route")
    assert {("GET /notes/:id", "src/server.ts", 7), ("POST /notes", "src/server.ts", 8)} <= routes
    assert ("GET /api/health", "app/api/health/route.ts", 1) in routes
    assert ("export", "src/cli.ts", 3) in _entries(tour, "command")
    assert ("notes", "package.json", 6) in _entries(tour, "command")  # package.json bin
    assert tour.about.text == "A notes service." and tour.about.location == "notes:package.json:3"
    assert any(i.path == "src/cleanup.ts" and i.line == 4 for i in tour.entry_points if i.kind == "scheduled")
    commands = {cat: [i.text for i in items] for cat, items in tour.commands.items()}
    assert commands["build"] == ["npm run build (tsc)"]
    assert commands["test"] == ["npm test (vitest run)"]
    assert commands["run"] == ["npm run dev (tsx watch src/server.ts)"]
    assert tour.central_symbols[0].text == "Store"


def test_go_project_tour(index):
    tour = _tour(index, "relay")
    assert ("cmd/relay (func main)", "cmd/relay/main.go", 10) in _entries(tour, "main")
    assert ("/hooks", "cmd/relay/main.go", 11) in _entries(tour, "route")
    assert ("relay", "cmd/relay/root.go", 6) in _entries(tour, "command")
    assert any(i.path == "hooks/retry.go" and i.line == 6 for i in tour.entry_points if i.kind == "scheduled")
    assert [i.text for i in tour.commands["test"]] == ["go test ./..."]
    dirs = {i.text: i.detail for i in tour.directories}
    assert dirs["hooks/"].endswith("Package hooks receives and forwards webhooks.")
    assert dirs["cmd/relay/"].endswith("Command relay forwards webhooks.")


def test_example_shop_central_symbols_are_the_ones_people_name(index):
    tour = _tour(index, "shop")
    top = [i.text for i in tour.central_symbols]
    assert top[0] == "OrderService" and set(top[:4]) == {"OrderService", "Cart", "InventoryService", "Database"}
    assert {"PaymentGateway", "create_app"} <= set(top[:8])
    assert [i.text for i in tour.central_modules[:3]] == ["api/orders.py", "web/src/cart.ts", "api/inventory.py"]
    assert tour.central_modules[0].detail == "Orders: creation, payment, cancellation and refunds."
    # Every item links to a real line of a real file.
    for item in [tour.about, *tour.entry_points, *tour.central_modules, *tour.central_symbols, *tour.directories,
                 *sum(tour.commands.values(), [])]:
        lines = (EXAMPLE_SHOP / item.path).read_text().splitlines()
        assert 1 <= item.line <= len(lines), item


def test_example_shop_symbols_and_methods_rank_high(index):
    from app.tour.repomap import build_repo_map, is_peripheral
    from indexer.reader import IndexReader

    with IndexReader(index) as reader:
        ranked = [s.qualified_name for s in build_repo_map(reader.symbols, "shop").symbols if not is_peripheral(s.path)]
    assert ranked.index("api.orders.OrderService.pay") < 20
    assert ranked.index("api.inventory.InventoryService.reserve_stock") < 25
    assert ranked.index("api.orders.OrderService") < ranked.index("api.notifications.Notifier.order_shipped")


def test_pagerank_matches_the_definition():
    from app.tour.repomap import pagerank

    ranks = pagerank(["a", "b", "c"], {("a", "b"): 1.0, ("b", "c"): 1.0, ("c", "a"): 1.0})
    assert all(abs(r - 1 / 3) < 1e-9 for r in ranks.values())
    star = pagerank(["hub", "x", "y", "z"], {("x", "hub"): 1.0, ("y", "hub"): 1.0, ("z", "hub"): 1.0})
    assert max(star, key=star.get) == "hub" and abs(sum(star.values()) - 1) < 1e-9


def test_cli_tour_json_and_unknown_repo(index):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "DAYONE_HOME": str(index.home)}
    env.pop("DAYONE_CONFIG", None)
    ok = subprocess.run([sys.executable, "-m", "app.doors.cli", "tour", "shop", "--json"], env=env, capture_output=True,
                        text=True, cwd=index.home.parent, check=False)
    assert ok.returncode == 0, ok.stderr
    body = json.loads(ok.stdout)
    assert body["central_symbols"][0]["location"] == "shop:api/orders.py:23"
    text = subprocess.run([sys.executable, "-m", "app.doors.cli", "tour", "shop"], env=env, capture_output=True,
                          text=True, cwd=index.home.parent, check=False)
    assert "Entry points" in text.stdout and "shop:worker/main.go:19" in text.stdout
    bad = subprocess.run([sys.executable, "-m", "app.doors.cli", "tour", "nope"], env=env, capture_output=True,
                         text=True, cwd=index.home.parent, check=False)
    assert bad.returncode == 2 and bad.stderr.strip().startswith("error: no indexed repository is named 'nope'")
    assert len(bad.stderr.strip().splitlines()) == 1


def test_tour_reads_the_indexed_commit_not_the_work_tree(index, tmp_path):
    """Edits after indexing do not leak into the tour: files are read by the blob the index recorded."""
    from app.tour.repofiles import RepoFiles
    from indexer.reader import IndexReader

    with IndexReader(index) as reader:
        files = RepoFiles(index, reader, "ledger")
        root = files.root
        original = files.read("ledger/books.py")
        (root / "ledger/books.py").write_text("# changed after indexing\n")
        try:
            fresh = RepoFiles(index, reader, "ledger")
            assert fresh.read("ledger/books.py") == original
        finally:
            subprocess.run(["git", "checkout", "--", "ledger/books.py"], cwd=root, check=True)


# -- model-written summaries -------------------------------------------------------------------------------------

def test_summaries_are_written_once_and_regenerated_only_for_changed_items(tmp_path, embedder):
    from app.settings import Settings
    from app.tour.summaries import cached_summaries, refresh_summaries, summary_targets
    from app.tour.tour import build_tour
    from indexer.pipeline.run import Indexer
    from indexer.reader import IndexReader
    from indexer.settings import RepoConfig
    from tests.app.answer.test_chat_model import shared_chat_model
    from tests.conftest import commit_all

    model = shared_chat_model()
    # Two items say nothing about themselves: a module without a docstring and a directory without docs.
    undocumented = {"ledger/rates.py": "from ledger.books import Book\n\n\ndef convert(amount, rate):\n"
                                       "    return Book().post({'amount': amount * rate})\n",
                    "tools/report.py": "import sys\n\n\ndef report():\n    print(sys.argv)\n"}
    root = make_repo(tmp_path / "ledger", {**PY_PROJECT, **undocumented})
    settings = Settings(home=tmp_path / "home", tour={"summaries": True})
    repo = RepoConfig(name="ledger", path=str(root))
    Indexer(settings, embedder=embedder).run([repo])
    with IndexReader(settings) as reader:
        targets = {(t.kind, t.path) for t in summary_targets(settings, reader, "ledger")}
        # Documented items keep their authors' words and cost no model call.
        assert targets == {("module", "ledger/rates.py"), ("module", "tools/report.py"), ("directory", "tools")}
        first = refresh_summaries(settings, reader, ["ledger"], model)
        assert (first.generated, first.reused, first.failed) == (3, 0, 0)
        written = cached_summaries(settings, reader, "ledger")
        tour = build_tour(settings, reader, "ledger")
    assert set(written) == targets
    assert all(text and len(text.split()) <= 60 and "\n" not in text for text in written.values())
    assert tour.summaries == "model"
    assert {i.text: i.detail for i in tour.directories}["tools/"] == f"(1 file) {written[('directory', 'tools')]}"
    assert {i.text: i.detail for i in tour.central_modules}["ledger/rates.py"] == written[("module",
                                                                                           "ledger/rates.py")]

    with IndexReader(settings) as reader:
        again = refresh_summaries(settings, reader, ["ledger"], model)
    assert (again.generated, again.reused) == (0, 3)  # nothing changed: no model call

    (root / "ledger/rates.py").write_text("from ledger.books import Book\n\n\ndef convert(amount, rate):\n"
                                          "    return Book().post({'amount': round(amount * rate)})\n\n\n"
                                          "def inverse(rate):\n    return 1 / rate\n")
    commit_all(root, "inverse rates")
    Indexer(settings, embedder=embedder).run([repo])
    with IndexReader(settings) as reader:
        third = refresh_summaries(settings, reader, ["ledger"], model)
        after = cached_summaries(settings, reader, "ledger")
    # rates.py's material (its definitions) changed; tools/ and its module did not.
    assert (third.generated, third.reused) == (1, 2)
    assert after[("directory", "tools")] == written[("directory", "tools")]


def test_summaries_off_means_extractive_and_no_model(index):
    from app.tour.summaries import refresh_summaries
    from app.tour.tour import build_tour
    from indexer.reader import IndexReader

    off = index.model_copy(deep=True)
    off.tour.summaries = False
    with IndexReader(off) as reader:
        result = refresh_summaries(off, reader, ["shop"], model=object())  # would fail if it were called
        tour = build_tour(off, reader, "shop")
    assert result.generated == result.reused == 0
    assert tour.summaries == "extractive"
    assert {i.text: i.detail for i in tour.directories}["worker/"].endswith(
        "Command worker delivers the emails the API queues in the email_jobs table.")


def test_dayone_index_writes_summaries_for_what_changed(home, tmp_path, monkeypatch):
    """The wiring: `dayone index` refreshes the tour summaries after publishing, and only for changed repos."""
    from typer.testing import CliRunner

    from app.doors.cli import app
    from app.settings import load_settings
    from app.tour.summaries import cached_summaries
    from indexer.reader import IndexReader
    from tests.app.answer.test_chat_model import llm_env
    from tests.conftest import commit_all

    for key, value in llm_env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("DAYONE_TOUR__SUMMARIES", "true")
    root = make_repo(tmp_path / "tools", {"README.md": "# Tools\n", "tools/report.py": "import sys\n\n\n"
                                          "def report():\n    print(sys.argv)\n"})
    runner = CliRunner()
    result = runner.invoke(app, ["index", str(root)])
    assert result.exit_code == 0, result.output
    assert "tour summaries: " in result.stderr and " written" in result.stderr
    with IndexReader(load_settings()) as reader:
        assert cached_summaries(load_settings(), reader, "tools")
    result = runner.invoke(app, ["index", str(root)])  # nothing changed: no model call, no summary line
    assert result.exit_code == 0 and "tour summaries" not in result.stderr
    monkeypatch.setenv("DAYONE_LLM__MODEL_PATH", str(tmp_path / "missing.gguf"))
    (root / "tools" / "more.py").write_text("def more():\n    return 1\n")
    commit_all(root)
    result = runner.invoke(app, ["index", str(root)])  # a broken model costs the summaries, not the index
    assert result.exit_code == 0, result.output
    assert "warning: tour summaries skipped:" in result.stderr
