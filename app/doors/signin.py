"""The sign-in gate in front of the web app: without a signed-in user, only `/healthz` and the sign-in page answer.

Gradio checks logins route by route, and some of its routes do not: its index page embeds the API schema (every
endpoint with its parameters) for anyone, and `/gradio_api/runs`, `/cancel` and `/reset` answer without a login.
This ASGI middleware decides once, before any route runs, from the same facts Gradio uses (its session cookie,
or the trusted proxy's header through `auth_dependency`), so a new Gradio route cannot open a hole.
"""

from __future__ import annotations

import html
import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from starlette.requests import Request

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

OPEN_PATHS = frozenset({"/healthz"})  # container health checks carry no login
LOGIN_PATHS = frozenset({"/login", "/login/"})  # Gradio's sign-in endpoint (users file only)

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>dayone: sign in</title>
<style>body{font-family:ui-sans-serif,system-ui,sans-serif;display:flex;justify-content:center;margin-top:12vh}
form{display:flex;flex-direction:column;gap:.6rem;width:18rem}input,button{font-size:1rem;padding:.45rem}
#error{color:#b00020;min-height:1.2em}</style></head>
<body><form id="login"><h2>dayone</h2><p>{message}</p>
<input name="username" autocomplete="username" placeholder="user name" required>
<input name="password" type="password" autocomplete="current-password" placeholder="password" required>
<button type="submit">Sign in</button><div id="error" role="alert"></div></form>
<script>
document.getElementById("login").addEventListener("submit", async (event) => {
  event.preventDefault();
  const reply = await fetch("login", {method: "POST", body: new URLSearchParams(new FormData(event.target))});
  if (reply.ok) { location.reload(); return; }
  document.getElementById("error").textContent = "Wrong user name or password.";
});
</script></body></html>
"""


class SignInRequired:
    """Answers 401 (or, for the users file, the sign-in page at `/`) to every request without a signed-in user."""

    def __init__(self, app: ASGIApp, *, gradio_app: Any, message: str = "Sign in to continue."):
        self.app = app
        self.gradio = gradio_app
        self.page = _PAGE.replace("{message}", html.escape(message)).encode()

    def _user(self, scope: Scope) -> str | None:
        request = Request(scope)
        if self.gradio.auth_dependency is not None:  # the trusted SSO proxy's header, checked on the socket's peer
            return self.gradio.auth_dependency(request)
        cookie_id = self.gradio.cookie_id
        token = (request.cookies.get(f"access-token-{cookie_id}")
                 or request.cookies.get(f"access-token-unsecure-{cookie_id}"))
        return self.gradio.tokens.get(token) if token else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or scope["path"] in OPEN_PATHS or self._user(scope):
            await self.app(scope, receive, send)
            return
        users_file = self.gradio.auth_dependency is None
        if users_file and scope["type"] == "http" and scope["path"] in LOGIN_PATHS and scope["method"] == "POST":
            await self.app(scope, receive, send)
            return
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
            return
        if users_file and scope["path"] == "/" and scope["method"] in ("GET", "HEAD"):
            await _respond(send, 200, "text/html; charset=utf-8", self.page)
            return
        await _respond(send, 401, "application/json", json.dumps({"detail": "Not authenticated"}).encode())


async def _respond(send: Send, status: int, content_type: str, body: bytes) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", content_type.encode()), (b"content-length", str(len(body)).encode()),
                            (b"cache-control", b"no-store")]})
    await send({"type": "http.response.body", "body": body})


def gradio_app_of(api: Any) -> Any:
    """The Gradio application mounted on `api` (the object holding the login tokens and auth dependency)."""
    from gradio.routes import App

    for route in api.routes:
        if isinstance(getattr(route, "app", None), App):
            return route.app
    raise LookupError("no Gradio application is mounted")
