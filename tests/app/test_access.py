"""Repository access control through the CLI: a user without a repository never gets anything from it.

Real index (tree-sitter, MiniLM, qdrant-edge), real `dayone search --json --user` invocations. The queries are
built from the hidden repository's own text (its identifiers, qualified names, paths, words), so a leak in any
retrieval signal (dense, BM25, exact symbol names) would show.
"""

from __future__ import annotations

import json
import random
import re
import time

import pytest
import torch
from typer.testing import CliRunner

from app import access
from app.access import allowed_repos, repos_for, restrict
from app.doors.cli import app
from app.settings import load_settings
from indexer.pipeline.run import Indexer
from indexer.reader import IndexReader
from indexer.settings import RepoConfig
from tests.conftest import EXAMPLE_SHOP, ROOT, make_repo

runner = CliRunner()
FIXTURES = ROOT / "tests" / "indexer" / "chunking" / "fixtures" / "chunking"
N_QUERIES = 1000

# The hidden repository reuses names the visible one has (OrderService.pay, charge, send_confirmation), so
# exact-name lookup has something to leak.
PAYMENTS_PY = '''"""Card payments and the settlement ledger."""


class OrderService:
    """Takes the money for an order through the card processor."""

    def pay(self, order, card):
        """Charge the card, then write the settlement into the ledger."""
        receipt = charge(card, order.total)
        ledger_reconcile(order.id, receipt)
        return receipt


def charge(card, amount_cents):
    """Send a capture request to the acquiring bank."""
    return acquirer_capture(card.token, amount_cents)


def ledger_reconcile(order_id, receipt):
    """Match a receipt against the nightly settlement file from the acquirer."""
    return settlement_lookup(order_id) == receipt.reference


def send_confirmation(order):
    """Tell the bank the merchant confirmed the capture."""
    return acquirer_confirm(order.id)
'''

ACCESS_TOML = """
[access.groups]
public = ["shop"]
payments-team = ["payments"]
admins = ["*"]

[access.users]
contractor = ["public"]
alice = ["public", "payments-team"]
root = ["admins"]
typo = ["no-such-group"]
"""


@pytest.fixture(scope="module")
def two_repos(tmp_path_factory, embedder):
    """shop (visible to everyone) and payments (hidden from the contractor), indexed once for the module."""
    tmp = tmp_path_factory.mktemp("access")
    files: dict[str, str | bytes] = {f"src/{p.name}": p.read_bytes() for p in FIXTURES.iterdir()}
    files["billing/payments.py"] = PAYMENTS_PY
    payments = make_repo(tmp / "payments", files)
    (tmp / "dayone.toml").write_text(ACCESS_TOML)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # one short query at a time: extra threads only wait on each other
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DAYONE_HOME", str(tmp / "home"))
        mp.setenv("DAYONE_CONFIG", str(tmp / "dayone.toml"))
        mp.delenv("DAYONE_QDRANT_URL", raising=False)
        settings = load_settings()
        result = Indexer(settings, embedder=embedder).run([RepoConfig(name="shop", path=str(EXAMPLE_SHOP)),
                                                           RepoConfig(name="payments", path=str(payments))])
        assert not result.failed
        yield settings
    torch.set_num_threads(threads)


def _queries(settings, n: int, seed: int = 6, hidden_repo: str = "payments") -> list[str]:
    """Varied queries from the indexed text: names, qualified names, paths, words, phrases, both repos."""
    rng = random.Random(seed)
    with IndexReader(settings) as reader:
        rows = reader.manifest.conn.execute("SELECT id, repo, path, symbol, name FROM chunks").fetchall()
        texts = {h.id: h.payload["text"] for h in reader.store.retrieve([r[0] for r in rows])}
    hidden = [r for r in rows if r[1] == hidden_repo]
    words = sorted({w for t in texts.values() for w in re.findall(r"[A-Za-z_][A-Za-z0-9_]{3,}", t)})
    hidden_words = sorted({w for r in hidden for w in re.findall(r"[A-Za-z_][A-Za-z0-9_]{3,}", texts[r[0]])})
    names = sorted({r[4] for r in hidden if r[4]})
    symbols = sorted({r[3] for r in hidden if r[3]})
    paths = sorted({r[2] for r in hidden})
    makers = [
        lambda: rng.choice(names),
        lambda: rng.choice(symbols),
        lambda: ".".join(rng.choice(symbols).split(".")[-2:]),
        lambda: rng.choice(names) + "()",
        lambda: rng.choice(paths),
        lambda: rng.choice(paths).rsplit("/", 1)[-1],
        lambda: rng.choice(hidden_words),
        lambda: " ".join(rng.sample(hidden_words, 3)),
        lambda: f"where is {rng.choice(names)} defined?",
        lambda: f"how does {rng.choice(symbols)} work",
        lambda: f"what calls {rng.choice(names)} in {rng.choice(paths)}",
        lambda: " ".join(rng.sample(words, rng.randint(1, 5))),
        lambda: rng.choice(["payments", "settlement ledger", "charge the card", "acquirer capture",
                            "repo:payments", "payments/billing/payments.py", "*", "%", "_", "' OR 1=1 --"]),
        lambda: "".join(rng.choice("abcdefghijklmnopqrstuvwxyz_ ") for _ in range(rng.randint(3, 30))),
    ]
    queries: list[str] = []
    seen: set[str] = set()
    attempt = 0
    while len(queries) < n:  # round robin over the makers; one whose choices run out just yields to the next
        q = makers[attempt % len(makers)]().strip()
        attempt += 1
        if q and q not in seen:
            seen.add(q)
            queries.append(q)
    return queries


