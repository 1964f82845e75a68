"""Indexes of real repositories built once per test session and only read by the tests that share them: the example
shop alone (answering and the answering model's LoRA path), and the shop with a small billing repository in git
(facts, flow and relations)."""

from __future__ import annotations

import pytest

from app.settings import load_settings
from indexer.pipeline.run import Indexer
from indexer.reader import IndexReader
from indexer.settings import RepoConfig
from tests.app.answer.test_chat_model import llm_env
from tests.conftest import EXAMPLE_SHOP, make_repo

BILLING = {
    "billing/pay.py": '''"""A second repository with a `pay` of its own."""


def charge(amount):
    """Send the amount to the bank."""
    return amount


def pay(amount):
    """Pay an invoice."""
    return charge(amount)
''',
}


@pytest.fixture(scope="session")
def shop(tmp_path_factory, embedder):
    """The example shop indexed into its own DAYONE_HOME, with settings for the test model (llm_env)."""
    home = tmp_path_factory.mktemp("shop-home")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DAYONE_HOME", str(home))
        mp.delenv("DAYONE_CONFIG", raising=False)
        for key, value in llm_env().items():
            mp.setenv(key, value)
        mp.chdir(home)
        settings = load_settings()
    Indexer(settings, embedder=embedder).run([RepoConfig(name="shop", path=str(EXAMPLE_SHOP))])
    reader = IndexReader(settings)
    yield settings, reader
    reader.close()


@pytest.fixture(scope="session")
def shop_and_billing(tmp_path_factory, embedder):
    home = tmp_path_factory.mktemp("answer-index-home")
    billing = make_repo(tmp_path_factory.mktemp("billing") / "billing", BILLING)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DAYONE_HOME", str(home))
        mp.delenv("DAYONE_CONFIG", raising=False)
        mp.chdir(home)
        settings = load_settings()
    Indexer(settings, embedder=embedder).run([RepoConfig(name="shop", path=str(EXAMPLE_SHOP)),
                                             RepoConfig(name="billing", path=str(billing))])
    reader = IndexReader(settings)
    yield settings, reader, billing
    reader.close()


