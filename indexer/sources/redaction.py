"""Find secrets inside ordinary files and replace them with a marker before anything is parsed or embedded.

Files that exist to hold credentials (.env, *.pem, id_rsa, ...) are never read (indexer/sources/). This
module covers the rest: a key pasted into a config, a token in a test, a password in a connection string.
It runs on the whole file before chunking, so the chunk text, both vectors (dense and sparse), the payload,
the manifest's symbol names and the symbol table are all built from the redacted text and none of them can
hold the secret. Each replacement keeps the number of lines it replaced, so chunk line ranges still point at
the right lines of the real file.

A marker names the kind it replaced, `[REDACTED:aws-access-key]`, so a reader knows a value was there and a
search for "aws access key" still finds the place that configures it. Detection errs towards redacting:
a false positive costs a few characters of context, a false negative leaks a credential to every reader.
Bump REDACTION_VERSION whenever the rules change: it is part of the index build key, so existing indexes
(which may hold what the new rules catch) are rebuilt.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from indexer.chunking.languages import CODE_LANGUAGES
from indexer.sources.redaction_rules import KEYED_HINTS, redact_keyed_b64, redact_pem_b64
from indexer.sources.redaction_rules import MARKER_RE as _MARKER_RE
from indexer.sources.redaction_rules import looks_random as _looks_random

# 3: Dockerfile `ENV KEY value`, JSON-escaped quotes (notebooks, JSON in JSON), base64 private keys and keys.
REDACTION_VERSION = "3"
MARKER = "[REDACTED:{kind}]"


@dataclass
class Redaction:
    """The redacted text and what was found in it (kind -> count); never the secrets themselves."""

    text: str
    found: Counter[str] = field(default_factory=Counter)


def marker(kind: str) -> str:
    return MARKER.format(kind=kind)


_PLACEHOLDER = re.compile(
    r"""^(?:\$\{?[\w.:-]*\}?|\{\{.*\}\}|%\(?\w*\)?s?|<[^<>]*>|\*+|x{3,}|\.{3}|…|%s|\?|none|null|nil|true|false
    |undefined|os\.environ.*|env\(.*|process\.env.*|getenv.*|password|passwd|pass|pwd|secret|token|user
    |username|x)$""",
    re.I | re.X,
)


def _is_placeholder(value: str) -> bool:
    v = value.strip()
    return not v or bool(_PLACEHOLDER.match(v)) or bool(_MARKER_RE.fullmatch(v))


# -- rules with a fixed shape: the secret is the whole match (or the named group "s") ------------------------
# (kind, literals, pattern): the pattern runs only when one literal occurs in the text ("~": in the
# lowercased text), since scanning every file with every pattern would cost more than parsing it.
# Order matters: earlier rules run first and their markers are not matched again.
_SHAPED: list[tuple[str, tuple[str, ...], re.Pattern[str]]] = [
    # A PEM private key, in a file or as a JSON string with \n escapes (a GCP service-account key); a block
    # cut off before its END line is redacted to the end of its base64 body.
    (
        "private-key",
        ("PRIVATE KEY",),
        re.compile(
            r"-----BEGIN[A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----"
            r"(?:[\s\S]*?-----END[A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----|(?:[A-Za-z0-9+/=\s:,-]|\\n|\\r)*)"
        ),
    ),
    ("private-key", ("PuTTY",), re.compile(r"PuTTY-User-Key-File-\d+:[\s\S]*?Private-MAC: *[0-9a-f]+")),
    (
        "aws-access-key",
        ("AKIA", "ASIA", "ABIA", "ACCA", "AGPA", "AIDA", "AROA", "ANPA", "ANVA", "AIPA"),
        re.compile(
            r"(?<![A-Z0-9])(?:AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA)"
            r"[A-Z0-9]{16}(?![A-Z0-9])"
        ),
    ),
    ("gcp-api-key", ("AIza",), re.compile(r"(?<![\w-])AIza[0-9A-Za-z_-]{35}(?![\w-])")),
    (
        "gcp-private-key-id",
        ("private_key_id",),
        re.compile(r"""["']?private_key_id["']?\s*[:=]\s*["'](?P<s>[0-9a-f]{32,64})["']"""),
    ),
    (
        "azure-storage-key",
        ("~accountkey", "~sharedaccesskey"),
        re.compile(r"(?i)(?:AccountKey|SharedAccessKey)\s*=\s*(?P<s>[A-Za-z0-9+/]{20,}={0,2})"),
    ),
    ("azure-sas-signature", ("sig=",), re.compile(r"(?<![\w])sig=(?P<s>[A-Za-z0-9%+/]{30,}(?:%3D|=){0,2})")),
    (
        "azure-client-secret",
        ("Q~",),
        re.compile(r"(?<![\w~.-])[A-Za-z0-9_~.-]{3}\dQ~[A-Za-z0-9_~.-]{31,34}(?![\w~.-])"),
    ),
    (
        "github-token",
        ("ghp_", "gho_", "ghu_", "ghs_", "ghr_"),
        re.compile(r"(?<![\w])(?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{36,255}(?![\w])"),
    ),
    ("github-token", ("github_pat_",), re.compile(r"(?<![\w])github_pat_[A-Za-z0-9_]{22,255}(?![\w])")),
    ("gitlab-token", ("glpat-",), re.compile(r"(?<![\w-])glpat-[A-Za-z0-9_-]{20,}(?![\w-])")),
    ("slack-token", ("xox",), re.compile(r"(?<![\w-])xox[abposre]-[A-Za-z0-9-]{10,}(?![\w-])")),
    (
        "slack-webhook",
        ("hooks.slack.com",),
        re.compile(r"https://hooks\.slack\.com/(?:services|workflows)/[A-Za-z0-9/_-]{20,}"),
    ),
    (
        "stripe-key",
        ("sk_live_", "sk_test_", "rk_live_", "rk_test_"),
        re.compile(r"(?<![\w])(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{16,}(?![\w])"),
    ),
    ("openai-key", ("sk-",), re.compile(r"(?<![\w-])sk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{32,}(?![\w-])")),
    ("npm-token", ("npm_",), re.compile(r"(?<![\w])npm_[A-Za-z0-9]{36}(?![\w])")),
    ("jwt", ("eyJ",), re.compile(r"(?<![\w-])eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}(?![\w-])")),
    # scheme://user:password@host (postgres, mysql, mongodb+srv, redis, amqp, https, ...)
    (
        "password",
        ("://",),
        re.compile(
            r"(?<![\w+.-])[A-Za-z][A-Za-z0-9+.-]{1,20}://[^\s:/@'\"`<>]{0,100}:"
            r"(?P<s>[^\s@'\"`<>/]{1,200})@[A-Za-z0-9\[]"
        ),
    ),
    # XML-ish <password>...</password>
    (
        "password",
        ("~password", "~passwd", "~secret"),
        re.compile(
            r"(?i)<(?P<tag>[\w:.-]*(?:password|passwd|secret)[\w:.-]*)>(?P<s>[^<\n]{1,200})"
            r"</(?P=tag)>"
        ),
    ),
]