def _search_batch(queries: list[str], tmp_path, *extra: str) -> list[list[dict]]:
    """`dayone search --batch FILE --json`: one CLI run, one JSON line per query."""
    path = tmp_path / "queries.jsonl"
    path.write_text("".join(json.dumps({"id": i, "query": q}) + "\n" for i, q in enumerate(queries)))
    result = runner.invoke(app, ["search", "--json", "-k", "10", "--batch", str(path), *extra])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["query"] for line in lines] == queries
    return [line["hits"] for line in lines]


def _search(query: str, *extra: str) -> list[dict]:
    result = runner.invoke(app, ["search", "--json", "-k", "10", *extra, "--", query])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)["hits"]


def test_allowed_repos_rules(two_repos):
    settings = two_repos
    assert allowed_repos(settings, "contractor") == ["shop"]
    assert allowed_repos(settings, "alice") == ["payments", "shop"]
    assert allowed_repos(settings, "root") is None  # "*": everything, also repositories indexed later
    assert allowed_repos(settings, "stranger") == []  # not listed: nothing, never everything
    assert allowed_repos(settings, "typo") == []  # a group nobody defined grants nothing
    assert allowed_repos(settings, None) == []
    assert restrict(["shop"], ["payments"]) == [] and restrict(["shop"], None) == ["shop"]
    assert restrict(None, None) is None and restrict(None, ["payments"]) == ["payments"]
    assert repos_for(settings, None, None) is None  # no --user: the local operator
    open_settings = settings.model_copy(deep=True)
    open_settings.access.groups = {}
    assert allowed_repos(open_settings, "stranger") is None  # no [access] configured: nobody is restricted


def test_1000_queries_as_a_user_without_the_repository_return_nothing_from_it(two_repos, tmp_path, capsys):
    settings = two_repos
    queries = _queries(settings, N_QUERIES)
    assert len(set(queries)) == N_QUERIES
    started = time.perf_counter()
    leaks, answered = [], 0
    for q, hits in zip(queries, _search_batch(queries, tmp_path, "--user", "contractor"), strict=True):
        answered += bool(hits)
        leaks += [(q, h["repo"], h["path"]) for h in hits if h["repo"] != "shop"]
    seconds = time.perf_counter() - started
    assert not leaks, f"{len(leaks)} hits from a hidden repository, first: {leaks[0]}"
    assert answered > N_QUERIES // 2  # the queries do find things: the silence about payments is the filter's

    # The same queries do reach the hidden repository for a user allowed to see it: without the filter they
    # would leak, so this test fails when the filter is removed.
    sample = queries[:200]
    reached = sum(any(h["repo"] == "payments" for h in hits)
                  for hits in _search_batch(sample, tmp_path, "--user", "alice"))
    # One query at a time (no --batch) takes the same path.
    for q in queries[:20]:
        assert all(h["repo"] == "shop" for h in _search(q, "--user", "contractor"))
    assert reached > len(sample) // 2
    with capsys.disabled():
        print(f"\naccess: {N_QUERIES} queries as contractor in {seconds:.0f}s, {answered} with hits, "
              f"0 from payments; as alice {reached}/{len(sample)} reach payments")


