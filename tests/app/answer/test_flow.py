""""How" questions follow the code: callees found through the symbol table join the sources, ordered along the
flow, and the prompt asks for the steps in order. The real shop index (tests/app/conftest.py); the prompt
test uses the real model's tokenizer, no generation."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest

from app.answer.callgraph import CallGraph
from app.answer.conversation import Answerer
from app.answer.flow import is_how_question
from app.answer.llama_index import IndexRetriever
from app.answer.prompts import ANSWER_RULES, HOW_RULES
from app.search.retriever import Retriever, SearchHit
from tests.app.answer.test_chat_model import shared_chat_model


@pytest.mark.parametrize("question", [
    "how does the router decide which route matches a request path?", "How are orders paid?",
    "and how is the stock released?", "what happens when the card is declined?", "walk me through checkout",
    "explain how refunds work", "What are the steps of creating an order?"])
def test_how_questions_are_recognised(question):
    assert is_how_question(question)


@pytest.mark.parametrize("question", [
    "where are orders paid?", "how many retries does the worker make?", "what is OrderService for?",
    "which function sends emails?", "how long is a session kept?", "who calls reserve_stock?"])
def test_other_questions_are_not_how_questions(question):
    assert not is_how_question(question)


def _symbols(retriever: IndexRetriever, question: str) -> list[tuple[str, str]]:
    return [(n.node.metadata["symbol"], n.node.metadata["called_by"]) for n in retriever.retrieve(question)]


@contextmanager
def _indexed(tmp_path_factory, embedder, monkeypatch, repo: str, files: dict[str, str]) -> Iterator[Retriever]:
    """Search over a small repository indexed for real (chunker, embedder, qdrant-edge), as the app opens it."""
    from app.settings import load_settings
    from indexer.reader import IndexReader
    from tests.conftest import index_repos

    home = index_repos(tmp_path_factory.mktemp(f"flow-{repo}"), {repo: files}, embedder)
    monkeypatch.setenv("DAYONE_HOME", str(home))
    settings = load_settings()
    with IndexReader(settings) as reader:
        yield Retriever(reader, embedder, settings.search)


def test_a_how_question_gets_the_callee_plain_retrieval_missed_right_after_its_caller(shop_and_billing, embedder):
    settings, reader, _billing = shop_and_billing
    search = Retriever(reader, embedder, settings.search)
    question = "how are orders paid?"
    plain = _symbols(IndexRetriever(search, k=4, repos=["shop"], follow_calls=False), question)
    assert "api.payments.PaymentGateway.charge" not in [s for s, _ in plain]
    flow = _symbols(IndexRetriever(search, k=4, repos=["shop"]), question)
    names = [s for s, _ in flow]
    assert "api.payments.PaymentGateway.charge" in names
    pay, charge = names.index("api.orders.OrderService.pay"), names.index("api.payments.PaymentGateway.charge")
    assert pay < charge and flow[charge][1] == "api.orders.OrderService.pay"
    # Caller before callee everywhere, and never more than two sources over plain retrieval.
    for i, (_symbol, caller) in enumerate(flow):
        if caller:
            assert caller in names[:i]
    assert len(flow) <= len(plain) + 2
    # Within the caller's repositories only: no flow step from a repository outside the scope.
    assert all(n.node.metadata["repo"] == "shop" for n in IndexRetriever(search, k=4, repos=["shop"]).retrieve(
        "how does pay work?"))


def test_the_map_s_next_hits_are_places_it_does_not_already_name(shop_and_billing, embedder):
    settings, reader, _billing = shop_and_billing
    search = Retriever(reader, embedder, settings.search)
    for question in ("how are orders paid?", "where are orders paid?", "where is stock reserved?"):
        nodes = IndexRetriever(search, k=3, repos=["shop"], extra=2).retrieve(question)
        meta = [n.node.metadata for n in nodes]
        named = {(m["path"], m["symbol"]) for m in meta if not m.get("map_only") or m.get("further")}
        nxt = [(m["path"], m["symbol"]) for m in meta if m.get("map_only") and not m.get("further")]
        # two next hits, each a place neither the prompt nor the flow's steps past it already hold (a second
        # part of a prompt source's symbol took a slot of the two, and the map showed one)
        assert len(nxt) == 2 and not set(nxt) & named, (question, nxt, named)


def test_a_where_question_keeps_plain_retrieval(shop_and_billing, embedder):
    settings, reader, _billing = shop_and_billing
    search = Retriever(reader, embedder, settings.search)
    question = "where are orders paid?"
    assert _symbols(IndexRetriever(search, k=4, follow_calls=False), question) == _symbols(
        IndexRetriever(search, k=4), question)


def test_the_prompt_of_a_how_question_asks_for_the_steps_in_order_and_names_each_caller(shop_and_billing, embedder):
    settings, reader, _billing = shop_and_billing
    conversation = Answerer(reader, embedder, shared_chat_model(), settings).conversation(repos=["shop"])
    nodes = conversation.retriever.retrieve("how are orders paid?")
    messages, sources, _reuse = conversation._build_prompt("how are orders paid?", nodes, how=True)
    prompt = messages[-1]["content"]
    assert HOW_RULES in prompt and ANSWER_RULES not in prompt
    charge = next(s for s in sources if s.symbol == "api.payments.PaymentGateway.charge")
    assert "called by OrderService.pay" in charge.block().splitlines()[0]
    conversation.reset()
    messages, _sources, _reuse = conversation._build_prompt("where are orders paid?", nodes)
    assert ANSWER_RULES in messages[-1]["content"]


def test_the_flow_does_not_follow_a_shared_name_from_the_code_into_a_test(tmp_path_factory, embedder, monkeypatch):
    files = {
        "tokens/serializer.py": (
            "class Serializer:\n    def __init__(self, signer):\n        self.signer = signer\n\n"
            "    def make_signer(self, salt):\n"
            "        \"\"\"Build the signer that signs each payload with the salt.\"\"\"\n"
            "        return self.signer(salt)\n\n"
            "    def dumps(self, obj):\n        \"\"\"Sign the payload with a signer made for it.\"\"\"\n"
            "        payload = str(obj)\n        return self.make_signer('salt').sign(payload)\n"),
        "tests/test_serializer.py": (
            "from tokens.serializer import Serializer\n\n\nclass TestSigner:\n"
            "    def signer(self, salt):\n        \"\"\"A signer for the tests that signs every payload.\"\"\"\n"
            "        return salt\n\n    def test_dumps(self):\n        assert Serializer(self.signer).dumps(1)\n"),
    }
    with _indexed(tmp_path_factory, embedder, monkeypatch, "tokens", files) as search:
        steps = _symbols(IndexRetriever(search, k=1, repos=["tokens"]), "how does Serializer.dumps sign a payload?")
    symbols = [s for s, _caller in steps]
    # `self.signer(...)` is an attribute; the only definition of that name, a test's, is not a step of the flow.
    assert symbols[0].endswith("Serializer.dumps") and any(s.endswith("make_signer") for s in symbols), steps
    assert not [s for s in symbols if "TestSigner" in s], steps


def test_a_hit_in_the_middle_of_a_flow_is_led_into_by_the_caller_the_question_names(tmp_path_factory, embedder,
                                                                                     monkeypatch):
    from app.answer.flow import follow_flow

    files = {
        "lib/server.js": (
            "class Server {\n  handleRequest(ctx) {\n    const finish = () => respond(ctx);\n"
            "    return parseBody(ctx).then(finish);\n  }\n}\n\n"
            "function parseBody(ctx) {\n  // read the request body into ctx.body\n  return ctx.read();\n}\n\n"
            "function respond(ctx) {\n  // write the status and the body to the socket\n  ctx.res.end(ctx.body);\n}\n\n"
            "module.exports = Server;\n"),
    }
    with _indexed(tmp_path_factory, embedder, monkeypatch, "web", files) as search:
        respond = next(h for h in search.search("respond", k=5, repos=["web"]) if h.symbol.endswith("respond"))

        def flow(question: str) -> list[tuple[str, str]]:
            return [(s.hit.symbol.rsplit(".", 1)[-1], s.caller.rsplit(".", 1)[-1])
                    for s in follow_flow(search, question, [respond], repos=["web"])]

        # Search landed on the last step; the caller named by the question (through the arrow function it
        # defines) leads, and the hit follows it as its step.
        steps = flow("How does the server handle an incoming request?")
        assert steps[0] == ("handleRequest", "") and ("respond", "handleRequest") in steps, steps
        # A question about the hit itself keeps it as the entry.
        assert flow("How does respond write the status and body to the socket?")[0] == ("respond", ""), steps


def test_a_class_hit_starts_the_flow_at_its_method_the_question_is_about(tmp_path_factory, embedder, monkeypatch):
    from app.answer.flow import follow_flow

    files = {
        "cli/command.py": (
            "class Command:\n    \"\"\"A command of the command line tool.\"\"\"\n\n"
            "    def invoke(self, ctx):\n        \"\"\"Run the command's callback.\"\"\"\n        return ctx.run()\n\n"
            "    def format_help(self, formatter):\n"
            "        \"\"\"Write the help text: the usage, then the options.\"\"\"\n"
            "        self.format_usage(formatter)\n        self.format_options(formatter)\n\n"
            "    def format_usage(self, formatter):\n        \"\"\"Write the usage line of the help text.\"\"\"\n"
            "        formatter.write_usage('cli')\n\n"
            "    def format_options(self, formatter):\n        \"\"\"Write each option's help line.\"\"\"\n"
            "        formatter.write_dl([])\n"),
    }
    with _indexed(tmp_path_factory, embedder, monkeypatch, "cli", files) as search:
        cls = next(h for h in search.search("Command", k=5, repos=["cli"]) if h.kind == "class")
        steps = [(s.hit.symbol.rsplit(".", 1)[-1], s.caller.rsplit(".", 1)[-1])
                 for s in follow_flow(search, "How does a command write its help text?", [cls], repos=["cli"])]
    # The class, then its method about the question, then that method's calls in the order it makes them.
    assert steps[:2] == [("Command", ""), ("format_help", "")], steps
    assert ("format_usage", "format_help") in steps and ("invoke", "") not in steps, steps


def test_a_class_hit_with_no_method_of_its_own_starts_the_flow_at_its_base_s_method(tmp_path_factory, embedder,
                                                                                      monkeypatch):
    from app.answer.flow import follow_flow

    files = {
        "tokens/serializer.py": (
            "class Signer:\n    def unsign(self, token):\n        return token.rsplit('.', 1)[0]\n\n\n"
            "class Serializer:\n    \"\"\"Turns data into signed tokens and back.\"\"\"\n\n"
            "    def dumps(self, obj):\n        \"\"\"Serialize an object to a string and sign it.\"\"\"\n"
            "        return encode_payload(obj) + '.sig'\n\n"
            "    def loads(self, token):\n"
            "        \"\"\"Turn a signed token back into the data: check the signature, decode the payload.\"\"\"\n"
            "        return decode_payload(Signer().unsign(token))\n\n\n"
            "def encode_payload(obj):\n    return str(obj)\n\n\n"
            "def decode_payload(payload):\n    \"\"\"Decode a token's payload back into the data.\"\"\"\n"
            "    return eval(payload)\n"),
        "tokens/url_safe.py": (
            "from tokens.serializer import Serializer, Signer\n\n\n"
            "class URLSafeSerializer(\n    Serializer,\n):\n"
            "    \"\"\"A serializer whose tokens are safe in URLs.\"\"\"\n\n"
            "    default_signer = Signer\n"),
    }
    with _indexed(tmp_path_factory, embedder, monkeypatch, "tokens", files) as search:
        cls = next(h for h in search.search("URLSafeSerializer", k=5, repos=["tokens"])
                   if h.kind == "class" and h.symbol.endswith("URLSafeSerializer"))
        steps = [(s.hit.symbol.rsplit(".", 1)[-1], s.caller.rsplit(".", 1)[-1]) for s in follow_flow(
            search, "How does a URL-safe serializer turn a token back into my data?", [cls], repos=["tokens"])]
        graph = CallGraph(search.reader, ["tokens"])
        bases = [b.name for b in graph.bases(graph.find("URLSafeSerializer")[0])]
    # itsdangerous's URLSafeTimedSerializer defines no method: its base's `loads` is where a token is read back,
    # and the flow goes on into what `loads` calls. `default_signer = Signer` is a class attribute, no base.
    assert steps[:2] == [("URLSafeSerializer", ""), ("loads", "")], steps
    assert ("decode_payload", "loads") in steps and ("dumps", "") not in steps, steps
    assert bases == ["Serializer"]


_CLIENT = '''class Client:
    def request(self, method, url):
        """Build the request and send it."""
        return self.send(method, url)

    def send(self, method, url):
        """Send the request, with auth."""
        response = self._send_handling_auth(method, url)
        response.close()
        return response

    def _send_handling_auth(self, method, url):
        """Send the request, answering auth challenges."""
        return self._send_handling_redirects(method, url)

    def _send_handling_redirects(self, method, url):
        """Send the request, following redirects."""
        return self._send_single_request(method, url)

    def _send_single_request(self, method, url):
        """Send one request over the network with the transport for its URL."""
        transport = self._transport_for_url(url)
        return transport.handle_request(method, url)

    def _transport_for_url(self, url):
        """The network transport that sends requests for this URL."""
        return self.transport

    def close(self):
        """Close the client's network connections."""
        self.transport.close()


