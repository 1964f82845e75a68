"""The chat server's rules without a browser: who may sign in, what the page escapes, where links point.

Logins go through the real web application (FastAPI + Gradio served by uvicorn on loopback) with real argon2
hashes; the browser behaviour itself is in tests/app/doors/test_browser.py.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from http.cookiejar import CookieJar

import pytest
import uvicorn
from typer.testing import CliRunner

from app.answer.facts import CommitFact, FactsCard, Ref, SymbolFacts
from app.answer.results import Answer, Source
from app.doors.cli import app
from app.doors.web import (
    code_link,
    create_app,
    load_users,
    render_facts,
    render_hits,
    render_sources,
    server_config,
)
from app.search.retriever import SearchHit
from app.service import Service
from app.settings import load_settings
from indexer.settings import ConfigError
from tests.app.answer.test_chat_model import llm_env, shared_chat_model
from tests.conftest import free_port

runner = CliRunner()


def _source(**kw) -> Source:
    base = dict(number=1, repo="shop", path="api/orders.py", start_line=64, end_line=92,
                symbol="api.orders.OrderService.pay", kind="method", language="python", text="def pay(self): ...")
    return Source(**{**base, **kw})


def _answer(sources: list[Source]) -> Answer:
    return Answer(question="q", standalone_question="q", text="t", raw_text="t", citations=sources[:1],
                  cited_numbers=[1], sources=sources, flagged=[])


def test_code_links_fill_the_template_and_quote_every_field():
    template = "https://git.example/{repo}/blob/{commit}/{path}#L{start}-L{end}"
    src = _source(path="docs/a b#c.md")
    assert code_link(template, src, "abc123") == "https://git.example/shop/blob/abc123/docs/a%20b%23c.md#L64-L92"
    assert code_link("", src, "abc123") == ""
    html = render_sources(_answer([src]), template, {"shop": "abc123"})
    assert "href='https://git.example/shop/blob/abc123/docs/a%20b%23c.md#L64-L92'" in html
    assert "rel='noopener noreferrer'" in html


def test_repository_text_is_escaped_in_the_sources_panel():
    evil = _source(path="x.py'><script>alert(1)</script>", symbol="<img src=x onerror=alert(1)>",
                   text="# <script>alert(1)</script>\ndef f(): return '<b onmouseover=alert(1)>'")
    html = render_sources(_answer([evil]), "", {})
    assert "<script>" not in html and "<img" not in html and "<b " not in html
    assert "&lt;script&gt;" in html  # shown as text


def _hit(path: str, symbol: str, kind: str = "function") -> SearchHit:
    return SearchHit(repo="shop", path=path, start_line=1, end_line=9, symbol=symbol, kind=kind,
                     language="python", score=0.5, text="def f(): ...")


def _groups(page: str) -> list[tuple[str, list[str]]]:
    """(group, [data-path of each source]) in page order."""
    import re

    out = []
    for m in re.finditer(r"data-group='(\w+)'>(.*?)(?=<div class='dayone-group'|</div>$)", page, re.S):
        out.append((m.group(1), re.findall(r"data-path='([^']+)'", m.group(2))))
    return out


def test_search_results_show_tests_and_docs_in_their_own_group():
    hits = [_hit("api/orders.py", "pay"), _hit("tests/test_orders.py", "test_pay"), _hit("docs/payments.md", ""),
            _hit("api/refunds.py", "refund"), _hit("db/schema.sql", "db.schema", "text"),
            _hit("PAYMENTS", "Refunds", "section")]
    page = render_hits(hits, "", {})
    # an SQL schema is code the application runs on; a Markdown section is a doc whatever its file is called
    assert _groups(page) == [("code", ["api/orders.py", "api/refunds.py", "db/schema.sql"]),
                             ("usage", ["tests/test_orders.py", "docs/payments.md", "PAYMENTS"])]
    assert "Tests, docs and examples (3)" in page and "[6]" in page  # numbers keep the search's order
    # a question about tests ranks a test first: its group comes first
    page = render_hits([hits[1], hits[0]], "", {})
    assert [g for g, _ in _groups(page)] == ["usage", "code"]
    assert "Tests, docs and examples" not in render_hits([hits[0]], "", {})


@pytest.fixture(scope="module")
def embedder_model(embedder):
    return embedder, shared_chat_model()


def _serve(settings, embedder_model, host: str = "127.0.0.1", insecure: bool = False):
    embedder, model = embedder_model
    service = Service(settings, model=model, embedder=embedder)
    web = create_app(service, host=host, insecure_no_auth=insecure)
    port = free_port()
    server = uvicorn.Server(server_config(web, "127.0.0.1", port))  # what `dayone serve` runs
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.time() + 60
    while not server.started:
        assert time.time() < deadline and thread.is_alive(), "the web app did not start"
        time.sleep(0.1)
    return server, thread, f"http://127.0.0.1:{port}"


def _get(opener, url: str, headers: dict | None = None) -> int:
    try:
        with opener.open(urllib.request.Request(url, headers=headers or {}), timeout=30) as r:
            return r.status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_the_facts_card_escapes_repository_and_git_text():
    hostile = "<script>window.__pwned=1</script>"
    card = FactsCard([SymbolFacts("banner.render_banner", "function", "web", "banner.py", 7, 9,
                                  signature=f"def render_banner(text: str) -> str:  # {hostile}", doc=hostile,
                                  calls=[Ref(f"x{hostile}", "web", "banner.py", 8)],
                                  commits=[CommitFact("abc1234", "2026-12-01", hostile, hostile, "web", "banner.py")])])
    page = render_facts(card)
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert "web:banner.py:7" in page and "data-facts='1'" in page
    assert "data-facts='0'" in render_facts(None) and "<script>" not in render_facts(FactsCard([]))


def test_public_bind_without_auth_is_refused_before_the_model_loads(home, monkeypatch):
    result = runner.invoke(app, ["serve", "--host", "0.0.0.0", "--port", "1"])
    assert result.exit_code == 2
    assert result.stderr.strip().startswith("error: refusing to serve on 0.0.0.0 without authentication")
    with pytest.raises(ConfigError, match="refusing to serve on 10.1.2.3"):
        from app.doors.web import auth_options

        auth_options(load_settings(), "10.1.2.3", False)
    from app.doors.web import auth_options

    assert auth_options(load_settings(), "10.1.2.3", True) == {}  # --insecure-no-auth
    assert auth_options(load_settings(), "::1", False) == {}


def test_users_file_logins_with_argon2_hashes(home, embedder_model, monkeypatch, tmp_path):
    for key, value in llm_env().items():
        monkeypatch.setenv(key, value)
    result = runner.invoke(app, ["hash-password", "alice"], input="s3cret-pass\n")
    assert result.exit_code == 0, result.output
    line = result.stdout.strip()
    assert line.startswith("alice:$argon2id$")
    users = tmp_path / "users.txt"
    users.write_text(f"# dayone users\n{line}\n")
    assert set(load_users(users)) == {"alice"}
    (tmp_path / "bad.txt").write_text("bob:plaintext\n")
    with pytest.raises(ConfigError, match=r"bad.txt:1: expected NAME:\$argon2id"):
        load_users(tmp_path / "bad.txt")

    monkeypatch.setenv("DAYONE_SERVE__AUTH", "users-file")
    monkeypatch.setenv("DAYONE_SERVE__USERS_FILE", str(users))
    server, thread, url = _serve(load_settings(), embedder_model, host="0.0.0.0")
    try:
        anonymous = urllib.request.build_opener()
        assert _get(anonymous, url + "/config") == 401
        assert _get(anonymous, url + "/healthz") == 200  # container health checks need no login

        def login(password: str):
            jar = CookieJar()
            opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
            data = urllib.parse.urlencode({"username": "alice", "password": password}).encode()
            try:
                opener.open(url + "/login", data=data, timeout=30)
            except urllib.error.HTTPError as exc:
                assert exc.code in (400, 401)
            return opener

        assert _get(login("wrong"), url + "/config") == 401
        assert _get(login("s3cret-pass"), url + "/config") == 200
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def test_proxy_header_is_believed_only_from_trusted_proxies(home, embedder_model, monkeypatch):
    monkeypatch.setenv("DAYONE_SERVE__AUTH", "proxy-header")
    monkeypatch.setenv("DAYONE_SERVE__PROXY_HEADER", "X-Auth-User")
    monkeypatch.setenv("DAYONE_SERVE__TRUSTED_PROXIES", '["10.0.0.0/8"]')
    server, thread, url = _serve(load_settings(), embedder_model, host="0.0.0.0")
    opener = urllib.request.build_opener()
    try:  # this test's requests come from 127.0.0.1, which is not the proxy: the header is ignored
        assert _get(opener, url + "/config", {"X-Auth-User": "mallory"}) == 401
    finally:
        server.should_exit = True
        thread.join(timeout=30)
    monkeypatch.setenv("DAYONE_SERVE__TRUSTED_PROXIES", '["127.0.0.1"]')
    server, thread, url = _serve(load_settings(), embedder_model, host="0.0.0.0")
    try:
        assert _get(opener, url + "/config", {"X-Auth-User": "carol"}) == 200
        assert _get(opener, url + "/config") == 401  # through the proxy but not signed in
    finally:
        server.should_exit = True
        thread.join(timeout=30)
    monkeypatch.setenv("DAYONE_SERVE__TRUSTED_PROXIES", "[]")
    with pytest.raises(ConfigError, match="needs serve.trusted_proxies"):
        create_app(Service(load_settings(), model=embedder_model[1], embedder=embedder_model[0]), host="0.0.0.0")


SPOOFS = ({"X-Forwarded-For": "10.0.0.5"}, {"Forwarded": "for=10.0.0.5"}, {"X-Real-IP": "10.0.0.5"},
          {"X-Forwarded-For": "10.0.0.5", "X-Forwarded-Proto": "https", "X-Forwarded-Host": "proxy.internal"})


def _post(opener, url: str, body: bytes = b"{}", headers: dict | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with opener.open(request, timeout=30) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def _body(opener, url: str, headers: dict | None = None) -> tuple[int, str]:
    try:
        with opener.open(urllib.request.Request(url, headers=headers or {}), timeout=30) as r:
            return r.status, r.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode("utf-8", "replace")


def test_a_local_client_cannot_claim_to_be_the_trusted_proxy(home, embedder_model, monkeypatch):
    """The peer checked against serve.trusted_proxies is the socket's, never a forwarding header: a process on
    the same machine that writes X-Forwarded-For (or Forwarded, X-Real-IP) with the proxy's address and names a
    user in the proxy's header gets 401 on every route, the API included."""
    monkeypatch.setenv("DAYONE_SERVE__AUTH", "proxy-header")
    monkeypatch.setenv("DAYONE_SERVE__TRUSTED_PROXIES", '["10.0.0.0/8"]')
    server, thread, url = _serve(load_settings(), embedder_model, host="0.0.0.0")
    opener = urllib.request.build_opener()
    try:
        for spoof in SPOOFS:
            headers = {"X-Forwarded-User": "alice", **spoof}
            for path in ("/", "/config", "/gradio_api/info", "/gradio_api/runs"):
                assert _get(opener, url + path, headers) == 401, (path, spoof)
            status, _ = _post(opener, url + "/gradio_api/call/search",
                              json.dumps({"data": ["OrderService.pay", [], []]}).encode(), headers)
            assert status == 401, spoof
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def test_without_a_login_only_healthz_and_the_sign_in_page_answer(home, embedder_model, monkeypatch, tmp_path):
    """Users file: `/` is a sign-in page that carries no API schema; every other route, Gradio's cancel, reset
    and run history included, answers 401. Proxy header: everything but /healthz answers 401."""
    from argon2 import PasswordHasher

    users = tmp_path / "users.txt"
    users.write_text(f"alice:{PasswordHasher().hash('s3cret-pass')}\n")
    monkeypatch.setenv("DAYONE_SERVE__AUTH", "users-file")
    monkeypatch.setenv("DAYONE_SERVE__USERS_FILE", str(users))
    closed = ("/config", "/gradio_api/info", "/gradio_api/runs", "/gradio_api/openapi.json", "/gradio_api/user",
              "/gradio_api/heartbeat/abc", "/theme.css", "/manifest.json", "/gradio_api/startup-events")
    posts = ("/gradio_api/cancel", "/gradio_api/reset", "/gradio_api/call/search", "/gradio_api/queue/join")
    server, thread, url = _serve(load_settings(), embedder_model, host="0.0.0.0")
    anonymous = urllib.request.build_opener()
    try:
        status, page = _body(anonymous, url + "/")
        assert status == 200 and "Sign in" in page and 'type="password"' in page
        for leak in ("api_name", "named_endpoints", "/chat", "search", "gradio_api_info", "dependencies"):
            assert leak not in page, leak
        assert _get(anonymous, url + "/healthz") == 200
        for path in closed:
            assert _get(anonymous, url + path) == 401, path
        for path in posts:
            assert _post(anonymous, url + path, b'{"event_id": "x", "session_hash": "y", "fn_index": 0}')[0] == 401
        jar = CookieJar()
        alice = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
        data = urllib.parse.urlencode({"username": "alice", "password": "s3cret-pass"}).encode()
        with alice.open(url + "/login", data=data, timeout=30) as reply:
            assert reply.status == 200
        status, page = _body(alice, url + "/")
        assert status == 200 and 'type="password"' not in page  # the app itself, not the sign-in page
        assert _get(alice, url + "/config") == 200 and _get(alice, url + "/gradio_api/info") == 200
    finally:
        server.should_exit = True
        thread.join(timeout=30)
    monkeypatch.setenv("DAYONE_SERVE__AUTH", "proxy-header")
    monkeypatch.setenv("DAYONE_SERVE__TRUSTED_PROXIES", '["127.0.0.1"]')
    server, thread, url = _serve(load_settings(), embedder_model, host="0.0.0.0")
    try:
        assert _get(anonymous, url + "/healthz") == 200
        for path in ("/", *closed):
            assert _get(anonymous, url + path) == 401, path
        for path in posts:
            assert _post(anonymous, url + path)[0] == 401, path
        assert _get(anonymous, url + "/", {"X-Forwarded-User": "carol"}) == 200
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def test_no_file_is_served_from_disk(home, embedder_model, tmp_path):
    """The page shows indexed text (redacted) from the index only: no route reads a path from the request."""
    secret = tmp_path / "secret.txt"
    secret.write_text("root:x:0:0:do-not-serve\n")
    server, thread, url = _serve(load_settings(), embedder_model)
    opener = urllib.request.build_opener()
    try:
        for path in (f"/gradio_api/file={secret}", "/gradio_api/file=/etc/passwd", "/file=/etc/passwd",
                     "/gradio_api/file=../../../../etc/passwd", "/gradio_api/file=%2e%2e/%2e%2e/etc/passwd",
                     "/static/../../../../etc/passwd", "/assets/..%2f..%2f..%2fetc%2fpasswd"):
            try:
                with opener.open(url + path, timeout=30) as r:
                    body = r.read().decode(errors="replace")
                    assert "root:x:0:0" not in body, path
            except urllib.error.HTTPError as exc:
                assert exc.code in (403, 404, 400, 405), (path, exc.code)
    finally:
        server.should_exit = True
        thread.join(timeout=30)