def test_removing_the_filter_is_caught(two_repos, tmp_path, monkeypatch):
    queries = _queries(two_repos, 100)
    monkeypatch.setattr(access, "repos_for", lambda settings, user, requested: requested)
    leaked = sum(any(h["repo"] == "payments" for h in hits)
                 for hits in _search_batch(queries, tmp_path, "--user", "contractor"))
    assert leaked > 20


def test_hidden_repository_asked_for_by_name_and_unknown_users(two_repos):
    for q in ("OrderService.pay", "ledger_reconcile", "settlement ledger"):
        # Asked for by name, a hidden repository reads exactly like one that does not exist: a one-line error
        # (as `ask` gives), never results and never a hint that it exists.
        hidden = runner.invoke(app, ["search", "--json", "--user", "contractor", "--repo", "payments", "--", q])
        missing = runner.invoke(app, ["search", "--json", "--user", "contractor", "--repo", "nope", "--", q])
        assert hidden.exit_code == missing.exit_code == 2 and hidden.stdout == missing.stdout == ""
        assert hidden.stderr.strip() == "error: no indexed repository is named 'payments' (indexed: shop)"
        assert missing.stderr.strip() == "error: no indexed repository is named 'nope' (indexed: shop)"
        assert _search(q, "--user", "stranger") == []
        assert _search(q, "--user", "typo") == []
        assert {h["repo"] for h in _search(q, "--user", "root")} >= {"payments"}
    # The exact-name signal bypasses the vector store: it must honour the allow-list too.
    contractor = {(h["repo"], h["symbol"]) for h in _search("OrderService.pay", "--user", "contractor")}
    assert ("shop", "api.orders.OrderService.pay") in contractor
    assert all(repo == "shop" for repo, _ in contractor)


def test_retriever_treats_an_empty_allow_list_as_nothing(two_repos, embedder):
    from app.search.retriever import Retriever

    with IndexReader(two_repos) as reader:
        r = Retriever(reader, embedder, two_repos.search)
        assert r.search("ledger_reconcile", repos=[]) == []
        assert {h.repo for h in r.search("ledger_reconcile", repos=["shop"])} <= {"shop"}
        assert "payments" in {h.repo for h in r.search("ledger_reconcile")}


@pytest.fixture
def llm(monkeypatch):
    from tests.app.answer.test_chat_model import llm_env

    for key, value in llm_env().items():
        monkeypatch.setenv(key, value)


