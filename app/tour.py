"""The repository tour: what a new hire reads on day one, before they know what to ask.

It answers, for one indexed repository: what is this (README), how do I build, test and run it (README code
blocks, Makefile targets, package.json scripts, pyproject/tox, CI workflows, Dockerfile), where does execution
start (main functions, CLI commands, HTTP route handlers, scheduled jobs), which modules and symbols matter
most (PageRank over the reference graph, app/repomap.py), and what each directory is for. Every item carries
its location as repo:path:line so the reader can jump there.

Everything is read from the published index generation (manifest, symbol table) and the indexed blobs; the
one-line summaries come from the model-written cache (app/summaries.py) when present, else from the code's
own docstrings and comments. Building a tour never writes anything and never calls a model.
"""

from __future__ import annotations

import json
import re
import tomllib
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field

from app.repofiles import RepoFiles, first_sentence, module_doc, symbol_doc
from app.repomap import RepoMap, build_repo_map, is_peripheral
from indexer.generations import IndexReader
from indexer.settings import Settings

CATEGORIES = ("build", "test", "run")


@dataclass
class Item:
    """One thing in the tour and where it is."""

    text: str
    repo: str
    path: str
    line: int = 1
    detail: str = ""  # a summary, a command's origin, a route's method...
    kind: str = ""

    @property
    def location(self) -> str:
        return f"{self.repo}:{self.path}:{self.line}"

    def to_json(self) -> dict:
        return {**asdict(self), "location": self.location}


@dataclass
class Tour:
    repo: str
    commit: str | None
    generation: str
    about: Item | None
    commands: dict[str, list[Item]] = field(default_factory=dict)
    entry_points: list[Item] = field(default_factory=list)
    central_modules: list[Item] = field(default_factory=list)
    central_symbols: list[Item] = field(default_factory=list)
    directories: list[Item] = field(default_factory=list)
    summaries: str = "extractive"  # "model" when model-written summaries were found for some items
    people: list[dict] = field(default_factory=list)  # people to ask about the central modules (app/people.py)

    def to_json(self) -> dict:
        return {
            "repo": self.repo, "commit": self.commit, "generation": self.generation,
            "about": self.about.to_json() if self.about else None,
            "commands": {k: [i.to_json() for i in v] for k, v in self.commands.items()},
            "entry_points": [i.to_json() for i in self.entry_points],
            "central_modules": [i.to_json() for i in self.central_modules],
            "central_symbols": [i.to_json() for i in self.central_symbols],
            "directories": [i.to_json() for i in self.directories],
            "summaries": self.summaries,
            "people": self.people,
        }

    def to_text(self) -> str:
        """Plain text for the terminal and for pasting; every line ends with its location."""
        out = [f"Tour of {self.repo}" + (f" at {self.commit[:10]}" if self.commit else " (working tree)")]
        if self.about:
            out += ["", "What it is", f"  {self.about.text}", f"  ({self.about.location})"]
        if any(self.commands.values()):
            out += ["", "Build, test, run"]
            for cat in CATEGORIES:
                for i in self.commands.get(cat, []):
                    out.append(f"  {cat:<5}  {i.text}  [{i.location}]")
        if self.entry_points:
            out += ["", "Entry points"]
            for i in self.entry_points:
                detail = f" - {i.detail}" if i.detail else ""
                out.append(f"  {i.kind:<9} {i.text}{detail}  [{i.location}]")
        if self.central_modules:
            out += ["", "Start reading here (most central modules)"]
            for n, i in enumerate(self.central_modules, 1):
                out.append(f"  {n:>2}. {i.text}  [{i.location}]" + (f"\n      {i.detail}" if i.detail else ""))
        if self.central_symbols:
            out += ["", "Central symbols"]
            for n, i in enumerate(self.central_symbols, 1):
                out.append(f"  {n:>2}. {i.text} ({i.kind})  [{i.location}]" + (f"\n      {i.detail}" if i.detail
                                                                                     else ""))
        if self.directories:
            out += ["", "Directory map"]
            for i in self.directories:
                out.append(f"  {i.text:<28} {i.detail}  [{i.location}]")
        if self.people:
            out += ["", "People to ask (about the central modules)"]
            for p in self.people:
                who = f"{p['name']} <{p['email']}>" if p["email"] else p["name"]
                if p["commits"]:
                    what = f"{p['commits']} commits, {p['lines']} lines, last {p['last_change']}"
                else:
                    what = "CODEOWNERS " + "; ".join(p["codeowner_rules"])
                out.append(f"  {who} - {what}")
        return "\n".join(out) + "\n"


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