# -- key = value rules: the key names a secret, the value is checked before it is called one -----------------
_PASSWORD_KEY = r"(?:password|passwd|passphrase|pwd|db_pass|pass)"
_TOKEN_KEY = (
    r"(?:secret|token|api[_-]?key|apikey|access[_-]?key|private[_-]?key|client[_-]?secret|auth[_-]?key"
    r"|credentials?|signing[_-]?key|encryption[_-]?key|secret[_-]?key)"
)
# key, optionally quoted, then = : := => (not ==, which compares), then a quoted or a bare value. Quotes may
# be JSON-escaped (`\"password\": \"...\"` in a JSON string, `password=\"...\"` in a notebook cell's source).
_ASSIGN = re.compile(
    r"""(?<![\w.-])(?P<key>(?:\\{1,3}["']|["'])?[\w.-]*?(?P<name>""" + _PASSWORD_KEY + "|" + _TOKEN_KEY
    + r""")[\w.-]*(?:\\{1,3}["']|["'])?)"""
    r"""(?P<op>\s*(?::=|=>|=(?!=)|:(?!:))\s*)"""
    r"""(?:(?P<q>\\{1,3}["']|["'`])(?P<qv>(?:(?!(?P=q))(?:\\.|.)){1,500})(?P=q)|(?P<bv>[^\s"'`,;)\]}#]{1,500}))""",
    re.I,
)
# Dockerfile `ENV KEY value` and `ARG KEY value` (the space form): the value is the rest of the line.
_DOCKER_ENV = re.compile(
    r"""^(?P<pre>[ \t]*(?:ENV|ARG)[ \t]+)(?P<key>(?i:[\w.-]*?(?P<name>""" + _PASSWORD_KEY + "|" + _TOKEN_KEY
    + r""")[\w.-]*))(?P<op>[ \t]+)(?:(?P<q>["'])(?P<qv>(?:(?!(?P=q))(?:\\.|.)){1,500})(?P=q)"""
    r"""|(?P<bv>[^\s"'=][^\r\n]*?))[ \t]*(?=\r?$)""",
    re.M,
)
_KEY_HINTS = ("pass", "pwd", "secret", "token", "key", "credential")
_BARE_CODE = re.compile(r"^[A-Za-z_][\w]*(?:[.\[(].*)?$")  # an identifier, call, attribute: code, not a value
_TYPE_WORDS = {
    "str",
    "string",
    "bytes",
    "int",
    "bool",
    "boolean",
    "secretstr",
    "optional",
    "any",
    "char",
    "text",
    "varchar",
    "none",
    "null",
    "nil",
    "true",
    "false",
    "undefined",
    "password",
    "secret",
    "token",
    "required",
    "field",
    "object",
    "dict",
    "list",
}


