"""Relations an answer claims are checked against the real symbol table of the shop index: crafted answer texts
with true and false relations between real names (deterministic, no model)."""

from __future__ import annotations

import pytest

from app.answer.citations import check_answer
from app.answer.prompts import NOT_INDEXED
from app.answer.relations import RelationChecker, find_claims
from app.answer.results import Source
from tests.conftest import EXAMPLE_SHOP

TRUE = [
    "`OrderService.pay` calls `PaymentGateway.charge`.",
    "The `pay` method calls `order_confirmed` after the charge.",
    "`PaymentGateway.charge` is called by `OrderService.pay`.",
    "`PaymentError` is a subclass of `Exception`.",
    "`OutOfStock` extends `Exception`.",
    "`OrderService` is defined in api/orders.py.",
    "`api/orders.py` imports `PaymentGateway`.",
    "`PaymentError` is imported by `api/orders.py`.",
    "The `charge` method in `api/payments.py` talks to the provider.",
    "`OrderService` lives in `orders.py`.",
]
FALSE = [
    ("`OrderService.pay` calls `InventoryService.reserve_stock`.", "no call of reserve_stock inside"),
    ("`reserve_stock` is called by `OrderService.refund`.", "no call of reserve_stock inside"),
    ("`OrderError` inherits from `PaymentError`.", "its header names Exception"),
    ("The `OrderService` class is defined in `api/payments.py`.", "defined in shop:api/orders.py:"),
    ("`api/payments.py` imports `OrderService`.", "does not import OrderService"),
    # orders.py only calls it: a 0.5B wrote "the `load_payload` method in `timed.py`" of such a call
    ("The `reserve_stock` method in `api/orders.py` holds the items.", "defined in shop:api/inventory.py:42"),
]


@pytest.mark.parametrize("text", TRUE)
def test_true_relations_pass(shop_and_billing, text):
    _settings, reader, _billing = shop_and_billing
    [claim] = find_claims(text)
    assert RelationChecker(reader, ["shop"]).check(claim) == (True, "")


@pytest.mark.parametrize(("text", "why"), FALSE)
def test_false_relations_are_caught_with_what_the_index_shows(shop_and_billing, text, why):
    _settings, reader, _billing = shop_and_billing
    [claim] = find_claims(text)
    verdict, reason = RelationChecker(reader, ["shop"]).check(claim)
    assert verdict is False and why in reason


def test_prose_and_unknown_subjects_are_not_judged(shop_and_billing):
    _settings, reader, _billing = shop_and_billing
    assert find_claims("Then the order calls the gateway, which is nice.") == []
    [claim] = find_claims("`InvoiceService.bill` calls `charge`.")  # no such class: the name check's business
    assert RelationChecker(reader, ["shop"]).check(claim) == (None, "")
    # Outside the user's repositories nothing is judged either, so nothing about them leaks.
    [claim] = find_claims("`OrderService.pay` calls `InventoryService.reserve_stock`.")
    assert RelationChecker(reader, ["billing"]).check(claim) == (None, "")
    # A file the index does not hold: the name check flags the path once, the relation is not judged as well.
    [claim] = find_claims("The `OrderService` class in `api/nowhere.py` takes orders.")
    assert RelationChecker(reader, ["shop"]).check(claim) == (None, "")


def _source(number: int, path: str, symbol: str, kind: str, start: int, end: int) -> Source:
    lines = (EXAMPLE_SHOP / path).read_text().splitlines()[start - 1:end]
    return Source(number=number, repo="shop", path=path, start_line=start, end_line=end, symbol=symbol, kind=kind,
                  language="python", text="\n".join(lines))


def test_a_false_relation_is_marked_and_its_sentence_cites_nothing(shop_and_billing):
    _settings, reader, _billing = shop_and_billing
    shown = [_source(1, "api/orders.py", "api.orders.OrderService.pay", "method", 64, 92),
             _source(2, "api/inventory.py", "api.inventory.InventoryService.reserve_stock", "method", 42, 56)]
    raw = ("`OrderService.pay` calls `InventoryService.reserve_stock` to hold the items [2]. "
           "`OrderService.pay` calls `PaymentGateway.charge` to take the money [1].")
    answer = check_answer("how are orders paid?", "how are orders paid?", raw, shown, reader, ["shop"])
    first, second = answer.text.split(". ", 1)
    assert first.endswith("`InventoryService.reserve_stock`" + NOT_INDEXED + " to hold the items")
    assert "[" not in first  # the false sentence's citation is gone
    assert second.endswith("[1].") and NOT_INDEXED not in second
    assert [c.path for c in answer.citations] == ["api/orders.py"]  # source 2 never becomes a citation
    relation = [f for f in answer.flagged if f.kind == "relation"]
    assert len(relation) == 1 and "no call of reserve_stock inside OrderService.pay" in relation[0].reason


def test_a_place_is_judged_at_the_file_a_corrected_path_stands_for(shop_and_billing):
    """`app/orders.py` is written as the source api/orders.py; the claim is then judged there, not dropped."""
    _settings, reader, _billing = shop_and_billing
    shown = [_source(1, "api/orders.py", "api.orders.OrderService.pay", "method", 64, 92),
             _source(2, "api/payments.py", "api.payments.PaymentGateway.charge", "method", 58, 80)]
    answer = check_answer("how are orders paid?", "how are orders paid?",
                          "The `charge` method in `app/orders.py` takes the money [2].", shown, reader, ["shop"])
    assert [f.kind for f in answer.flagged if f.kind in ("corrected", "relation")] == ["corrected", "relation"]
    assert "api/orders.py" in answer.text and NOT_INDEXED in answer.text and not answer.citations
    answer = check_answer("how are orders paid?", "how are orders paid?",
                          "The `pay` method in `app/orders.py` takes the money [1].", shown, reader, ["shop"])
    assert [f.kind for f in answer.flagged] == ["corrected"] and [c.path for c in answer.citations] == [
        "api/orders.py"]