def fetch(url):
    """Fetch a URL: a new client sends the request over the network."""
    return Client().request("GET", url)


class AsyncClient:
    async def get(self, url):
        """Send a GET request."""
        return await self.request('GET', url)

    async def request(self, method, url):
        """Build the request and send it."""
        return await self.send(method, url)
'''


def _hits(search: Retriever) -> Callable[[str], SearchHit]:
    """The search hit on a definition of net/client.py by its name (`Client.request`), as search returns it."""
    lines = _CLIENT.split("\n")
    defs = {d.qualified_name.split(".", 2)[-1]: d for d in search.reader.symbols.file_definitions(
        "net", "net/client.py")}

    def hit(name: str) -> SearchHit:
        d = defs[name]
        return SearchHit("net", "net/client.py", d.start_line, d.end_line, d.qualified_name, d.kind, "python",
                         0.5, "\n".join(lines[d.start_line - 1:d.end_line]))
    return hit


def test_the_map_follows_a_flow_from_its_caller_and_past_the_sources_along_its_best_call_chain(
        tmp_path_factory, embedder, monkeypatch):
    from app.answer.flow import FlowStep, follow_on

    question = "How does a client request end up sent over the network?"
    with _indexed(tmp_path_factory, embedder, monkeypatch, "net", {"net/client.py": _CLIENT}) as search:
        hit = _hits(search)
        steps = follow_on(search, question, [FlowStep(hit("Client.request"))], repos=["net"])
        nodes = IndexRetriever(search, k=2, repos=["net"], extra=1).retrieve(question)
    shown = [(s.hit.symbol.rsplit(".", 1)[-1], s.caller, s.depth) for s in steps]
    # The flow's entry is called from `fetch`; past it, the chain of calls in the order they run, each step
    # naming the one that calls it, as far as it stays about the question.
    assert shown[0] == ("fetch", "Client.request", -1), shown
    chain = [(name, caller) for name, caller, depth in shown if depth >= 0]
    assert chain[:4] == [("send", "Client.request"), ("_send_handling_auth", "Client.send"),
                         ("_send_handling_redirects", "Client._send_handling_auth"),
                         ("_send_single_request", "Client._send_handling_redirects")], shown
    # `response.close()` in `send` is the response's: the client's own `close` is called through `self`.
    assert "close" not in [name for name, _c, _d in shown], shown
    # Through the retriever, they come after what the model reads, for the map only.
    further = [n.node.metadata for n in nodes if n.node.metadata.get("further")]
    read = {n.node.metadata["symbol"] for n in nodes if not n.node.metadata.get("map_only")}
    assert further and all(m["map_only"] and m["symbol"] not in read for m in further), (read, further)


def test_the_async_twin_of_a_step_does_not_take_a_place_in_the_flow(tmp_path_factory, embedder, monkeypatch):
    from app.answer.flow import follow_flow

    with _indexed(tmp_path_factory, embedder, monkeypatch, "net", {"net/client.py": _CLIENT}) as search:
        hit = _hits(search)
        get, request = hit("AsyncClient.get"), hit("Client.request")
        steps = [s.hit.symbol for s in follow_flow(search, "How does get send a request?", [get, request],
                                                  repos=["net"])]
    # `AsyncClient.request` is `Client.request` with `await`: the flow holds one of them.
    assert not [s for s in steps if s.endswith("AsyncClient.request")], steps