def _line_of(text: str, needle: str) -> int:
    idx = text.find(needle)
    return text.count("\n", 0, idx) + 1 if idx >= 0 else 1


def _key_line(text: str, key: str, after: str = "") -> int:
    """The line where `key` is defined (TOML `key =`, JSON `"key":`), after the line holding `after`."""
    start = text.find(after) if after else 0
    m = re.compile(rf"^\s*[\"']?{re.escape(key)}[\"']?\s*[=:]", re.M).search(text, max(start, 0))
    return text.count("\n", 0, m.start()) + 1 if m else _line_of(text, key)


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
        found.append((cat, _line_of(text, f'"{name}"'), f"{cmd}  ({body})"))
    return found


def _pyproject_commands(text: str) -> list[tuple[str, int, str]]:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        return []
    found = []
    if "build-system" in data or "project" in data:
        found.append(("build", _line_of(text, "[project]") if "project" in data else 1, "pip install -e ."))
    for name in (data.get("project", {}).get("scripts") or {}):
        found.append(("run", _key_line(text, name, "[project.scripts]"), f"{name} --help"))
    tool = data.get("tool", {})
    if "pytest" in tool:
        found.append(("test", _line_of(text, "[tool.pytest"), "pytest"))
    for env, scripts in ((tool.get("hatch") or {}).get("envs") or {}).items():
        for name in (scripts or {}).get("scripts") or {}:
            found.append((_classify(name, "other") or "other", _line_of(text, name), f"hatch run {env}:{name}"))
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


_CI_FILE = re.compile(r"^(\.github/workflows/[^/]+\.ya?ml|\.gitlab-ci\.yml|\.circleci/config\.yml|"
                      r"azure-pipelines\.yml|Jenkinsfile|\.travis\.yml|bitbucket-pipelines\.yml)$")


def _commands(files: RepoFiles, readme: str | None) -> dict[str, list[Item]]:
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
        if _CI_FILE.match(p):
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


# -- what it is ---------------------------------------------------------------------------------------------

def _readme_path(paths: list[str], directory: str = "") -> str | None:
    prefix = f"{directory}/" if directory else ""
    candidates = [p for p in paths if p.startswith(prefix) and "/" not in p[len(prefix):]
                  and re.match(r"(?i)^readme(\.(md|markdown|rst|txt))?$", p[len(prefix):])]
    return sorted(candidates, key=lambda p: (not p.lower().endswith(".md"), p))[0] if candidates else None


def readme_summary(text: str) -> tuple[str, int]:
    """The README's first paragraph of prose (not the title, badges, HTML or directives), and its line."""
    lines = text.splitlines()
    para: list[str] = []
    start = 0
    in_fence = False
    for n, raw in enumerate(lines, 1):
        s = raw.strip()
        if s.startswith(("```", "~~~")):
            in_fence = not in_fence
            if para:
                break
            continue
        if in_fence:
            continue
        nxt = lines[n].strip() if n < len(lines) else ""
        is_title = s.startswith("#") or re.match(r"^[=\-~^*#]{3,}$", s) or (
            s and re.match(r"^[=\-~^*#]{3,}$", nxt))
        skip = (not s or is_title or s.startswith(("<", "[![", "![", "..", ":", "|", "-", "*", ">", "[")) or
                re.match(r"^\s*(\S+\s*){1,3}$", s) and not para)
        if skip:
            if para and (not s or is_title):
                break
            continue
        if not para:
            start = n
        para.append(s)
    text = " ".join(para)
    text = re.sub(r"\[([^\]]+)\]\([^)]*\)", r"\1", text)  # markdown links -> their text
    text = re.sub(r"`_+|:\w+:`([^`]+)`", r"\1", text)
    sentences = re.split(r"(?<=[.!?])\s+", text)
    summary = " ".join(sentences[:2])
    if len(summary) > 400:
        summary = first_sentence(summary, 400)
    return summary, start


