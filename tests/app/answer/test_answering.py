"""Grounded answers end to end: the real shop index, real retrieval, the real Qwen2.5-Coder-0.5B through llama.cpp.

Generation is kept short (128 answer tokens, 4 sources, n_ctx 4096) so the module runs in about two minutes on
two cores.
"""

from __future__ import annotations

import re

import pytest
from llama_index.core.base.base_retriever import BaseRetriever

from app.answer.chat_model import LlamaCppModel
from app.answer.citations import check_answer
from app.answer.conversation import Answerer
from app.answer.flow import is_how_question
from app.answer.llama_index import IndexRetriever
from app.answer.modelfiles import check_gguf_file
from app.answer.prompts import NO_CONTEXT_ANSWER, NOT_INDEXED
from app.answer.results import Answer, Flag, Source
from app.settings import load_settings
from indexer.pipeline.run import Indexer
from indexer.reader import IndexReader
from indexer.settings import RepoConfig
from tests.app.answer.test_chat_model import TEST_N_CTX, llm_env, packaged_model_file, shared_chat_model
from tests.conftest import EXAMPLE_SHOP, make_repo

FIVE_QUESTIONS = [
    # (question, the file the answer must cite, the name it must give)
    ("where are orders paid?", "api/orders.py", "OrderService.pay"),
    ("which method reserves stock for an order?", "api/inventory.py", "reserve_stock"),
    ("which Go function sends the order confirmation email?", "worker/email.go", "SendOrderConfirmation"),
    ("how does the web front end add an item to the cart?", "web/src/cart.ts", "addItem"),
    ("how do the API services reach the database?", "api/db.py", "Database"),
]


@pytest.fixture(scope="module")
def answerer(shop, embedder) -> Answerer:
    settings, reader = shop
    return Answerer(reader, embedder, shared_chat_model(), settings)


def assert_real_locations(answer: Answer, reader: IndexReader) -> None:
    """Every citation is a location the index holds: the file exists and the lines lie inside it."""
    for c in answer.citations:
        assert c.repo == "shop"
        file = EXAMPLE_SHOP / c.path
        assert file.is_file(), c.path
        lines = len(file.read_text().splitlines())
        assert 1 <= c.start_line <= c.end_line <= lines, (c.path, c.start_line, c.end_line, lines)
        assert c.path in reader.manifest.files("shop")
    numbers = [int(n) for n in re.findall(r"\[(\d+)\]", answer.text)]
    assert all(1 <= n <= len(answer.citations) for n in numbers), answer.text  # [k] is citations[k-1]


@pytest.mark.parametrize(("question", "path", "name"), FIVE_QUESTIONS, ids=[p for _q, p, _n in FIVE_QUESTIONS])
def test_five_questions_cite_the_right_file_and_name_the_function(answerer, shop, question, path, name):
    stream = answerer.ask(question)
    # llm.max_sources (4), and for a "how" question up to two callees that hold the flow (app/answer/flow.py).
    assert stream.sources and len(stream.sources) <= 4 + (2 if is_how_question(question) else 0)
    pieces = list(stream)
    answer = stream.answer
    assert len(pieces) > 1, "the answer streams"
    assert "".join(pieces) == answer.raw_text
    assert not answer.no_context
    assert_real_locations(answer, shop[1])
    assert path in [c.path for c in answer.citations], (answer.text, answer.citations)
    assert name in answer.text, answer.text
    assert not [f for f in answer.flagged if f.kind in ("path", "symbol")], answer.flagged


def test_a_follow_up_is_condensed_and_keeps_the_earlier_sources(answerer, shop):
    conversation = answerer.conversation()
    first = conversation.ask("where are orders paid?").answer
    assert "api/orders.py" in [c.path for c in first.citations]
    follow = conversation.ask("and what happens when the card is declined?").answer
    assert follow.standalone_question and follow.standalone_question != follow.question
    assert not follow.no_context
    # The follow-up's prompt extends the first one: same numbered sources first, then any new ones.
    assert [s.location for s in follow.sources[: len(first.sources)]] == [s.location for s in first.sources]
    assert_real_locations(follow, shop[1])
    assert {"api/orders.py", "api/payments.py"} & {c.path for c in follow.citations}, follow.raw_text


