"""Secrets that hide behind an encoding: base64 private keys and keys, which no literal shape gives away.

A Kubernetes Secret's `tls.key:`, a kubeconfig's `client-key-data:` and a constant such as
`ACQUIRER_PEM_B64 = "LS0tLS1CRUdJTi..."` hold a private key in base64, where neither "PRIVATE KEY" nor a
high-entropy-looking key name is there for the rules in indexer/sources/redaction.py to see. Two rules look inside:

* any base64 run that decodes to a PEM private-key header is a private key, whatever it is assigned to;
* a base64 value under a name whose words say key, secret, token or password (`tls.key`, `client-key-data`,
  `master_key`) is a key when it decodes to one: a DER private key, or bytes as random as a generated key;
  under a name that only says pem or b64 (`SIGNING_PEM`, `*_B64`) only a DER private key counts. What
  decodes to text, a picture, a font, an archive, a certificate or a public key stays: those are test
  fixtures and assets, not credentials.

Hashes and base64 fixtures under other names are never touched, and hex is not read as base64.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
from collections import Counter
from collections.abc import Callable
from itertools import pairwise

MARKER_RE = re.compile(r"\[REDACTED:[a-z0-9-]+\]")


def entropy(value: str | bytes) -> float:
    """Shannon entropy in bits per symbol: random keys score about 4 and above, words and code below 3.5."""
    if not value:
        return 0.0
    counts = Counter(value)
    return -sum(c / len(value) * math.log2(c / len(value)) for c in counts.values())


_WORDISH = re.compile(r"[A-Za-z]+(?:[_.\-/ ][A-Za-z]+)*(?:[_.-]?v?\d{1,3})?")


def looks_random(value: str, min_len: int = 16) -> bool:
    """Whether a value looks generated (a key or token) rather than written (a name, a word, a template)."""
    if len(value) < min_len or MARKER_RE.search(value) or _WORDISH.fullmatch(value):
        return False
    if re.fullmatch(r"[0-9a-fA-F]{24,}", value):
        return True  # hex digests and keys
    classes = sum(bool(re.search(p, value)) for p in (r"[a-z]", r"[A-Z]", r"[0-9]", r"[^A-Za-z0-9]"))
    return entropy(value) >= 3.3 and classes >= 3 or len(value) >= 32 and entropy(value) >= 4.0


def b64decode(value: str) -> bytes | None:
    """Bytes of a standard or URL-safe base64 string (padding optional), or None when it is not base64."""
    value = value.rstrip("=")
    if len(value) % 4 == 1 or re.search(r"[-_]", value) and re.search(r"[+/]", value):
        return None
    try:
        if "-" in value or "_" in value:
            return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
        return base64.b64decode(value + "=" * (-len(value) % 4), validate=True)
    except (binascii.Error, ValueError):
        return None


_PEM_PRIVATE = re.compile(rb"-----BEGIN [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----")
# File signatures of what base64 constants usually hold in real code: images, fonts, archives, wasm, audio.
_MAGIC = (b"\x89PNG", b"GIF8", b"\xff\xd8\xff", b"\x1f\x8b", b"PK\x03\x04", b"%PDF", b"\x00asm", b"wOFF", b"wOF2",
          b"OTTO", b"\x00\x01\x00\x00", b"BZh", b"\xfd7zXZ", b"7z\xbc\xaf", b"RIFF", b"ID3", b"OggS", b"fLaC",
          b"\x00\x00\x01\x00", b"\x7fELF", b"BM", b"II*\x00", b"MM\x00*", b"\x28\xb5\x2f\xfd")


def _der_sequence(raw: bytes) -> bytes | None:
    """The content of a DER SEQUENCE that spans exactly `raw` (keys and certificates are one), else None."""
    if len(raw) < 8 or raw[0] != 0x30:
        return None
    n, pos = raw[1], 2
    if n & 0x80:
        width = n & 0x7F
        if not 1 <= width <= 3:
            return None
        n, pos = int.from_bytes(raw[2 : 2 + width], "big"), 2 + width
    return raw[pos:] if pos + n == len(raw) else None


def decoded_key_kind(raw: bytes) -> str | None:
    """What decoded base64 bytes are, as a secret: "private-key", "encoded-key", or None (not a secret).

    A private key in PEM or DER (PKCS#1, PKCS#8, SEC1 and OpenSSH all start with a version INTEGER, which
    certificates and public keys do not) is "private-key". Other bytes are "encoded-key" only when they look
    generated: at least 16 bytes, a quarter of them not printable, near-uniform (a key's bytes are), and no
    file signature. Printable text is a key only if the text itself looks random (a token, base64 again).
    """
    if _PEM_PRIVATE.search(raw[:128]) or raw.startswith(b"openssh-key-v1\x00"):
        return "private-key"
    body = _der_sequence(raw)
    if body is not None:
        return "private-key" if body[:3] in (b"\x02\x01\x00", b"\x02\x01\x01") else None
    if len(raw) < 16 or raw.startswith(_MAGIC) or raw[4:8] == b"ftyp" or raw.lstrip()[:1] in (b"<", b"{", b"["):
        return None
    if raw.startswith(b"\x00\x00\x00") and b"ssh-" in raw[:24] or b"ecdsa-sha2" in raw[:24]:
        return None  # an SSH public key blob
    printable = sum(32 <= b < 127 or b in (9, 10, 13) for b in raw)
    if printable == len(raw):
        return "encoded-key" if looks_random(raw.decode("ascii"), 16) else None
    unprintable = 1 - printable / len(raw)
    return "encoded-key" if unprintable >= 0.25 and entropy(raw) >= 0.8 * math.log2(min(len(raw), 256)) else None


# -- base64 that decodes to a PEM private key, under any name ----------------------------------------------
# "-----BEGIN" in base64 at each of the three byte alignments (the part that does not depend on neighbours).
PEM_B64_LITERALS = ("LS0tLS1CRUdJT", "LS0tQkVHSU", "LS0tLUJFR0lO")
_B64CH = r"[A-Za-z0-9+/]"
_PEM_B64 = re.compile(
    r"(?:(?<=\\[nr])|(?<![A-Za-z0-9+/\\]))"  # a run's start (also right after a JSON "\n" escape)
    rf"{_B64CH}*(?:{'|'.join(PEM_B64_LITERALS)}){_B64CH}*={{0,2}}"
    rf"(?:(?:\\r)?\\n{_B64CH}+={{0,2}})*"  # wrapped lines inside a JSON string
)
# A wrapped line of the same base64 on the next line: only base64 between quotes, commas and `+`/`\`.
_CONTINUATION = re.compile(r"(?P<pre>\r?\n[ \t]*(?:[bBrRuU]{0,2}[\"'`])?)(?P<run>[A-Za-z0-9+/]+={0,2})"
                           r"(?=[\"'`]?[ \t,+\\)]*(?:\r?\n|$))")
_RUN_END = re.compile(r"[\"'`]?[ \t,+\\)]*(?=\r?\n|$)")


def _decodes_to_private_key(run: str) -> bool:
    """Whether base64 `run` holds a PEM or DER private key, read from any of the four character offsets
    (a run cut out of a larger blob need not start on a 4-character boundary)."""
    for off in range(4):
        chunk = run[off:][:5464]
        raw = b64decode(chunk[: len(chunk) // 4 * 4])
        if raw is not None and decoded_key_kind(raw) == "private-key":
            return True
    return False


def redact_pem_b64(text: str, mark: Callable[[str], str]) -> str:
    """Replace every base64 run that decodes to a PEM private key, with the lines it wraps onto.

    `mark(kind)` counts a finding and returns its marker. A key wrapped over several lines (base64 output
    pasted into YAML, a Python string split across lines) goes on over lines as long as its first, and its
    last line may be shorter; those lines lose their base64 but keep their quotes and line breaks.
    """
    if not any(lit in text for lit in PEM_B64_LITERALS):
        return text
    out, pos = [], 0
    for m in _PEM_B64.finditer(text):
        if m.start() < pos:
            continue
        runs, spans = [re.sub(r"\\[rn]", "", m.group())], [m.span()]
        width = len(runs[0])
        while not runs[-1].endswith("=") and len(runs[-1]) == width:
            tail = _RUN_END.match(text, spans[-1][1])
            nxt = _CONTINUATION.match(text, tail.end()) if tail else None
            if nxt is None or len(nxt.group("run")) > width:
                break
            runs.append(nxt.group("run"))
            spans.append(nxt.span("run"))
        if not _decodes_to_private_key("".join(runs)):
            continue
        out += [text[pos : spans[0][0]], mark("private-key")]
        out += [text[a[1] : b[0]] for a, b in pairwise(spans)]  # quotes and line breaks between lines
        pos = spans[-1][1]
    out.append(text[pos:])
    return "".join(out)


# -- base64 keys under key-like names ---------------------------------------------------------------------
# Words of a name that say it holds a key, and words that only say it holds an encoding (`FIXTURE_B64`: a
# base64 test fixture, redacted only when it decodes to a private key, not merely to random bytes).
_KEY_WORDS = frozenset({"key", "keys", "secret", "secrets", "token", "password", "passwd", "pwd", "passphrase",
                        "credential", "credentials"})
_ENCODING_WORDS = frozenset({"pem", "b64", "base64"})
_NOT_KEY_WORDS = frozenset({"monkey", "turkey", "hockey", "jockey", "donkey", "whiskey", "hotkey", "lackey"})
KEYED_HINTS = ("key", "secret", "token", "pass", "pwd", "pem", "b64", "base64", "cred")
# name (optionally quoted, also with JSON-escaped quotes), an assignment, then a base64 value: quoted (a
# Python bytes literal too) and closed by the same quote, or bare and ending its item.
_KEYED_B64 = re.compile(
    r"""(?<![\w.$@-])(?:\\{0,3}["'])?(?P<name>[A-Za-z_$@][\w.$@-]{0,80}?)(?:\\{0,3}["'])?"""
    r"""[ \t]*(?::=|=>|=(?!=)|:(?!:))[ \t]*(?:[bBuU]?(?P<q>\\{0,3}["'`]))?"""
    r"""(?P<v>[A-Za-z0-9+/_-]{20,}={0,2})(?(q)(?P=q)|(?=[ \t]*(?:[,;}\]#]|\r?$)))""",
    re.M,
)

_LONG_RUN = re.compile(r"[A-Za-z0-9+/_-]{20}")


def keyish_name(name: str) -> str | None:
    """"key" when a word of the name says it holds a key (`tls.key`, `client-key-data`, `signingKey`,
    `DB_PASSWORD`), "encoding" when it only names an encoding (`ACQUIRER_PEM_B64`), else None (`keyboard`,
    `tokenizer`, `sha256`)."""
    words = [w.lower() for w in re.split(r"[^A-Za-z0-9]+", re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", name))]
    if any(w in _KEY_WORDS or w.endswith(("key", "secret", "token")) and w not in _NOT_KEY_WORDS for w in words):
        return "key"
    return "encoding" if any(w in _ENCODING_WORDS or w.endswith(("pem", "b64")) for w in words) else None


def _base64_like(value: str) -> bool:
    """Whether a value reads as base64 of random bytes, not as hex or an identifier that decodes by chance.

    Babel's class output is full of `{key: "_defaultCompareFunction", value: ...}`: letters only, so base64
    decodes it to random-looking bytes. Base64 of 16 random bytes or more has digits or +/ and about as many
    upper- as lowercase letters (a 22-character one fails this about 1% of the time); camelCase has far fewer
    capitals, CONSTANT_CASE far more.
    """
    if re.fullmatch(r"[0-9a-fA-F]+", value.rstrip("=")) or not re.search(r"[0-9+/=]", value):
        return False
    letters = sum(c.isalpha() for c in value)
    upper = sum(c.isupper() for c in value)
    return 0.2 <= upper / max(letters, 1) <= 0.8 and looks_random(value, 20)


def redact_keyed_b64(line: str, config_like: bool, mark: Callable[[str], str]) -> str:
    """Replace base64 values of key-like names that decode to a key (see `decoded_key_kind`).

    In code (`config_like` False) only quoted values are literals; a bare value is an expression.
    """
    if not _LONG_RUN.search(line):
        return line  # most lines that name a key hold no long base64 run: skip the costlier pattern
    out, pos = [], 0
    for m in _KEYED_B64.finditer(line):
        value = m.group("v")
        says = keyish_name(m.group("name"))
        if m.group("q") is None and not config_like or says is None:
            continue
        if not _base64_like(value):
            continue
        raw = b64decode(value)
        kind = decoded_key_kind(raw) if raw is not None else None
        if kind is None or kind == "encoded-key" and says != "key":
            continue
        out += [line[pos : m.start("v")], mark(kind)]
        pos = m.end("v")
    out.append(line[pos:])
    return "".join(out)
