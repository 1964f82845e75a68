"""`dayone ask`: the JSON contract, streaming to the terminal, and one-line errors for a broken model setup."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from app.doors.cli import app
from tests.app.answer.test_chat_model import llm_env, packaged_model_file
from tests.conftest import EXAMPLE_SHOP

runner = CliRunner()


@pytest.fixture
def llm(monkeypatch):
    for key, value in llm_env().items():
        monkeypatch.setenv(key, value)


def test_ask_json_is_the_contract_and_cites_real_locations(home, embedder, llm):
    assert runner.invoke(app, ["index", str(EXAMPLE_SHOP)]).exit_code == 0
    result = runner.invoke(app, ["ask", "--json", "where are orders paid?"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)  # stdout holds the JSON object and nothing else
    assert set(payload) == {"question", "answer", "citations", "facts"}
    assert payload["question"] == "where are orders paid?"
    assert isinstance(payload["answer"], str) and "OrderService.pay" in payload["answer"]
    assert payload["citations"]
    for c in payload["citations"]:
        assert set(c) == {"repo", "path", "start_line", "end_line", "symbol"}
        assert c["repo"] == "shop" and not c["path"].startswith("/")
        lines = len((EXAMPLE_SHOP / c["path"]).read_text().splitlines())
        assert 1 <= c["start_line"] <= c["end_line"] <= lines
    assert payload["citations"][0]["path"] == "api/orders.py"
    assert payload["citations"][0]["symbol"] == "api.orders.OrderService.pay"
    # The facts card, read from the index: the method's definition with its real location.
    pay = next(f for f in payload["facts"] if f["symbol"] == "api.orders.OrderService.pay")
    assert pay["location"] == f"shop:api/orders.py:{payload['citations'][0]['start_line']}"
    assert any(c["location"].startswith("shop:api/payments.py:") for c in pay["calls"])

    # Streamed to the terminal, then the cited sources with their locations.
    result = runner.invoke(app, ["ask", "--repo", "shop", "which Go function sends the order confirmation email?"])
    assert result.exit_code == 0, result.output
    assert "SendOrderConfirmation" in result.stdout
    # The card comes first, before the model's text.
    assert result.stdout.index("From the index") < result.stdout.index("Sources")
    assert "worker.email.SendOrderConfirmation  shop:worker/email.go:" in result.stdout
    assert "Sources" in result.stdout and "shop:worker/email.go:37-48" in result.stdout
    # Piped, the output is the checked answer (as --json has it), its [k] the k-th source listed under it.
    checked = json.loads(runner.invoke(app, ["ask", "--json", "--repo", "shop",
                                             "which Go function sends the order confirmation email?"]).stdout)
    assert checked["answer"].strip() in result.stdout, (checked["answer"], result.stdout)
    first = checked["citations"][0]
    assert f"[1] shop:{first['path']}:{first['start_line']}-{first['end_line']}" in result.stdout

    # Nothing relevant: said plainly, no citations.
    result = runner.invoke(app, ["ask", "--json", "who won the 1998 football world cup?"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["citations"] == [] and "nothing in the index" in payload["answer"]

    result = runner.invoke(app, ["ask", "--repo", "nope", "where are orders paid?"])
    assert result.exit_code == 2
    assert result.stderr.strip() == "error: no indexed repository is named 'nope' (indexed: shop)"


def _truncated(tmp_path):
    path = tmp_path / "cut.gguf"
    with open(packaged_model_file(), "rb") as src:
        path.write_bytes(src.read(20_000_000))
    return path


def _text_file(tmp_path):
    path = tmp_path / "notes.gguf"
    path.write_text("not a model\n")
    return path


@pytest.mark.parametrize(("make", "message"), [
    (lambda tmp: tmp / "missing.gguf", "model file not found"),
    (_truncated, "model file is truncated"),
    (_text_file, "not a GGUF model file"),
], ids=["missing", "truncated", "not-gguf"])
def test_a_broken_model_file_is_a_one_line_error_at_start(tmp_path, home, llm, monkeypatch, make, message):
    monkeypatch.setenv("DAYONE_LLM__MODEL_PATH", str(make(tmp_path)))
    result = runner.invoke(app, ["ask", "--json", "where are orders paid?"])
    assert result.exit_code == 2
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], result.stderr


def test_an_unreachable_model_server_is_a_one_line_error(home, monkeypatch):
    monkeypatch.setenv("DAYONE_LLM__BACKEND", "openai")
    monkeypatch.setenv("DAYONE_LLM__OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    result = runner.invoke(app, ["ask", "where are orders paid?"])
    assert result.exit_code == 2
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: cannot reach the model server at http://127.0.0.1:9/v1")