def test_nothing_relevant_is_said_without_calling_the_model(tmp_path, embedder, monkeypatch):
    repo = make_repo(tmp_path / "mathlib", {
        "mathlib/series.py": 'def fibonacci(n):\n    """The n-th Fibonacci number."""\n    a, b = 0, 1\n'
                             '    for _ in range(n):\n        a, b = b, a + b\n    return a\n',
        "mathlib/matrix.py": 'def matmul(a, b):\n    """Multiply two matrices given as lists of rows."""\n'
                             '    return [[sum(x * y for x, y in zip(row, col)) for col in zip(*b)] for row in a]\n',
    })
    monkeypatch.setenv("DAYONE_HOME", str(tmp_path / "home"))
    for key, value in llm_env().items():
        monkeypatch.setenv(key, value)
    settings = load_settings()
    Indexer(settings, embedder=embedder).run([RepoConfig(name="mathlib", path=str(repo))])
    model = shared_chat_model()
    stats_before = model.last_stats
    with IndexReader(settings) as reader:
        stream = Answerer(reader, embedder, model, settings).ask("how are customer orders paid by credit card?")
        assert list(stream) == [NO_CONTEXT_ANSWER]
        answer = stream.answer
    assert answer.no_context and answer.citations == [] and answer.to_json()["citations"] == []
    assert model.last_stats is stats_before  # no generation ran


def test_index_retriever_is_a_llama_index_retriever_with_whole_symbols(shop, embedder):
    settings, reader = shop
    retriever = IndexRetriever(Answerer(reader, embedder, shared_chat_model(), settings).retriever, k=4)
    assert isinstance(retriever, BaseRetriever)
    nodes = retriever.retrieve("where are orders paid?")
    top = nodes[0].node
    assert (top.metadata["path"], top.metadata["symbol"]) == ("api/orders.py", "api.orders.OrderService.pay")
    # OrderService.pay is longer than MiniLM's window, so it is stored in parts: the node holds all of it.
    source_lines = (EXAMPLE_SHOP / "api/orders.py").read_text().splitlines()
    whole = "\n".join(source_lines[top.metadata["start_line"] - 1: top.metadata["end_line"]])
    assert top.get_content() == whole
    assert top.metadata["query_similarity"] > 0.4


def test_sources_fit_the_token_budget_of_a_small_context(shop, embedder):
    settings, reader = shop
    small = LlamaCppModel(packaged_model_file(), n_ctx=1024)
    try:
        tight = settings.model_copy(deep=True)
        tight.llm.max_sources = 10
        tight.llm.max_answer_tokens = 200
        conversation = Answerer(reader, embedder, small, tight).conversation()
        nodes = conversation.retriever.retrieve("how does an order get created, paid and refunded?")
        messages, sources, _reuse = conversation._build_prompt("how does an order get created?", nodes)
        prompt_tokens = small.count_messages(messages)
        assert prompt_tokens + tight.llm.max_answer_tokens <= small.context_size
        assert 1 <= len(sources) < len(nodes)  # the budget, not max_sources, decided
        for s in sources:  # a source cut to fit keeps a true location
            if s.kind in ("function", "method"):
                real = (EXAMPLE_SHOP / s.path).read_text().splitlines()[s.start_line - 1: s.end_line]
                assert s.text.strip() == "\n".join(real).strip()
        # And llama.cpp accepts the prompt as built (one token is enough to prove it fits).
        assert small.complete(messages, max_tokens=1) is not None
    finally:
        small.close()
    assert check_gguf_file(packaged_model_file()).context_length >= TEST_N_CTX


