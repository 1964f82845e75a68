"""Pair mining and the time split on a small real git history built here (real git, real tree-sitter chunker)."""

from __future__ import annotations

import os
import random
import subprocess
from pathlib import Path

import pytest

from app.tune.mining import drop_reason, read_commits
from app.tune.pairs import choose_cutoff, mine_repo, split_words, strip_docstring
from app.tune.train import batches_without_duplicates

BILLING = '''\
"""Billing for the shop."""


def compute_invoice_total(lines, tax_rate):
    """Add up invoice lines and apply the tax rate of the customer's country.

    Lines are (price, quantity) tuples.
    """
    subtotal = sum(price * qty for price, qty in lines)
    return subtotal * (1 + tax_rate)


def refund_payment(payment_id, amount):
    """Send money back to the card that paid."""
    if amount <= 0:
        raise ValueError("refund amount must be positive")
    return {"payment": payment_id, "refunded": amount}


class CurrencyConverter:
    """Converts amounts between currencies with daily exchange rates."""

    def __init__(self, rates):
        self.rates = rates

    def convert_amount(self, amount, source, target):
        return amount * self.rates[target] / self.rates[source]
'''

SHIPPING = '''\
def estimate_delivery_days(distance_km):
    """Days a parcel takes, from the distance between warehouse and address."""
    return 1 + distance_km // 500


def pick_warehouse(warehouses, address):
    return min(warehouses, key=lambda w: abs(w.zone - address.zone))
'''

README = """\
# Shop

## Money

Totals come from `compute_invoice_total`; refunds go through `refund_payment`.
"""


def _git(repo: Path, *args: str, author: str = "Dana Dev", email: str = "dana@example.com", when: int = 0) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": author, "GIT_AUTHOR_EMAIL": email, "GIT_COMMITTER_NAME": author,
           "GIT_COMMITTER_EMAIL": email}
    if when:
        env |= {"GIT_AUTHOR_DATE": f"{when} +0000", "GIT_COMMITTER_DATE": f"{when} +0000"}
    return subprocess.run(["git", "-C", str(repo), *args], env=env, check=True, capture_output=True,
                          text=True).stdout


class History:
    def __init__(self, root: Path):
        self.root = root
        self.t = 1_600_000_000
        _git(root, "init", "-q", "-b", "main")

    def commit(self, files: dict[str, str], message: str, **who: str) -> str:
        for rel, text in files.items():
            (self.root / rel).parent.mkdir(parents=True, exist_ok=True)
            (self.root / rel).write_text(text)
        self.t += 3600
        _git(self.root, "add", "-A")
        _git(self.root, "commit", "-q", "-m", message, when=self.t, **who)
        return _git(self.root, "rev-parse", "HEAD").strip()