def _declared_description(files: RepoFiles) -> Item | None:
    """Without a README: the description in pyproject.toml, package.json, setup.cfg or Cargo.toml."""
    for path in ("pyproject.toml", "package.json", "setup.cfg", "Cargo.toml"):
        text = files.read(path) if path in files.files else None
        if not text:
            continue
        m = re.search(r'^\s*"?description"?\s*[=:]\s*["\']?([^"\'\n]+)', text, re.M)
        if m and m.group(1).strip():
            return Item(m.group(1).strip(), files.name, path, text.count("\n", 0, m.start()) + 1, kind="manifest")
    return None


# -- entry points -------------------------------------------------------------------------------------------

_PY_ROUTE = re.compile(r"^\s*@(\w+(?:\.\w+)*)\.(get|post|put|patch|delete|route|api_route|websocket)\(\s*"
                       r"(?:[\"']([^\"']*)[\"'])?")
_PY_CLI = re.compile(r"^\s*@(?:\w+\.)*(command|group)\((?:\s*[\"']([\w:-]+)[\"'])?")
_PY_JOB = re.compile(r"^\s*@(?:\w+\.)*(task|shared_task|periodic_task|scheduled_job|cron|job|schedule)\b")
_PY_MAIN = re.compile(r"^if\s+__name__\s*==\s*[\"']__main__[\"']\s*:")
_PY_DEF = re.compile(r"^\s*(?:async\s+)?def\s+(\w+)")
_TS_ROUTE = re.compile(r"\b(app|router|server|api|route[rs]?|fastify|r)\.(get|post|put|patch|delete|all)\(\s*"
                       r"[\"'`](/[^\"'`]*)[\"'`]")
_TS_NEXT = re.compile(r"^export\s+(?:async\s+)?function\s+(GET|POST|PUT|PATCH|DELETE)\b")
_TS_MOUNT = re.compile(r"\b(createRoot|ReactDOM\.render|createApp|hydrateRoot|bootstrapApplication)\(")
_TS_CLI = re.compile(r"\.command\(\s*[\"'`]([\w:-]+)")
_TS_JOB = re.compile(r"\b(cron\.schedule|new CronJob|schedule\.scheduleJob|agenda\.every)\(")
_GO_MAIN = re.compile(r"^func\s+main\(\)")
_GO_ROUTE = re.compile(r"\.(HandleFunc|Handle|GET|POST|PUT|PATCH|DELETE|Get|Post|Put|Patch|Delete)\(\s*"
                       r"\"((?:[A-Z]+ )?/[^\"]*)\"")
_GO_CLI = re.compile(r"^\s*Use:\s*\"([\w-]+)")
_GO_JOB = re.compile(r"\b(time\.NewTicker|time\.Tick|cron\.New|\.AddFunc)\(")
_CRON_YAML = re.compile(r"^\s*-?\s*(cron|schedule):\s*[\"']([^\"']+)[\"']")


def _next_def(lines: list[str], i: int) -> tuple[str, int] | None:
    for j in range(i + 1, min(len(lines), i + 12)):
        m = _PY_DEF.match(lines[j])
        if m:
            return m.group(1), j + 1
    return None


def _enclosing(defs: list[tuple[str, int, int]], line: int) -> str | None:
    best = None
    for name, start, end in defs:
        if start <= line <= end and (best is None or end - start < best[2] - best[1]):
            best = (name, start, end)
    return best[0] if best else None


