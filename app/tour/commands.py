"""How to build, test and run a repository: README code blocks, Makefile targets, package.json scripts,
pyproject/tox, CI workflows and Dockerfiles, each command with the line it comes from."""

from __future__ import annotations

import json
import re
import tomllib

from app.tour.items import CATEGORIES, Item
from app.tour.repofiles import RepoFiles

# -- build / test / run ---------------------------------------------------------------------------------------

_TEST_WORDS = re.compile(r"\b(pytest|tox|nox|unittest|go test|cargo test|jest|vitest|mocha|npm (run )?test|"
                         r"yarn test|pnpm test|make (test|check)|ruff|flake8|mypy|lint|eslint|pre-commit|check)\b")
_BUILD_WORDS = re.compile(r"\b(pip install|uv (pip|sync)|poetry install|npm (ci|install|i)\b|yarn( install)?$|"
                          r"pnpm install|go (build|mod download)|cargo build|make( (build|install|all))?$|"
                          r"python -m build|createdb|psql|docker build|mvn|gradle|cmake|setup\.py)")
_RUN_WORDS = re.compile(r"\b(python -m|go run|npm (run )?(start|dev|serve)|yarn (start|dev)|docker run|"
                        r"docker compose up|docker-compose up|flask run|uvicorn|gunicorn|manage\.py runserver|"
                        r"serve|cargo run)\b")
_HEADING_CATEGORY = [(re.compile(r"test|check|lint", re.I), "test"),
                     (re.compile(r"install|build|setup|set up|requirement|compil|develop", re.I), "build"),
                     (re.compile(r"run|usage|start|quick|serve|local|deploy|example", re.I), "run")]
_SHELL_LANGS = {"sh", "bash", "shell", "console", "zsh", "shell-session", "sh-session", "bat", "powershell", ""}


def _classify(command: str, hint: str | None = None) -> str | None:
    if _TEST_WORDS.search(command):
        return "test"
    if _RUN_WORDS.search(command):
        return "run"
    if _BUILD_WORDS.search(command):
        return "build"
    return hint


def _readme_commands(path: str, text: str) -> list[tuple[str, int, str]]:
    """(category, line, command) from shell code blocks and `$ ` prompts of a README (Markdown or RST)."""
    found: list[tuple[str, int, str]] = []
    heading_cat: str | None = None
    lines = text.splitlines()
    in_fence, fence_lang, rst_block, rst_indent = False, "", False, 0
    for n, raw in enumerate(lines, 1):
        line = raw.rstrip()
        stripped = line.strip()
        if not in_fence and (m := re.match(r"^#{1,6}\s+(.*)", line)):
            heading_cat = next((c for rx, c in _HEADING_CATEGORY if rx.search(m.group(1))), None)
            continue
        if not in_fence and n < len(lines) and re.match(r"^[=\-~^`]{3,}$", lines[n].strip() if n < len(lines)
                                                         else "") and stripped and not stripped.startswith(".."):
            heading_cat = next((c for rx, c in _HEADING_CATEGORY if rx.search(stripped)), heading_cat)
        if m := re.match(r"^(`{3,}|~{3,})\s*([\w+-]*)", stripped):
            in_fence = not in_fence
            fence_lang = m.group(2).lower() if in_fence else ""
            continue
        if re.match(r"^\.\.\s+(code-block|code|sourcecode)::\s*(console|sh|bash|shell|text|none)?\s*$", stripped) \
                or stripped.endswith("::") and not stripped.startswith(".."):
            rst_block, rst_indent = True, -1
            continue
        if rst_block:
            if not stripped:
                continue
            indent = len(line) - len(line.lstrip())
            if rst_indent < 0:
                rst_indent = indent
            if indent < rst_indent or indent == 0:
                rst_block = False
            elif stripped.startswith("$ "):
                cmd = stripped[2:].strip()
                found.append((_classify(cmd, heading_cat) or "other", n, cmd))
                continue
            else:
                continue
        if in_fence and fence_lang in _SHELL_LANGS:
            if (fence_lang in ("console", "shell-session", "sh-session") or any(
                    ln.strip().startswith("$ ") for ln in lines[n - 1:n + 5])) and not stripped.startswith("$ "):
                continue
            cmd = stripped.removeprefix("$ ").strip()
            if not cmd or cmd.startswith("#") or fence_lang == "" and not re.match(r"^[a-z][\w.-]*(\s|$)", cmd):
                continue
            found.append((_classify(cmd, heading_cat) or "other", n, cmd))
        elif not in_fence and stripped.startswith("$ ") and len(stripped) < 200:
            cmd = stripped[2:].strip()
            found.append((_classify(cmd, heading_cat) or "other", n, cmd))
    return found


