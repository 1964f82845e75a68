"""What the model is told: the system prompt, the answer rules with their worked example, and the budget
constants that decide how many sources fit."""

from __future__ import annotations

# Measured with Qwen2.5-Coder-0.5B: it cites [n] reliably only after one worked example (a short exchange about
# an unrelated codebase, placed before the real question), and copies a source header verbatim when the header
# looks like "[1] repo:path:L1-L9"; "Source [1]: method Class.name in path, lines 1-9" it does not copy.
SYSTEM_PROMPT = (
    "You are dayone, an assistant that explains a codebase to an engineer who is new to it. You answer from "
    "the numbered sources you are given, which are excerpts of the code. You never invent file names, "
    "functions or line numbers."
)
ANSWER_RULES = (
    "Answer in one to three sentences. Name the function or method and the file it is in, and cite each source "
    "you use by its number in square brackets, like [1]. If the sources do not answer the question, say so."
)
# A "how" question's sources are ordered along the flow (caller before callee, app/answer/flow.py); one sentence
# per step keeps a small model from collapsing the flow into "by matching against each route in order".
HOW_RULES = (
    "This question asks how something works. The sources are in the order the code runs: explain the steps in "
    "that order, one short sentence per step, naming the function or method that does each step and citing its "
    "source by its number, like [2]. If the sources do not answer the question, say so."
)


def question_block(question: str, how: bool = False) -> str:
    """The end of a turn's user message: the question and the rules the answer must follow."""
    return f"Question: {question}\n{HOW_RULES if how else ANSWER_RULES}"


EXAMPLE_TURN: list[dict[str, str]] = [
    {"role": "user", "content": (
        "Sources:\n\nSource [1]: function load_config in app/config.py, lines 3-9\n```python\n"
        "def load_config(path):\n    \"\"\"Read the settings file.\"\"\"\n    with open(path) as fh:\n"
        "        return toml.load(fh)\n```\n\nSource [2]: method UserStore.save in app/users.py, lines 20-31\n"
        "```python\n    def save(self, user):\n        \"\"\"Insert or update a user.\"\"\"\n"
        "        with self.db.transaction() as tx:\n            tx.execute(\"INSERT INTO users ...\", user.row())\n"
        "```\n\nQuestion: where are users saved?\n" + ANSWER_RULES)},
    {"role": "assistant", "content": (
        "Users are saved by the `UserStore.save` method in app/users.py [2].")},
]
# Names only the worked example has. Out of flow steps, the 1.5B once went on with "7. The `main` method in
# `app/config.py` is called to read the settings file" (dev split, click): a sentence naming one of these that the
# index does not hold describes the example, not the user's code, and the checker removes it.
EXAMPLE_NAMES = frozenset({"app/config.py", "app/users.py", "load_config", "UserStore", "UserStore.save"})
NO_CONTEXT_ANSWER = (
    "I found nothing in the index that is relevant to this question, so I will not guess. Try the names of "
    "functions, files or terms used in the code, or check `dayone status` for what is indexed."
)
NOT_INDEXED = " (not in the index)"
RELAXED_SIMILARITY = 0.15  # how far below llm.min_similarity a question may be when its words are in the code
MIN_TERM_COVERAGE = 0.6
SAFETY_MARGIN = 48  # tokens kept free for template markers the count cannot see
MIN_SOURCE_TOKENS = 96  # a source cut shorter than this says too little to be worth its header
