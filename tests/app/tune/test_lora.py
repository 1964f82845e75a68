"""The answering model's LoRA path with real parts: examples from a real index of the example shop, the packaged
Qwen2.5-Coder-0.5B GGUF read and trained by transformers + peft, the adapter written as GGUF and applied by
llama.cpp (llama-cpp-python) to the quantized model the chat loads."""

from __future__ import annotations

import json
from collections import Counter

import numpy as np
import pytest
from typer.testing import CliRunner

from app.answer.citations import check_answer
from app.answer.conversation import Answerer
from app.answer.modelfiles import ModelFileError, check_adapter_file, check_gguf_file
from app.answer.prompts import EXAMPLE_TURN, SYSTEM_PROMPT, question_block
from app.settings import load_settings
from app.tune.answer_examples import leading_doc, mine_answer_examples
from app.tune.lora import LoraConfig, add_adapters, export_gguf, load_base
from tests.app.answer.test_answering import assert_real_locations
from tests.app.answer.test_chat_model import llm_env, packaged_model_file


def test_docstrings_and_leading_comments_are_read_from_stored_text():
    assert leading_doc('def f(\n    a: int,\n) -> int:\n    """Add one.\n\n    More."""\n    return a\n',
                       "python").strip().startswith("Add one.")
    assert leading_doc('def f(a):\n    x = "not a docstring"\n    """late string"""\n', "python") == ""
    assert leading_doc("/**\n * Charge the card.\n * @param order\n */\nfunction pay(order) {}\n",
                       "javascript").startswith("Charge the card.")


def test_examples_are_first_turns_whose_answers_pass_the_answer_checker(shop):
    settings, reader = shop
    examples = mine_answer_examples(reader, None, limit=30)
    kinds = Counter(e.kind for e in examples)
    assert set(kinds) == {"where_name", "where_doc", "what_for"} and len(examples) >= 12
    for e in examples:
        # The prompt is the chat's first turn: system prompt, the worked example, sources, question and rules.
        assert e.messages[0] == {"role": "system", "content": SYSTEM_PROMPT} and e.messages[1:3] == EXAMPLE_TURN
        user = e.messages[-1]["content"]
        question = user.split("\nQuestion: ", 1)[1].split("\n", 1)[0]
        assert user.startswith("Sources:\n\n") and user.endswith(question_block(question))
        assert all(s.block() in user for s in e.sources) and 2 <= len(e.sources) <= 3
        assert not e.path.startswith(("tests/", "docs/")) and "/tests/" not in e.path
        # What it teaches passes dayone's own checker: it cites the definition it names and nothing is flagged.
        answer = check_answer(question, question, e.answer, e.sources, reader, ["shop"])
        assert answer.flagged == [] and [c.symbol for c in answer.citations] == [e.symbol], e.answer
        assert_real_locations(answer, reader)


def _llama_logits(model_path, tokens, lora_path=None) -> np.ndarray:
    import llama_cpp

    llm = llama_cpp.Llama(model_path=str(model_path), lora_path=str(lora_path) if lora_path else None, n_ctx=256,
                          n_threads=2, logits_all=True, verbose=False)
    try:
        llm.eval(tokens)
        return np.array(llm.scores[llm.n_tokens - 1])
    finally:
        llm.close()


def test_the_adapter_llama_cpp_applies_is_the_one_transformers_trained(tmp_path):
    import torch

    base = packaged_model_file()
    tokenizer, model = load_base(base)
    adapted = add_adapters(model, LoraConfig(rank=4, alpha=8, layers=2))
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():  # lora_B starts at zero (no change): give it weights that visibly change the output
        for name, param in adapted.named_parameters():
            if ".lora_B." in name:
                param.copy_(torch.randn(param.shape, generator=generator) * 0.3)
    tokens = tokenizer('def fibonacci(n):\n    """Return the n-th Fibonacci number."""\n',
                       add_special_tokens=False)["input_ids"]
    with torch.no_grad():
        trained = adapted(input_ids=torch.tensor([tokens])).logits[0, -1].numpy()
    path = tmp_path / "adapter.gguf"
    assert export_gguf(adapted, path, 8.0) == 2 * 4  # q, k, v, o in each of the top two layers
    check_adapter_file(path, check_gguf_file(base))
    with_adapter = _llama_logits(base, tokens, path)
    without = _llama_logits(base, tokens)

    def corr(a: np.ndarray, b: np.ndarray) -> float:
        return float(np.corrcoef(a, b)[0, 1])

    # llama.cpp runs the quantized base, transformers its dequantized float32 copy: close, not equal.
    assert corr(with_adapter, trained) > 0.99
    assert corr(without, trained) < corr(with_adapter, trained) - 0.01
    assert with_adapter.argmax() == trained.argmax()
    with pytest.raises(ModelFileError, match="not a LoRA adapter"):
        check_adapter_file(base, check_gguf_file(base))


def test_tune_answerer_trains_an_adapter_the_chat_loads_and_answers_with(shop, embedder, monkeypatch):
    from app.answer.chat_model import load_chat_model
    from app.doors.cli import app as cli

    settings, reader = shop
    monkeypatch.setenv("DAYONE_HOME", str(settings.home))
    for key, value in llm_env().items():
        monkeypatch.setenv(key, value)
    runner = CliRunner()
    bad = runner.invoke(cli, ["tune", "answerer", "--repo", "nope"])
    assert bad.exit_code == 2 and "no repository named 'nope'" in bad.output
    result = runner.invoke(cli, ["tune", "answerer", "--examples", "8", "--layers", "2", "--rank", "4", "--json"])
    assert result.exit_code == 0, result.output
    card = json.loads(result.stdout[result.stdout.index("{"):])
    folder = settings.home / "models" / card["name"]
    assert (folder / "adapter.gguf").is_file() and card["training"]["steps"] == 8
    assert np.isfinite(card["training"]["last_loss"]) and card["adapted_matrices"] == 8
    assert len((folder / "examples.jsonl").read_text().splitlines()) == 8
    assert f'lora_path = "{card["name"]}"' in result.stderr
    listed = json.loads(runner.invoke(cli, ["tune", "status", "--json"]).stdout)
    assert [c["name"] for c in listed["adapters"]] == [card["name"]] and listed["lora_path"] == ""
    # The chat loads the base model with the adapter (by folder name) and answers with real citations.
    monkeypatch.setenv("DAYONE_LLM__LORA_PATH", card["name"])
    tuned = load_settings()
    model = load_chat_model(tuned)
    assert model.lora_path == folder / "adapter.gguf" and card["name"] in model.name
    stream = Answerer(reader, embedder, model, tuned).ask("where are orders paid?")
    assert "".join(stream).strip()
    assert_real_locations(stream.answer, reader)
    monkeypatch.setenv("DAYONE_LLM__LORA_PATH", str(settings.home / "models" / "missing"))
    with pytest.raises(ModelFileError, match="LoRA adapter not found"):
        load_chat_model(load_settings())