def test_ask_as_a_user_without_the_repository(two_repos, llm, monkeypatch):
    monkeypatch.setenv("DAYONE_LLM__MAX_ANSWER_TOKENS", "48")
    result = runner.invoke(app, ["ask", "--json", "--user", "contractor", "--repo", "payments", "where is the "
                                 "settlement ledger reconciled?"])
    assert result.exit_code == 2
    assert result.stderr.strip() == "error: no indexed repository is named 'payments' (indexed: shop)"
    result = runner.invoke(app, ["ask", "--json", "--user", "stranger", "what does ledger_reconcile do?"])
    assert result.exit_code == 2
    assert "may see no indexed repository" in result.stderr
    result = runner.invoke(app, ["ask", "--json", "--user", "contractor", "what does ledger_reconcile do?"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert all(c["repo"] == "shop" for c in payload["citations"])
    assert "settlement" not in payload["answer"].lower()


def _made_up(name: str, rng: random.Random) -> str:
    """A name of the same shape (length, case pattern, separators; a path keeps its extension) that no repository
    defines."""
    stem, dot, ext = name.rpartition(".")
    if "/" in name and dot:
        return _made_up(stem, rng) + "." + ext
    out = []
    for ch in name:
        if ch.isupper():
            out.append(rng.choice("BCDFGHJKLMNPQRSTVWXZ"))
        elif ch.islower():
            out.append(rng.choice("bcdfghjklmnpqrstvwxz"))
        elif ch.isdigit():
            out.append(rng.choice("0123456789"))
        else:
            out.append(ch)
    return "".join(out)


def test_answers_treat_a_hidden_name_exactly_like_a_made_up_one(two_repos):
    """200 generated probes (names, `Class.method` forms, paths, calls) as the contractor, who may read `shop`:
    checking an answer that mentions a name only the hidden `payments` repository defines gives the same marks,
    flags and text as one that mentions a made-up name of the same shape. So do the symbol tool and search."""
    from app.answer.citations import check_answer
    from app.answer.results import Source
    from app.service import Service

    settings = two_repos
    rng = random.Random(14)
    with IndexReader(settings) as reader:
        def visible(part: str) -> bool:  # what the contractor's own repository names too, as the checker sees it
            return bool(reader.manifest.chunks_named([part], ["shop"]) or reader.symbols.known_names([part], ["shop"]))

        hidden_defs = [d for d in reader.symbols.repo_definitions("payments")]
        shop_names = {d.name for d in reader.symbols.repo_definitions("shop")} | \
                     {d.qualified_name for d in reader.symbols.repo_definitions("shop")}
        hidden = sorted({d.name for d in hidden_defs
                         if d.name not in shop_names and not visible(d.name) and len(d.name) >= 4})
        members = sorted({".".join(d.qualified_name.split(".")[-2:]) for d in hidden_defs
                          if d.qualified_name.count(".") >= 1 and d.name not in shop_names})
        paths = sorted(reader.manifest.files("payments"))
        assert len(hidden) >= 20 and len(members) >= 10 and paths
        shown = [Source(number=1, repo="shop", path="api/orders.py", start_line=1, end_line=30, symbol="api.orders",
                        kind="module", language="python", text="from decimal import Decimal\n")]


        templates = ("The order is settled by `{x}` [1].", "Then {x}() is called to finish the payment [1].",
                     "See {x} for the details.", "`{x}` handles it, as the code shows [1].")
        probes = 0
        differences = []
        for i in range(200):
            kind = i % 3
            real = rng.choice(hidden) if kind == 0 else rng.choice(members) if kind == 1 else rng.choice(paths)
            # Parts the visible repository also defines stay: the question is only whether what is hidden shows.
            fake = ".".join(part if visible(part) else _made_up(part, rng) for part in real.split(".")) \
                if kind == 1 else _made_up(real, rng)
            if kind == 2 and real.rsplit("/", 1)[-1] in {s.path.rsplit("/", 1)[-1] for s in shown}:
                # a file name a shown source has too (`orders.py`): the checker writes the path as that source's,
                # hidden file or not; only the folders are made up
                folder, _, file = real.rpartition("/")
                fake = (_made_up(folder, rng) + "/" if folder else "") + file
            template = rng.choice(templates)
            outcomes = []
            for name in (real, fake):
                answer = check_answer("q", "q", template.format(x=name), shown, reader, repos=["shop"])
                reasons = [(f.kind, re.sub(r"'[^']*'", "'<P>'", f.reason)) for f in answer.flagged]
                outcomes.append((answer.text.replace(name, "<N>"), reasons, [c.path for c in answer.citations]))
            probes += 1
            if outcomes[0] != outcomes[1]:
                differences.append((real, fake, outcomes))
        assert probes == 200 and differences == [], differences[:3]
    service = Service(settings)
    try:
        for name in hidden[:20]:
            real = service.symbol(name, repos=service.scope("contractor"))
            fake = service.symbol(_made_up(name, rng), repos=service.scope("contractor"))
            # Nothing from the hidden repository: what comes back is what the visible code itself holds.
            assert all(x["repo"] == "shop" for x in real["definitions"] + real["references"]), name
            assert fake["definitions"] == fake["references"] == []
    finally:
        service.close()


def test_the_page_shows_a_restricted_user_only_what_an_index_without_the_hidden_repository_shows(
        two_repos, embedder, tmp_path):
    """The status the page loads for the contractor (repositories, languages, chunk, definition and reference
    counts, as rendered) equals what an index built from `shop` alone shows."""
    from app.doors.web import render_status
    from app.service import Service

    settings = two_repos
    alone = load_settings(None, home=tmp_path / "alone")
    result = Indexer(alone, embedder=embedder).run([RepoConfig(name="shop", path=str(EXAMPLE_SHOP))])
    assert not result.failed
    restricted, reference = Service(settings, embedder=embedder), Service(alone, embedder=embedder)
    try:
        mine = restricted.status(allowed_repos(settings, "contractor"))
        theirs = reference.status(None)
        assert [r.name for r in mine.repos] == ["shop"]
        assert mine.languages == theirs.languages
        assert (mine.chunks, mine.definitions, mine.references) == (theirs.chunks, theirs.definitions,
                                                                     theirs.references)
        def shown(status) -> str:  # the rendered panel, less the generation's name and the minute it was indexed
            text = render_status(status).replace(status.generation, "G")
            return re.sub(r"\d{4}-\d\d-\d\d \d\d:\d\d", "T", text)

        assert shown(mine) == shown(theirs)
        everything = restricted.status(None)
        assert set(everything.languages) > set(mine.languages)  # the hidden repository does add languages
    finally:
        restricted.close()
        reference.close()
