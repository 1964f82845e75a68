"""The index run end to end: real grammars, real qdrant-edge, the real MiniLM model."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from app.doors.cli import app
from app.settings import load_settings
from indexer.pipeline.generations import IndexDir
from indexer.pipeline.run import Indexer
from indexer.reader import IndexReader
from indexer.settings import RepoConfig
from tests.conftest import EXAMPLE_SHOP, commit_all, git, make_repo, write_files

runner = CliRunner()

PY_ORDERS = '''"""Orders."""

import payments


class Cart:
    """A shopping cart."""

    def add_item(self, sku, qty):
        """Put an item in the cart."""
        self.items[sku] = self.items.get(sku, 0) + qty

    def total(self):
        return sum(self.items.values())


def pay_order(order, card):
    """Charge the customer's card and mark the order as paid."""
    payments.charge(card, order.total)
    order.paid = True
'''

GO_MAIL = '''package mail

// SendReceipt emails the receipt to the customer after payment.
func SendReceipt(to string, body string) error {
	return smtpSend(to, "Your receipt", body)
}
'''


def _settings(home: Path, **index):
    s = load_settings()
    for k, v in index.items():
        setattr(s.index, k, v)
    return s


def _chunk_ids(settings) -> set[str]:
    with IndexReader(settings) as reader:
        assert reader.store is not None
        store_ids = set(reader.store.iter_ids())
        manifest_ids = reader.manifest.all_chunk_ids()
    assert store_ids == manifest_ids, "store and manifest disagree"
    return store_ids


def _payload_view(settings) -> set[tuple]:
    with IndexReader(settings) as reader:
        hits = reader.store.retrieve(list(reader.manifest.all_chunk_ids()))
    return {(h.payload["path"], h.payload["symbol"], h.payload["start_line"], h.payload["end_line"]) for h in hits}


def test_example_shop_search_puts_the_paying_function_first(home, embedder):
    result = runner.invoke(app, ["index", str(EXAMPLE_SHOP)])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["search", "--json", "where are orders paid"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["query"] == "where are orders paid"
    first = payload["hits"][0]
    assert (first["path"], first["symbol"].rsplit(".", 2)[-2:]) == ("api/orders.py", ["OrderService", "pay"])


def test_search_json_schema_is_the_contract(home, embedder):
    runner.invoke(app, ["index", str(EXAMPLE_SHOP)], catch_exceptions=False)
    result = runner.invoke(app, ["search", "--json", "-k", "7", "send the order confirmation email"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert set(payload) == {"query", "hits"}
    assert 0 < len(payload["hits"]) <= 7
    lines_of = {}
    for hit in payload["hits"]:
        assert set(hit) == {"repo", "path", "start_line", "end_line", "symbol", "kind", "language", "score",
                            "text"}
        assert hit["repo"] == "shop"
        assert not hit["path"].startswith("/") and (EXAMPLE_SHOP / hit["path"]).is_file()
        n = lines_of.setdefault(hit["path"], len((EXAMPLE_SHOP / hit["path"]).read_text().splitlines()))
        assert 1 <= hit["start_line"] <= hit["end_line"] <= n
        assert isinstance(hit["score"], float)
    # at most two hits per file
    paths = [h["path"] for h in payload["hits"]]
    assert max(paths.count(p) for p in paths) <= 2
    assert payload["hits"][0]["path"] == "worker/email.go"


def test_search_by_exact_name_and_by_paraphrase(tmp_path, home, embedder):
    repo = make_repo(tmp_path / "shop", {"orders.py": PY_ORDERS, "mail/mail.go": GO_MAIL})
    settings = load_settings()
    Indexer(settings, embedder=embedder).run([RepoConfig(name="shop", path=str(repo))])
    from app.search.retriever import Retriever

    with IndexReader(settings) as reader:
        r = Retriever(reader, embedder, settings.search)
        assert r.search("pay_order")[0].symbol == "orders.pay_order"
        assert r.search("Cart.add_item")[0].symbol == "orders.Cart.add_item"
        assert r.search("put a product into the basket")[0].symbol == "orders.Cart.add_item"
        assert r.search("email the customer a receipt")[0].path == "mail/mail.go"
        go_only = r.search("receipt", languages=["go"])
        assert go_only and {h.language for h in go_only} == {"go"}


def test_incremental_add_change_rename_delete_equals_fresh_build(tmp_path, home, embedder, monkeypatch):
    repo = make_repo(tmp_path / "r", {"orders.py": PY_ORDERS, "mail/mail.go": GO_MAIL,
                                      "docs/guide.md": "# Guide\n\nHow to pay.\n\n## Refunds\n\nAsk support.\n"})
    settings = load_settings()
    cfg = RepoConfig(name="r", path=str(repo))
    first = Indexer(settings, embedder=embedder).run([cfg])
    assert first.repos[0].added == 3 and not first.failed

    write_files(repo, {"orders.py": PY_ORDERS.replace("mark the order as paid", "flag the order paid"),
                       "new.ts": "export function refund(id: string): void {\n  api.post(id);\n}\n"})
    git(repo, "mv", "mail/mail.go", "mail/receipt.go")
    os.remove(repo / "docs/guide.md")
    commit = commit_all(repo)
    second = Indexer(settings, embedder=embedder).run([cfg])
    rr = second.repos[0]
    assert (rr.added, rr.changed, rr.deleted) == (2, 1, 2)  # new.ts + receipt.go; orders.py; mail.go + guide
    assert rr.commit == commit
    incremental = _chunk_ids(settings)
    view = _payload_view(settings)
    assert not any(p == "mail/mail.go" or p == "docs/guide.md" for p, *_ in view)
    assert any(p == "mail/receipt.go" for p, *_ in view)

    monkeypatch.setenv("DAYONE_HOME", str(tmp_path / "fresh"))
    fresh_settings = load_settings()
    Indexer(fresh_settings, embedder=embedder).run([cfg])
    assert _chunk_ids(fresh_settings) == incremental
    assert _payload_view(fresh_settings) == view


def test_noop_rerun_publishes_nothing_and_settings_change_rebuilds(tmp_path, home, embedder):
    repo = make_repo(tmp_path / "r", {"orders.py": PY_ORDERS})
    settings = load_settings()
    cfg = RepoConfig(name="r", path=str(repo))
    first = Indexer(settings, embedder=embedder).run([cfg])
    again = Indexer(settings, embedder=embedder).run([cfg])
    assert again.generation == first.generation
    assert again.repos[0].up_to_date and again.chunks_embedded == 0
    settings.index.max_chunk_tokens = 64
    rebuilt = Indexer(settings, embedder=embedder).run([cfg])
    assert rebuilt.full_rebuild_reason and "max_chunk_tokens" in rebuilt.full_rebuild_reason
    assert rebuilt.chunks_embedded > 0 and rebuilt.generation != first.generation


def test_full_rebuild_keeps_every_known_repository(tmp_path, home, embedder):
    a = make_repo(tmp_path / "a", {"orders.py": PY_ORDERS})
    b = make_repo(tmp_path / "b", {"mail.go": GO_MAIL})
    settings = load_settings()
    Indexer(settings, embedder=embedder).run([RepoConfig(name="a", path=str(a)),
                                              RepoConfig(name="b", path=str(b))])
    Indexer(settings, embedder=embedder).run([RepoConfig(name="a", path=str(a))], full=True)
    with IndexReader(settings) as reader:
        assert [r.name for r in reader.manifest.repos()] == ["a", "b"]
        assert reader.store.facet_counts("repo") .keys() == {"a", "b"}


def test_second_concurrent_run_is_refused(tmp_path, home):
    repo = make_repo(tmp_path / "r", {"orders.py": PY_ORDERS})
    settings = load_settings()
    with IndexDir(settings.index_dir).writer_lock():
        # a real second process, as an operator's cron job would be
        proc = subprocess.run([sys.executable, "-m", "app.doors.cli", "index", str(repo)], capture_output=True,
                              text=True, env={**os.environ, "DAYONE_HOME": str(home)}, timeout=120)
    assert proc.returncode == 2
    assert "another dayone index run is in progress (pid" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_kill_9_mid_run_keeps_last_index_and_rerun_converges(tmp_path, home, embedder):
    files = {f"pkg/mod{i}.py": f'"""Module {i}."""\n\n\ndef handler_{i}(x):\n    """Handle case {i}."""\n'
             f"    return x * {i}\n\n\nclass Thing{i}:\n    def run(self):\n        return {i}\n"
             for i in range(400)}
    repo = make_repo(tmp_path / "r", {"orders.py": PY_ORDERS})
    settings = load_settings()
    cfg = RepoConfig(name="r", path=str(repo))
    Indexer(settings, embedder=embedder).run([cfg])
    before = _chunk_ids(settings)
    write_files(repo, files)
    commit_all(repo)
    env = {**os.environ, "DAYONE_HOME": str(home)}
    proc = subprocess.Popen([sys.executable, "-m", "app.doors.cli", "index", str(repo), "--name", "r"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    index_dir = IndexDir(settings.index_dir)
    deadline = time.time() + 120
    # kill once the new generation is being written into (its shard exists), i.e. mid-embedding
    while time.time() < deadline:
        gens = index_dir.generations()
        if len(gens) >= 2 and (gens[-1].path / "shard").exists():
            time.sleep(1.0)
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert _chunk_ids(settings) == before  # the published index is untouched and searchable
    result = runner.invoke(app, ["search", "--json", "charge the card"])
    assert result.exit_code == 0 and json.loads(result.stdout)["hits"]

    rerun = Indexer(settings, embedder=embedder).run([cfg])
    assert not rerun.failed
    after = _chunk_ids(settings)
    home2 = tmp_path / "fresh"
    os.environ["DAYONE_HOME"] = str(home2)
    fresh = load_settings()
    Indexer(fresh, embedder=embedder).run([cfg])
    assert _chunk_ids(fresh) == after
    assert len(IndexDir(settings.index_dir).generations()) <= 2  # the killed run's leftovers are gone


@pytest.mark.parametrize("case", ["binary", "nul", "huge", "bad-utf8", "symlink-out", "empty-file"])
def test_bad_files_are_skipped_or_survived_with_a_count(tmp_path, home, embedder, case):
    outside = tmp_path / "secret.txt"
    outside.write_text("TOP SECRET outside the repository\n")
    files: dict[str, str | bytes] = {"ok.py": "def fine():\n    return 1\n"}
    expect_skip = None
    if case == "binary":
        files["logo.png"] = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 10
        expect_skip = "binary-ext"
    elif case == "nul":
        files["data.py"] = b"def x():\n    pass\n\x00\x00\x01garbage"
        expect_skip = "binary"
    elif case == "huge":
        files["big.py"] = "x = 1\n" * 300_000
        expect_skip = "too-large"
    elif case == "bad-utf8":
        files["latin.py"] = "def caf\xe9():\n    return '\xe9t\xe9'\n".encode("latin-1")
    elif case == "empty-file":
        files["empty.py"] = ""
    repo = make_repo(tmp_path / "r", files)
    if case == "symlink-out":
        (repo / "leak.txt").symlink_to(outside)
        commit_all(repo)
        expect_skip = "symlink-outside"
    result = runner.invoke(app, ["index", str(repo)])
    assert result.exit_code == 0, result.output
    if expect_skip:
        assert expect_skip in result.output
    settings = load_settings()
    with IndexReader(settings) as reader:
        texts = [h.payload["text"] for h in reader.store.retrieve(list(reader.manifest.all_chunk_ids()))]
        paths = {h.payload["path"] for h in reader.store.retrieve(list(reader.manifest.all_chunk_ids()))}
    assert "ok.py" in paths
    assert not any("TOP SECRET" in t for t in texts)
    if case == "bad-utf8":
        assert "latin.py" in paths


@pytest.mark.parametrize("case", ["missing-path", "bad-toml", "bad-field", "not-a-url", "no-repos"])
def test_bad_input_gives_one_line_error(tmp_path, home, case):
    args = ["index"]
    if case == "missing-path":
        args.append(str(tmp_path / "nope"))
    elif case == "bad-toml":
        (tmp_path / "dayone.toml").write_text("[[repos]\nname = 'x'\n")
    elif case == "bad-field":
        (tmp_path / "dayone.toml").write_text("[index]\nmax_file_bytes = -3\n")
    elif case == "not-a-url":
        args.append("https://127.0.0.1:1/nothing.git")
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    lines = [ln for ln in result.stderr.strip().splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), result.stderr
    if case == "not-a-url":
        assert "127.0.0.1" in lines[0]


def test_plain_directory_and_empty_repo(tmp_path, home, embedder):
    plain = tmp_path / "plain"
    write_files(plain, {"a.py": "def alpha():\n    return 1\n"})
    empty = make_repo(tmp_path / "empty", {})
    result = runner.invoke(app, ["index", str(plain), str(empty)])
    assert result.exit_code == 0, result.output
    status = runner.invoke(app, ["status", "--json"])
    info = json.loads(status.stdout)
    by_name = {r["name"]: r for r in info["repos"]}
    assert by_name["plain"]["commit"] is None and by_name["plain"]["chunks"] >= 1
    assert by_name["empty"]["chunks"] == 0


def test_search_before_any_index_is_a_clear_error(home):
    result = runner.invoke(app, ["search", "anything"])
    assert result.exit_code == 2
    assert "run `dayone index` first" in result.stderr


def test_corrupt_manifest_is_reported_then_rebuilt(tmp_path, home, embedder):
    repo = make_repo(tmp_path / "r", {"orders.py": PY_ORDERS})
    settings = load_settings()
    cfg = RepoConfig(name="r", path=str(repo))
    Indexer(settings, embedder=embedder).run([cfg])
    before = _chunk_ids(settings)
    current = IndexDir(settings.index_dir).current()
    current.manifest_path.write_bytes(b"this is not a database" * 100)
    result = runner.invoke(app, ["search", "pay"])
    assert result.exit_code == 2
    assert "manifest" in result.stderr and "dayone index --full" in result.stderr
    rebuilt = Indexer(settings, embedder=embedder).run([cfg])
    assert rebuilt.full_rebuild_reason and "unreadable" in rebuilt.full_rebuild_reason
    assert _chunk_ids(settings) == before


def test_missing_embedding_model_is_a_one_line_error(tmp_path, home):
    repo = make_repo(tmp_path / "r", {"orders.py": PY_ORDERS})
    (tmp_path / "dayone.toml").write_text(f'[embedding]\nmodel_path = "{tmp_path / "no-model"}"\n')
    result = runner.invoke(app, ["index", str(repo)])
    assert result.exit_code == 2
    assert result.stderr.strip() == f"error: embedding model not found: {tmp_path / 'no-model'} is not a directory"
    assert IndexDir(load_settings().index_dir).current() is None


def test_parallel_parsing_gives_the_sequential_index(tmp_path, home, embedder, monkeypatch):
    """Parsing workers (used on machines with more than two cores) must change nothing but speed: same chunk
    ids, lines, skips and redactions as parsing in this process."""
    import indexer.pipeline.run as pipeline

    monkeypatch.setattr(pipeline, "PARALLEL_MIN_FILES", 4)
    monkeypatch.setattr(pipeline, "PARSE_WINDOW", 5)  # several windows, one of them partial
    files = {f"pkg/m{i:02d}.py": f'def handler_{i}(x):\n    """Handle case {i}."""\n    return x + {i}\n'
             for i in range(11)}
    files |= {"mail/mail.go": GO_MAIL, "orders.py": PY_ORDERS, "empty.py": "",
              "settings.yaml": 'db:\n  password: "hunter2-Secret-9f8e7d"\n',
              "logo.png": "\x89PNG\r\n\x1a\n\x00\x00binary"}
    repo = make_repo(tmp_path / "r", files)
    cfg = RepoConfig(name="r", path=str(repo))
    views = []
    for workers in (1, 3):
        monkeypatch.setenv("DAYONE_HOME", str(tmp_path / f"home-{workers}"))
        settings = _settings(tmp_path, parse_workers=workers)
        run = Indexer(settings, embedder=embedder).run([cfg])
        rr = run.repos[0]
        assert not run.failed
        views.append((_chunk_ids(settings), _payload_view(settings), dict(rr.skipped), dict(rr.redacted)))
    assert views[0] == views[1]
    ids, view, skipped, redacted = views[0]
    assert {p for p, *_ in view} >= {f"pkg/m{i:02d}.py" for i in range(11)}
    assert skipped.get("empty") == 1 and skipped.get("binary-ext", 0) + skipped.get("binary", 0) == 1
    assert sum(redacted.values()) == 1


def test_parse_workers_auto_stays_sequential_on_two_cores(monkeypatch):
    from indexer.pipeline import run as pipeline

    monkeypatch.setattr(pipeline.os, "sched_getaffinity", lambda _pid: {0, 1})
    assert pipeline.parse_workers(0) == 1
    monkeypatch.setattr(pipeline.os, "sched_getaffinity", lambda _pid: set(range(16)))
    assert pipeline.parse_workers(0) == 8
    assert pipeline.parse_workers(3) == 3


def _disk_and_apparent(path: Path) -> tuple[int, int]:
    files = [f for f in path.rglob("*") if f.is_file()]
    return sum(f.stat().st_blocks * 512 for f in files), sum(f.stat().st_size for f in files)


def test_a_new_generation_keeps_the_engine_files_sparse(tmp_path, home, embedder):
    """The engine preallocates its files as sparse files; each generation copies the shard, and a plain copy
    wrote every hole out (200 MB of real disk per generation for the example repository)."""
    repo = make_repo(tmp_path / "r", {"orders.py": PY_ORDERS})
    settings = load_settings()
    cfg = RepoConfig(name="r", path=str(repo))
    first = Indexer(settings, embedder=embedder).run([cfg])
    disk1, apparent1 = _disk_and_apparent(settings.index_dir / first.generation / "shard")
    if disk1 * 4 > apparent1:
        pytest.skip("this file system does not keep the engine's files sparse in the first place")
    write_files(repo, {"mail.go": GO_MAIL})
    commit_all(repo)
    second = Indexer(settings, embedder=embedder).run([cfg])
    assert second.generation != first.generation
    disk2, apparent2 = _disk_and_apparent(settings.index_dir / second.generation / "shard")
    assert apparent2 >= apparent1 // 2  # the same kind of preallocated files ...
    assert disk2 < disk1 + 8 * 1024 * 1024, (disk1, disk2, apparent2)  # ... not written out in full


def test_copy_sparse_copies_data_and_keeps_holes(tmp_path):
    from indexer.pipeline.generations import copy_sparse

    src, dst = tmp_path / "src", tmp_path / "dst"
    with open(src, "wb") as f:
        f.write(b"head" * 1000)
        f.seek(64 * 1024 * 1024)
        f.write(b"tail")
    copy_sparse(src, dst)
    assert dst.read_bytes() == src.read_bytes()
    if src.stat().st_blocks * 512 < 16 * 1024 * 1024:  # the file system made a hole: the copy must keep it
        assert dst.stat().st_blocks <= src.stat().st_blocks + 64
