"""People to ask, from a real git history with several authors, dated commits, a rename and CODEOWNERS."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

from app.tour.people import PeopleError, owners_of, people_to_ask, read_codeowners
from tests.conftest import GIT_ENV, write_files

DAY = 86400
NOW = time.time()


def commit_as(root: Path, name: str, email: str, days_ago: float, message: str = "change") -> None:
    stamp = f"@{int(NOW - days_ago * DAY)} +0000"
    env = {**os.environ, **GIT_ENV, "GIT_AUTHOR_NAME": name, "GIT_AUTHOR_EMAIL": email,
           "GIT_COMMITTER_NAME": name, "GIT_COMMITTER_EMAIL": email,
           "GIT_AUTHOR_DATE": stamp, "GIT_COMMITTER_DATE": stamp}
    subprocess.run(["git", "add", "-A"], cwd=root, env=env, check=True)
    subprocess.run(["git", "commit", "-q", "-m", message], cwd=root, env=env, check=True)


def lines(n: int, tag: str) -> str:
    return "".join(f"{tag} line {i}\n" for i in range(n))


@pytest.fixture
def history(tmp_path) -> Path:
    """Old Olga (2 years ago), Alice (lots, recent), Bob (some, older), Carol (tiny, today), a rename."""
    root = tmp_path / "repo"
    root.mkdir()
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=root, check=True)
    write_files(root, {"src/billing.py": lines(300, "olga")})
    commit_as(root, "Olga Old", "olga@example.com", 700)
    write_files(root, {"src/billing.py": lines(200, "alice"), "src/other.py": lines(50, "bob")})
    commit_as(root, "Alice Anders", "alice@example.com", 40)
    write_files(root, {"src/billing.py": lines(200, "alice") + lines(30, "bob")})
    commit_as(root, "Bob Berg", "bob@example.com", 200)
    (root / "src/payments").mkdir()
    subprocess.run(["git", "mv", "src/billing.py", "src/payments/charges.py"], cwd=root, check=True)
    commit_as(root, "Alice Anders", "alice@example.com", 10, "move billing into payments")
    write_files(root, {"src/payments/charges.py": lines(200, "alice") + lines(30, "bob") + "carol\n",
                       ".github/CODEOWNERS": "# owners\n*  @org/everyone\n"
                                             "/src/payments/ @org/payments dana@example.com\ndocs/*  @docs-team\n"})
    commit_as(root, "Carol Chen", "carol@example.com", 1)
    return root


def test_ranked_by_lines_and_recency_following_the_rename(history):
    people = people_to_ask(history, ["src/payments/charges.py"], months=12, now=NOW)
    names = [p.name for p in people if p.commits]
    # Alice changed the file most and recently, under both names; Bob's older change counts for less;
    # Olga's 700-day-old commit is outside the 12-month window.
    assert names[:2] == ["Alice Anders", "Bob Berg"]
    assert "Olga Old" not in names
    alice = people[0]
    assert alice.email == "alice@example.com" and alice.commits == 2  # the pre-rename commit counted too
    assert "Carol Chen" in names  # a one-line change today still shows, below the others


def test_recency_beats_an_old_big_change(history):
    old = people_to_ask(history, ["src/payments/charges.py"], months=36, now=NOW)
    names = [p.name for p in old if p.commits]
    assert "Olga Old" in names  # inside a 36-month window
    assert names.index("Olga Old") > names.index("Alice Anders")  # 300 lines two years ago < recent work


def test_codeowners_last_matching_rule_wins(history):
    rules = read_codeowners(history)
    assert [r.pattern for r in rules] == ["*", "/src/payments/", "docs/*"]
    assert owners_of(rules, "src/payments/charges.py").owners == ("@org/payments", "dana@example.com")
    assert owners_of(rules, "src/other.py").owners == ("@org/everyone",)
    people = people_to_ask(history, ["src/payments/charges.py"], now=NOW)
    owners = {p.name: p for p in people if p.owns}
    assert set(owners) == {"@org/payments", "dana@example.com"}
    assert owners["dana@example.com"].email == "dana@example.com"
    assert owners["@org/payments"].owns == [".github/CODEOWNERS:3 /src/payments/"]


def test_files_with_no_recent_history_and_no_owner_give_nobody(history):
    assert people_to_ask(history, ["no/such/file.py"], now=NOW) == [] or all(
        p.owns for p in people_to_ask(history, ["no/such/file.py"], now=NOW))


def test_not_a_git_checkout_is_a_clear_error(tmp_path):
    with pytest.raises(PeopleError):
        people_to_ask(tmp_path, ["a.py"])


def test_a_quiet_file_falls_back_to_its_all_time_authors_and_says_so(tmp_path):
    root = tmp_path / "quiet"
    root.mkdir()
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=root, check=True)
    write_files(root, {"src/legacy.py": lines(80, "olga"), "CODEOWNERS": "src/  @org/core\n"})
    commit_as(root, "Olga Old", "olga@example.com", 900)
    write_files(root, {"src/legacy.py": lines(80, "olga") + lines(5, "pete")})
    commit_as(root, "Pete Past", "pete@example.com", 600)
    write_files(root, {"src/busy.py": lines(10, "rita")})
    commit_as(root, "Rita Recent", "rita@example.com", 5)
    people = people_to_ask(root, ["src/legacy.py"], months=12, now=NOW)
    by_name = {p.name: p for p in people}
    # Nobody touched src/legacy.py in 12 months: its authors are named anyway, newest first, marked all-time.
    assert [p.name for p in people if p.commits] == ["Pete Past", "Olga Old"]
    assert by_name["Olga Old"].basis == "all-time" and by_name["Olga Old"].to_json()["basis"] == "all-time"
    assert "Rita Recent" not in by_name  # she changed another file
    assert by_name["@org/core"].basis == "codeowners"
    # A file with recent history keeps its recent authors only.
    busy = people_to_ask(root, ["src/busy.py"], months=12, now=NOW)
    assert [(p.name, p.basis) for p in busy if p.commits] == [("Rita Recent", "recent")]
