"""Which repositories a user may see: the `[access]` section of dayone.toml turned into a repository allow-list.

The allow-list is not checked after the fact: callers pass it as `repos` to the Retriever, which puts it in the
store's payload filter and in the symbol-table queries, so search, answers, sources and links all inherit it.
Mistakes fail closed: with groups configured, a user nobody listed, or a group nobody defined, sees nothing.

    [access.groups]
    everyone = ["docs", "shop"]
    payments-team = ["payments"]
    admins = ["*"]                 # every repository, including ones indexed later

    [access.users]
    alice = ["everyone", "payments-team"]
    contractor = ["everyone"]
"""

from __future__ import annotations

from app.settings import Settings

ALL = "*"


class AccessDenied(Exception):
    """The user may see none of the repositories asked for; worded for the person at the keyboard."""


def access_configured(settings: Settings) -> bool:
    """Whether repository access is restricted at all (any group defined)."""
    return bool(settings.access.groups)


def allowed_repos(settings: Settings, user: str | None) -> list[str] | None:
    """The repositories `user` may see, or None for no restriction.

    None only when no groups are configured, or the user belongs to a group granting "*". With groups
    configured, an unknown or missing user gets [] (nothing), never everything.
    """
    access = settings.access
    if not access.groups:
        return None
    if user is None:
        return []
    allowed: list[str] = []
    for group in access.users.get(user, []):
        repos = access.groups.get(group, [])
        if ALL in repos:
            return None
        allowed.extend(repos)
    return sorted(set(allowed))


def restrict(allowed: list[str] | None, requested: list[str] | None) -> list[str] | None:
    """The repositories a query may touch: what was asked for (None = all) within what is allowed.

    The result is [] when nothing asked for is allowed; callers must treat [] as "match nothing", which the
    store's SearchFilter and `Retriever.search` both do.
    """
    if allowed is None:
        return list(requested) if requested is not None else None
    if requested is None:
        return list(allowed)
    return [r for r in dict.fromkeys(requested) if r in allowed]


def repos_for(settings: Settings, user: str | None, requested: list[str] | None) -> list[str] | None:
    """`restrict` for a named user; user None means the local operator, who can read the index files anyway."""
    if user is None:
        return list(requested) if requested else None
    return restrict(allowed_repos(settings, user), requested or None)


def visible(repos: list[str], allowed: list[str] | None) -> list[str]:
    """The names out of `repos` that may be shown (e.g. in "indexed: ..." messages) to a restricted user."""
    return list(repos) if allowed is None else [r for r in repos if r in allowed]


__all__ = ["ALL", "AccessDenied", "access_configured", "allowed_repos", "repos_for", "restrict", "visible"]
