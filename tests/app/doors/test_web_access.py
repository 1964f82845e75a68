"""Repository access through the UI's API: a contractor signed in through the SSO proxy header sees only the
`web` repository, whatever they search or ask (the server is the shared real `dayone serve` from conftest)."""

from __future__ import annotations

import json
import time

from app.settings import load_settings
from tests.app.test_access import N_QUERIES, _queries


def _hits(raw) -> list[dict]:
    return json.loads(raw) if raw else []


def _client(url: str, user: str):
    from gradio_client import Client

    return Client(url, headers={"X-Forwarded-User": user}, verbose=False)


def _rest_search(http, url: str, query: str, repos: list[str] | None = None) -> list[dict]:
    """One search through Gradio's REST API (what gradio_client does, without its per-call overhead)."""
    event = http.post(f"{url}/gradio_api/call/search", json={"data": [query, repos or [], []]})
    event.raise_for_status()
    reply = http.get(f"{url}/gradio_api/call/search/{event.json()['event_id']}")
    reply.raise_for_status()
    lines = reply.text.splitlines()
    assert "event: complete" in lines, reply.text[:300]
    data = json.loads(lines[lines.index("event: complete") + 1].removeprefix("data: "))
    return _hits(data[1])


def test_1000_searches_as_a_contractor_return_nothing_from_the_hidden_repository(server, capsys):
    import httpx

    url, home = server
    queries = _queries(load_settings(home / "dayone.toml", home=home), N_QUERIES, hidden_repo="shop")
    started = time.perf_counter()
    with httpx.Client(headers={"X-Forwarded-User": "contractor"}, timeout=60) as http:
        results = [_rest_search(http, url, q) for q in queries]
        leaked = [(q, h["path"]) for q, hits in zip(queries, results, strict=True) for h in hits
                  if h["repo"] != "web"]
        assert leaked == []
        answered = sum(1 for hits in results if hits)
        assert answered > N_QUERIES // 2  # the searches do find things: the silence about `shop` is the filter's
        # Asking for the hidden repository by name through the filter gives nothing either.
        assert _rest_search(http, url, "OrderService.pay", ["shop"]) == []
    # The same search as an engineer does reach `shop`: the filter, not the queries, keeps it out.
    with httpx.Client(headers={"X-Forwarded-User": "newhire"}, timeout=60) as http:
        assert any(h["repo"] == "shop" for h in _rest_search(http, url, "OrderService.pay"))
    with capsys.disabled():
        print(f"\naccess (UI API): {N_QUERIES} searches as contractor in {time.perf_counter() - started:.0f}s, "
              f"{answered} with hits, 0 from the hidden repository")


def test_a_contractor_asking_about_the_hidden_repository_gets_no_sources_from_it(server):
    url, _home = server
    history, _q, sources, _flags, facts = _client(url, "contractor").predict(
        "Where are orders paid with OrderService.pay?", [], [], [], api_name="/chat")
    assert "shop:" not in sources and "api/orders.py" not in sources
    # The facts card is read within the same repositories: the hidden `OrderService.pay` is not described.
    assert "shop:" not in facts and "OrderService" not in facts
    assert "data-answered='yes'" in sources


def test_an_unknown_user_sees_nothing(server):
    url, _home = server
    _html, hits = _client(url, "stranger").predict("OrderService.pay", [], [], api_name="/search")
    assert _hits(hits) == []
