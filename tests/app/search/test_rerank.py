"""The model's listwise rerank (app/search/rerank.py) on a real index (the shop and a billing repository) with the
real packaged Qwen2.5-Coder-0.5B through llama.cpp; two stub models stand in for what a real one cannot be made to
do on purpose. Two real generations of about 800 prompt tokens each: well under a minute on two cores."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

import pytest

from app.answer.chat_model import ChatModel, GenerationStats, Message, llama_gpu
from app.answer.llama_index import IndexRetriever
from app.search.rerank import Reranker, file_groups, parse_order, rerank, rerank_active
from app.search.retriever import Retriever, SearchHit
from app.service import Service
from app.settings import AccessSettings, SearchSettings
from tests.app.answer.test_chat_model import shared_chat_model

QUESTION = "where is the payment for an order charged to the card?"


class Scripted(ChatModel):
    """A model that replies with fixed text and records every prompt it is sent."""

    def __init__(self, reply: str = "", inner: ChatModel | None = None):
        self.reply, self.inner = reply, inner
        self.name, self.context_size, self.last_stats = "scripted", 4096, GenerationStats()
        self.prompts: list[str] = []

    def stream(self, messages: list[Message], max_tokens: int = 256, temperature: float = 0.0, *,
               reuse_prefix: bool = False) -> Iterator[str]:
        self.prompts.append(messages[-1]["content"])
        if self.inner is not None:
            yield from self.inner.stream(messages, max_tokens, temperature, reuse_prefix=reuse_prefix)
        else:
            yield self.reply

    def count_tokens(self, text: str) -> int:
        return self.inner.count_tokens(text) if self.inner is not None else len(text) // 3 + 1

    @contextlib.contextmanager
    def aside(self) -> Iterator[None]:
        with self.inner.aside() if self.inner is not None else contextlib.nullcontext():
            yield


def warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "app.search.rerank"]


def files(hits: list[SearchHit]) -> list[str]:
    return [g[0].path for g in file_groups(hits)]


@pytest.fixture(scope="module")
def index(shop_and_billing, embedder):
    settings, reader, _billing = shop_and_billing
    return settings, Retriever(reader, embedder, settings.search)


def service_with(settings, embedder, model: ChatModel, rerank: str, **update) -> Service:
    return Service(settings.model_copy(update={"search": SearchSettings(rerank=rerank), **update}), model=model,
                   embedder=embedder)


def test_a_real_rerank_returns_the_same_hits_with_the_top_files_reordered(index, caplog):
    _settings, retriever = index
    hits = retriever.search(QUESTION, k=20, repos=["shop"])
    assert len(file_groups(hits)) > 10
    with caplog.at_level(logging.WARNING, logger="app.search.rerank"):
        out = rerank(QUESTION, hits, shared_chat_model(), files=10)
    assert not warnings(caplog), "the real model answered with usable file numbers"
    key = [(h.path, h.start_line) for h in hits]
    assert sorted(key) == sorted((h.path, h.start_line) for h in out)  # a permutation: nothing added or lost
    assert sorted(files(out)[:10]) == sorted(files(hits)[:10])  # only the first ten files move
    assert files(out)[10:] == files(hits)[10:]
    for path in files(out):  # a file's hits keep their own order
        assert [h.start_line for h in out if h.path == path] == [h.start_line for h in hits if h.path == path]


def test_an_unusable_answer_keeps_the_search_order_and_says_so(index, caplog):
    _settings, retriever = index
    hits = retriever.search(QUESTION, k=20, repos=["shop"])
    # Stands in for a model misbehaving (prose, no file numbers), which a real model cannot be made to do reliably.
    garbage = Scripted("The best file is the one that handles orders, I think.")
    with caplog.at_level(logging.WARNING, logger="app.search.rerank"):
        assert rerank(QUESTION, hits, garbage) is hits
    assert garbage.prompts and len(warnings(caplog)) == 1 and "search order kept" in warnings(caplog)[0]
    # Out-of-range and repeated numbers are ignored; files the model leaves out follow in their own order.
    assert parse_order("12, 3, 3, 0, 1", 10) == [2, 0]
    assert parse_order("[3] src/http2.py, then [1]", 10) == [2, 0]
    out = rerank(QUESTION, hits, Scripted("4, 99, 2, 4"), files=10)
    first = files(hits)
    assert files(out) == [first[3], first[1], first[0], first[2], *first[4:]]
    # The files take the places the search gave its files: a model that agrees changes nothing, hits included.
    assert rerank(QUESTION, hits, Scripted("1, 2, 3, 4, 5, 6, 7, 8, 9, 10"), files=10) == hits


def test_off_never_calls_the_model_and_auto_follows_llama_cpp(index, embedder):
    settings, _retriever = index
    spy = Scripted("2, 1")
    service = service_with(settings, embedder, spy, "off")
    try:
        assert service.reranker() is None
        assert service.search(QUESTION, k=10)
        assert spy.prompts == []
    finally:
        service.close()
    auto = settings.model_copy(update={"search": SearchSettings(rerank="auto")})
    assert rerank_active(auto) == llama_gpu()  # on this CPU machine: off
    assert rerank_active(auto.model_copy(update={"llm": auto.llm.model_copy(update={"n_gpu_layers": 0})})) is False


def test_a_restricted_users_reranked_results_stay_within_their_repositories(index, embedder):
    settings, _retriever = index
    access = AccessSettings(groups={"shop-team": ["shop"]}, users={"newhire": ["shop-team"]})
    spy = Scripted(inner=shared_chat_model())
    service = service_with(settings, embedder, spy, "on", access=access)
    question = "pay an invoice: charge the amount to the bank"
    try:
        assert "billing" in {h.repo for h in service.search(question, k=20, rerank=False)}  # not vacuous
        hits = service.search(question, k=20, repos=service.scope("newhire"))
        assert hits and {h.repo for h in hits} == {"shop"}
        assert len(spy.prompts) == 1 and "billing" not in spy.prompts[0]  # the model never saw the other repo
    finally:
        service.close()


def test_the_chats_sources_follow_the_rerank(index):
    settings, retriever = index
    plain = files(retriever.search(QUESTION, k=4, repos=["shop"]))
    reranker = Reranker(lambda: Scripted("3"), files=10)
    nodes = IndexRetriever(retriever, k=4, repos=["shop"], reranker=reranker, follow_calls=False).retrieve(QUESTION)
    whole = files(retriever.search(QUESTION, k=20, repos=["shop"]))
    assert nodes[0].node.metadata["path"] == whole[2] != plain[0]
