"""The facts card and the call graph under it: the real example shop and a second real git repository indexed with
the real chunker, embedder and qdrant-edge. No model is needed: the card is read from the index."""

from __future__ import annotations

from app.answer.callgraph import CallGraph
from app.answer.facts import FactsBuilder, is_test_path
from app.service import Service
from tests.app.conftest import BILLING
from tests.conftest import EXAMPLE_SHOP, git


def _line(path: str, line: int) -> str:
    return (EXAMPLE_SHOP / path).read_text().splitlines()[line - 1]


def test_card_for_a_named_method_holds_its_definition_callees_callers_and_real_locations(shop_and_billing):
    settings, reader, _billing = shop_and_billing
    card = FactsBuilder(settings, reader, ["shop"]).card("what does OrderService.pay do?")
    pay = card.symbols[0]
    assert pay.symbol == "api.orders.OrderService.pay" and pay.kind == "method"
    assert pay.location.startswith("shop:api/orders.py:")
    assert "def pay(self, order_id: int, card_token: str)" in _line("api/orders.py", pay.line)
    assert pay.signature.startswith("def pay(self, order_id: int, card_token: str)")
    assert pay.doc.startswith("Pay for an order: charge the customer's card")
    calls = {r.name: r for r in pay.calls}
    charge = calls["api.payments.PaymentGateway.charge"]
    assert "def charge(" in _line("api/payments.py", charge.line)
    assert "api.models.Order" not in calls  # not called in pay's body
    callers = {r.name: r for r in pay.called_by}
    route = callers["api.app.create_app.post_payment"]
    assert ".pay(" in _line("api/app.py", route.line)  # the line of the call itself
    # The same card as JSON: every fact has a repo:path:line location.
    data = card.to_json()[0]
    assert data["location"] == pay.location
    assert all(r["location"].startswith("shop:") for r in data["calls"] + data["called_by"])


def test_card_lists_the_tests_that_use_a_symbol_and_never_resolves_calls_across_languages(shop_and_billing):
    settings, reader, _billing = shop_and_billing
    card = FactsBuilder(settings, reader, None).card("which method reserves stock? reserve_stock")
    reserve = next(s for s in card.symbols if s.symbol.endswith("InventoryService.reserve_stock"))
    tests = {r.name for r in reserve.tests}
    assert "tests.test_inventory.test_reservation_is_all_or_nothing" in tests
    assert all(is_test_path(r.path) for r in reserve.tests)
    assert all(r.path.endswith(".py") for r in reserve.calls)  # `items.items()` is not web/src/cart.ts's items
    assert "api.orders.OrderService.create_order" in {r.name for r in reserve.called_by}


def test_card_stays_within_the_callers_repositories(shop_and_billing):
    settings, reader, _billing = shop_and_billing
    only_billing = FactsBuilder(settings, reader, ["billing"]).card("how does pay work? OrderService.pay")
    assert only_billing.symbols and all(s.repo == "billing" for s in only_billing.symbols)
    assert all(not r.location.startswith("shop:") for s in only_billing.symbols for r in s.calls + s.called_by)
    pay = next(s for s in only_billing.symbols if s.symbol == "billing.pay.pay")
    assert [r.name for r in pay.calls] == ["billing.pay.charge"]
    only_shop = FactsBuilder(settings, reader, ["shop"]).card("how does pay work? charge")
    assert only_shop.symbols and all(s.repo == "shop" for s in only_shop.symbols)
    assert FactsBuilder(settings, reader, []).card("OrderService.pay").symbols == []


def test_card_has_the_last_commits_of_the_file_from_git(shop_and_billing):
    settings, reader, billing = shop_and_billing
    (billing / "billing" / "pay.py").write_text(BILLING["billing/pay.py"] + "\n# refunds next\n")
    git(billing, "commit", "-qam", "Note what comes next")
    card = FactsBuilder(settings, reader, ["billing"]).card("billing.pay.charge")
    commits = card.symbols[0].commits
    # The indexed commit's history, not the newer commit made after indexing.
    assert [c.subject for c in commits] == ["initial"]
    assert commits[0].sha == git(billing, "rev-parse", "--short", "HEAD~1")[: len(commits[0].sha)]
    assert commits[0].location.startswith("billing:billing/pay.py@")


def test_call_graph_resolves_callers_to_their_enclosing_definition(shop_and_billing):
    _settings, reader, _billing = shop_and_billing
    graph = CallGraph(reader, ["shop"])
    [pay] = graph.find("OrderService.pay")
    callees = {e.callee.qualified_name for e in graph.callees(pay)}
    assert {"api.payments.PaymentGateway.charge", "api.notifications.Notifier.order_confirmed"} <= callees
    [charge] = graph.find("PaymentGateway.charge")
    callers, sites = graph.callers(charge)
    assert sites >= 1 and [e.caller.qualified_name for e in callers] == ["api.orders.OrderService.pay"]
    # A constructor's callers construct its class; the `super().__init__(...)` of unrelated exceptions are not.
    [init] = graph.find("PaymentGateway.__init__")
    callers, sites = graph.callers(init)
    assert sites >= 1 and {e.caller.qualified_name for e in callers} == {"api.app.create_app"}


def test_service_facts_searches_first_when_given_no_hits(shop_and_billing, embedder):
    settings, _reader, _billing = shop_and_billing
    service = Service(settings, embedder=embedder)
    try:
        card = service.facts("where are orders paid?", repos=["shop"])
        assert "api.orders.OrderService.pay" in [s.symbol for s in card.symbols]
        assert service.facts("where are orders paid?", repos=[]).symbols == []
    finally:
        service.close()


def test_a_plain_word_that_only_names_a_test_fixture_is_no_subject_unless_tests_are_asked_about(shop_and_billing):
    settings, reader, _billing = shop_and_billing
    builder = FactsBuilder(settings, reader, ["shop"])
    # The shop's tests have a fixture `inventory`: "inventory" in a question about the code is the service's,
    # and the card led with the fixture (itsdangerous's `serializer` fixture did so for a serializer question)
    about_code = [d.qualified_name for d in builder.subjects("how is inventory reserved for an order?", [])]
    assert not any(is_test_path(n.replace(".", "/")) for n in about_code), about_code
    about_tests = [d.qualified_name for d in builder.subjects("which fixture gives the tests their inventory?", [])]
    assert "tests.test_inventory.inventory" in about_tests, about_tests