# Translation catalogues: `"password": "Passwort"` is the word on a login form, not a credential.
_LOCALES = ("en|de|fr|es|it|pt|nl|sv|da|fi|nb|nn|pl|cs|sk|hu|ro|bg|el|tr|ru|uk|he|ar|fa|hi|ja|ko|zh|th|vi|id|ms|ca"
            "|et|lv|lt|sl|hr|sr|is|ga|cy|eu|gl|af|sw|bn|ta|te|ur|mr|gu|kn|ml|pa")
_I18N_PATH = re.compile(
    r"(^|/)(locales?|i18n|l10n|translations?)/|(^|/)(messages_)?(" + _LOCALES + r")([-_][A-Za-z]{2,4})?"
    r"\.(json|ya?ml|toml|properties|ini|strings|arb|xlf|xliff|resx)$")
# What ends a bare config value on its line: a comment, or nothing but spaces and separators.
_VALUE_TAIL = re.compile(r"\s+[#;].*$|[\s,;]*$")
# Plain-text files that are configuration all the same: their values are literals, not sentences.
_CONFIG_NAME = re.compile(r"\.(ini|cfg|conf|cnf|properties|env)$|(^|/)\.env(\.[\w-]+)?$", re.I)
# Keys that hold the words shown around a password field, not a password.
_LABEL_KEY = re.compile(r"label|hint|prompt|placeholder|help|message|msg|text|title|error|desc|tooltip|caption|"
                        r"question|confirm_text|reset_link|forgot", re.I)


def _assignment(match: re.Match[str], config_like: bool, prose: bool, value: str | None = None,
                labels: bool = False) -> str | None:
    """The kind of secret this `key = value` assigns, or None when the value is not a literal secret.

    `value`: the bare value as the line really holds it (YAML and INI values run to the end of the line, so
    `password: correct horse battery staple` is one passphrase, not the word "correct"). `labels`: the file
    is a translation catalogue, where a password key holds the word for "password".
    """
    name = match.group("name").lower()
    is_password = re.fullmatch(_PASSWORD_KEY, name, re.I) is not None
    key = match.group("key").strip("\"'\\").lower()
    if is_password and name in ("pass", "pwd") and not re.search(r"(?:^|[_.-])(?:pass|pwd)$", key):
        return None  # "passenger", "pwd_dir": only whole-word pass/pwd names a password
    if "[REDACTED:" in match.group(0)[match.end("op") - match.start() :]:
        return None  # already replaced by a shaped rule
    if match.group("qv") is not None:
        value = match.group("qv")
        if _is_placeholder(value) or "{" in value and "}" in value and not _looks_random(value):
            return None
    else:
        value = value if value is not None else match.group("bv")
        if _is_placeholder(value) or value.lower() in _TYPE_WORDS:
            return None
        # In code, a bare value is an expression (`password = form["password"]`, `token={s.token}`); in config
        # files it is the literal value itself (`password: hunter2`, `DB_PASSWORD=hunter2`). Shaped tokens
        # (ghp_..., AKIA...) in code were already caught above.
        if not config_like:
            return None
        if config_like and _BARE_CODE.match(value) and "(" in value:
            return None
        if prose and value.isalpha() and not _looks_random(value, 12):
            return None  # "the password: see below" in a README is a sentence, not a credential
    if is_password:
        if labels:
            return None  # a translation of the word, in a locale file
        if re.search(r"\s", value) and (_LABEL_KEY.search(key) or (prose or not config_like)
                                          and not _looks_random(value, 12)):
            # The words around a password field, a sentence in docs, a UI string in code: not a password. In
            # a config file a value with spaces is a passphrase all the same.
            return None
        return "password" if len(value) >= 3 else None
    return "secret" if _looks_random(value, 12) else None


