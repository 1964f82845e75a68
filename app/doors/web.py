"""`dayone serve`: the Gradio chat new hires use, a thin layer over app/service.py.

Everything the page shows from a repository or the model is escaped or sanitised before it reaches the
browser: indexed code can hold `<script>` and prompt-injection text, and the page must show it, not run it.
The page loads nothing from outside the machine (system fonts, no analytics, no CDN).
"""

from __future__ import annotations

import html
import ipaddress
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import gradio as gr
from fastapi import FastAPI, Request
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import TextLexer, get_lexer_by_name
from pygments.util import ClassNotFound

from app.access import allowed_repos, restrict
from app.answer.facts import FactsCard
from app.answer.results import Answer, Source
from app.doors.signin import SignInRequired, gradio_app_of
from app.search.retriever import SearchHit
from app.service import IndexStatus, Service, shown_sources
from app.settings import Settings
from indexer.settings import ConfigError

AccessFn = Callable[[str | None], list[str] | None]
LOOPBACK_NAMES = {"localhost", "127.0.0.1", "::1"}
FEEDBACK_VOTES = {"Like": "up", "Dislike": "down"}
_FORMATTER = HtmlFormatter(noclasses=True, nowrap=True, style="friendly")
# Pygments lexer names for our language ids where they differ.
_LEXERS = {"tsx": "tsx", "csharp": "csharp", "markdown": "markdown", "rst": "rst", "text": "text",
           "dockerfile": "docker", "shell": "bash"}
CSS = """
.dayone-source {border: 1px solid var(--border-color-primary); border-radius: 6px; margin: 0 0 10px 0;}
.dayone-source-head {padding: 4px 8px; font-size: 0.9em; background: var(--background-fill-secondary);}
.dayone-source-head .label {font-weight: 600; margin-right: 6px;}
.dayone-group-head {font-weight: 600; margin: 8px 0 6px 0;}
.dayone-source pre {margin: 0; padding: 6px 8px; overflow-x: auto; font-size: 0.85em; max-height: 320px;}
.dayone-flags {color: var(--body-text-color-subdued); font-size: 0.9em;}
.dayone-facts {border: 1px solid var(--border-color-primary); border-radius: 6px; padding: 6px 8px; font-size: 0.9em;}
.dayone-facts-head {font-weight: 600; margin-bottom: 4px;}
.dayone-fact {margin: 0 0 6px 0;}
.dayone-fact .location, .dayone-fact .kind {color: var(--body-text-color-subdued);}
"""


# -- rendering ------------------------------------------------------------------------------------------------


def is_loopback(host: str) -> bool:
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def code_link(template: str, source: Source, commit: str | None) -> str:
    """The code host's URL for a source, or "" without a template; every field is URL-quoted."""
    if not template:
        return ""
    return template.format(repo=quote(source.repo, safe=""), path=quote(source.path), commit=quote(commit or "HEAD"),
                           start=source.start_line, end=source.end_line)


def highlight_code(text: str, language: str) -> str:
    """Syntax-highlighted HTML; Pygments escapes every character of the source."""
    try:
        lexer = get_lexer_by_name(_LEXERS.get(language, language))
    except ClassNotFound:
        lexer = TextLexer()
    return highlight(text, lexer, _FORMATTER)


def render_sources(answer: Answer | None, code_url: str, commits: dict[str, str | None], *,
                   pending: bool = False, turn: int = 0) -> str:
    """The sources panel. `data-turn` and `data-answered` tell scripts and tests which question it belongs to
    and whether that answer is finished."""
    head = f"<div class='dayone-sources' data-turn='{turn}' data-answered='{'no' if pending else 'yes'}'>"
    if pending:
        return head + "Searching the index…</div>"
    if answer is None:
        return head + ("Sources appear here with each answer." if turn == 0 else "No sources.") + "</div>"
    if not answer.sources:
        return head + "No sources: nothing relevant was found.</div>"
    return head + _source_divs(shown_sources(answer), code_url, commits) + "</div>"


