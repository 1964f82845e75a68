"""Where execution starts: main functions, CLI commands, HTTP route handlers and scheduled jobs, found by
language-specific patterns on the indexed files and named by the symbol table's enclosing definitions."""

from __future__ import annotations

import json
import re
import tomllib
from collections import Counter, defaultdict

from app.tour.commands import CI_FILE, key_line, line_of
from app.tour.items import Item
from app.tour.repofiles import RepoFiles
from app.tour.repomap import is_peripheral
from indexer.reader import IndexReader

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


def entry_points(files: RepoFiles, reader: IndexReader) -> list[Item]:
    repo = files.name
    defs_by_file: dict[str, list[tuple[str, int, int]]] = defaultdict(list)
    for loc in reader.symbols.repo_definitions(repo):
        qname = loc.qualified_name
        defs_by_file[loc.path].append((qname.rsplit(".", 2)[-1] if qname.count(".") else qname, loc.start_line,
                                       loc.end_line))
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
    items += declared_entries(files, reader)
    items += yaml_schedules(files)
    if not any(i.kind in ("main", "command", "route") for i in items):
        items += library_packages(files)
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


def library_packages(files: RepoFiles) -> list[Item]:
    """A library has no main: its importable top-level packages are where callers come in."""
    items = []
    for p in files.paths:
        parts = p.split("/")
        if parts[-1] == "__init__.py" and (len(parts) == 2 or len(parts) == 3 and parts[0] in ("src", "lib")) \
                and not is_peripheral(p):
            items.append(Item(f"import {parts[-2]}", files.name, p, 1, "library package", "library"))
    return items[:5]


def declared_entries(files: RepoFiles, reader: IndexReader) -> list[Item]:
    """Console scripts from pyproject/setup.cfg and `bin` of package.json, linked to their function."""
    repo = files.name
    items = []
    wanted = [p for p in files.paths if p.rsplit("/", 1)[-1] in ("pyproject.toml", "setup.cfg", "package.json")
              and p.count("/") <= 2 and "node_modules" not in p]
    for path, text in files.read_many(wanted).items():
        targets: dict[str, str] = {}
        if path.endswith("pyproject.toml"):
            with quiet():
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
            with quiet():
                data = json.loads(text)
                bin_ = data.get("bin") if isinstance(data, dict) else None
                if isinstance(bin_, str):
                    targets[data.get("name", "bin")] = bin_
                elif isinstance(bin_, dict):
                    targets.update(bin_)
                if isinstance(data, dict) and isinstance(data.get("main"), str) and not targets:
                    items.append(Item(f"{data.get('name', path)} (package main)", repo, path,
                                      line_of(text, '"main"'), data["main"], "main"))
        for name, target in targets.items():
            if not isinstance(target, str):
                continue
            section = '"bin"' if path.endswith(".json") else "scripts"
            loc = (path, key_line(text, name, section))
            if ":" in target:  # "pkg.mod:func" -> the function's definition, when indexed
                func = target.split(":", 1)[1].split(".")[-1].split()[0]
                for d in reader.symbols.definitions(func, [repo]):
                    if d.qualified_name.endswith(target.replace(":", ".")) or d.path.replace("/", ".").startswith(
                            target.split(":", 1)[0]):
                        loc = (d.path, d.start_line)
                        break
            items.append(Item(name, repo, loc[0], loc[1], f"console script -> {target}", "command"))
    return items


def yaml_schedules(files: RepoFiles) -> list[Item]:
    wanted = [p for p in files.paths if (CI_FILE.match(p) or p.endswith((".yml", ".yaml")) and "cron" in p.lower())]
    items = []
    for path, text in files.read_many(wanted).items():
        for n, line in enumerate(text.splitlines(), 1):
            m = _CRON_YAML.match(line)
            if m and re.match(r"^[\d*/,\- ]+$|^@\w+$", m.group(2).strip()):
                items.append(Item(f"cron {m.group(2).strip()}", files.name, path, n, "CI/cluster schedule",
                                  "scheduled"))
    return items


class quiet:
    """Ignore a malformed manifest file: a tour shows what it can."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type: object, exc: object, tb: object) -> bool:
        return exc_type is not None and issubclass(exc_type, (ValueError, KeyError, TypeError, AttributeError))
