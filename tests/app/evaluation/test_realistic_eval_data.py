"""The realistic eval (eval/realistic/): its committed data is well-formed and its gold holds at the pinned commits,
and the miner that built it keeps real fixes and drops what is not one (bots, test-only, thin messages, ...)."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import tarfile
from collections import Counter
from pathlib import Path

import pytest

from app.evaluation.retrieval_eval import Question, gold_spans, load_questions
from tests.conftest import ROOT, git, make_repo, write_files

DATA = ROOT / "eval" / "realistic"
BUNDLES = ROOT.parent / "shared" / "histories"  # the issue's ../shared/histories; absent in CI


def _build_module():
    spec = importlib.util.spec_from_file_location("realistic_build", DATA / "build.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses look their module up there
    spec.loader.exec_module(mod)
    return mod


build = _build_module()


def _records() -> list[dict]:
    return [json.loads(line) for line in (DATA / "questions.jsonl").read_text().splitlines() if line.strip()]


def _pins() -> dict[str, dict]:
    return {p["name"]: p for p in json.loads((DATA / "sources.json").read_text())["repos"]}


# --- the committed data ----------------------------------------------------------------------------------


def test_committed_questions_are_well_formed():
    records, pins = _records(), _pins()
    assert len(records) >= 150
    assert len({r["id"] for r in records}) == len(records)
    for r in records:
        assert set(r) >= {"id", "repo", "project", "query", "gold_files", "gold_symbols", "commit", "fix_commit",
                          "source", "kind", "split"}, r["id"]
        pin = pins[r["repo"]]
        assert (pin["commit"], pin["project"]) == (r["commit"], r["project"]), r["id"]
        assert r["kind"] in ("issue", "commit") and r["split"] in ("dev", "heldout")
        assert r["query"].strip() and r["gold_files"] and r["gold_symbols"]
        assert all(build.file_kind(p) == "impl" for p in r["gold_files"]), r["id"]
        assert not build._names_gold_path(r["query"], r["gold_files"]), r["id"]
        assert len(r["fix_commit"]) == len(r["commit"]) == 40
    # every project is represented and holds out a third of its questions
    per = Counter((r["project"], r["split"]) for r in records)
    for project in build.PROJECTS:
        n = per[project, "dev"] + per[project, "heldout"]
        assert n > 0, project
        assert abs(per[project, "heldout"] - n / 3) <= 1, project


def test_committed_questions_load_with_the_eval_loader():
    """The eval's own loader reads the file as questions; it globs only its folder, so eval/ does not pick
    these up by accident."""
    questions = load_questions(DATA)
    assert len(questions) == len(_records())
    assert not {q.id for q in questions} & {q.id for q in load_questions()}
    assert all(q.repo in _pins() for q in questions)


@pytest.mark.skipif(not BUNDLES.is_dir(), reason=f"no git bundles at {BUNDLES} (only the build machine has them)")
def test_gold_holds_at_the_pinned_commits(tmp_path):
    """Every question's gold files exist and its gold symbols are defined there, at its snapshot commit, by the
    same check `dayone eval` runs (gold_spans over the real chunker)."""
    records = _records()
    by_repo: dict[str, list[dict]] = {}
    for r in records:
        by_repo.setdefault(r["repo"], []).append(r)
    problems = []
    for name, pin in _pins().items():
        clone = tmp_path / pin["project"]
        if not clone.exists():
            subprocess.run(["git", "clone", "-q", "--no-checkout", str(BUNDLES / pin["bundle"]), str(clone)],
                           check=True)
        root = tmp_path / name
        root.mkdir()
        archive = subprocess.run(["git", "-C", str(clone), "archive", pin["commit"]], check=True,
                                 capture_output=True).stdout
        (tmp_path / f"{name}.tar").write_bytes(archive)
        with tarfile.open(tmp_path / f"{name}.tar") as tar:
            tar.extractall(root, filter="data")
        for r in by_repo.get(name, []):
            q = Question(r["id"], r["repo"], r["query"], tuple(r["gold_files"]), tuple(r["gold_symbols"]))
            problems += gold_spans(q, root)[1]
            # the fix really came after the snapshot: the snapshot is an ancestor of the fix's parent
            ok = subprocess.run(["git", "-C", str(clone), "merge-base", "--is-ancestor", pin["commit"],
                                 r["fix_parent"]]).returncode == 0
            if not ok:
                problems.append(f"{r['id']}: snapshot {pin['commit'][:10]} is not before the fix")
    assert problems == []


# --- the miner on a tiny real history ----------------------------------------------------------------------

CORE = '''"""Greetings."""


def greet(name):
    """Say hello."""
    return "Hello, " + name + "!"


class Greeter:
    def __init__(self, punctuation="!"):
        self.punctuation = punctuation

    def say(self, name):
        return "Hi " + name + self.punctuation
'''


def _commit(repo: Path, files: dict[str, str], message: str, author: str = "Dev <dev@example.invalid>") -> str:
    write_files(repo, files)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message, f"--author={author}")
    return git(repo, "rev-parse", "HEAD")


@pytest.fixture(scope="module")
def history(tmp_path_factory):
    repo = make_repo(tmp_path_factory.mktemp("hist") / "repo",
                     {"pkg/core.py": CORE, "tests/test_core.py": "def test_greet():\n    pass\n", "README.md": "x\n"})
    fixes = _commit(repo, {"pkg/core.py": CORE.replace('return "Hello, " + name + "!"',
                                                       'if not name:\n        name = "world"\n'
                                                       '    return "Hello, " + name + "!"')},
                    "Greet the world when the name is empty\n\nCalling greet with an empty string printed "
                    "'Hello, !' instead of a sensible default, which users reported as a bug.\n\nFixes #1")
    _commit(repo, {"pkg/core.py": (repo / "pkg/core.py").read_text().replace('"Hello, "', '"Hello there, "')},
            "Bump greeting wording\n\nAutomated change made by the bot with many "
            "words in its body so that only the author filter can drop it here.", "dependabot[bot] <bot@x.invalid>")
    _commit(repo, {"tests/test_core.py": "def test_greet():\n    assert True\n"},
            "Test greet more\n\nAdd a real assertion to the greeting test so that it checks something useful "
            "for once, closes #2")
    say = _commit(repo, {"pkg/core.py": (repo / "pkg/core.py").read_text().replace(
        'return "Hi " + name + self.punctuation', 'return "Hi " + name.strip() + self.punctuation')},
                  "Strip names in Greeter.say\n\nNames read from a file keep their trailing newline, so the "
                  "greeting was split over two lines; strip surrounding whitespace before greeting.")
    _commit(repo, {"pkg/core.py": (repo / "pkg/core.py").read_text().replace('"""Say hello."""', '"""Hello."""')
                   .replace("class Greeter:", "class Greeter:  # the object form")},
            "Tweak\n\n")
    _commit(repo, {"pkg/core.py": (repo / "pkg/core.py").read_text().replace(
        "        self.punctuation = punctuation", "        # where the greeting ends\n"
        "        self.punctuation = punctuation")},
            "Comment the punctuation attribute\n\nExplain what the punctuation attribute is for, since "
            "readers of the constructor asked about it in the chat several times.")
    _commit(repo, {"pkg/core.py": (repo / "pkg/core.py").read_text().replace(
        "self.punctuation = punctuation", "self.punctuation = punctuation or '!'")},
            "Default punctuation in pkg/core.py\n\nAn empty punctuation string gave greetings with no end "
            "mark at all, which looked broken in the terminal output of the tool.")
    _commit(repo, {"README.md": "Greetings library, see the docs for the full story.\n"},
            "Describe the project\n\nThe readme said nothing at all about what the project does, so say it "
            "in one sentence for the people who find it.")
    return repo, fixes, say


def test_miner_keeps_real_fixes_with_their_gold(history):
    repo, fixes, say = history
    drops: Counter = Counter()
    cands = build.mine(repo, "demo", "someone/demo", drops=drops)
    by_sha = {c.commit.sha: c for c in cands}
    assert set(by_sha) == {fixes, say}
    assert by_sha[fixes].gold_files == ["pkg/core.py"] and by_sha[fixes].gold_symbols == ["greet"]
    assert by_sha[fixes].refs == [1] and by_sha[fixes].kind == "commit"
    assert by_sha[fixes].query.startswith("Greet the world when the name is empty\n\nCalling greet")
    assert by_sha[fixes].source == f"https://github.com/someone/demo/commit/{fixes}"
    assert by_sha[say].gold_symbols == ["Greeter.say"]
    assert drops == Counter({"root commit": 1, "bot": 1, "test-only": 1, "thin message": 1,
                             "whitespace/comment-only": 1, "query names a gold path": 1, "docs-only": 1})


def test_miner_uses_a_referenced_issue_text_when_given(history):
    repo, fixes, _ = history
    issue = {"url": "https://github.com/someone/demo/issues/1", "title": "greet('') prints 'Hello, !'",
             "body": "```\n>>> greet('')\n'Hello, !'\n```"}
    cands = build.mine(repo, "demo", "someone/demo", issues={1: issue})
    c = next(c for c in cands if c.commit.sha == fixes)
    assert (c.kind, c.source) == ("issue", issue["url"])
    assert c.query == "greet('') prints 'Hello, !'\n\n```\n>>> greet('')\n'Hello, !'\n```"


def test_snapshots_hold_the_gold_and_precede_the_fix(history):
    repo, fixes, say = history
    cands = build.mine(repo, "demo", "someone/demo")
    chosen, assign = build.choose_snapshots(repo, cands, k=1)
    assert len(chosen) == 1 and len(assign) == 2  # the first fix's parent holds greet and Greeter.say
    assert chosen[0] == git(repo, "rev-parse", f"{fixes}^")
    # renaming the method after its fix: a snapshot before the rename still holds it, one after does not
    assert all(build.holds(repo, chosen[0], c) for c in cands)
    _commit(repo, {"pkg/core.py": (repo / "pkg/core.py").read_text().replace("def say(", "def speak(")}, "Rename")
    head = git(repo, "rev-parse", "HEAD")
    assert not build.holds(repo, head, next(c for c in cands if c.commit.sha == say))


def test_split_holds_out_an_exact_third():
    ids = [f"p-{i}" for i in range(30)]
    split = build.split_of(ids)
    assert Counter(split.values()) == {"heldout": 10, "dev": 20}
    assert build.split_of(list(reversed(ids))) == split


def test_readme_numbers_are_the_committed_data_s():
    """The README's tables are generated from stats.json and sources.json by the build; a hand edit or a data
    change without a rebuild shows here."""
    import realistic_report as report

    stats = json.loads((DATA / "stats.json").read_text())
    pins = json.loads((DATA / "sources.json").read_text())["repos"]
    readme = (DATA / "README.md").read_text()
    block = readme[readme.index(report.BEGIN) + len(report.BEGIN):readme.index(report.END)]
    assert block.strip() == report.stats_markdown(stats, pins).strip()
    assert stats["total"] == len(_records())
    assert sum(p["questions"] for p in pins) == len(_records())


def test_names_symbol_tells_qualified_and_distinctive_names_from_common_words():
    import realistic_report as report

    assert report.names_symbol("res.send() sets the wrong type", ["res.send"]) == (True, True)
    assert report.names_symbol("calling get_default twice", ["Option.get_default"]) == (True, True)
    assert report.names_symbol("we send it twice", ["res.send"]) == (False, True)
    assert report.names_symbol("resend it twice", ["res.send"]) == (False, False)
