"""First-day questions are made from the tours of the user's repositories: the real shop and billing index."""

from __future__ import annotations

from app.service import Service
from app.tour.questions import first_day_questions
from app.tour.tour import build_tour


def test_questions_name_the_shops_own_entry_points_symbols_and_commands(shop_and_billing):
    settings, reader, _billing = shop_and_billing
    tour = build_tour(settings, reader, "shop")
    questions = first_day_questions([tour])
    assert 3 <= len(questions) <= 4
    central = {s.text for s in tour.central_symbols}
    routes = {e.text for e in tour.entry_points}
    assert any(f"`{name}`" in q for q in questions for name in central)  # a central symbol by name
    assert any(route in q for q in questions for route in routes)  # how a request flows
    assert "How do I build shop and run its tests?" in questions  # the tour found its commands


def test_each_user_gets_questions_about_their_repositories_only(shop_and_billing, embedder):
    settings, _reader, _billing = shop_and_billing
    service = Service(settings, embedder=embedder)
    try:
        billing = service.first_day_questions(["billing"])
        assert billing and all("shop" not in q and "Order" not in q for q in billing)
        assert any("`pay`" in q or "`charge`" in q for q in billing)
        both = service.first_day_questions(None)
        assert any("billing" in q or "`pay`" in q or "`charge`" in q for q in both)  # taken in turn from each
        assert any("Order" in q or "shop" in q for q in both)
        assert service.first_day_questions([]) == []
    finally:
        service.close()
