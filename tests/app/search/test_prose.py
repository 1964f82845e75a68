"""Long, pasted questions: split into parts the model can read whole, and read for what they ask (not for every
word they contain)."""

from __future__ import annotations

from app.search.prose import PART_CHARS, asked_roles, fuse, is_report, role_penalties, split_query
from app.search.retriever import _WANTS, ROLE_PENALTY, analyze_query

REPORT = """Prompt does not show the choices of a Choice option

When an option has type=click.Choice(['day', 'week']) and prompt=True, the prompt reads `Group by:` and the user
only learns the valid values after typing a wrong one. I added a test for the new behaviour and updated the docs.

```
Traceback (most recent call last):
  File "/venv/lib/python3.11/site-packages/click/core.py", line 1078, in main
    rv = self.invoke(ctx)
  File "/venv/lib/python3.11/site-packages/click/types.py", line 255, in convert
    self.fail(f"invalid choice: {value}. (choose from {choices_str})", param, ctx)
click.exceptions.BadParameter: invalid choice: something. (choose from day, week)
```
""" + "\n\n".join(f"Paragraph {i}: " + "more detail about what the terminal printed and why. " * 8
                   for i in range(6))


def test_a_long_report_is_split_into_parts_the_model_can_read():
    parts = split_query(REPORT)
    assert 2 <= len(parts) <= 4
    assert all(len(p) <= PART_CHARS + 80 for p in parts)  # a part plus the title line it repeats
    assert parts[0].startswith("Prompt does not show the choices")
    assert all(p.startswith("Prompt does not show the choices") for p in parts[1:])  # each part says its topic
    # the code block stays whole, in one part
    assert sum("```" in p for p in parts) == 1 and any("BadParameter" in p and "core.py" in p for p in parts)


def test_a_short_question_is_one_part():
    assert split_query("where is the retry delay computed?") == ["where is the retry delay computed?"]
    assert split_query("   ") == []


def test_a_report_asks_for_tests_only_in_its_title():
    assert asked_roles(REPORT, _WANTS) == set()  # "added a test", "updated the docs" are what was done
    assert analyze_query(REPORT).wants == set()
    assert asked_roles("Which test covers the Choice prompt?", _WANTS) == {"test"}
    assert asked_roles("Fix the failing test for Choice prompts\n\nIt broke on Windows because the path "
                       "separator differs.", _WANTS) == {"test"}
    assert asked_roles("update the docs for Choice prompts", _WANTS) == {"doc"}


def test_reports_scale_tests_and_docs_down_more_than_short_questions():
    assert is_report(REPORT) and not is_report("how do I add a Choice option?")
    strong = role_penalties(REPORT, ROLE_PENALTY, reports=True)
    assert all(strong[r] < ROLE_PENALTY[r] for r in ("test", "doc"))
    assert role_penalties("how do I add a Choice option?", ROLE_PENALTY, reports=True) == ROLE_PENALTY
    assert role_penalties(REPORT, ROLE_PENALTY, reports=False) == ROLE_PENALTY


def test_fusion_rewards_agreement_and_keeps_the_first_lists_order_on_ties():
    assert fuse([["a", "b", "c"], ["c", "d"]])[0] == "c"  # found by both parts
    assert fuse([["a", "b"], ["b", "a"]]) == ["a", "b"]
