"""A pasted error message finds the code that writes it (app/search/messages.py), on a real index."""

from __future__ import annotations

import pytest

from app.search.messages import literal_matches, question_messages
from app.search.retriever import RankingOptions, Retriever
from app.settings import load_settings
from indexer.reader import IndexReader
from tests.conftest import index_repos

EXCEPTIONS = '''class UsageError(Exception):
    """A problem with how the program was called."""


class BadOptionUsage(UsageError):
    def __init__(self, option_name, ctx=None):
        self.option_name = option_name
        super().__init__(_("No such option: {name}").format(name=option_name), ctx)
'''
# Files that talk about options all the time, with the message's words but not its text.
OPTIONS = '''class Option:
    """An option of a command: its names, its type, whether such an option is required."""

    def add_to_parser(self, parser):
        """Register the option with the parser so that the option can be given on the command line."""
        parser.add_option(self.opts, dest=self.name, action=self.action)

    def get_default(self, ctx):
        """The option's default value when no such option was given."""
        return self.default
'''
PARSER = '''class OptionParser:
    """Reads options from the command line: long options, short options, option values."""

    def add_option(self, opts, dest, action=None):
        """Add an option; each option name is stored so that an option can be found again."""
        self._long_opt.update({o: dest for o in opts})

    def _match_long_opt(self, opt, state):
        """Find the option a long option name refers to."""
        if opt not in self._long_opt:
            raise BadOptionUsage(opt)
        return self._long_opt[opt]
'''
REPORT = """Misspelled option gives an unhelpful message

Running `tool --verbos` prints

    Error: No such option: --verbos

and nothing else; it should suggest the option that was meant.
"""


def test_messages_are_read_from_error_lines_and_quotes_not_from_names_or_paths():
    assert question_messages(REPORT) == ["no such option: --verbos"]
    assert question_messages('ValueError: I/O operation on closed file.\nIt says "Did you mean --verbose?" '
                             "too") == ["i/o operation on closed file.", "did you mean --verbose?"]
    # the stretch between two quoted names is not a quote
    assert question_messages("calling the `len` function on it results in an `AttributeError` here") == []
    # values, names, paths and URLs in quotes are not messages
    assert question_messages('encoding "utf-8" in `src/click/core.py` from "https://example.com/a b"') == []


@pytest.mark.parametrize("code", [
    'raise UsageError(_("No such option: {name}").format(name=opt))',  # str.format
    'raise UsageError("No such option: %s" % opt)',  # %-formatting
    "throw new Error('No such option: ' + name)",  # concatenation
    "throw new Error(`No such option: ${name}`)",  # a JavaScript template
])
def test_a_literal_matches_the_printed_message_whatever_its_placeholders(code):
    assert literal_matches("no such option: --verbos", code) >= len("no such option:")


def test_a_literal_that_only_shares_words_does_not_match():
    assert literal_matches("no such option: --verbos", 'help = "Show this option and exit."') == 0
    assert literal_matches("no such option: --verbos", 'name = "option"') == 0
    # the report quoted part of a long message
    assert literal_matches("could not be decoded", 'msg = "The response body could not be decoded as %s"') > 0


@pytest.fixture(scope="module")
def cli_index(tmp_path_factory, embedder):
    files = {"tool/exceptions.py": EXCEPTIONS, "tool/options.py": OPTIONS, "tool/parser.py": PARSER}
    return index_repos(tmp_path_factory.mktemp("messages"), {"tool": files}, embedder)


def test_a_pasted_message_finds_the_code_that_writes_it(cli_index, embedder, monkeypatch):
    monkeypatch.setenv("DAYONE_HOME", str(cli_index))
    monkeypatch.chdir(cli_index.parent)
    settings = load_settings()
    with IndexReader(settings) as reader:
        def top(**options):
            hits = Retriever(reader, embedder, settings.search, options=RankingOptions(**options)).search(REPORT)
            return [h.symbol for h in hits]

        with_messages, without = top(), top(messages=False)
    assert with_messages[0] == "tool.exceptions.BadOptionUsage.__init__", with_messages[:3]
    # what the signal adds: the words alone rank the option-heavy code first
    assert without[0] != "tool.exceptions.BadOptionUsage.__init__", without[:3]