def _source_divs(labelled: list[tuple[str, Source]], code_url: str, commits: dict[str, str | None]) -> str:
    parts = []
    for label, src in labelled:
        location = f"{src.repo}:{src.path}:{src.start_line}-{src.end_line}"
        url = code_link(code_url, src, commits.get(src.repo))
        where = (f"<a href='{html.escape(url, quote=True)}' target='_blank' rel='noopener noreferrer'>"
                 f"{html.escape(location)}</a>" if url else f"<span class='location'>{html.escape(location)}</span>")
        symbol = f" <code>{html.escape(src.symbol)}</code>" if src.symbol and src.kind != "module" else ""
        parts.append(
            f"<div class='dayone-source' data-path='{html.escape(src.path, quote=True)}' "
            f"data-cited='{'yes' if label != 'read' else 'no'}'>"
            f"<div class='dayone-source-head'><span class='label'>{html.escape(label)}</span>{where}{symbol}</div>"
            f"<pre>{highlight_code(src.text, src.language)}</pre></div>")
    return "\n".join(parts)


HIT_GROUPS = {"code": "Code", "usage": "Tests, docs and examples"}


def render_hits(hits: list[SearchHit], code_url: str, commits: dict[str, str | None]) -> str:
    """Search results in the same form as an answer's sources, code and its tests/docs/examples in two groups.

    Tests and docs repeat the words of the code they cover, so mixed into one list they read like more hits on
    the same thing; apart, the code answers "where" and the other group "how is it used". The group with the
    best hit comes first (a question about tests puts the tests first), and numbers keep the search's order."""
    if not hits:
        return "<div class='dayone-sources' data-answered='yes'>No results.</div>"
    groups: dict[str, list[tuple[str, Source]]] = {}
    for i, h in enumerate(hits, start=1):
        src = Source(number=i, repo=h.repo, path=h.path, start_line=h.start_line, end_line=h.end_line,
                     symbol=h.symbol, kind=h.kind, language=h.language, text=h.text, score=h.score)
        group = "code" if h.role == "source" else "usage"
        groups.setdefault(group, []).append((f"[{i}]", src))
    body = "".join(f"<div class='dayone-group' data-group='{g}'><div class='dayone-group-head'>{HIT_GROUPS[g]} "
                   f"({len(items)})</div>{_source_divs(items, code_url, commits)}</div>"
                   for g, items in groups.items())
    return f"<div class='dayone-sources' data-answered='yes'>{body}</div>"


def render_people(people: list[dict]) -> str:
    """"People to ask" under an answer: names and emails from git history and CODEOWNERS only."""
    if not people:
        return ""
    lines = []
    for p in people:
        who = f"{p['name']} <{p['email']}>" if p.get("email") else p["name"]
        if p.get("commits") and p.get("basis") == "all-time":
            what = f"{p['commits']} commits, last {p['last_change']} (no one has changed these files since)"
        elif p.get("commits"):
            what = f"{p['commits']} commits, last {p['last_change']}"
        else:
            what = "CODEOWNERS " + "; ".join(p.get("codeowner_rules") or [])
        lines.append(f"- {_md(who)}: {_md(what)}")
    return "**People to ask** about these files:\n" + "\n".join(lines)


def _md(text: str) -> str:
    """Text from git or a repository, shown literally inside Markdown."""
    return html.escape(text).replace("\\", "\\\\").replace("*", "\\*").replace("_", "\\_") \
        .replace("`", "\\`").replace("[", "\\[").replace("]", "\\]")


def render_tour(tour: Any, code_url: str) -> str:
    """The tour as HTML: every item escaped, its location shown (and linked when a code host is configured)."""
    if tour is None:
        return "<div class='dayone-tour'>No index yet.</div>"

    def where(item: Any) -> str:
        location = f"{item.repo}:{item.path}:{item.line}"
        src = Source(number=0, repo=item.repo, path=item.path, start_line=item.line, end_line=item.line,
                     symbol="", kind="", language="", text="")
        url = code_link(code_url, src, tour.commit)
        text = html.escape(location)
        return (f"<a href='{html.escape(url, quote=True)}' target='_blank' rel='noopener noreferrer'>{text}</a>"
                if url else f"<span class='location'>{text}</span>")

    def items(title: str, entries: list, *, numbered: bool = False) -> str:
        if not entries:
            return ""
        rows = []
        for item in entries:
            detail = f"<div class='detail'>{html.escape(item.detail)}</div>" if item.detail else ""
            kind = f"<span class='kind'>{html.escape(item.kind)}</span> " if item.kind and not numbered else ""
            rows.append(f"<li>{kind}<code>{html.escape(item.text)}</code> {where(item)}{detail}</li>")
        tag = "ol" if numbered else "ul"
        return f"<h4>{html.escape(title)}</h4><{tag}>{''.join(rows)}</{tag}>"

    parts = [f"<div class='dayone-tour' data-repo='{html.escape(tour.repo, quote=True)}'>",
             f"<h3>Tour of {html.escape(tour.repo)}"
             + (f" at {html.escape(tour.commit[:10])}" if tour.commit else "") + "</h3>"]
    if tour.about:
        parts.append(f"<h4>What it is</h4><p>{html.escape(tour.about.text)} {where(tour.about)}</p>")
    commands = [item for cat in ("build", "test", "run") for item in tour.commands.get(cat, [])]
    for item in commands:
        item.kind = item.kind or next(c for c in ("build", "test", "run") if item in tour.commands.get(c, []))
    parts.append(items("Build, test, run", commands))
    parts.append(items("Entry points", tour.entry_points))
    parts.append(items("Start reading here (most central modules)", tour.central_modules, numbered=True))
    parts.append(items("Central symbols", tour.central_symbols, numbered=True))
    parts.append(items("Directory map", tour.directories))
    if tour.people:
        parts.append("<h4>People to ask</h4><ul>" + "".join(
            f"<li>{html.escape(p['name'])}" + (f" &lt;{html.escape(p['email'])}&gt;" if p.get("email") else "")
            + "</li>" for p in tour.people) + "</ul>")
    return "".join(parts) + "</div>"


