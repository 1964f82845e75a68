"""Fuzzing the chunker and the secret redactor with hypothesis, for every supported language.

test_chunking.py already fuzzes "never raises, line ranges in the file". This file adds what a reader
relies on when a hit says `path:12-30`: the chunk's text really is those lines (up to the header a split
part repeats and the `...` that stands for a member's body), on random, token-soup and mutated files built
from the per-language fixtures. It also fuzzes the redactor, which rewrites every file before chunking: it
must never raise, never change the line count, and be idempotent.
"""

from __future__ import annotations

import os
import re

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from indexer.chunking import chunk_file
from indexer.chunking.languages import _EXTENSIONS, _FILENAMES, CODE_LANGUAGES
from indexer.sources.redaction import redact, redact_file
from tests.indexer.chunking.test_chunking import FUZZ_SEEDS, fuzz_input

# Per language; 24 languages, so ~1,400 files per run. FUZZ_EXAMPLES=1000 for a long hunt.
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "60"))


def test_every_supported_language_has_a_fuzz_seed() -> None:
    supported = set(CODE_LANGUAGES) | set(_EXTENSIONS.values()) | set(_FILENAMES.values()) | {"text"}
    assert supported <= set(FUZZ_SEEDS), sorted(supported - set(FUZZ_SEEDS))


def source_lines(data: bytes) -> list[str]:
    """The file's lines as the chunker numbers them: only "\\n" ends a line, one trailing "\\r" dropped."""
    raw = data.decode("utf-8-sig", errors="replace").split("\n")
    if raw and raw[-1] == "":
        raw.pop()
    return [line[:-1] if line.endswith("\r") else line for line in raw]


# What stands for a member's body in its container (`def f(x) ...`, `void f() { ... }`), also when an
# over-long line was cut inside it: stripped from a line's ends before looking the rest up in the file.
_STUB_END = re.compile(r"\s*(?:\{\s*)?(?:\.{1,3}\s*)?\}?\s*$")
_STUB_START = re.compile(r"^\s*\.{0,3}\s*\}?")
_STUB_MID = re.compile(r"\s*(?:\{ \.\.\. \}|\.\.\.)\s*")


def assert_text_is_its_lines(path: str, data: bytes, max_tokens: int, window: int) -> None:
    lines = source_lines(data)
    result = chunk_file(path, data, max_tokens=max_tokens, window_lines=window)
    for c in result.chunks:
        assert 1 <= c.start_line <= c.end_line <= len(lines), c
        region = "\n".join(lines[c.start_line - 1 : c.end_line])
        text_lines = c.text.split("\n")
        if c.part > 1:
            text_lines = text_lines[1:]  # the unit's signature or heading, repeated so the part says what it is
        for line in text_lines:
            # A stub can sit mid-line (Scala's `def f: Int = ...   // comment`, or `def f= ....` when the body
            # ends before a full stop): each side must be in the file.
            for piece in _STUB_MID.split(line):
                piece = _STUB_START.sub("", _STUB_END.sub("", piece))
                if not piece.strip():
                    continue
                assert piece in region or piece.replace("\ufffd", "") in region.replace("\ufffd", ""), (
                    f"{c.kind} {c.symbol} {c.start_line}-{c.end_line} part {c.part}/{c.parts}: {piece!r} is not "
                    f"in {region!r}")


@pytest.mark.parametrize("language", sorted(FUZZ_SEEDS))
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_chunk_text_is_the_lines_it_claims(language: str, data: st.DataObject) -> None:
    path, seed = FUZZ_SEEDS[language]
    raw = data.draw(fuzz_input(seed))
    assert_text_is_its_lines(path, raw, data.draw(st.sampled_from([16, 40, 256])),
                             data.draw(st.sampled_from([1, 5, 40])))


@pytest.mark.parametrize("language", sorted(FUZZ_SEEDS))
def test_unmutated_seed_text_is_its_lines(language: str) -> None:
    path, seed = FUZZ_SEEDS[language]
    for max_tokens in (16, 64, 256):
        assert_text_is_its_lines(path, seed, max_tokens, 40)


SECRETISH = [b"AKIA", b"ghp_", b"github_pat_", b"xoxb-", b"sk_live_", b"eyJ", b"-----BEGIN RSA PRIVATE KEY-----\n",
             b"-----END RSA PRIVATE KEY-----", b"password", b"PASSWORD=", b"api_key = \"", b"token: ", b"://u:",
             b"@host", b"AccountKey=", b"sig=", b"Q~", b"\\n", b"\"", b"'", b"=", b":", b"\n", b"AIza",
             b"<password>", b"</password>", b"[REDACTED:x]", b"0123456789abcdefABCDEF+/" * 2,
             # rules v3: Dockerfile space form, JSON-escaped quotes, base64 private keys and key-named keys
             b"ENV DB_PASSWORD ", b"ARG API_TOKEN ", b'\\"password\\": \\"', b"tls.key: ", b'signing_key = b"',
             b"LS0tLS1CRUdJTiBSU0EgUFJJVkFURSBLRVktLS0tLQpNSUlFcEFJQkFBS0NBUUVB",
             b"MhSKop0+O1puUtdV0Ilt0QPvm4U8rL//SdB/+sVQpW4="]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(parts=st.lists(st.one_of(st.sampled_from(SECRETISH), st.binary(max_size=40)), max_size=60),
       language=st.sampled_from([None, "python", "bash", "yaml", "markdown", "java"]))
@example(parts=[b"-----BEGIN RSA PRIVATE KEY-----\n", b"MIIE\nabc\n"], language=None)
def test_redaction_never_raises_keeps_lines_and_is_idempotent(parts: list[bytes], language: str | None) -> None:
    data = b"".join(parts)
    out, _found = redact_file("f", data, language)
    text = data.decode("utf-8-sig", errors="replace")
    redacted = out.decode("utf-8-sig", errors="replace")
    assert redacted.count("\n") == text.count("\n")
    again = redact(redacted, config_like=language not in ("python", "java"), prose=language in (None, "markdown"))
    assert again.text == redacted and not again.found


# Inputs the fuzzer found (CI, 2026-11-26, and a long local hunt), kept as fixed cases so they run every time.
FOUND = [
    # Code after a member's closing brace on the brace's row: the impl's part claimed the member's first row.
    ("store/src/lib.rs", b"impl Store {\n    /// Creates an empty store.\n    pub fn new() -> Self {\n"
                         b"}        Store { items: HashMap::new() }\n    }\n}\n", 16, 1),
    # A Scala body that ends before the row's full stop: `def l= ....` is the stub plus the rest of the row.
    ("shop/Inventory.scala", b"class Warehouse(name: String) extends Stocked {\n  def l= Adds stock fdef or a sku.\n"
                             b"  def add(sku: String, n: Int): Unit = {\n    items(sku) = 1\n  }\n}\n", 16, 1),
]


@pytest.mark.parametrize(("path", "data", "max_tokens", "window"), FOUND)
def test_inputs_the_fuzzer_found(path: str, data: bytes, max_tokens: int, window: int) -> None:
    assert_text_is_its_lines(path, data, max_tokens, window)