def redact(text: str, *, config_like: bool = True, prose: bool = False, labels: bool = False) -> Redaction:
    """Replace every secret in `text` with a marker of its kind, keeping the line count unchanged.

    `config_like`: the text is configuration or shell (bare `key: value` values are literals), not code
    (where a bare value is an expression and only quoted literals can be secrets). `prose`: documentation,
    where a bare word after "password:" is part of a sentence.
    """
    found: Counter[str] = Counter()

    def replacer(kind: str, group: str | None) -> Callable[[re.Match[str]], str]:
        def sub(m: re.Match[str]) -> str:
            if _MARKER_RE.fullmatch(m.group(0)):
                return m.group(0)
            start, end = m.span(group) if group and m.group(group) is not None else m.span()
            secret = m.string[start:end]
            if _MARKER_RE.search(secret) and len(_MARKER_RE.sub("", secret).strip()) < 8:
                return m.group(0)
            if group and _is_placeholder(secret):
                return m.group(0)  # `user:password@host`, `<password>...</password>` in documentation
            found[kind] += 1
            keep_lines = "\n" * secret.count("\n")  # line numbers of everything after stay true
            prefix = m.string[m.start() : start]
            suffix = m.string[end : m.end()]
            return prefix + marker(kind) + keep_lines + suffix

        return sub

    def mark(kind: str) -> str:
        found[kind] += 1
        return marker(kind)

    lower = text.lower()
    for kind, literals, pattern in _SHAPED:
        if any((lit[1:] in lower) if lit.startswith("~") else (lit in text) for lit in literals):
            text = pattern.sub(replacer(kind, "s" if "s" in pattern.groupindex else None), text)
    text = redact_pem_b64(text, mark)  # before key = value, which would call some of them a "secret"

    def docker_env(m: re.Match[str]) -> str:
        group = "qv" if m.group("qv") is not None else "bv"
        kind = _assignment(m, True, False, m.group("bv"))
        if kind is None:
            return m.group(0)
        return m.string[m.start() : m.start(group)] + mark(kind) + m.string[m.end(group) : m.end()]

    if "ENV" in text or "ARG" in text:
        text = _DOCKER_ENV.sub(docker_env, text)

    def assign_line(line: str) -> str:
        out, pos = [], 0
        for m in _ASSIGN.finditer(line):
            if m.start() < pos:
                continue  # inside a value already replaced
            group = "qv" if m.group("qv") is not None else "bv"
            start, end = m.span(group)
            value = None
            if group == "bv" and config_like and not prose and line[end:end + 1] in (" ", "\t"):
                # A bare config value runs to the end of its line, less a trailing comment (not in YAML's
                # flow style, `{password: x, user: y}`, where a comma ends it).
                rest = line[end:].rstrip("\r\n")
                tail = _VALUE_TAIL.search(rest)
                end += tail.start() if tail else len(rest)
                value = line[start:end]
            kind = _assignment(m, config_like, prose, value, labels)
            if kind is None:
                continue
            found[kind] += 1
            out += [line[pos:start], marker(kind)]
            pos = end
        out.append(line[pos:])
        return "".join(out)

    # Only lines that mention a secret-like key can assign one: run the expensive pattern on those alone.
    lines = text.splitlines(keepends=True)
    for i, line in enumerate(lines):
        low = line.lower()
        if any(k in low for k in _KEY_HINTS):
            lines[i] = line = assign_line(line)
        if any(k in low for k in KEYED_HINTS):
            lines[i] = redact_keyed_b64(line, config_like, mark)  # after key = value: its kinds stay
    return Redaction("".join(lines), found)


def redact_file(path: str, data: bytes, language: str | None) -> tuple[bytes, Counter[str]]:
    """A file's bytes with its secrets replaced, and what was found; the bytes are untouched when none are.

    `language` decides how bare `key = value` values are read (see `redact`).
    """
    text = data.decode("utf-8-sig", errors="replace")
    config_like = language is None or language not in CODE_LANGUAGES or language in ("bash",)
    prose = language in (None, "markdown", "rst", "text") and not _CONFIG_NAME.search(path)
    result = redact(text, config_like=config_like, prose=prose, labels=bool(_I18N_PATH.search(path)))
    if not result.found:
        return data, result.found
    return result.text.encode("utf-8"), result.found


__all__ = ["MARKER", "REDACTION_VERSION", "Redaction", "marker", "redact", "redact_file"]
