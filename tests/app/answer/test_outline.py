"""The reading map under an answer: the real shop index, its real symbol table, the real 0.5B model."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.answer.callgraph import CallGraph
from app.answer.conversation import Answerer
from app.answer.outline import (
    FURTHER_HEADING,
    HOW_HEADING,
    RELATED_HEADING,
    WHERE_HEADING,
    describe,
    reading_map,
    split_map,
)
from app.answer.results import Source
from indexer.reader import IndexReader
from tests.app.answer.test_chat_model import shared_chat_model
from tests.conftest import EXAMPLE_SHOP, index_repos


def _calls(graph: CallGraph, source: Source) -> list[str]:
    describe(graph, source)
    return source.calls


def _source(reader, symbol: str, number: int = 1, root=EXAMPLE_SHOP, repo: str = "shop",
            language: str = "python", graph: CallGraph | None = None) -> Source:
    """A prompt source for the whole definition of `symbol`, as the prompt would carry it; with `graph`, described
    from the symbol table as the map describes it."""
    d = next(d for d in reader.symbols.definitions(symbol, [repo]) if d.qualified_name.endswith(symbol))
    text = "\n".join((root / d.path).read_text().splitlines()[d.start_line - 1:d.end_line])
    source = Source(number=number, repo=repo, path=d.path, start_line=d.start_line, end_line=d.end_line,
                    symbol=d.qualified_name, kind=d.kind, language=language, text=text)
    if graph is not None:
        describe(graph, source)
    return source


@contextlib.contextmanager
def _graph_over(tmp_path_factory, embedder, monkeypatch, repo: str,
                files: dict[str, str]) -> Iterator[tuple[Path, IndexReader, CallGraph]]:
    """(root, open reader, call graph) of a small repository indexed for real (chunker, embedder, qdrant-edge),
    as the app opens it."""
    from app.settings import load_settings

    base = tmp_path_factory.mktemp(repo)
    monkeypatch.setenv("DAYONE_HOME", str(index_repos(base, {repo: files}, embedder)))
    with IndexReader(load_settings()) as reader:
        yield base / repo, reader, CallGraph(reader, [repo])


def test_a_source_names_what_it_raises_a_class_its_methods_and_code_its_imported_helpers(shop):
    _settings, reader = shop
    graph = CallGraph(reader, ["shop"])
    pay = _source(reader, "OrderService.pay", 2, graph=graph)
    # `raise OrderError(...)` is a failure path, listed apart so a long body's calls do not crowd it out.
    assert pay.raises == ["OrderError"] and "OrderError" not in pay.calls
    assert "PaymentGateway.charge" in pay.calls
    service = _source(reader, "OrderService", graph=graph)
    assert service.members == ["create_order", "get", "pay", "cancel", "refund"]  # public, in source order
    # checkout.tsx calls React's `useState`, imported from outside the repository: named with its module.
    page = next(d for d in reader.symbols.file_definitions("shop", "web/src/checkout.tsx") if d.kind == "function")
    component = _source(reader, page.name, 3, language="tsx", graph=graph)
    assert "`useState` (react)" in component.uses
    lines = reading_map([service, pay, component], how=False).strip().splitlines()[1:]
    assert lines[0] == ("- `OrderService` in api/orders.py [1]: methods `create_order`, `get`, `pay`, `cancel`, "
                        "`refund`; calls " + ", ".join(f"`{c}`" for c in service.calls) + "; raises `OrderError`; "
                        "catches `PaymentError`; state `self.db`, `self.inventory`, `self.gateway`, `self.notifier`, "
                        "`order.total_cents`.")  # a property read on a local: what `pay` charges
    assert "; raises `OrderError`" in lines[1] and "uses `useState` (react)" in lines[2]


@pytest.fixture(scope="module")
def tools(tmp_path_factory, embedder):
    """A small repository with typed overloads and an npm-style import, indexed for real."""
    files = {
        "tokens.py": (
            "import typing as t\n\nfrom hashlib import sha256\n\n\nclass Expired(Exception):\n    pass\n\n\n"
            "def decode(value):\n    return value\n\n\nclass Checker:\n"
            "    @t.overload\n    def check(self, value: str) -> str: ...\n\n"
            "    @t.overload\n    def check(self, value: bytes) -> bytes: ...\n\n"
            "    def check(self, value):\n        raw = decode(value)\n        digest = sha256(raw)\n"
            "        if not digest:\n            raise Expired('too old')\n        return raw\n\n\n"
            "def age_text(value):\n    return str(value)\n\n\n"
            "def reject(value):\n    raise Expired(age_text(value))\n"),
        "keys.py": (
            "DEFAULT_ROUNDS = 3\n\n\nclass Signer:\n    default_digest = 'sha1'\n    key_derivation: str = 'hmac'\n\n"
            "    def __init__(self, secret_keys):\n        self.secret_keys = secret_keys\n\n"
            "    def derive(self, key):\n        return key\n\n"
            "    def verify(self, value):\n        # self.ignored is a comment\n"
            "        for key in reversed(self.secret_keys):\n"
            "            if self.derive(key) == value and self.key_derivation:\n"
            "                return DEFAULT_ROUNDS\n        return 0\n"),
        "client.py": (
            "class Client:\n    def request(self, url):\n        accept = self.headers.get('accept')\n"
            "        return self.send(url, accept)\n\n    def send(self, url, accept):\n        return url\n\n"
            "    def get(self, key):\n        return key\n\n\n"
            "class AsyncClient:\n    async def request(self, url):\n        accept = self.headers.get('accept')\n"
            "        return await self.send(url, accept)\n\n    async def send(self, url, accept):\n"
            "        return url\n"),
        "cookies.js": (
            "var cookie = require('cookie');\nvar sign = require('cookie-signature').sign;\n\n"
            "function setCookie(res, name, value, secret) {\n  var signed = 's:' + sign(value, secret);\n"
            "  res.append('Set-Cookie', cookie.serialize(name, signed));\n}\n\nmodule.exports = setCookie;\n"),
        "digest.py": (
            "import email.message\nimport hmac\n\n\ndef same(a, b):\n    return hmac.compare_digest(a, b)\n\n\n"
            "def label(a):\n    message = '{}'\n    try:\n        return message.format(a)\n"
            "    except (KeyError, ValueError) as e:\n        raise RuntimeError(str(e))\n"
            "    except Exception:\n        return ''\n"),
        "proxy.js": (
            "class Request {\n  ips() {\n    const header = this.app.proxyIpHeader;\n    return this.get(header);\n"
            "  }\n\n  get(name) {\n    return name;\n  }\n\n  set type(value) {\n    this._type = value;\n  }\n\n"
            "  current() {\n    if (this.storage) return this.storage.getStore();\n  }\n\n"
            "  get path() {\n    return this.url;\n  }\n\n  set path(value) {\n    this.url = value;\n  }\n\n"
            "  get socket() {\n    return this.req.socket;\n  }\n\n"
            "  route() {\n    const done = this.reply;\n    return done(this.path, this.socket.remoteAddress);\n  }\n\n"
            "  reply(body) {\n    if (this.sent) return;\n    this.type = 'html';\n    this.body = body;\n  }\n}\n\n"
            "module.exports = Request;\n"),
        "server.js": (
            "const compose = require('koa-compose');\n\nfunction handle(middleware) {\n"
            "  const fn = compose(middleware);\n  return fn;\n}\n\nmodule.exports = handle;\n"),
    }
    base = tmp_path_factory.mktemp("outline-tools")
    home = index_repos(base, {"tools": files}, embedder)
    return base / "tools", home


@pytest.fixture()
def tools_index(tools, monkeypatch):
    """(root, settings, open reader) of the `tools` repository, as the app opens its index."""
    from app.settings import load_settings

    root, home = tools
    monkeypatch.setenv("DAYONE_HOME", str(home))
    settings = load_settings()
    with IndexReader(settings) as reader:
        yield root, settings, reader



def test_an_overloaded_method_is_read_from_its_implementation_and_a_module_call_names_its_package(tools_index):
    root, settings, reader = tools_index
    graph = CallGraph(reader, ["tools"])
    # The excerpt starts at the first `@overload` stub, which calls nothing; the implementation does.
    defs = [d for d in reader.symbols.file_definitions("tools", "tokens.py") if d.name == "check"]
    assert len(defs) == 3
    first, last = min(d.start_line for d in defs), max(d.end_line for d in defs)
    text = "\n".join((root / "tokens.py").read_text().splitlines()[first - 1:last])
    check = Source(number=1, repo="tools", path="tokens.py", start_line=first, end_line=last,
                   symbol="Checker.check", kind="method", language="python", text=text)
    describe(graph, check)
    assert check.calls == ["decode"] and check.raises == ["Expired"]
    assert check.uses == ["`sha256` (hashlib)"]
    # What is raised is the name right after `raise`; a helper called in its arguments is a call.
    reject = _source(reader, "reject", root=root, repo="tools", graph=graph)
    assert (reject.calls, reject.raises) == (["age_text"], ["Expired"])
    handle = _source(reader, "handle", root=root, repo="tools", language="javascript", graph=graph)
    assert handle.uses == ["`compose` (koa-compose)"]
    # A name bound on the import's line, and a function called on an imported module; `res.append` is neither.
    cookie = _source(reader, "setCookie", root=root, repo="tools", language="javascript", graph=graph)
    assert cookie.uses == ["`sign` (cookie-signature)", "`cookie.serialize`"]
    same = _source(reader, "same", root=root, repo="tools", graph=graph)
    assert same.uses == ["`hmac.compare_digest`"]
    # `message` is a local string, not the `email.message` module (`import email.message` binds `email`);
    # the exceptions an except clause names are listed, a bare `Exception` is not.
    label = _source(reader, "label", root=root, repo="tools", graph=graph)
    assert (label.uses, label.catches) == ([], ["KeyError", "ValueError"])
    assert reading_map([label], how=False).endswith(": catches `KeyError`, `ValueError`.")


def test_a_hit_on_an_overload_stub_reaches_the_prompt_as_the_implementation(tools_index, embedder):
    from app.answer.llama_index import IndexRetriever
    from app.search.retriever import Retriever


    root, settings, reader = tools_index
    search = Retriever(reader, embedder, settings.search)
    stub = next(h for h in search.search("Checker.check", k=8, repos=["tools"]) if h.symbol.endswith("check"))
    lines = (root / "tokens.py").read_text().splitlines()
    stub_text = "\n".join(lines[stub.start_line - 1:stub.end_line])
    assert "..." in stub_text and "raise" not in stub_text  # search ranks an `@overload` stub first
    nodes = [n for n in IndexRetriever(search, k=8, repos=["tools"]).retrieve("Checker.check")
             if n.node.metadata["symbol"].endswith("check")]
    assert len(nodes) == 1
    meta, text = nodes[0].node.metadata, nodes[0].node.get_content()
    assert "raise Expired" in text and "..." not in text
    assert text.splitlines() == lines[meta["start_line"] - 1:meta["end_line"]]


def test_the_async_twin_of_a_listed_method_is_left_out(tools_index, embedder):
    from app.answer.flow import without_twins
    from app.search.retriever import Retriever


    root, settings, reader = tools_index
    hits = Retriever(reader, embedder, settings.search).search("request accept send", k=10, repos=["tools"])
    twins = [h for h in hits if h.symbol.endswith("Client.request")]
    assert {h.symbol for h in twins} == {"client.Client.request", "client.AsyncClient.request"}
    # The same code once `async`/`await` are taken out: the first listed stays; different methods both stay.
    assert without_twins(twins) == twins[:1]
    send = next(h for h in Retriever(reader, embedder, settings.search).search("Client.send", k=5, repos=["tools"])
                if h.symbol == "client.Client.send")
    assert without_twins([twins[0], send]) == [twins[0], send]


def test_a_source_names_the_fields_and_module_constants_its_code_reads(tools_index):
    root, settings, reader = tools_index
    graph = CallGraph(reader, ["tools"])
    # Fields read or set through `self`, not the method it calls or a comment; a constant the repository defines.
    verify = _source(reader, "Signer.verify", root=root, repo="tools", graph=graph)
    assert verify.state == ["self.secret_keys", "self.key_derivation", "DEFAULT_ROUNDS"]
    assert verify.calls == ["Signer.derive"]
    # A class: the names its body assigns come first.
    signer = _source(reader, "Signer", root=root, repo="tools", graph=graph)
    assert signer.state[:3] == ["default_digest", "key_derivation", "self.secret_keys"]
    assert "; state `default_digest`, `key_derivation`" in reading_map([signer], how=False)
    # A class excerpt without its constructor's body still names what the constructor sets (read from the index).
    signer.text = "\n".join(signer.text.splitlines()[:4])
    describe(graph, signer)
    assert signer.state == ["default_digest", "key_derivation", "self.secret_keys"]
    # JavaScript reads through `this`, a chain included; `this.get(...)` is a call, not state.
    ips = _source(reader, "Request.ips", root=root, repo="tools", language="javascript", graph=graph)
    assert ips.state == ["this.app.proxyIpHeader"]
    # What it sets comes before what it reads; assigning `this.type` runs a setter, so it is state too.
    reply = _source(reader, "Request.reply", root=root, repo="tools", language="javascript", graph=graph)
    assert reply.state == ["this.type", "this.body", "this.sent"]
    # A method of something outside the index is named on its field, which is then not listed alone.
    current = _source(reader, "Request.current", root=root, repo="tools", language="javascript", graph=graph)
    assert current.state == ["this.storage.getStore()"]
    # A getter and setter pair is state when read, and so is a getter read through; a method read without a
    # call (a callback) is not.
    route = _source(reader, "Request.route", root=root, repo="tools", language="javascript", graph=graph)
    assert route.state == ["this.path", "this.socket.remoteAddress"]


GETTERS = {
    "lib/request.js": ("var req = module.exports = {};\n\n/** Whether the response is fresh. */\n"
                       "defineGetter(req, 'fresh', function(){\n  return check(this.headers);\n});\n\n"
                       "function check(headers) {\n  return !!headers;\n}\n\n"
                       "function defineGetter(obj, name, getter) {\n"
                       "  Object.defineProperty(obj, name, { get: getter });\n}\n"),
    "lib/response.js": ("var res = module.exports = {};\n\nres.send = function send(body) {\n"
                        "  var req = this.req;\n  if (req.fresh) this.statusCode = 304;\n  return body;\n};\n"),
    "models.py": ("class Response:\n    def __init__(self, status_code):\n        self.status_code = status_code\n\n"
                  "    @property\n    def is_success(self):\n        return 200 <= self.status_code < 300\n\n"
                  "    def raise_for_status(self):\n        if self.is_success:\n            return self\n"
                  "        raise ValueError(self.status_code)\n"),
}


def test_a_getter_read_is_state_and_the_call_that_defines_a_function_is_not_one_of_its_calls(
        tmp_path_factory, embedder, monkeypatch):
    with _graph_over(tmp_path_factory, embedder, monkeypatch, "web", GETTERS) as (root, reader, graph):
        # express's res.send answers 304 on `req.fresh`, a getter defined through defineGetter: reading it is
        # reading state, though `req` is a local and not `this`
        send = _source(reader, "res.send", root=root, repo="web", language="javascript", graph=graph)
        assert "req.fresh" in send.state, send.state
        # the getter calls `check`; `defineGetter(...)` around it ran when the module loaded
        fresh = _source(reader, "req.fresh", root=root, repo="web", language="javascript", graph=graph)
        assert fresh.calls == ["check"], fresh.calls
        # a Python property read through self is state, like a field
        raising = _source(reader, "Response.raise_for_status", root=root, repo="web", graph=graph)
        assert raising.state == ["self.is_success", "self.status_code"], raising.state


SOURCES = {
    "core.py": ("import enum\n\n\nclass Origin(enum.Enum):\n    COMMANDLINE = 1\n    DEFAULT = 2\n\n\n"
                "DEFAULT_ORIGIN = Origin.DEFAULT\n\n\n"
                "class Context:\n    def __init__(self):\n        self.origin = Origin.DEFAULT\n\n\n"
                "def consume(value, default):\n    if value is not None:\n        return value, Origin.COMMANDLINE\n"
                "    if default is not None:\n        return default, Origin.DEFAULT\n"
                "    return None, Origin.DEFAULT\n"),
    "tests/test_core.py": ("from core import Origin\n\n\ndef test_origin():\n    assert Origin.DEFAULT\n"),
}


def test_a_what_for_map_names_what_uses_the_symbol_the_question_names(tmp_path_factory, embedder, monkeypatch):
    from app.answer.outline import add_users

    with _graph_over(tmp_path_factory, embedder, monkeypatch, "cli", SOURCES) as (root, reader, graph):
        origin = _source(reader, "Origin", root=root, repo="cli", graph=graph)
        context = _source(reader, "Context", 2, root=root, repo="cli", graph=graph)
        add_users(graph, [origin, context], "What is the Origin enum for?")
        # a module-level value built from it first (httpx's DEFAULT_TIMEOUT_CONFIG), then the heaviest user,
        # the constructor after; the test and the enum's own lines are not users; a source the question does not
        # name gets no list
        assert origin.users == ["DEFAULT_ORIGIN", "consume", "Context.__init__"], origin.users
        assert context.users == []
        assert "; used by `DEFAULT_ORIGIN`, `consume`, `Context.__init__`." in reading_map([origin], how=False)


COMMANDS = {
    "core.py": ("class BaseCommand:\n    def main(self, args):\n        ctx = self.parse_args(args)\n"
                "        return self.run(ctx)\n\n    def parse_args(self, args):\n"
                "        raise NotImplementedError('base commands do not parse')\n\n"
                "    def run(self, ctx):\n        return ctx\n\n\n"
                "class Command(BaseCommand):\n    def parse_args(self, args):\n        return split_args(args)\n\n\n"
                "def split_args(args):\n    return list(args)\n"),
}


def test_a_call_on_self_to_an_abstract_method_is_the_subclass_s_override(tmp_path_factory, embedder, monkeypatch):
    with _graph_over(tmp_path_factory, embedder, monkeypatch, "cli", COMMANDS) as (root, reader, graph):
        # click's BaseCommand.main calls self.parse_args, which only raises: Command.parse_args does the work;
        # a concrete method of the own class stays the own class's
        main = _source(reader, "BaseCommand.main", root=root, repo="cli", graph=graph)
        assert main.calls == ["Command.parse_args", "BaseCommand.run"], main.calls


RUNNER = {
    "core.py": ("class BaseCommand:\n    def main(self, args):\n        return self.invoke(args)\n\n"
                "    def invoke(self, args):\n        return list(args)\n"),
    "testing.py": ("from core import BaseCommand\n\n\nclass Runner:\n    def invoke(self, cli, args):\n"
                   "        return cli.main(args)\n\n\ndef run_all(runner, cli):\n"
                   "    return runner.invoke(cli, [])\n"),
}


def test_a_call_on_self_is_not_a_call_to_another_class_s_method_of_that_name(tmp_path_factory, embedder,
                                                                                monkeypatch):
    with _graph_over(tmp_path_factory, embedder, monkeypatch, "cli", RUNNER) as (_root, _reader, graph):
        [runner] = graph.find("Runner.invoke")
        [own] = graph.find("BaseCommand.invoke")
        # click's BaseCommand.main calls `self.invoke`: its own class's method, never the test runner's
        # `CliRunner.invoke` (the map said "BaseCommand.main (calls CliRunner.invoke)")
        assert [e.caller.name for e in graph.callers(runner)[0]] == ["run_all"]
        assert [e.caller.name for e in graph.callers(own)[0]] == ["main", "run_all"]
        # a flow states "A calls B" only where A's call resolves to B: `runner.invoke(...)` in testing.py is its
        # own file's `Runner.invoke`
        assert [e.caller.name for e in graph.callers(own, resolved=True)[0]] == ["main"]


def test_a_method_called_on_self_is_the_own_class_s_even_by_a_container_s_name(tools_index):
    root, settings, reader = tools_index
    graph = CallGraph(reader, ["tools"])
    # `self.send(...)` is `Client.send`; `self.headers.get(...)` is a dict's `get`, not `Client.get`.
    request = _source(reader, "Client.request", root=root, repo="tools", graph=graph)
    assert (request.calls, request.state) == (["Client.send"], ["self.headers"])


def test_a_source_lists_the_index_definitions_its_code_calls_in_call_order(shop):
    _settings, reader = shop
    pay = _source(reader, "OrderService.pay")
    calls = _calls(CallGraph(reader, ["shop"]), pay)
    # OrderService.pay charges the card, then queues the confirmation: both are definitions in the shop, each a
    # method named with its class (one definition each).
    assert "PaymentGateway.charge" in calls and "Notifier.order_confirmed" in calls
    assert calls.index("PaymentGateway.charge") < calls.index("Notifier.order_confirmed")
    assert not [c for c in calls if c.split(".")[-1] == "pay"]  # not itself
    assert all(reader.symbols.definitions(c, ["shop"]) for c in calls)  # only names the index defines
    # Outside the user's repositories nothing is read.
    assert _calls(CallGraph(reader, []), pay) == []


def test_the_map_numbers_steps_for_a_how_question_and_cites_each_source(shop):
    _settings, reader = shop
    graph = CallGraph(reader, ["shop"])
    sources = [_source(reader, "OrderService.pay", 1), _source(reader, "PaymentGateway.charge", 2)]
    for s in sources:
        describe(graph, s)
    how = reading_map(sources, how=True)
    assert how.startswith("\n\n" + HOW_HEADING)
    lines = how.strip().splitlines()[1:]
    assert lines[0].startswith("1. `OrderService.pay` in api/orders.py [1]: calls ")
    assert "`PaymentGateway.charge`" in lines[0]
    assert lines[1].startswith("2. `PaymentGateway.charge` in api/payments.py [2]")
    where = reading_map(sources, how=False)
    assert where.startswith("\n\n" + WHERE_HEADING) and "- `OrderService.pay` in api/orders.py [1]" in where
    # A step past the sources (never read by the model) follows the numbered steps apart, naming its caller.
    sources[1].further, sources[1].called_by = True, "OrderService.pay"
    steps, _, further = reading_map(sources, how=True).partition(FURTHER_HEADING)
    assert steps.endswith("\n\n"), steps  # not folded into the last numbered step when the page renders it
    assert "1. `OrderService.pay`" in steps and "PaymentGateway.charge` in" not in steps, steps
    assert further.strip().startswith("- `PaymentGateway.charge` (called by `OrderService.pay`) in api/payments.py"
                                      " [2]"), further
    sources[1].called_by, sources[1].leads_to = "", "OrderService.pay"  # a caller of the flow's entry
    assert "- `PaymentGateway.charge` (calls `OrderService.pay`) in" in reading_map(sources, how=True)
    sources[1].further, sources[1].leads_to = False, ""
    # A docs section is nothing to walk: no map at all.
    doc = Source(number=3, repo="shop", path="README.md", start_line=1, end_line=5, symbol="README.md#Shop",
                 kind="section", language="markdown", text="# Shop")
    assert reading_map([doc], how=True) == ""
    prose = "Orders are paid by `OrderService.pay` [1]."
    assert split_map(prose + how) == (prose, how) and split_map(prose) == (prose, "")


@pytest.fixture(scope="module")
def answerer(shop, embedder) -> Answerer:
    settings, reader = shop
    return Answerer(reader, embedder, shared_chat_model(), settings)


def test_an_answer_streams_the_map_after_the_prose_and_the_checker_keeps_it_clean(answerer):
    stream = answerer.ask("How are orders paid?")
    pieces = list(stream)
    answer = stream.answer
    assert pieces[-1].lstrip().startswith(HOW_HEADING)  # the map is the last piece, after the model's prose
    prose, outline = split_map(answer.text)
    assert outline, answer.text
    # Every name in the map is in the index: nothing flagged in it, and its citations are real sources.
    assert "(not in the index)" not in outline and "[?]" not in outline
    cited = [int(n) for n in re.findall(r"\[(\d+)\]", outline)]
    assert cited and all(1 <= n <= len(answer.citations) for n in cited)
    steps = outline.strip().splitlines()[1:]
    assert any("OrderService.pay" in s and "`PaymentGateway.charge`" in s for s in steps), outline
    # A "how" question's prompt tells the model what each source calls; a "where" question's does not (the 0.5B
    # read a called name as a member of the source's class).
    assert any("; it calls " in s.block().splitlines()[0] for s in answer.sources)
    conversation = answerer.conversation()
    nodes = conversation.retriever.retrieve("where are orders paid?")
    _messages, sources, _reuse = conversation._build_prompt("where are orders paid?", nodes, how=False)
    assert any(s.calls for s in sources) and not any("it calls" in s.block() for s in sources)


def test_the_map_can_be_switched_off(shop, embedder):
    settings, reader = shop
    quiet = Answerer(reader, embedder, shared_chat_model(),
                     settings.model_copy(update={"llm": settings.llm.model_copy(update={"reading_map": False})}))
    stream = quiet.ask("How are orders paid?")
    text = "".join(stream)
    assert HOW_HEADING not in text and WHERE_HEADING not in text
    assert split_map(stream.answer.text)[1] == ""


SIGNING = {
    "signing/serializer.py": '''class Serializer:
    """Signs what it dumps."""

    def __init__(self, signer):
        self.signer = signer

    def make_signer(self):
        """The attribute set in __init__, called: no definition of this name exists outside the tests."""
        return self.signer(self.key)

    def dumps(self, obj):
        return self.make_signer().sign(encode(obj))


def encode(obj):
    return repr(obj).encode()
''',
    "tests/test_serializer.py": '''class TestSigner:
    def signer(self, key):
        return key
''',
}


def test_code_outside_the_tests_is_not_mapped_into_a_test_by_a_shared_name(tmp_path_factory, embedder):
    from app.settings import load_settings
    from indexer.reader import IndexReader
    from tests.conftest import index_repos

    home = index_repos(tmp_path_factory.mktemp("signing"), {"signing": SIGNING}, embedder)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DAYONE_HOME", str(home))
        settings = load_settings()
    with IndexReader(settings) as reader:
        graph = CallGraph(reader, ["signing"])
        d = next(d for d in reader.symbols.definitions("Serializer.make_signer", ["signing"]))
        make_signer = Source(number=1, repo="signing", path=d.path, start_line=d.start_line, end_line=d.end_line,
                             symbol=d.qualified_name, kind=d.kind, language="python", text="")
        # The index does resolve `self.signer(...)` to the test's method (names, not types) ...
        assert any(e.callee.path.startswith("tests/") for e in graph.callees(graph.enclosing(
            "signing", d.path, d.start_line)))
        # ... but the map does not send a reader from the code into a test.
        assert _calls(graph, make_signer) == []
        d = next(d for d in reader.symbols.definitions("Serializer.dumps", ["signing"]))
        dumps = Source(number=2, repo="signing", path=d.path, start_line=d.start_line, end_line=d.end_line,
                       symbol=d.qualified_name, kind=d.kind, language="python", text="")
        assert sorted(_calls(graph, dumps)) == ["Serializer.make_signer", "encode"]  # one line: any order


def test_a_where_map_also_lists_the_next_search_hits_which_the_model_never_reads(answerer):
    stream = answerer.ask("Where is stock reserved and released?")
    list(stream)
    answer = stream.answer
    _prose, outline = split_map(answer.text)
    assert outline.lstrip().startswith(WHERE_HEADING), answer.text
    read = {(s.path, s.start_line) for s in answer.sources}  # what the prompt carried
    extra = [c for c in answer.citations if (c.path, c.start_line) not in read]
    # The search's next hits after the prompt's are listed and cited, with their real locations.
    assert extra, outline
    for source in extra:
        number = answer.citations.index(source) + 1
        assert f"`{source.short_name}` in {source.path} [{number}]" in outline
        assert (EXAMPLE_SHOP / source.path).is_file()
    assert len(outline.strip().splitlines()) - 1 <= 6
    # A "how" question's steps are what the model read; the next hits follow apart, under their own heading.
    how = answerer.ask("How are orders paid?")
    list(how)
    read = {(s.path, s.start_line) for s in how.answer.sources}
    _prose, how_map = split_map(how.answer.text)
    steps, _, related = how_map.partition(RELATED_HEADING)
    assert steps.endswith("\n\n"), how_map  # a heading of its own on the page, not a line of the last step
    steps, _, further = steps.partition(FURTHER_HEADING)
    assert steps.lstrip().startswith(HOW_HEADING) and related.strip(), how.answer.text
    for number, source in enumerate(how.answer.citations, 1):
        line = f"`{source.short_name}` in {source.path} [{number}]"
        if (source.path, source.start_line) in read:
            assert line not in related and line not in further
        elif source.further:  # where the flow comes from or goes past what the model read
            link = f"(calls `{source.leads_to}`)" if source.leads_to else f"(called by `{source.called_by}`)"
            assert f"- `{source.short_name}` {link} in {source.path} [{number}]" in further
        else:
            assert f"- {line}" in related and line not in steps