def render_facts(card: FactsCard | None) -> str:
    """The facts card above the question box: what the index knows about the question's symbols."""
    if card is None:
        return "<div class='dayone-facts-empty' data-facts='0'></div>"
    return card.to_html() or "<div class='dayone-facts-empty' data-facts='0'>No definitions match this question.</div>"


def render_flags(answer: Answer | None) -> str:
    if answer is None or not answer.flagged:
        return ""
    # every other kind (a name, path or relation the index does not hold, a dropped citation) is "not in the index"
    sections = {"": "**Not in the index** (shown without a link):",
                "corrected": "**Paths corrected** (the model wrote another path for a source's file):",
                "example": "**Removed** (copied from the prompt's worked example):"}
    parts = []
    for kind, title in sections.items():
        lines = [f"- `{flag.text.replace('`', '')}`: {flag.reason}" for flag in answer.flagged
                 if (flag.kind if flag.kind in sections else "") == kind]
        if lines:
            parts.append(title + "\n" + "\n".join(lines))
    return "\n\n".join(parts)


def render_status(status: IndexStatus) -> str:
    if not status.available:
        return status.message
    rows = ["| repository | branch | commit | indexed | files | chunks |", "|---|---|---|---|---|---|"]
    for r in status.repos:
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(r.indexed_at))
        rows.append(f"| {_cell(r.name)} | {_cell(r.branch or '-')} | {_cell((r.commit or 'worktree')[:10])} | "
                    f"{when} | {r.files} | {r.chunks} |")
    return (f"**{status.chunks:,} chunks** in {len(status.repos)} repositories, {status.definitions:,} definitions, "
            f"{status.references:,} references (index {status.generation}).\n\n" + "\n".join(rows))


def _cell(text: str) -> str:
    return html.escape(text).replace("|", "&#124;")


# -- authentication -------------------------------------------------------------------------------------------


def load_users(path: Path) -> dict[str, str]:
    """`name:hash` lines (argon2id hashes from `dayone hash-password`); blank lines and # comments ignored."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise ConfigError(f"serve.users_file {path} cannot be read: {exc.strerror or exc}") from None
    users: dict[str, str] = {}
    for number, line in enumerate(lines, start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, hashed = line.partition(":")
        if not sep or not name or not hashed.startswith("$argon2"):
            raise ConfigError(f"{path}:{number}: expected NAME:$argon2id$... (from `dayone hash-password NAME`)")
        users[name] = hashed
    if not users:
        raise ConfigError(f"serve.users_file {path} lists no users")
    return users


def password_checker(users: dict[str, str]) -> Callable[[str, str], bool]:
    from argon2 import PasswordHasher
    from argon2.exceptions import InvalidHashError, VerificationError

    hasher = PasswordHasher()

    def check(username: str, password: str) -> bool:
        hashed = users.get(username)
        if hashed is None:
            return False
        try:
            return hasher.verify(hashed, password)
        except (VerificationError, InvalidHashError):
            return False

    return check


def proxy_user(header: str, trusted: list[str]) -> Callable[[Request], str | None]:
    """The SSO user named by the reverse proxy's header, believed only when the request comes from the proxy."""
    networks = []
    for entry in trusted:
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            raise ConfigError(f"serve.trusted_proxies: {entry!r} is not an IP address or network") from None
    if not networks:
        raise ConfigError("serve.auth = 'proxy-header' needs serve.trusted_proxies (the proxy's addresses)")

    def user(request: Request) -> str | None:
        client = request.client.host if request.client else ""
        try:
            address = ipaddress.ip_address(client)
        except ValueError:
            return None
        if not any(address in net for net in networks):
            return None
        name = request.headers.get(header, "").strip()
        return name or None

    return user