def _edit(text: str, old: str, new: str) -> str:
    assert old in text
    return text.replace(old, new, 1)


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    root = tmp_path_factory.mktemp("shop")
    h = History(root)
    shas: dict[str, str] = {}
    billing, shipping = BILLING, SHIPPING
    shas["init"] = h.commit({"shop/billing.py": billing, "shop/shipping.py": shipping, "README.md": README},
                            "Initial shop with billing and shipping")
    billing = _edit(billing, "return subtotal * (1 + tax_rate)", "return round(subtotal * (1 + tax_rate), 2)")
    shas["round"] = h.commit({"shop/billing.py": billing}, "Round invoice totals to cents after applying tax")
    billing = _edit(billing, "    if amount <= 0:", "    if amount <= 0 or amount > 10_000:")
    shas["refund"] = h.commit({"shop/billing.py": billing}, "Refuse refunds above the card limit")
    shas["bot"] = h.commit({"requirements.txt": "requests==2.32.0\n", "shop/shipping.py": shipping + "\n# deps\n"},
                           "Bump requests from 2.31.0 to 2.32.0", author="dependabot[bot]",
                           email="49699333+dependabot[bot]@users.noreply.github.com")
    shas["revert"] = h.commit({"shop/billing.py": BILLING}, 'Revert "Refuse refunds above the card limit"')
    billing = BILLING.replace("        return amount * self.rates", "        return (amount * self.rates")
    billing = billing.replace("/ self.rates[source]", "/ self.rates[source])")
    shas["format"] = h.commit({"shop/billing.py": billing}, "Apply black to billing")
    current = (root / "shop/shipping.py").read_text()
    shas["reflow"] = h.commit({"shop/shipping.py": current.replace("    return 1 + distance_km // 500",
                                                                   "    return 1 + distance_km  //  500")},
                              "Tidy the delivery estimate")
    many = {f"shop/gen/module_{i}.py": f"def generated_{i}():\n    return {i}\n" for i in range(20)}
    shas["huge"] = h.commit(many, "Add generated lookup modules for every region")
    tests = {"tests/test_billing.py": "def test_total():\n    assert True\n"}
    shas["tests"] = h.commit(tests, "Add a test for the invoice total")
    shas["merge_base"] = _git(root, "rev-parse", "HEAD").strip()
    _git(root, "checkout", "-q", "-b", "feature")
    shipping2 = _edit(shipping, "    return 1 + distance_km // 500", "    return 2 + distance_km // 400")
    shas["feature"] = h.commit({"shop/shipping.py": shipping2}, "Slower delivery estimate for remote islands")
    _git(root, "checkout", "-q", "main")
    h.t += 3600
    _git(root, "merge", "-q", "--no-ff", "-m", "Merge branch 'feature'", "feature", when=h.t)
    shas["merge"] = _git(root, "rev-parse", "HEAD").strip()
    # After the cut-off: the held-out commits.
    shas["cutoff"] = shas["merge"]
    billing = _edit(billing, "    def convert_amount(self, amount, source, target):",
                    "    def convert_amount(self, amount, source, target):\n        if source == target:\n"
                    "            return amount")
    shas["held1"] = h.commit({"shop/billing.py": billing}, "Skip the exchange rate when converting to the same "
                             "currency")
    shipping3 = (root / "shop/shipping.py").read_text().replace("return min(", "return sorted(").replace(
        "zone))", "zone))[0]")
    shas["held2"] = h.commit({"shop/shipping.py": shipping3}, "Choose the warehouse nearest to the address zone")
    return root, shas


def test_commits_are_read_with_their_changed_lines_and_filtered_for_a_reason(shop: tuple[Path, dict]) -> None:
    root, shas = shop
    commits = {c.sha: c for c in read_commits(root)}
    assert shas["merge"] not in commits  # merges carry no message about one change
    reasons = {name: drop_reason(commits[shas[name]]) for name in
               ("round", "refund", "bot", "revert", "format", "reflow", "huge", "tests", "feature", "held1")}
    assert reasons == {"round": None, "refund": None, "bot": "bot", "revert": "revert", "format": "formatting",
                       "reflow": "formatting", "huge": "huge", "tests": "no source code", "feature": None,
                       "held1": None}
    hunks = commits[shas["round"]].hunks["shop/billing.py"]
    assert [(h.old_start, h.old_len) for h in hunks] == [(10, 1)]  # the `return` line of compute_invoice_total


def test_commit_pairs_point_at_the_changed_function_with_a_same_file_negative(shop: tuple[Path, dict]) -> None:
    root, shas = shop
    m = mine_repo("shop", root, cutoff=shas["cutoff"])
    commit_pairs = {p.source: p for p in m.pairs if p.kind == "commit"}
    assert set(commit_pairs) == {shas["round"], shas["refund"], shas["feature"]}
    p = commit_pairs[shas["round"]]
    assert p.query == "Round invoice totals to cents after applying tax"
    assert p.positive.startswith("shop/billing.py\nshop.billing.compute_invoice_total\n")
    assert "compute_invoice_total" not in p.negative and p.negative.startswith("shop/billing.py\n")
    assert commit_pairs[shas["refund"]].positive.splitlines()[1] == "shop.billing.refund_payment"
    assert commit_pairs[shas["feature"]].positive.splitlines()[1] == "shop.shipping.estimate_delivery_days"
    assert m.dropped["bot"] == 1 and m.dropped["revert"] == 1 and m.dropped["formatting"] == 2
    assert m.dropped["huge"] == 1


