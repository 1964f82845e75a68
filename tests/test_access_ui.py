"""Repository access through the UI's API: a contractor signed in through the SSO proxy header sees only the
`web` repository, whatever they search or ask (the server is the shared real `dayone serve` from conftest)."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor

from indexer.settings import load_settings
from tests.test_access import N_QUERIES, _queries


def _client(url: str, user: str):
    from gradio_client import Client

    return Client(url, headers={"X-Forwarded-User": user}, verbose=False)


def test_1000_searches_as_a_contractor_return_nothing_from_the_hidden_repository(server, capsys):
    url, home = server
    queries = _queries(load_settings(home / "dayone.toml", home=home), N_QUERIES, hidden_repo="shop")
    clients = [_client(url, "contractor") for _ in range(4)]
    started = time.perf_counter()

    def search(item: tuple[int, str]) -> list[dict]:
        i, query = item
        _html, hits = clients[i % len(clients)].predict(query, [], [], api_name="/search")
        return hits if isinstance(hits, list) else json.loads(hits)

    with ThreadPoolExecutor(len(clients)) as pool:
        results = list(pool.map(search, enumerate(queries)))
    leaked = [(q, h["path"]) for q, hits in zip(queries, results, strict=True) for h in hits if h["repo"] != "web"]
    assert leaked == []
    answered = sum(1 for hits in results if hits)
    assert answered > N_QUERIES // 2  # the searches do find things: the silence about `shop` is the filter's
    # Asking for the hidden repository by name through the filter gives nothing either.
    _html, hits = clients[0].predict("OrderService.pay", ["shop"], [], api_name="/search")
    assert not hits
    # The same searches as an engineer do reach `shop`: the filter, not the queries, keeps it out.
    engineer = _client(url, "newhire")
    _html, hits = engineer.predict("OrderService.pay", [], [], api_name="/search")
    assert any(h["repo"] == "shop" for h in hits)
    with capsys.disabled():
        print(f"\naccess (UI API): {N_QUERIES} searches as contractor in {time.perf_counter() - started:.0f}s, "
              f"{answered} with hits, 0 from the hidden repository")


def test_a_contractor_asking_about_the_hidden_repository_gets_no_sources_from_it(server):
    url, _home = server
    history, _q, sources, _flags = _client(url, "contractor").predict(
        "Where are orders paid with OrderService.pay?", [], [], [], api_name="/chat")
    assert "shop:" not in sources and "api/orders.py" not in sources
    assert "data-answered='yes'" in sources


def test_an_unknown_user_sees_nothing(server):
    url, _home = server
    _html, hits = _client(url, "stranger").predict("OrderService.pay", [], [], api_name="/search")
    assert hits == [] or hits is None