def _entry_points(files: RepoFiles, reader: IndexReader) -> list[Item]:
    repo = files.name
    defs_by_file: dict[str, list[tuple[str, int, int]]] = defaultdict(list)
    assert reader.conn is not None
    for path, qname, start, end in reader.conn.execute(
            "SELECT path, qualified_name, start_line, end_line FROM definitions WHERE repo=?", (repo,)):
        defs_by_file[path].append((qname.rsplit(".", 2)[-1] if qname.count(".") else qname, start, end))
    code = [p for p in files.paths if p.endswith((".py", ".ts", ".tsx", ".js", ".jsx", ".mjs", ".go"))
            and not is_peripheral(p)][:5000]
    items: list[Item] = []
    texts = files.read_many(code)
    for path in code:
        text = texts.get(path)
        if text is None:
            continue
        lines = text.splitlines()
        if path.endswith(".py"):
            items += _python_entries(repo, path, lines)
        elif path.endswith(".go"):
            is_main = any(ln.startswith("package main") for ln in lines[:60])
            for n, line in enumerate(lines, 1):
                if is_main and _GO_MAIN.match(line):
                    cmd = path.rsplit("/", 1)[0] if "/" in path else repo
                    items.append(Item(f"{cmd} (func main)", repo, path, n, "go run ./" + (cmd if "/" in path
                                                                                          else ""), "main"))
                elif m := _GO_ROUTE.search(line):
                    items.append(Item(m.group(2), repo, path, n, _enclosing(defs_by_file[path], n) or "", "route"))
                elif m := _GO_CLI.match(line):
                    items.append(Item(m.group(1), repo, path, n, "cobra command", "command"))
                elif _GO_JOB.search(line):
                    where = _enclosing(defs_by_file[path], n) or "top level"
                    items.append(Item(f"{where}: {line.strip()[:80]}", repo, path, n, "", "scheduled"))
        else:
            for n, line in enumerate(lines, 1):
                if m := _TS_ROUTE.search(line):
                    items.append(Item(f"{m.group(2).upper()} {m.group(3)}", repo, path, n, "", "route"))
                elif m := _TS_NEXT.match(line):
                    route = "/" + re.sub(r"(^|/)(src/)?(app|pages)/|/route\.[jt]sx?$", "", path).strip("/")
                    items.append(Item(f"{m.group(1)} {route}", repo, path, n, "Next.js route", "route"))
                elif _TS_MOUNT.search(line):
                    items.append(Item(f"{path.rsplit('/', 1)[-1]} mounts the UI", repo, path, n, line.strip()[:80],
                                      "main"))
                elif m := _TS_CLI.search(line):
                    items.append(Item(m.group(1), repo, path, n, "CLI command", "command"))
                elif _TS_JOB.search(line):
                    items.append(Item(line.strip()[:80], repo, path, n, "", "scheduled"))
    items += _declared_entries(files, reader)
    items += _yaml_schedules(files)
    if not any(i.kind in ("main", "command", "route") for i in items):
        items += _library_packages(files)
    order = {"main": 0, "command": 1, "route": 2, "scheduled": 3, "library": 4}
    seen, unique = set(), []
    for it in sorted(items, key=lambda i: (order.get(i.kind, 9), i.path, i.line)):
        key = (it.kind, it.text, it.path)
        if key not in seen:
            seen.add(key)
            unique.append(it)
    per_kind: Counter[str] = Counter()
    capped = []
    for it in unique:
        per_kind[it.kind] += 1
        if per_kind[it.kind] <= 15:
            capped.append(it)
    return capped