def test_a_type_named_in_prose_cites_its_definition_and_a_brand_name_is_left_alone(shop, embedder):
    # The 0.5B model often writes "the payment gateway returns a PaymentError." with no number: the sentence
    # names a class that a source defines, so it cites that source. "GitHub" names nothing here: no flag, no cite.
    settings, reader = shop
    conversation = Answerer(reader, embedder, shared_chat_model(), settings).conversation()
    nodes = conversation.retriever.retrieve("what happens when the card is declined?")
    _messages, sources, _ = conversation._build_prompt("what happens when the card is declined?", nodes)
    error = next(s for s in sources if s.symbol.endswith("PaymentError"))
    raw = "The card is declined when the gateway returns a PaymentError. The code is hosted on GitHub."
    answer = check_answer("q", "q", raw, sources, reader)
    assert answer.citations == [error]
    assert answer.text == "The card is declined when the gateway returns a PaymentError [1]. The code is hosted " \
                          "on GitHub."
    assert answer.flagged == []
    # The repository's name written as a folder ("shop/api/orders.py", as the 1.5B model writes it) is a real file.
    assert check_answer("q", "q", "See shop/api/orders.py and shop/api/nowhere.py.", sources, reader).flagged == [
        Flag("shop/api/nowhere.py", "path", "no indexed file has this path")]


def test_validator_flags_invented_names_and_maps_citations(shop, embedder):
    settings, reader = shop
    conversation = Answerer(reader, embedder, shared_chat_model(), settings).conversation()
    nodes = conversation.retriever.retrieve("where are orders paid?")
    _messages, sources, _ = conversation._build_prompt("where are orders paid?", nodes)
    pay = next(s for s in sources if s.symbol.endswith("OrderService.pay"))
    other = next(s for s in sources if s.path != "api/orders.py")
    raw = (f"Orders are paid by `OrderService.pay` in api/orders.py [{other.number}]. "
           f"The card is charged by `OrderService.process_payment()` in `api/made_up.py` [9]. "
           f"Stock is held by `OrderService.reserve_stock`. "
           f"It calls `self.gateway.charge` [{pay.number}].")
    answer = check_answer("q", "q", raw, sources, reader)
    flagged = {(f.kind, f.text) for f in answer.flagged}
    assert ("path", "api/made_up.py") in flagged
    assert ("symbol", "OrderService.process_payment") in flagged
    assert ("symbol", "OrderService.reserve_stock") in flagged  # a real class and a real name, not its member
    assert ("citation", "[9]") in flagged
    assert ("citation", f"[{other.number}]") in flagged  # it holds nothing its sentence names
    assert ("symbol", "self.gateway.charge") not in flagged and ("path", "api/orders.py") not in flagged
    assert f"`api/made_up.py`{NOT_INDEXED}" in answer.text
    assert "[?]" in answer.text
    # The sentence naming OrderService.pay cites it, as [1]; only real locations are cited.
    assert answer.citations[0] is pay and answer.text.startswith("Orders are paid by `OrderService.pay` in "
                                                                  "api/orders.py [1].")
    assert all(c.path != "api/made_up.py" for c in answer.citations)
    assert_real_locations(answer, reader)
    payload = answer.to_json()
    assert set(payload) == {"question", "answer", "citations", "facts"}
    assert payload["facts"] == []  # no card was built for a bare check_answer
    assert payload["citations"][0] == {"repo": "shop", "path": "api/orders.py", "start_line": pay.start_line,
                                       "end_line": pay.end_line, "symbol": "api.orders.OrderService.pay"}


def test_the_example_names_the_checker_removes_are_the_worked_example_s():
    # a name only the example has: if the example changes and this list does not, copies go unremoved
    from app.answer.prompts import EXAMPLE_NAMES, EXAMPLE_TURN

    example = "\n".join(turn["content"] for turn in EXAMPLE_TURN)
    assert EXAMPLE_NAMES and all(name.rpartition(".")[2] in example for name in EXAMPLE_NAMES)
    assert all(name in example for name in EXAMPLE_NAMES if "/" in name)