def _makefile_targets(text: str) -> list[tuple[str, int, str]]:
    found = []
    for n, line in enumerate(text.splitlines(), 1):
        m = re.match(r"^([A-Za-z][\w.-]*)\s*:(?!=)", line)
        if not m:
            continue
        target = m.group(1)
        cat = _classify(f"make {target}", None)
        if cat is None:
            cat = next((c for rx, c in _HEADING_CATEGORY if rx.search(target)), "other")
        found.append((cat, n, f"make {target}"))
    return found


def line_of(text: str, needle: str) -> int:
    idx = text.find(needle)
    return text.count("\n", 0, idx) + 1 if idx >= 0 else 1


def key_line(text: str, key: str, after: str = "") -> int:
    """The line where `key` is defined (TOML `key =`, JSON `"key":`), after the line holding `after`."""
    start = text.find(after) if after else 0
    m = re.compile(rf"^\s*[\"']?{re.escape(key)}[\"']?\s*[=:]", re.M).search(text, max(start, 0))
    return text.count("\n", 0, m.start()) + 1 if m else line_of(text, key)


def _package_json_commands(text: str) -> list[tuple[str, int, str]]:
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, RecursionError):
        return []
    scripts = data.get("scripts") if isinstance(data, dict) else None
    found = []
    for name, body in (scripts or {}).items():
        if not isinstance(body, str):
            continue
        cmd = {"test": "npm test", "start": "npm start"}.get(name, f"npm run {name}")
        lname = name.lower()
        if re.search(r"test|lint|check|typecheck|format", lname):
            cat = "test"
        elif re.search(r"build|compile|prepare|install|bundle", lname):
            cat = "build"
        elif re.search(r"start|dev|serve|preview|watch", lname):
            cat = "run"
        else:
            cat = "other"
        found.append((cat, line_of(text, f'"{name}"'), f"{cmd}  ({body})"))
    return found


def _pyproject_commands(text: str) -> list[tuple[str, int, str]]:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        return []
    found = []
    if "build-system" in data or "project" in data:
        found.append(("build", line_of(text, "[project]") if "project" in data else 1, "pip install -e ."))
    for name in (data.get("project", {}).get("scripts") or {}):
        found.append(("run", key_line(text, name, "[project.scripts]"), f"{name} --help"))
    tool = data.get("tool", {})
    if "pytest" in tool:
        found.append(("test", line_of(text, "[tool.pytest"), "pytest"))
    for env, scripts in ((tool.get("hatch") or {}).get("envs") or {}).items():
        for name in (scripts or {}).get("scripts") or {}:
            found.append((_classify(name, "other") or "other", line_of(text, name), f"hatch run {env}:{name}"))
    return found


def _tox_commands(text: str) -> list[tuple[str, int, str]]:
    """`tox`, each `tox -e ENV`, and what the default environment runs (usually the test command itself)."""
    found = [("test", 1, "tox")]
    section = ""
    lines = text.splitlines()
    for n, line in enumerate(lines, 1):
        if m := re.match(r"^\[([^\]]+)\]", line):
            section = m.group(1)
            if section.startswith("testenv:"):
                found.append(("test", n, f"tox -e {section[8:]}"))
        elif section == "testenv" and (m := re.match(r"^commands\s*=\s*(.*)", line)):
            cmds = [m.group(1)] if m.group(1).strip() else []
            cmds += [ln.strip() for ln in lines[n:n + 6] if ln.startswith((" ", "\t")) and ln.strip()]
            for cmd in cmds[:3]:
                cmd = re.sub(r"\s*\S*\{[^}]*\}\S*", "", cmd).strip()  # tox substitutions: {posargs}...
                found.insert(1, ("test", n, cmd))
    return found[:7]