def _python_entries(repo: str, path: str, lines: list[str]) -> list[Item]:
    items = []
    in_string = False
    for i, line in enumerate(lines):
        n = i + 1
        quotes = line.count('"""') + line.count("\'\'\'")
        if in_string or quotes:
            if quotes % 2:
                in_string = not in_string
            continue  # examples inside docstrings are not entry points
        if _PY_MAIN.match(line):
            module = path[:-3].replace("/", ".").removesuffix(".__main__")
            items.append(Item(f"python -m {module}", repo, path, n, "if __name__ == '__main__'", "main"))
        elif m := _PY_ROUTE.match(line):
            target = _next_def(lines, i)
            method = m.group(2).upper() if m.group(2) not in ("route", "api_route", "websocket") else \
                ("WS" if m.group(2) == "websocket" else "ANY")
            handler, hline = target if target else ("", n)
            items.append(Item(f"{method} {m.group(3) or '?'}", repo, path, hline, f"handler {handler}"
                              if handler else "", "route"))
        elif m := _PY_CLI.match(line):
            target = _next_def(lines, i)
            if target:
                name = m.group(2) or target[0].replace("_", "-")
                items.append(Item(name, repo, path, target[1], f"{m.group(1)} {target[0]}()", "command"))
        elif _PY_JOB.match(line):
            target = _next_def(lines, i)
            if target:
                items.append(Item(target[0], repo, path, target[1], line.strip()[:80], "scheduled"))
        elif path.rsplit("/", 1)[-1] == "__main__.py" and n == 1:
            module = path[:-12].replace("/", ".") if "/" in path else ""
            if module:
                items.append(Item(f"python -m {module}", repo, path, 1, "package __main__", "main"))
        elif re.match(r"^\s*path\(\s*[\"']([^\"']*)[\"']", line) and path.endswith("urls.py"):
            items.append(Item("/" + re.match(r"^\s*path\(\s*[\"']([^\"']*)", line).group(1), repo, path, n,
                              "Django URL", "route"))
    return items


def _library_packages(files: RepoFiles) -> list[Item]:
    """A library has no main: its importable top-level packages are where callers come in."""
    items = []
    for p in files.paths:
        parts = p.split("/")
        if parts[-1] == "__init__.py" and (len(parts) == 2 or len(parts) == 3 and parts[0] in ("src", "lib")) \
                and not is_peripheral(p):
            items.append(Item(f"import {parts[-2]}", files.name, p, 1, "library package", "library"))
    return items[:5]


def _declared_entries(files: RepoFiles, reader: IndexReader) -> list[Item]:
    """Console scripts from pyproject/setup.cfg and `bin` of package.json, linked to their function."""
    repo = files.name
    items = []
    wanted = [p for p in files.paths if p.rsplit("/", 1)[-1] in ("pyproject.toml", "setup.cfg", "package.json")
              and p.count("/") <= 2 and "node_modules" not in p]
    for path, text in files.read_many(wanted).items():
        targets: dict[str, str] = {}
        if path.endswith("pyproject.toml"):
            with _quiet():
                data = tomllib.loads(text)
                targets = dict(data.get("project", {}).get("scripts") or {})
                targets.update(data.get("tool", {}).get("poetry", {}).get("scripts") or {})
        elif path.endswith("setup.cfg"):
            m = re.search(r"console_scripts\s*=\s*\n((?:[ \t]+.+\n?)+)", text)
            for line in (m.group(1).splitlines() if m else []):
                if "=" in line:
                    k, v = line.split("=", 1)
                    targets[k.strip()] = v.strip()
        else:
            with _quiet():
                data = json.loads(text)
                bin_ = data.get("bin") if isinstance(data, dict) else None
                if isinstance(bin_, str):
                    targets[data.get("name", "bin")] = bin_
                elif isinstance(bin_, dict):
                    targets.update(bin_)
                if isinstance(data, dict) and isinstance(data.get("main"), str) and not targets:
                    items.append(Item(f"{data.get('name', path)} (package main)", repo, path,
                                      _line_of(text, '"main"'), data["main"], "main"))
        for name, target in targets.items():
            if not isinstance(target, str):
                continue
            section = '"bin"' if path.endswith(".json") else "scripts"
            loc = (path, _key_line(text, name, section))
            if ":" in target:  # "pkg.mod:func" -> the function's definition, when indexed
                func = target.split(":", 1)[1].split(".")[-1].split()[0]
                for d in reader.symbols.definitions(func, [repo]):
                    if d.qualified_name.endswith(target.replace(":", ".")) or d.path.replace("/", ".").startswith(
                            target.split(":", 1)[0]):
                        loc = (d.path, d.start_line)
                        break
            items.append(Item(name, repo, loc[0], loc[1], f"console script -> {target}", "command"))
    return items


