"""The answer eval's scorer and question checks: deterministic, on the repository's own questions, a real shop index
(tests/app/conftest.py) for citation precision, and files written here for the reference checks."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from app.answer.citations import check_answer
from app.answer.results import Source
from app.evaluation.answers import (
    AnswerQuestion,
    check_questions,
    citation_counts,
    load_answer_questions,
    names,
    run_map,
    score_text,
)
from app.evaluation.retrieval_eval import EvalError
from tests.conftest import EXAMPLE_SHOP

HOW = AnswerQuestion("q1", "shop", "how", "dev", "how are orders paid?", "ref",
                     ("OrderService.pay", "PaymentGateway.charge", "order_confirmed"), ("api/orders.py",),
                     (("pay",), ("charge",), ("order_confirmed", "Notifier.order_confirmed")))


def test_the_shipped_questions_are_balanced_and_hold_a_held_out_third():
    questions = load_answer_questions()
    kinds = Counter(q.kind for q in questions)
    assert len(questions) >= 24 and len({q.repo for q in questions}) >= 4
    assert kinds["where"] == kinds["how"] == kinds["what_for"]
    held = [q for q in questions if q.split == "heldout"]
    assert len(held) * 3 == len(questions)
    assert {q.kind for q in held} == {"where", "how", "what_for"}  # the held-out third has every kind
    assert all(q.flow for q in questions if q.kind == "how")
    assert load_answer_questions(split="heldout") == held


def test_key_symbols_and_flow_steps_count_only_when_named_as_words():
    assert names("Orders are paid by `OrderService.pay`.", "OrderService.pay")
    assert not names("the payment is made", "pay")  # a word inside another word is not the name
    s = score_text(HOW, "`pay` calls `PaymentGateway.charge` [1], then the notifier.")
    assert s.key_recall == pytest.approx(2 / 3) and s.flow_recall == pytest.approx(2 / 3)
    where = AnswerQuestion("q2", "shop", "where", "dev", "q", "r", ("reserve_stock",), (), ())
    assert score_text(where, "nothing relevant").key_recall == 0.0 and score_text(where, "x").flow_recall is None


def test_references_must_name_what_the_pinned_files_hold(tmp_path):
    root = tmp_path / "shop"
    (root / "api").mkdir(parents=True)
    (root / "api" / "orders.py").write_text((EXAMPLE_SHOP / "api" / "orders.py").read_text())
    assert check_questions([HOW], {"shop": root}) == []
    stock = AnswerQuestion("q4", "shop", "where", "dev", "q", "r", ("InventoryService.StockLevel",),
                           ("api/orders.py",), ())
    assert check_questions([stock], {"shop": root}) == ["q4: InventoryService.StockLevel occurs in none of its key "
                                                        "files"]
    missing = AnswerQuestion("q3", "shop", "where", "dev", "q", "r", (), ("api/nope.py",), ())
    assert check_questions([missing], {"shop": root}) == ["q3: key file api/nope.py is not in shop"]


def test_a_malformed_question_file_is_a_one_line_error(tmp_path):
    (tmp_path / "questions.jsonl").write_text(json.dumps({"id": "x", "repo": "r", "kind": "how", "split": "dev",
                                                          "question": "q", "reference": "r", "key_symbols": [],
                                                          "key_files": []}) + "\n")
    with pytest.raises(EvalError, match="needs its flow steps"):
        load_answer_questions(tmp_path)
    (tmp_path / "questions.jsonl").write_text("{not json\n")
    with pytest.raises(EvalError, match=r"questions.jsonl:1: not a valid question"):
        load_answer_questions(tmp_path)


def test_citation_precision_reads_the_cited_lines(shop_and_billing):
    _settings, reader, _billing = shop_and_billing
    orders = (EXAMPLE_SHOP / "api" / "orders.py").read_text().splitlines()
    inventory = (EXAMPLE_SHOP / "api" / "inventory.py").read_text().splitlines()
    shown = [Source(1, "shop", "api/orders.py", 64, 92, "api.orders.OrderService.pay", "method", "python",
                    "\n".join(orders[63:92])),
             Source(2, "shop", "api/inventory.py", 42, 56, "api.inventory.InventoryService.reserve_stock", "method",
                    "python", "\n".join(inventory[41:56]))]
    raw = "Orders are paid by `OrderService.pay` [1]. The confirmation is then queued [2]."
    answer = check_answer("q", "q", raw, shown, reader, ["shop"])
    # [1] holds the method its sentence names; [2]'s sentence names no code, so it cannot be shown to hold it.
    assert citation_counts(answer) == (len(answer.citations), 1)


def test_the_map_system_scores_the_reading_map_alone_with_no_model_text(shop):
    from app.answer.outline import HOW_HEADING

    settings, _reader = shop
    run = run_map(settings, [HOW])
    (score,) = run.scores
    # The answer is the map only (no prose before its heading), and it walks the whole payment flow from the index.
    assert score.text.lstrip().startswith(HOW_HEADING), score.text
    assert score.key_recall == 1.0 and score.flow_recall == 1.0, score.text
    assert score.citations >= 3 and score.precise == score.citations and score.invented == 0