def auth_options(settings: Settings, host: str, insecure_no_auth: bool) -> dict[str, Any]:
    """Keyword arguments for Gradio's mount: a login, the proxy's header, or none (loopback or insecure)."""
    mode = settings.serve.auth
    if mode == "users-file":
        if not settings.serve.users_file:
            raise ConfigError("serve.auth = 'users-file' needs serve.users_file")
        return {"auth": password_checker(load_users(Path(settings.serve.users_file).expanduser())),
                "auth_message": "Sign in with your dayone account."}
    if mode == "proxy-header":
        return {"auth_dependency": proxy_user(settings.serve.proxy_header, settings.serve.trusted_proxies)}
    if not is_loopback(host) and not insecure_no_auth:
        raise ConfigError(f"refusing to serve on {host} without authentication: set serve.auth to 'users-file' or "
                          "'proxy-header' in dayone.toml, bind to 127.0.0.1, or pass --insecure-no-auth")
    return {}


def serving_access(settings: Settings, host: str) -> AccessFn:
    """The repositories each signed-in user may read (settings' `[access]`).

    Without a login (no auth on loopback) the person at the keyboard is the workstation's owner, who can read
    the index files anyway: unrestricted. Anywhere else an anonymous request sees nothing once groups exist.
    """
    local = is_loopback(host) and settings.serve.auth == "none"

    def access(user: str | None) -> list[str] | None:
        if user is None and local:
            return None
        return allowed_repos(settings, user)

    return access


# -- the page -------------------------------------------------------------------------------------------------


