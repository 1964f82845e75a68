"""An index of two real repositories (the example shop and a small billing repository in git), built once for the
facts, flow and relation tests, which only read it."""

from __future__ import annotations

import pytest

from app.settings import load_settings
from indexer.pipeline.run import Indexer
from indexer.reader import IndexReader
from indexer.settings import RepoConfig
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