def _ci_commands(text: str) -> list[tuple[str, int, str]]:
    """Shell steps of a CI file (GitHub Actions `run:`, GitLab `script:` lists), classified by content."""
    found = []
    lines = text.splitlines()
    block_indent = None
    for n, line in enumerate(lines, 1):
        stripped = line.strip()
        indent = len(line) - len(line.lstrip())
        if block_indent is not None:
            if stripped and indent > block_indent:
                cmd = stripped.lstrip("- ").strip()
                if cmd and not cmd.startswith("#"):
                    found.append((n, cmd))
                continue
            block_indent = None
        m = re.match(r"^-?\s*(run|script|before_script|sh)\s*:\s*(.*)$", stripped)
        if m:
            rest = m.group(2).strip()
            if rest in ("|", ">", "|-", ">-", ""):
                block_indent = indent
            else:
                found.append((n, rest.strip("'\"")))
    result = []
    for n, cmd in found:
        if len(cmd) > 160 or "${{" in cmd or cmd.startswith(("echo", "cd ", "export ", "if ", "fi", "then", "else")):
            continue
        cat = _classify(cmd, None)
        if cat in ("build", "test"):
            result.append((cat, n, cmd))
    return result


def _dockerfile_commands(text: str) -> list[tuple[str, int, str]]:
    found = []
    for n, line in enumerate(text.splitlines(), 1):
        m = re.match(r"^\s*(CMD|ENTRYPOINT)\s+(.*)", line)
        if m:
            found.append(("run", n, f"{m.group(1)} {m.group(2).strip()} (Dockerfile)"))
    return found


CI_FILE = re.compile(r"^(\.github/workflows/[^/]+\.ya?ml|\.gitlab-ci\.yml|\.circleci/config\.yml|"
                      r"azure-pipelines\.yml|Jenkinsfile|\.travis\.yml|bitbucket-pipelines\.yml)$")


def repo_commands(files: RepoFiles, readme: str | None) -> dict[str, list[Item]]:
    """Commands grouped by category; README first (people wrote it for people), then build files, then CI."""
    paths = files.paths
    sources: list[tuple[str, callable]] = []  # type: ignore[valid-type]
    if readme:
        sources.append((readme, lambda t, p=readme: _readme_commands(p, t)))
    for p in paths:
        depth = p.count("/")
        base = p.rsplit("/", 1)[-1]
        if depth <= 1 and base in ("Makefile", "makefile", "GNUmakefile", "justfile"):
            sources.append((p, _makefile_targets))
        elif depth <= 2 and base == "package.json":
            sources.append((p, _package_json_commands))
        elif depth == 0 and base == "pyproject.toml":
            sources.append((p, _pyproject_commands))
        elif depth == 0 and base == "tox.ini":
            sources.append((p, _tox_commands))
    for p in paths:
        if CI_FILE.match(p):
            sources.append((p, _ci_commands))
    reqs = [p for p in paths
            if re.match(r"^(requirements/[\w.-]*(dev|test)[\w.-]*\.(txt|in)|requirements(-dev)?\.txt)$", p)]
    if reqs:
        best = sorted(reqs, key=lambda p: ("dev" not in p, len(p)))[0]
        sources.append((best, lambda _t, r=best: [("build", 1, f"pip install -r {r}")]))
    for p in paths:
        if p.rsplit("/", 1)[-1] == "Dockerfile" and p.count("/") <= 1:
            sources.append((p, _dockerfile_commands))
    for p in paths:
        if p.rsplit("/", 1)[-1] == "go.mod" and p.count("/") <= 1:
            d = p.rsplit("/", 1)[0] + "/" if "/" in p else ""
            prefix = f"cd {d.rstrip('/')} && " if d else ""
            sources.append((p, lambda _t, pre=prefix: [("build", 1, f"{pre}go build ./..."),
                                                       ("test", 1, f"{pre}go test ./...")]))
    texts = files.read_many([p for p, _ in sources])
    result: dict[str, list[Item]] = {c: [] for c in (*CATEGORIES, "other")}
    seen: set[str] = set()
    for path, parse in sources:
        text = texts.get(path)
        if text is None:
            continue
        for cat, line, cmd in parse(text):
            key = " ".join(cmd.split())
            if key in seen:
                continue
            seen.add(key)
            result.setdefault(cat, []).append(Item(key, files.name, path, line, kind=cat))
    limits = {"build": 8, "test": 8, "run": 8, "other": 6}
    return {c: items[: limits.get(c, 6)] for c, items in result.items() if items}