def build_ui(service: Service, *, access: AccessFn | None = None,
             examples: list[str] | None = None) -> gr.Blocks:
    """The chat page. `access(user)` gives the repositories a user may read (None: all); `examples` fixes the
    first-day questions (default: made from the tours of each user's repositories)."""
    settings = service.settings
    allowed_for: AccessFn = access or (lambda _user: None)

    def user_of(request: gr.Request | None) -> str | None:
        return getattr(request, "username", None) if request is not None else None

    def narrow(selected: list[str] | None, user: str | None) -> list[str] | None:
        return restrict(allowed_for(user), list(selected) if selected else None)

    def commits() -> dict[str, str | None]:
        return service.commits()

    def on_load(request: gr.Request) -> tuple[Any, Any, str, Any]:
        # Everything on the page is computed within the user's repositories: names, languages, counts.
        status = service.status(allowed_for(user_of(request)))
        repos = [r.name for r in status.repos]
        return (gr.update(choices=repos, value=[]), gr.update(choices=status.languages, value=[]),
                render_status(status), gr.update(choices=repos, value=repos[0] if repos else None))

    def load_questions(request: gr.Request) -> Any:
        # From the tours of the user's repositories only; its own event, so the rest of the page never waits for
        # the first tour (seconds on a big repository; cached per index generation afterwards).
        allowed = allowed_for(user_of(request))
        questions = examples if examples is not None else service.first_day_questions(
            [r.name for r in service.status(allowed).repos] if allowed is not None else None)
        return gr.Dataset(samples=[[q] for q in questions])

    def respond(message: str, history: list[dict], repos: list[str] | None, languages: list[str] | None,
                request: gr.Request) -> Iterator[tuple[Any, Any, Any, Any]]:
        history = list(history or [])
        question = (message or "").strip()
        if not question:
            yield history, "", gr.skip(), gr.skip(), gr.skip()
            return
        history += [{"role": "user", "content": question}, {"role": "assistant", "content": "…"}]
        turn = sum(1 for m in history if m.get("role") == "user")
        yield history, "", render_sources(None, "", {}, pending=True, turn=turn), "", ""
        session = request.session_hash or "anonymous"
        scope = narrow(repos, user_of(request))
        for event in service.ask(session, question, repos=scope, languages=list(languages) or None):
            if event.facts is not None:  # the card from the index, before the model's first token
                yield history, gr.skip(), gr.skip(), gr.skip(), render_facts(event.facts)
                continue
            history[-1] = {"role": "assistant", "content": event.notice or event.text or "…"}
            if not event.done:
                yield history, gr.skip(), gr.skip(), gr.skip(), gr.skip()
                continue
            panel = render_sources(event.answer, settings.serve.code_url, commits(), turn=turn)
            yield history, gr.skip(), panel, render_flags(event.answer), gr.skip()

    def do_search(text: str, repos: list[str] | None, languages: list[str] | None,
                  request: gr.Request) -> tuple[str, str]:
        hits = service.search(text or "", repos=narrow(repos, user_of(request)), languages=list(languages or []))
        return render_hits(hits, settings.serve.code_url, commits()), json.dumps([h.to_json() for h in hits])

    def show_people(request: gr.Request) -> str:
        answer = service.last_answer(request.session_hash or "anonymous")
        return render_people(service.people(answer)) if answer is not None and answer.citations else ""

    def do_tour(repo: str | None, request: gr.Request) -> str:
        allowed = allowed_for(user_of(request))
        if not repo or (allowed is not None and repo not in allowed):
            return "<div class='dayone-tour'>Pick a repository.</div>"
        try:
            return render_tour(service.tour(repo), settings.serve.code_url)
        except KeyError:
            return f"<div class='dayone-tour'>{html.escape(repo)} is not in the index.</div>"

    def clear(request: gr.Request) -> tuple[list, str, str, str]:
        service.forget(request.session_hash or "anonymous")
        return [], render_sources(None, "", {}), "", render_facts(None)

    def on_feedback(data: gr.LikeData, history: list[dict], request: gr.Request) -> None:
        vote = FEEDBACK_VOTES.get(str(data.value), "up" if data.liked else "down")
        index = data.index if isinstance(data.index, int) else data.index[0]
        content = history[index]["content"] if 0 <= index < len(history) else ""
        if isinstance(content, list):  # Gradio may hand back [{"type": "text", "text": ...}]
            content = "".join(part.get("text", "") for part in content if isinstance(part, dict))
        service.record_feedback(request.session_hash or "anonymous", str(content), vote, user_of(request))
        gr.Info("Thanks: your feedback is stored on this machine.")

    with gr.Blocks(title="dayone", analytics_enabled=False) as demo:
        gr.Markdown("## dayone: ask about the code\nAnswers come from the indexed repositories and cite the "
                    "lines they rely on. Names the index does not hold are marked, never linked.")
        with gr.Tabs():
            with gr.Tab("Chat", id="chat"), gr.Row():
                with gr.Column(scale=3):
                    chatbot = gr.Chatbot(label="Chat", height=480, elem_id="chat", sanitize_html=True,
                                         allow_tags=False, render_markdown=True,
                                         feedback_options=("Like", "Dislike"))
                    facts = gr.HTML(render_facts(None), elem_id="facts", label="From the index")
                    with gr.Row():
                        question = gr.Textbox(placeholder="e.g. where are orders paid?", show_label=False,
                                              scale=8, elem_id="question", max_lines=6)
                        ask = gr.Button("Ask", variant="primary", scale=1, elem_id="ask")
                    # Made per user from the tours of the repositories they may read (app/tour/questions.py).
                    first_day = gr.Dataset(components=[question], samples=[[q] for q in examples or []],
                                           label="First-day questions", elem_id="first-day", samples_per_page=6)
                    flags = gr.Markdown(elem_id="flags", elem_classes=["dayone-flags"])
                    people = gr.Markdown(elem_id="people", elem_classes=["dayone-flags"])
                    new_chat = gr.Button("New conversation", size="sm", elem_id="new-chat")
                with gr.Column(scale=2):
                    with gr.Row():
                        # Custom values let API clients filter too; access rules narrow whatever is asked for.
                        repo_filter = gr.Dropdown(label="Repositories", multiselect=True, choices=[],
                                                  allow_custom_value=True, elem_id="repo-filter")
                        lang_filter = gr.Dropdown(label="Languages", multiselect=True, choices=[],
                                                  allow_custom_value=True, elem_id="lang-filter")
                    sources = gr.HTML(render_sources(None, "", {}), elem_id="sources", label="Sources")
            with gr.Tab("Search", id="search"):
                gr.Markdown("Find code without the model: functions, classes and docs ranked by name, meaning and "
                            "words, at most two per file.")
                with gr.Row():
                    query = gr.Textbox(placeholder="e.g. OrderService.pay, or: where is the stock reserved?",
                                       show_label=False, scale=8, elem_id="search-query")
                    find = gr.Button("Search", scale=1, elem_id="search-button")
                results = gr.HTML(elem_id="search-results")
                # The hits as a JSON string for API clients (`dayone search --json`'s hit schema). A string, because
                # gradio_client would take any dict with a "path" key for a file to download.
                hits_json = gr.Textbox(visible=False)
            with gr.Tab("Tour", id="tour"):
                gr.Markdown("New here? A tour of a repository: what it is, how to build, test and run it, its entry "
                            "points, where to start reading, a directory map and people to ask.")
                with gr.Row():
                    tour_repo = gr.Dropdown(label="Repository", choices=[], elem_id="tour-repo", scale=4)
                    show_tour = gr.Button("Show the tour", scale=1, elem_id="tour-button")
                tour_html = gr.HTML(elem_id="tour")
            with gr.Tab("Index", id="index"):
                status_md = gr.Markdown(elem_id="index-status")
                reload_status = gr.Button("Refresh", size="sm")

        demo.load(on_load, None, [repo_filter, lang_filter, status_md, tour_repo])
        demo.load(load_questions, None, [first_day], api_name=False, concurrency_limit=4)
        reload_status.click(on_load, None, [repo_filter, lang_filter, status_md, tour_repo], api_name=False)
        first_day.click(lambda sample: (sample or [""])[0], [first_day], [question], api_name=False)
        show_tour.click(do_tour, [tour_repo], [tour_html], api_name="tour")
        inputs = [question, chatbot, repo_filter, lang_filter]
        outputs = [chatbot, question, sources, flags, facts]
        ask.click(respond, inputs, outputs, api_name="chat").then(show_people, None, [people], api_name=False)
        question.submit(respond, inputs, outputs, api_name=False).then(show_people, None, [people], api_name=False)
        find.click(do_search, [query, repo_filter, lang_filter], [results, hits_json], api_name="search",
                   concurrency_limit=4)
        query.submit(do_search, [query, repo_filter, lang_filter], [results, hits_json], api_name=False,
                     concurrency_limit=4)
        new_chat.click(clear, None, [chatbot, sources, flags, facts], api_name=False).then(lambda: "", None, [people],
                                                                                     api_name=False)
        chatbot.like(on_feedback, [chatbot], None, api_name=False)
    return demo