def _yaml_schedules(files: RepoFiles) -> list[Item]:
    wanted = [p for p in files.paths if (_CI_FILE.match(p) or p.endswith((".yml", ".yaml")) and "cron" in p.lower())]
    items = []
    for path, text in files.read_many(wanted).items():
        for n, line in enumerate(text.splitlines(), 1):
            m = _CRON_YAML.match(line)
            if m and re.match(r"^[\d*/,\- ]+$|^@\w+$", m.group(2).strip()):
                items.append(Item(f"cron {m.group(2).strip()}", files.name, path, n, "CI/cluster schedule",
                                  "scheduled"))
    return items


class _quiet:
    """Ignore a malformed manifest file: a tour shows what it can."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type: object, exc: object, tb: object) -> bool:
        return exc_type is not None and issubclass(exc_type, (ValueError, KeyError, TypeError, AttributeError))


# -- directories --------------------------------------------------------------------------------------------

def map_directories(paths: list[str], limit: int = 24) -> list[tuple[str, int]]:
    """The directories worth a line: every top-level one, then the largest second-level ones, with file counts."""
    counts: Counter[str] = Counter()
    for p in paths:
        parts = p.split("/")[:-1]
        for depth in (1, 2):
            if len(parts) >= depth:
                counts["/".join(parts[:depth])] += 1
    top = []
    for d in sorted(d for d in counts if "/" not in d and not d.startswith(".")):
        children = [c for c in counts if c.startswith(d + "/") and c.count("/") == 1]
        direct = counts[d] - sum(counts[c] for c in children)
        # "cmd/" holding only "cmd/relay/" reads better as the one line "cmd/relay/"
        top.append(children[0] if len(children) == 1 and direct == 0 else d)
    second = sorted((d for d in counts if "/" in d and d not in top and not is_peripheral(d + "/x")
                     and not any(s.startswith(".") for s in d.split("/"))
                     and counts[d] >= 3 and counts[d] < counts[d.split("/")[0]]),
                    key=lambda d: -counts[d])
    chosen = top[:limit]
    for d in second:
        if len(chosen) >= limit:
            break
        chosen.append(d)
    return [(d, counts[d]) for d in sorted(chosen)]


def directory_doc(files: RepoFiles, directory: str, central: list[str]) -> tuple[str, str, int]:
    """(summary, path, line) from the directory's README, package docstring/comment or most central file."""
    paths = files.paths
    readme = _readme_path(paths, directory)
    candidates: list[str] = []
    if readme:
        candidates.append(readme)
    for name in ("__init__.py", "doc.go", "index.ts", "index.js", "mod.rs", "lib.rs", "main.go"):
        if f"{directory}/{name}" in files.files:
            candidates.append(f"{directory}/{name}")
    inside = [p for p in central if p.startswith(directory + "/")]
    candidates += inside[:3]
    direct = [p for p in paths if p.startswith(directory + "/") and p.count("/") == directory.count("/") + 1]
    candidates += [p for p in direct if p.endswith("package.json")]
    candidates += [p for p in direct if p.endswith((".py", ".go", ".ts", ".tsx", ".js", ".sql", ".sh"))][:6]
    docs = [p for p in direct if p.endswith((".md", ".rst"))]
    candidates += sorted(docs, key=lambda p: not p.rsplit("/", 1)[-1].startswith(("index.", "overview.")))[:3]
    texts = files.read_many(candidates)
    for p in candidates:
        text = texts.get(p)
        if not text:
            continue
        if p == readme or p.endswith((".md", ".rst")):
            doc = readme_summary(text)[0]
        elif p.endswith("package.json"):
            doc = ""
            with _quiet():
                doc = str(json.loads(text).get("description") or "")
        else:
            doc = module_doc(p, text)
        if doc:
            return first_sentence(doc, 160), p, 1
    first = inside[0] if inside else next((p for p in paths if p.startswith(directory + "/")), directory)
    return "", first, 1