def test_docstring_identifier_and_docs_pairs_come_from_the_cutoff_snapshot(shop: tuple[Path, dict]) -> None:
    root, shas = shop
    m = mine_repo("shop", root, cutoff=shas["cutoff"])
    docs = {p.query: p for p in m.pairs if p.kind == "docstring"}
    p = docs["Add up invoice lines and apply the tax rate of the customer's country."]
    assert "def compute_invoice_total" in p.positive
    assert "Add up invoice lines" not in p.positive and "(price, quantity)" not in p.positive  # docstring removed
    assert "subtotal = sum(" in p.positive
    idents = {p.query: p for p in m.pairs if p.kind == "identifier"}
    assert "def estimate_delivery_days" in idents["estimate delivery days"].positive
    assert "currency converter" in idents
    section = [p for p in m.pairs if p.kind == "docs"]
    assert {p.positive.splitlines()[1] for p in section} == {"shop.billing.compute_invoice_total",
                                                             "shop.billing.refund_payment"}
    assert all(p.negative != p.positive for p in m.pairs)


def test_time_split_holds_out_later_commits_with_their_gold(shop: tuple[Path, dict]) -> None:
    root, shas = shop
    m = mine_repo("shop", root, cutoff=shas["cutoff"])
    assert m.cutoff == shas["cutoff"]
    held = {h.id.split("@")[1]: h for h in m.heldout}
    assert set(held) == {shas["held1"][:10], shas["held2"][:10]}
    h1 = held[shas["held1"][:10]]
    assert h1.gold_files == ["shop/billing.py"]
    assert h1.gold_symbols == ["shop.billing.CurrencyConverter.convert_amount"]
    assert held[shas["held2"][:10]].gold_symbols == ["shop.shipping.pick_warehouse"]
    trained_queries = {p.query for p in m.pairs}
    assert not any(h.query in trained_queries for h in m.heldout)  # nothing held out leaks into training
    assert all(h.time > m.cutoff_time for h in m.heldout)  # this history's clock only moves forward


def test_automatic_cutoff_keeps_a_share_of_commits_out() -> None:
    times = list(range(100))
    last = choose_cutoff(times, holdout=30)
    assert last == 69  # 30 held out: within 15%..40%
    assert choose_cutoff(times, holdout=1000) == 59  # never more than 40%
    assert choose_cutoff(times, holdout=1) == 84  # never less than 15%


def test_words_and_docstring_removal() -> None:
    assert split_words("resolve_envvar_value") == "resolve envvar value"
    assert split_words("parseHTTPHeaderValue") == "parse http header value"
    from indexer.chunking import chunk_file

    js = "/**\n * Create an application.\n */\nfunction createApp(opts) {\n  return new App(opts)\n}\n"
    chunk = next(c for c in chunk_file("lib/app.js", js.encode()).chunks if c.name == "createApp")
    assert chunk.docstring == "Create an application."
    assert strip_docstring(chunk).startswith("function createApp(opts) {")


def test_batches_never_repeat_a_question_or_code() -> None:
    from app.tune.pairs import Pair

    pairs = [Pair("commit", f"q{i % 7}", f"code{i % 5}", f"neg{i}", "r", "s") for i in range(60)]
    batches = batches_without_duplicates(pairs, 8, random.Random(0))
    for b in batches:
        assert len({p.query for p in b}) == len(b)
        codes = [p.positive for p in b] + [p.negative for p in b]
        assert len(set(codes)) == len(codes)
    assert sum(len(b) for b in batches) >= 50