def test_a_misplaced_path_is_written_as_its_source_file_and_real_members_are_not_flagged(tmp_path_factory, embedder,
                                                                                          monkeypatch):
    from tests.conftest import index_repos

    files = {
        "lib/response.js": ("var res = module.exports = {};\n\n"
                            "res.json = function json(obj) {\n  return this.send(JSON.stringify(obj));\n};\n"),
        "lib/application.js": "function respond(ctx) {\n  return ctx.body;\n}\n\nmodule.exports = respond;\n",
        "src/web/testing.py": ("class Result:\n    def __init__(self, stdout_bytes):\n"
                               "        self.stdout_bytes = stdout_bytes\n\n"
                               "    def output(self):\n        return self.stdout_bytes.decode()\n"),
    }
    home = index_repos(tmp_path_factory.mktemp("checker"), {"web": files}, embedder)
    monkeypatch.setenv("DAYONE_HOME", str(home))
    with IndexReader(load_settings()) as reader:
        shown = [Source(number=n, repo="web", path=path, start_line=1, end_line=3, symbol=symbol, kind=kind,
                        language="", text="") for n, (path, symbol, kind) in enumerate([
                            ("lib/application.js", "lib.application.respond", "function"),
                            ("src/web/testing.py", "src.web.testing.Result.output", "method"),
                            ("lib/response.js", "lib.response.res.json", "method")], 1)]
        raw = ("The `respond` function in app/application.js writes the body [1]. `Result.output` in "
               "`web.testing.py` decodes `Result.stdout_bytes` [2]. `res.json` sends JSON. "
               "`Result.stderr_bytes` is empty. Settings are read in lib/settings.js. "
               "The `res.json` method in res.js calls `send` [3]. Routes are matched in router.js.\n"
               "1. `respond` returns the body [1].\n2. The `main` method in `app/config.py` is called to read "
               "the settings file [1].\n3. `Result.output` decodes it [2].")
        answer = check_answer("q", "q", raw, shown, reader, ["web"])
    flagged = {(f.kind, f.text) for f in answer.flagged}
    # The 1.5B wrote the worked example's app/ folder before koa's lib/application.js; with one source file of
    # that name, the path is written as the index holds it and the fix is listed, not counted as invented.
    assert "The `respond` function in lib/application.js writes the body [1]." in answer.text, answer.text
    assert "`src/web/testing.py` decodes" in answer.text, answer.text  # a dotted module written as a file
    assert ("corrected", "app/application.js") in flagged and ("corrected", "web.testing.py") in flagged
    # a file written under the name of the object its methods hang on (`res.json` lives in lib/response.js);
    # a file named after no source's object is still flagged
    assert "The `res.json` method in lib/response.js calls" in answer.text and ("corrected", "res.js") in flagged
    assert ("path", "router.js") in flagged, flagged
    # A method named like a file and a field a constructor sets are real names; a made-up field and a path no
    # source file stands for are still flagged.
    assert not {t for k, t in flagged if k in ("path", "symbol") and t in ("res.json", "Result.stdout_bytes")}
    assert ("symbol", "Result.stderr_bytes") in flagged and ("path", "lib/settings.js") in flagged, flagged
    assert f"lib/settings.js{NOT_INDEXED}" in answer.text
    # Out of steps, the 1.5B went on with the worked example's `app/config.py`: that line is about the example,
    # not this code, so it is removed (listed apart); the steps around it stay.
    assert "app/config.py" not in answer.text and ("example", "app/config.py") in flagged, answer.text
    assert "1. `respond` returns the body [1].\n3. `Result.output` decodes it [2]." in answer.text, answer.text
    # The page lists the corrections apart from what is not in the index.
    from app.doors.web import render_flags

    missing, _, fixed = render_flags(answer).partition("**Paths corrected**")
    fixed, _, removed = fixed.partition("**Removed**")
    assert missing.startswith("**Not in the index**") and "- `lib/settings.js`: no indexed file" in missing
    assert "- `app/application.js`: written as lib/application.js" in fixed and "lib/settings.js" not in fixed
    assert "- `app/config.py`: only the prompt's worked example has it" in removed and "app/config" not in missing