def server_config(web: FastAPI, host: str, port: int) -> Any:
    """The uvicorn settings `dayone serve` runs with.

    Proxy headers are never trusted: the address checked against serve.trusted_proxies must be the socket's peer.
    uvicorn's default believes X-Forwarded-For from loopback, which let any local process claim to be the proxy
    and then name any user in the proxy's header.
    """
    import uvicorn

    return uvicorn.Config(web, host=host, port=port, log_level="warning", proxy_headers=False,
                          forwarded_allow_ips="", server_header=False)


def create_app(service: Service, *, host: str = "127.0.0.1", insecure_no_auth: bool = False,
               access: AccessFn | None = None) -> FastAPI:
    """The web application: the chat at `/` and `/healthz` for container health checks (no login)."""
    settings = service.settings
    options = auth_options(settings, host, insecure_no_auth)
    demo = build_ui(service, access=access)
    demo.queue(default_concurrency_limit=settings.serve.concurrency, max_size=settings.serve.max_queue)
    api = FastAPI(title="dayone", docs_url=None, redoc_url=None, openapi_url=None)

    @api.get("/healthz")
    def healthz() -> dict[str, Any]:
        status = service.status()
        return {"status": "ok", "index": status.available, "generation": status.generation,
                "repos": len(status.repos), "chunks": status.chunks}

    theme = gr.themes.Default(font=["ui-sans-serif", "system-ui", "sans-serif"],
                              font_mono=["ui-monospace", "SFMono-Regular", "Menlo", "monospace"])
    web = gr.mount_gradio_app(api, demo, path="", theme=theme, css=CSS, footer_links=[], ssr_mode=False,
                              mcp_server=False, **options)
    if options:  # a login is required: nothing but /healthz and the sign-in page answers without one
        web.add_middleware(SignInRequired, gradio_app=gradio_app_of(web),
                           message=options.get("auth_message", "Sign in to continue."))
    return web
