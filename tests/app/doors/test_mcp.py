"""`dayone mcp` through a real MCP client over stdio: tools listed and called, access rules applied."""

from __future__ import annotations

import json
import os
import sys

import anyio
import pytest
from mcp.client.session import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client

from tests.app.answer.test_chat_model import llm_env
from tests.conftest import EXAMPLE_SHOP, ROOT, make_repo


@pytest.fixture(scope="module")
def indexed(tmp_path_factory, embedder):
    """An index holding the example shop and a second, private repository."""
    from app.settings import Settings
    from indexer.pipeline.run import Indexer
    from indexer.settings import RepoConfig

    base = tmp_path_factory.mktemp("mcp")
    home = base / "home"
    secret = make_repo(base / "secret", {"vault.py": "def open_vault(code: str) -> bool:\n    return code == '1'\n"})
    settings = Settings(home=home)
    Indexer(settings, embedder=embedder).run([RepoConfig(name="shop", path=str(EXAMPLE_SHOP)),
                                              RepoConfig(name="secret", path=str(secret))])
    config = base / "dayone.toml"
    config.write_text('[access.groups]\nengineers = ["shop"]\nadmins = ["*"]\n'
                      '[access.users]\nnina = ["engineers"]\nroot = ["admins"]\n')
    return home, config


def _call(home, config, user: str | None, calls: list[tuple[str, dict]]) -> tuple[list[str], list]:
    env = {"PYTHONPATH": str(ROOT), "DAYONE_HOME": str(home), "DAYONE_CONFIG": str(config),
           "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "PATH": os.environ.get("PATH", ""), **llm_env()}
    args = ["-m", "app.doors.cli", "mcp"] + (["--user", user] if user else [])
    params = StdioServerParameters(command=sys.executable, args=args, env=env, cwd=str(home.parent))

    async def run():
        async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
            await session.initialize()
            tools = [t.name for t in (await session.list_tools()).tools]
            results = []
            for name, arguments in calls:
                results.append(await session.call_tool(name, arguments))
            return tools, results

    return anyio.run(run)


def _json(result) -> dict:
    assert not result.is_error, result.content
    if result.structured_content:
        return result.structured_content.get("result", result.structured_content)
    return json.loads(result.content[0].text)


def test_tools_are_listed_and_search_and_symbol_answer(indexed):
    home, config = indexed
    tools, (repos, hits, sym, tour, hidden) = _call(home, config, "nina", [
        ("repositories", {}),
        ("search", {"query": "where are orders paid", "k": 5}),
        ("symbol", {"name": "OrderService.pay"}),
        ("tour", {"repo": "shop"}),
        ("symbol", {"name": "open_vault", "repos": ["secret"]}),
    ])
    assert set(tools) >= {"search", "symbol", "ask", "tour", "repositories"}
    assert [r["name"] for r in _json(repos)["repositories"]] == ["shop"]
    found = _json(hits)["hits"]
    assert found and all(h["repo"] == "shop" for h in found)
    assert any(h["path"] == "api/orders.py" for h in found)
    s = _json(sym)
    assert [d["location"] for d in s["definitions"]] == ["shop:api/orders.py:64"]
    assert any(r["path"] == "api/app.py" for r in s["references"])
    assert _json(tour)["about"]["location"].startswith("shop:README.md:")
    # The private repository is not visible to nina: an error that does not admit it exists.
    assert hidden.is_error and "no repository named 'secret'" in hidden.content[0].text


def test_access_rules_follow_the_user(indexed):
    home, config = indexed
    _, (admin_sym,) = _call(home, config, "root", [("symbol", {"name": "open_vault"})])
    assert [d["repo"] for d in _json(admin_sym)["definitions"]] == ["secret"]
    _, (nobody,) = _call(home, config, "ghost", [("search", {"query": "vault"})])
    assert nobody.is_error and "no repository is visible to user 'ghost'" in nobody.content[0].text
    # No --user: the local operator, as in `dayone search` (they can read the index files anyway).
    _, (operator,) = _call(home, config, None, [("repositories", {})])
    assert [r["name"] for r in _json(operator)["repositories"]] == ["secret", "shop"]


@pytest.mark.slow
def test_ask_answers_with_citations(indexed):
    home, config = indexed
    _, (answer,) = _call(home, config, "nina", [("ask", {"question": "How does OrderService.pay charge the card?"})])
    body = _json(answer)
    assert body["answer"].strip()
    assert any(c["path"] == "api/orders.py" for c in body["citations"])
    # The facts card comes with the answer: read from the index, with locations.
    pay = next(f for f in body["facts"] if f["symbol"] == "api.orders.OrderService.pay")
    assert pay["location"].startswith("shop:api/orders.py:")
    assert any(c["name"] == "api.payments.PaymentGateway.charge" for c in pay["calls"])