_MAPS: dict[tuple[str, str], RepoMap] = {}


def repo_map(reader: IndexReader, repo: str) -> RepoMap:
    """The repository map of the reader's generation, computed once per process (a generation never changes).

    A large repository (sympy: 40k definitions, 570k references) takes seconds; the UI and the MCP server
    show tours many times.
    """
    assert reader.generation is not None and reader.conn is not None
    key = (str(reader.generation.path), repo)
    if key not in _MAPS:
        if len(_MAPS) > 32:
            _MAPS.clear()
        _MAPS[key] = build_repo_map(reader.conn, repo)
    return _MAPS[key]


# -- the tour ---------------------------------------------------------------------------------------------------

def build_tour(settings: Settings, reader: IndexReader, repo: str, *, modules: int = 8, symbols: int = 12,
               summaries: dict[tuple[str, str], str] | None = None) -> Tour:
    """The tour of one indexed repository. `summaries` maps (kind, path) to a model-written line, if cached.

    Raises KeyError (with a readable message) for a repository that is not in the index.
    """
    files = RepoFiles(settings, reader, repo)
    if summaries is None:
        from app.summaries import cached_summaries

        summaries = cached_summaries(settings, reader, repo)
    assert reader.generation is not None and reader.conn is not None
    paths = files.paths
    readme = _readme_path(paths)
    about = None
    readme_text = files.read(readme) if readme else None
    if readme and readme_text:
        text, line = readme_summary(readme_text)
        if text:
            about = Item(text, repo, readme, line, kind="readme")
    if about is None:
        about = _declared_description(files)
    rmap = repo_map(reader, repo)
    central_files = [f.path for f in rmap.files if not is_peripheral(f.path)]
    used_model = False
    module_items = []
    mod_texts = files.read_many(central_files[:modules])
    for path in central_files[:modules]:
        text = mod_texts.get(path)
        summary = module_doc(path, text) if text else ""  # the authors' words first, then the model's
        if not summary and (summary := summaries.get(("module", path), "")):
            used_model = True
        module_items.append(Item(path, repo, path, 1, summary or "", "module"))
    symbol_items = []
    shown = [s for s in rmap.symbols if not is_peripheral(s.path)]
    sym_texts = files.read_many(sorted({s.path for s in shown[:symbols]}))
    seen_names: set[str] = set()
    for s in shown:
        if len(symbol_items) >= symbols:
            break
        short = s.qualified_name
        module = s.path.rsplit(".", 1)[0].replace("/", ".")
        short = short[len(module) + 1:] if short.startswith(module + ".") else short
        if short in seen_names:
            continue
        seen_names.add(short)
        text = sym_texts.get(s.path)
        doc = symbol_doc(text.splitlines(), s.start_line, s.end_line, s.path) if text else ""
        symbol_items.append(Item(short, repo, s.path, s.start_line, doc, s.kind))
    directories = []
    for d, count in map_directories(paths):
        doc, doc_path, line = directory_doc(files, d, central_files)
        if not doc and (doc := summaries.get(("directory", d), "")):
            used_model = True
        label = f"{count} file{'s' if count != 1 else ''}"
        directories.append(Item(d + "/", repo, doc_path or d, line, f"({label}) {doc}".rstrip(), "directory"))
    from app.people import people_for_repo

    people = [p.to_json() for p in people_for_repo(settings, repo, files.entry.source, central_files[:modules])]
    return Tour(
        repo=repo, commit=files.entry.commit, people=people, generation=reader.generation.name, about=about,
        commands=_commands(files, readme), entry_points=_entry_points(files, reader),
        central_modules=module_items, central_symbols=symbol_items, directories=directories,
        summaries="model" if used_model else "extractive",
    )


__all__ = ["Item", "Tour", "build_tour", "map_directories", "readme_summary"]
