"""Chunking with the real tree-sitter grammars: boundaries, names, splitting, documents, and robustness."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from indexer.chunking import CHUNKER_VERSION, chunk_file, module_path
from indexer.chunking.languages import CODE_LANGUAGES, detect_language, get_parser, sniff_language
from indexer.chunking.models import Chunk, FileChunks

FIXTURES = Path(__file__).parent / "fixtures" / "chunking"


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def table(result: FileChunks) -> list[tuple[str, str, int, int]]:
    return [(c.kind, c.symbol, c.start_line, c.end_line) for c in result.chunks]


def only(result: FileChunks, symbol: str, kind: str | None = None) -> Chunk:
    """The first chunk of a symbol (Rust impls and Swift extensions share their type's name)."""
    found = [c for c in result.chunks if c.symbol == symbol and (kind is None or c.kind == kind)]
    assert found, symbol
    return found[0]


def file_lines(data: bytes) -> list[str]:
    text = data.decode("utf-8-sig", errors="replace")
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [line.rstrip("\r") for line in lines]


# --- one realistic file per language: exact boundaries, kinds and qualified names ---------------------

EXPECTED: dict[str, tuple[str, list[tuple[str, str, int, int]]]] = {
    "orders.py": ("shop/api/orders.py", [
        ("module", "shop.api.orders", 1, 9),
        ("class", "shop.api.orders.OrderService", 12, 27),
        ("method", "shop.api.orders.OrderService.__init__", 17, 18),
        ("method", "shop.api.orders.OrderService.pay", 20, 25),
        ("class", "shop.api.orders.OrderService.Status", 27, 30),
        ("method", "shop.api.orders.OrderService.Status.label", 30, 31),
        ("function", "shop.api.orders.total", 34, 38),
        ("module", "shop.api.orders", 41, 42),
    ]),
    "cart.js": ("shop/web/cart.js", [
        ("module", "shop.web.cart", 1, 2),
        ("class", "shop.web.cart.Cart", 4, 23),
        ("method", "shop.web.cart.Cart.constructor", 10, 12),
        ("method", "shop.web.cart.Cart.add", 14, 18),
        ("method", "shop.web.cart.Cart.total", 20, 22),
        ("function", "shop.web.cart.describe", 25, 28),
        ("function", "shop.web.cart.checkout", 30, 32),
        ("function", "shop.web.cart.handler", 34, 36),
        ("module", "shop.web.cart", 38, 38),
    ]),
    "service.ts": ("src/users/service.ts", [
        ("module", "src.users.service", 1, 2),
        ("interface", "src.users.service.UserRepo", 4, 8),
        ("type", "src.users.service.UserId", 10, 10),
        ("enum", "src.users.service.Role", 12, 15),
        ("class", "src.users.service.UserService", 17, 31),
        ("method", "src.users.service.UserService.constructor", 21, 21),
        ("method", "src.users.service.UserService.get", 23, 30),
        ("function", "src.users.service.isAdmin", 33, 35),
        ("module", "src.users.service", 37, 37),
    ]),
    "Button.tsx": ("src/ui/Button.tsx", [
        ("module", "src.ui.Button", 1, 1),
        ("interface", "src.ui.Button.Props", 3, 6),
        ("function", "src.ui.Button.Button", 8, 16),
        ("function", "src.ui.Button.App", 18, 20),
    ]),
    "server.go": ("pkg/server/server.go", [
        ("module", "pkg.server.server", 1, 8),
        ("struct", "pkg.server.server.Server", 10, 14),
        ("interface", "pkg.server.server.Handler", 16, 19),
        ("type", "pkg.server.server.Port", 21, 21),
        ("function", "pkg.server.server.New", 23, 26),
        ("method", "pkg.server.server.Server.Start", 28, 32),
    ]),
    "OrderRepository.java": ("com/shop/orders/OrderRepository.java", [
        ("module", "com.shop.orders.OrderRepository", 1, 4),
        ("class", "com.shop.orders.OrderRepository.OrderRepository", 6, 23),
        ("method", "com.shop.orders.OrderRepository.OrderRepository.OrderRepository", 12, 14),
        ("method", "com.shop.orders.OrderRepository.OrderRepository.find", 16, 20),
        ("enum", "com.shop.orders.OrderRepository.OrderRepository.State", 22, 22),
        ("interface", "com.shop.orders.OrderRepository.Repository", 25, 27),
    ]),
    "Shapes.kt": ("shapes/Shapes.kt", [
        ("module", "shapes.Shapes", 1, 3),
        ("interface", "shapes.Shapes.Shape", 5, 8),
        ("class", "shapes.Shapes.Circle", 10, 16),
        ("method", "shapes.Shapes.Circle.area", 11, 11),
        ("object", "shapes.Shapes.Circle.Companion", 13, 15),
        ("method", "shapes.Shapes.Circle.Companion.unit", 14, 14),
        ("enum", "shapes.Shapes.Color", 18, 18),
        ("object", "shapes.Shapes.Registry", 20, 27),
        ("method", "shapes.Shapes.Registry.register", 23, 26),
        ("function", "shapes.Shapes.main", 29, 31),
    ]),
    "lib.rs": ("store/src/lib.rs", [
        ("module", "store.src.lib", 1, 2),
        ("struct", "store.src.lib.Store", 4, 8),
        ("impl", "store.src.lib.Store", 10, 19),
        ("method", "store.src.lib.Store.new", 11, 14),
        ("method", "store.src.lib.Store.get", 16, 18),
        ("trait", "store.src.lib.Named", 21, 23),
        ("enum", "store.src.lib.Level", 25, 28),
        ("impl", "store.src.lib.Store", 30, 34),
        ("method", "store.src.lib.Store.fmt", 31, 33),
        ("module", "store.src.lib.util", 36, 40),
        ("function", "store.src.lib.util.helper", 37, 39),
    ]),
    "buffer.c": ("src/buffer.c", [
        ("module", "src.buffer", 1, 4),
        ("struct", "src.buffer.buffer", 6, 10),
        ("struct", "src.buffer.point_t", 12, 14),
        ("enum", "src.buffer.mode", 16, 16),
        ("function", "src.buffer.buffer_new", 18, 25),
        ("function", "src.buffer.buffer_free", 27, 30),
    ]),
    "shape.cpp": ("src/geo/shape.cpp", [
        ("module", "src.geo.shape", 1, 4),
        ("class", "src.geo.shape.Shape", 6, 12),
        ("struct", "src.geo.shape.Square", 14, 17),
        ("method", "src.geo.shape.Square.area", 16, 16),
        ("function", "src.geo.shape.total", 19, 23),
        ("module", "src.geo.shape", 25, 27),
        ("function", "src.geo.shape.twice", 29, 32),
        ("method", "src.geo.shape.Widget.draw", 34, 36),
    ]),
    "Billing.cs": ("Shop/Billing.cs", [
        ("module", "Shop.Billing", 1, 5),
        ("class", "Shop.Billing.InvoiceService", 6, 20),
        ("method", "Shop.Billing.InvoiceService.Create", 13, 19),
        ("interface", "Shop.Billing.IInvoiceService", 22, 25),
        ("struct", "Shop.Billing.Money", 27, 30),
        ("enum", "Shop.Billing.Currency", 32, 32),
    ]),
    "user.rb": ("lib/accounts/user.rb", [
        ("module", "lib.accounts.user", 1, 2),
        ("module", "lib.accounts.user.Accounts", 4, 23),
        ("class", "lib.accounts.user.Accounts.User", 6, 22),
        ("method", "lib.accounts.user.Accounts.User.initialize", 10, 12),
        ("method", "lib.accounts.user.Accounts.User.to_json", 14, 17),
        ("method", "lib.accounts.user.Accounts.User.find", 19, 21),
        ("function", "lib.accounts.user.greet", 25, 27),
    ]),
    "Invoice.php": ("app/Billing/Invoice.php", [
        ("module", "app.Billing.Invoice", 1, 5),
        ("class", "app.Billing.Invoice.InvoiceBuilder", 7, 24),
        ("method", "app.Billing.Invoice.InvoiceBuilder.__construct", 14, 16),
        ("method", "app.Billing.Invoice.InvoiceBuilder.addLine", 18, 23),
        ("interface", "app.Billing.Invoice.Renderer", 26, 29),
        ("function", "app.Billing.Invoice.format_amount", 31, 34),
    ]),
    "Inventory.scala": ("shop/Inventory.scala", [
        ("module", "shop.Inventory", 1, 3),
        ("trait", "shop.Inventory.Stocked", 5, 8),
        ("class", "shop.Inventory.Warehouse", 10, 19),
        ("method", "shop.Inventory.Warehouse.level", 13, 13),
        ("method", "shop.Inventory.Warehouse.add", 15, 18),
        ("object", "shop.Inventory.Warehouse", 21, 23),
        ("method", "shop.Inventory.Warehouse.empty", 22, 22),
        ("class", "shop.Inventory.Item", 25, 25),
    ]),
    "Player.swift": ("Sources/Player.swift", [
        ("module", "Sources.Player", 1, 1),
        ("protocol", "Sources.Player.Playable", 3, 6),
        ("class", "Sources.Player.Player", 8, 19),
        ("method", "Sources.Player.Player.init", 12, 14),
        ("method", "Sources.Player.Player.play", 16, 18),
        ("struct", "Sources.Player.Track", 21, 23),
        ("enum", "Sources.Player.Mode", 25, 27),
        ("extension", "Sources.Player.Player", 29, 33),
        ("method", "Sources.Player.Player.louder", 30, 32),
        ("function", "Sources.Player.makePlayer", 35, 37),
    ]),
    "deploy.sh": ("scripts/deploy.sh", [
        ("module", "scripts.deploy", 1, 3),
        ("function", "scripts.deploy.build", 5, 8),
        ("function", "scripts.deploy.deploy", 10, 13),
        ("module", "scripts.deploy", 15, 15),
    ]),
}

# Per fixture: a container (kind, symbol) and a line of one of its members' bodies that must not be in the
# container chunk; a symbol and its docstring; a call and an import that the references must hold.
DETAILS: dict[str, dict] = {
    "orders.py": dict(container=("class", "shop.api.orders.OrderService"),
                      body="gateway.charge(order_id, total)",
                      doc=("shop.api.orders.OrderService.pay", "Charge the card on file."),
                      call="charge", imp="shop.payments"),
    "cart.js": dict(container=("class", "shop.web.cart.Cart"), body="this.items.push(item);",
                    doc=("shop.web.cart.Cart.add", "Adds one item and returns the new count."),
                    call="formatPrice", imp="./money.js"),
    "service.ts": dict(container=("class", "src.users.service.UserService"), body="this.cache.set(id, user);",
                       doc=("src.users.service.UserService.get", "Loads a user, caching the result."),
                       call="find", imp="@angular/core"),
    "Button.tsx": dict(container=None, doc=("src.ui.Button.Button", "A button that counts its clicks."),
                       call="useState", imp="react"),
    "server.go": dict(container=None, doc=("pkg.server.server.Server.Start", "Start listens and blocks."),
                      call="ListenAndServe", imp="net/http"),
    "OrderRepository.java": dict(
        container=("class", "com.shop.orders.OrderRepository.OrderRepository"), body="findFirst()",
        doc=("com.shop.orders.OrderRepository.OrderRepository.find", "Finds an order by id."),
        call="findFirst", imp="java.util.List"),
    "Shapes.kt": dict(container=("object", "shapes.Shapes.Registry"), body="shapes.add(s)",
                      doc=("shapes.Shapes.Registry.register", "Registers a shape."),
                      call="println", imp="kotlin.math.PI"),
    "lib.rs": dict(container=("impl", "store.src.lib.Store"), body="HashMap::new()",
                   doc=("store.src.lib.Store.new", "Creates an empty store."),
                   call="write", imp="std::collections::HashMap"),
    "buffer.c": dict(container=None,
                     doc=("src.buffer.buffer_new", "Allocates a buffer of at least `size` bytes."),
                     call="malloc", imp="stdlib.h"),
    "shape.cpp": dict(container=("struct", "src.geo.shape.Square"), body="return side * side;",
                      doc=("src.geo.shape.Shape", "Base of all shapes."), call="render", imp="vector"),
    "Billing.cs": dict(container=("class", "Shop.Billing.InvoiceService"), body="_invoices.Add(invoice);",
                       doc=("Shop.Billing.InvoiceService.Create", "Creates an invoice."),
                       call="Add", imp="System.Collections.Generic"),
    "user.rb": dict(container=("class", "lib.accounts.user.Accounts.User"), body="Store.lookup(id)",
                    doc=("lib.accounts.user.Accounts.User.to_json", "Serializes the user."),
                    call="lookup", imp="json"),
    "Invoice.php": dict(container=("class", "app.Billing.Invoice.InvoiceBuilder"),
                        body="compact('text', 'amount')",
                        doc=("app.Billing.Invoice.InvoiceBuilder.addLine", "Adds a line."),
                        call="compact", imp="App\\Models\\Order"),
    "Inventory.scala": dict(container=("class", "shop.Inventory.Warehouse"), body="items.getOrElse(sku, 0)",
                            doc=("shop.Inventory.Warehouse.add", "Adds stock for a sku."),
                            call="getOrElse", imp="scala.collection.mutable"),
    "Player.swift": dict(container=("class", "Sources.Player.Player"), body='print("playing at',
                         doc=("Sources.Player.Player", "A music player."), call="print", imp="Foundation"),
    "deploy.sh": dict(container=None, doc=("scripts.deploy.build", "Builds the image."),
                      call="kubectl", imp="./lib/common.sh"),
}


@pytest.mark.parametrize("name", list(EXPECTED))
def test_symbols_boundaries_kinds_and_names(name: str) -> None:
    path, expected = EXPECTED[name]
    data = fixture(name)
    result = chunk_file(path, data)
    assert table(result) == expected
    assert not result.had_errors
    lines = file_lines(data)
    for chunk in result.chunks:
        assert chunk.path == path and chunk.language == result.language
        assert chunk.parts == 1 and chunk.text.strip()
        # A chunk's first and last lines are the file's lines at its range (containers elide member bodies).
        assert chunk.text.split("\n")[0].strip() == lines[chunk.start_line - 1].strip()
        last = chunk.text.split("\n")[-1].strip()
        if not last.endswith("..."):  # unless it is the elided signature of a container's last member
            assert last == lines[chunk.end_line - 1].strip()


@pytest.mark.parametrize("name", list(EXPECTED))
def test_language_details(name: str) -> None:
    path, _ = EXPECTED[name]
    result = chunk_file(path, fixture(name))
    details = DETAILS[name]
    if details["container"]:
        kind, symbol = details["container"]
        container = only(result, symbol, kind)
        assert details["body"] not in container.text
        assert any(details["body"] in c.text for c in result.chunks if c.kind == "method")
    symbol, doc = details["doc"]
    assert only(result, symbol).docstring == doc
    refs = {(r.name, r.kind) for r in result.references}
    assert (details["call"], "call") in refs
    assert (details["imp"], "import") in refs
    assert all(r.path == path and r.line >= 1 for r in result.references)
    keys = [(r.name, r.kind, r.line) for r in result.references]
    assert len(keys) == len(set(keys))
    definitions = {d.qualified_name for d in result.definitions}
    assert {c.symbol for c in result.chunks if c.kind not in ("module",)} <= definitions


def test_python_details() -> None:
    result = chunk_file("shop/api/orders.py", fixture("orders.py"))
    cls = only(result, "shop.api.orders.OrderService")
    assert cls.signature == "class OrderService:"
    assert cls.docstring == "Coordinates payment and persistence of orders."
    # The class chunk keeps header, docstring, fields and member signatures, not member bodies.
    assert "retries = 3" in cls.text
    assert "    @staticmethod\n    def pay(order_id: str, amount: Decimal) -> bool: ..." in cls.text
    assert "self.repo = repo" not in cls.text
    pay = only(result, "shop.api.orders.OrderService.pay")
    assert pay.name == "pay" and pay.signature == "def pay(order_id: str, amount: Decimal) -> bool:"
    assert pay.text.startswith("    # Charges the customer")  # leading comment and decorator in range
    module = result.chunks[0]
    assert module.kind == "module" and module.name == "orders"
    assert module.docstring == "Order handling for the shop API."
    assert "import logging" in module.text and "TAX_RATE = " in module.text
    definitions = {d.qualified_name: d for d in result.definitions}
    assert definitions["shop.api.orders.total.line"].kind == "function"  # nested, not chunked
    assert definitions["shop.api.orders.TAX_RATE"].kind == "variable"
    assert (definitions["shop.api.orders.OrderService.pay"].start_line,
            definitions["shop.api.orders.OrderService.pay"].end_line) == (21, 25)
    assert not [c for c in result.chunks if c.symbol == "shop.api.orders.total.line"]


def test_signatures() -> None:
    sigs = {
        ("server.go", "pkg.server.server.Server.Start"): "func (s *Server) Start() error",
        ("server.go", "pkg.server.server.Server"): "type Server struct",
        ("cart.js", "shop.web.cart.describe"): "const describe = (cart) =>",
        ("lib.rs", "store.src.lib.Store.get"): "pub fn get(&self, key: &str) -> Option<&String>",
        ("shape.cpp", "src.geo.shape.twice"): "template <typename T>\nT twice(T x)",
        ("Inventory.scala", "shop.Inventory.Warehouse.add"): "def add(sku: String, n: Int): Unit",
        ("user.rb", "lib.accounts.user.Accounts"): "module Accounts",
    }
    for (name, symbol), signature in sigs.items():
        path, _ = EXPECTED[name]
        chunks = [c for c in chunk_file(path, fixture(name)).chunks if c.symbol == symbol]
        assert chunks[0].signature == signature


def test_javascript_object_methods_and_assignments() -> None:
    src = b"""var Shortcuts = {
    calendars: [],
    // Sets everything up.
    init: function() {
        Shortcuts.setup();
    },
};
Foo.prototype.bar = function (x) {
    return x;
};
"""
    result = chunk_file("static/admin/shortcuts.js", src)
    assert table(result) == [
        ("module", "static.admin.shortcuts", 1, 2),
        ("method", "static.admin.shortcuts.Shortcuts.init", 3, 6),
        ("method", "static.admin.shortcuts.Foo.bar", 8, 10),
    ]


def test_javascript_getters_defined_through_a_call_are_symbols() -> None:
    # express defines req.ip, req.protocol and req.fresh this way; before, their code sat in anonymous module
    # chunks and a question about `req.ip` found no symbol of that name
    src = b"""var req = Object.create(http.IncomingMessage.prototype);

defineGetter(req, 'ip', function ip(){
  return proxyaddr(this, this.app.get('trust proxy fn'));
});

defineGetter(req, 'fresh', function(){
  return fresh(this.headers, {});
});

app.get('/', function home(req, res) {
  res.send('hi');
});

it('works', function () {
  expect(1).toBe(1);
});
"""
    result = chunk_file("lib/request.js", src)
    assert ("method", "lib.request.req.ip", 3, 5) in table(result)
    assert ("method", "lib.request.req.fresh", 7, 9) in table(result)
    assert ("function", "lib.request.home", 11, 13) in table(result)
    # an anonymous test callback names nothing
    assert not [d for d in result.definitions if d.start_line >= 15]
    ip = next(c for c in result.chunks if c.symbol == "lib.request.req.ip")
    assert ip.text.startswith("defineGetter(req, 'ip', function ip(){")
    # the signature a card shows names the getter, not a bare `function()`
    fresh = next(c for c in result.chunks if c.symbol == "lib.request.req.fresh")
    assert (ip.signature, fresh.signature) == ("defineGetter(req, 'ip', function ip()",
                                               "defineGetter(req, 'fresh', function()"), (ip.signature, fresh.signature)


# --- splitting ------------------------------------------------------------------------------------------


def long_method_source(n: int) -> bytes:
    body = "".join(f"        total_{i} = price * quantity + {i}  # step {i}\n" for i in range(n))
    return (
        "class Billing:\n"
        "    def compute(self, price: int, quantity: int) -> int:\n"
        f"{body}"
        "        return total_0\n"
    ).encode()


def test_long_function_is_split_with_repeated_signature() -> None:
    data = long_method_source(60)
    lines = file_lines(data)
    result = chunk_file("billing.py", data, max_tokens=120)
    parts = [c for c in result.chunks if c.symbol == "billing.Billing.compute"]
    assert len(parts) > 2
    assert [c.part for c in parts] == list(range(1, len(parts) + 1))
    assert all(c.parts == len(parts) for c in parts)
    signature = "def compute(self, price: int, quantity: int) -> int:"
    assert parts[0].start_line == 2 and parts[-1].end_line == 63
    covered: list[int] = []
    for c in parts:
        assert len(c.text) // 3 + 1 <= 120
        text_lines = c.text.split("\n")
        if c.part == 1:
            assert text_lines[0] == "    " + signature
        else:
            assert text_lines[0] == signature  # the repeated signature is not in the part's own range
            text_lines = text_lines[1:]
        assert text_lines == lines[c.start_line - 1 : c.end_line]
        covered.extend(range(c.start_line, c.end_line + 1))
    assert covered == list(range(2, 64))  # parts are contiguous and do not overlap


def test_split_respects_a_real_style_tokenizer() -> None:
    def count_words(text: str) -> int:  # like a tokenizer with [CLS] and [SEP]
        return len(text.split()) + 2

    result = chunk_file("billing.py", long_method_source(80), max_tokens=64, count_tokens=count_words)
    parts = [c for c in result.chunks if c.symbol == "billing.Billing.compute"]
    assert len(parts) > 3
    assert all(count_words(c.text) <= 64 for c in result.chunks)


def test_gigantic_single_line_is_cut() -> None:
    data = b"VALUES = ['" + b"abc " * 30_000 + b"']\n"
    result = chunk_file("big.py", data, max_tokens=64)
    assert len(result.chunks) > 100
    assert all((c.start_line, c.end_line) == (1, 1) for c in result.chunks)
    assert all(len(c.text) // 3 + 1 <= 64 for c in result.chunks)
    minified = b"function f(a){return [" + b"1," * 50_000 + b"]}"
    result = chunk_file("app.min.js", minified, max_tokens=64)
    parts = [c for c in result.chunks if c.symbol == "app.min.f"]
    assert len(parts) > 100 and all(c.text.startswith("function f(a)") for c in parts)


def test_module_chunks_window_long_top_level_code() -> None:
    data = "".join(f"SETTING_{i} = {i}\n" for i in range(100)).encode() + b"\n\ndef main():\n    pass\n"
    result = chunk_file("conf/settings.py", data, window_lines=40, max_tokens=10_000)
    assert table(result) == [
        ("module", "conf.settings", 1, 40),
        ("module", "conf.settings", 41, 80),
        ("module", "conf.settings", 81, 100),
        ("function", "conf.settings.main", 103, 104),
    ]
    assert [c.part for c in result.chunks[:3]] == [1, 2, 3] and result.chunks[0].name == "settings"


def test_blank_gaps_yield_nothing() -> None:
    result = chunk_file("a.py", b"\n\n\ndef f():\n    return 1\n\n\n\ndef g():\n    return 2\n\n\n")
    assert table(result) == [("function", "a.f", 4, 5), ("function", "a.g", 9, 10)]


# --- documents and text ---------------------------------------------------------------------------------


def test_markdown_sections() -> None:
    result = chunk_file("docs/guide.md", fixture("guide.md"))
    assert [(c.kind, c.symbol, c.name, c.start_line, c.end_line) for c in result.chunks] == [
        ("text", "docs.guide", "guide.md", 1, 4),
        ("section", "docs.guide#getting-started", "Getting started", 6, 13),
        ("section", "docs.guide#configure", "Configure", 15, 17),
        ("section", "docs.guide#usage", "Usage", 19, 22),
        ("section", "docs.guide#configure-1", "Configure", 24, 26),
    ]
    assert "# not a heading" in result.chunks[1].text  # a '#' inside a code fence is not a heading


def test_long_markdown_section_is_split_under_its_heading() -> None:
    body = "\n".join(f"Paragraph {i} says something about the setup of dayone." for i in range(40))
    data = f"# Intro\n\nhello\n\n## Setup steps\n\n{body}\n".encode()
    result = chunk_file("README.md", data, max_tokens=80)
    setup = [c for c in result.chunks if c.symbol == "README#setup-steps"]
    assert len(setup) > 3
    assert all(c.text.startswith("## Setup steps\n") for c in setup)
    assert setup[0].start_line == 5 and setup[-1].end_line == 46
    assert all(c.name == "Setup steps" and c.parts == len(setup) for c in setup)
    assert all(setup[i].end_line < setup[i + 1].start_line for i in range(len(setup) - 1))


def test_rst_sections() -> None:
    result = chunk_file("docs/intro.rst", fixture("intro.rst"))
    assert [(c.kind, c.symbol, c.name, c.start_line, c.end_line) for c in result.chunks] == [
        ("section", "docs.intro#dayone", "Dayone", 1, 5),
        ("section", "docs.intro#installation", "Installation", 7, 13),
        ("section", "docs.intro#usage", "Usage", 15, 18),
    ]


def yaml_services(n: int) -> bytes:
    block = "service_{i}:\n  image: app:{i}\n  port: {port}\n  replicas: 2\n  env: prod\n"
    blocks = [block.format(i=i, port=8000 + i) for i in range(n)]
    return "\n".join(blocks).encode()  # 6 lines per block, blank line between blocks


def test_yaml_windows_prefer_blank_lines() -> None:
    result = chunk_file("deploy/services.yaml", yaml_services(15), window_lines=40, max_tokens=10_000)
    assert result.language == "yaml"
    # 40 lines would end inside block 7 (lines 37-41); the window ends at the blank line 36 instead.
    assert [(c.kind, c.start_line, c.end_line) for c in result.chunks] == [
        ("text", 1, 35), ("text", 37, 71), ("text", 73, 89),
    ]
    assert all(c.symbol == "deploy.services" and c.name == "services.yaml" for c in result.chunks)
    assert result.chunks[1].text.startswith("service_6:")


def test_json_sql_toml_dockerfile_windows() -> None:
    json_data = ("{\n" + ",\n".join(f'  "key{i}": {i}' for i in range(50)) + "\n}\n").encode()
    result = chunk_file("config/app.json", json_data, window_lines=20, max_tokens=10_000)
    assert result.language == "json"
    assert [(c.start_line, c.end_line) for c in result.chunks] == [(1, 20), (21, 40), (41, 52)]
    sql = b"CREATE TABLE orders (\n  id INT PRIMARY KEY,\n  total NUMERIC\n);\n\nSELECT * FROM orders;\n"
    result = chunk_file("db/schema.sql", sql)
    assert [(c.kind, c.symbol, c.name, c.start_line, c.end_line) for c in result.chunks] == [
        ("text", "db.schema", "schema.sql", 1, 6)
    ]
    toml = b'[tool.ruff]\nline-length = 110\n'
    assert table(chunk_file("pyproject.toml", toml)) == [("text", "pyproject", 1, 2)]
    docker = chunk_file("Dockerfile", b"FROM python:3.11\nRUN pip install dayone\n")
    assert docker.language == "dockerfile" and table(docker) == [("text", "Dockerfile", 1, 2)]


def test_long_text_window_is_split_by_tokens_too() -> None:
    data = "".join(f"line {i} " + "word " * 30 + "\n" for i in range(10)).encode()
    result = chunk_file("notes.txt", data, max_tokens=120, window_lines=40)
    assert len(result.chunks) > 1
    assert all(len(c.text) // 3 + 1 <= 120 for c in result.chunks)
    assert result.chunks[0].start_line == 1 and result.chunks[-1].end_line == 10


# --- robustness -----------------------------------------------------------------------------------------


def test_syntax_errors_still_give_chunks() -> None:
    data = b"def broken(:\n    return 1\n\nclass Ok:\n    def m(self):\n        return 2\n"
    result = chunk_file("pkg/bad.py", data)
    assert result.had_errors
    assert ("method", "pkg.bad.Ok.m", 5, 6) in table(result)
    assert "def broken(" in "".join(c.text for c in result.chunks)
    js = chunk_file("a.js", b"function ok() { return 1; }\nfunction bad( { \n")
    assert js.had_errors and js.chunks


def test_invalid_utf8_is_replaced() -> None:
    result = chunk_file("a.py", b"def f():\n    return '\xff\xfe caf\xc3'\n")
    assert table(result) == [("function", "a.f", 1, 2)]
    assert "\ufffd" in result.chunks[0].text


def test_empty_and_blank_files_give_no_chunks() -> None:
    for data in (b"", b"\n\n   \n\t\n"):
        for path in ("a.py", "a.md", "a.yaml", "a.go"):
            assert chunk_file(path, data).chunks == []


def test_crlf_nul_and_bom() -> None:
    result = chunk_file("a.py", b"\xef\xbb\xbfimport os\r\n\r\ndef f():\r\n    return 1\r\n")
    assert table(result) == [("module", "a", 1, 1), ("function", "a.f", 3, 4)]
    assert "\r" not in result.chunks[1].text
    result = chunk_file("a.c", b"int f(void) {\x00 return 0; }\n\x00\x00")
    assert all(1 <= c.start_line <= c.end_line <= 2 for c in result.chunks)


def test_shebang_and_unknown_files() -> None:
    result = chunk_file("bin/deploy", b"#!/usr/bin/env bash\nship() {\n  echo go\n}\n")
    assert result.language == "bash" and ("function", "bin.deploy.ship", 2, 4) in table(result)
    assert sniff_language("bin/tool", b"#!/usr/bin/python3.11\n") == "python"
    assert sniff_language("include/widget.h", b"#pragma once\nnamespace ui {\nclass Widget {};\n}\n") == "cpp"
    assert sniff_language("include/buffer.h", b"struct buffer;\nint buffer_len(struct buffer *b);\n") == "c"
    unknown = chunk_file("data/file.unknownext", b"some words\n")
    assert unknown.language == "text" and table(unknown) == [("text", "data.file", 1, 1)]


@pytest.mark.parametrize(
    ("path", "language"),
    [
        ("a.py", "python"), ("a.pyi", "python"), ("a.js", "javascript"), ("a.mjs", "javascript"),
        ("a.cjs", "javascript"), ("a.jsx", "javascript"), ("a.ts", "typescript"), ("a.mts", "typescript"),
        ("a.cts", "typescript"), ("a.d.ts", "typescript"), ("a.tsx", "tsx"), ("a.go", "go"),
        ("A.java", "java"),
        ("a.kt", "kotlin"), ("build.gradle.kts", "kotlin"), ("a.rs", "rust"), ("a.c", "c"), ("a.h", "c"),
        ("a.cc", "cpp"), ("a.cpp", "cpp"), ("a.cxx", "cpp"), ("a.hpp", "cpp"), ("a.hh", "cpp"),
        ("a.hxx", "cpp"), ("a.cs", "csharp"), ("a.rb", "ruby"), ("Rakefile", "ruby"), ("Gemfile", "ruby"),
        ("a.php", "php"), ("a.scala", "scala"), ("a.swift", "swift"), ("a.sh", "bash"), ("a.bash", "bash"),
        ("README.md", "markdown"), ("docs/index.rst", "rst"), ("a.yml", "yaml"), ("a.yaml", "yaml"),
        ("pyproject.toml", "toml"), ("package.json", "json"), ("Dockerfile", "dockerfile"),
        ("docker/Dockerfile.dev", "dockerfile"), ("schema.sql", "sql"), ("notes.txt", "text"),
        ("setup.cfg", "text"), ("tox.ini", "text"), ("index.html", "text"), ("site.css", "text"),
        ("pom.xml", "text"), ("build.gradle", "text"), ("Makefile", "text"), ("LICENSE", "text"),
        ("image.png", None), ("archive.tar.gz", None), ("noextension", None), ("DIR/UPPER.PY", "python"),
    ],
)
def test_detect_language(path: str, language: str | None) -> None:
    assert detect_language(path) == language


def test_parsers_are_cached_and_only_for_grammars() -> None:
    for language in CODE_LANGUAGES:
        parser = get_parser(language)
        assert parser is not None and get_parser(language) is parser
    for language in ("yaml", "json", "rst", "text", "sql", "nope"):
        assert get_parser(language) is None


def test_module_path() -> None:
    assert module_path("shop/api/orders.py") == "shop.api.orders"
    assert module_path("shop/api/__init__.py") == "shop.api"
    assert module_path("web/src/index.ts") == "web.src"
    assert module_path("__init__.py") == "__init__"
    assert module_path("Dockerfile") == "Dockerfile"
    assert CHUNKER_VERSION


# --- fuzz: no input makes the chunker raise or produce out-of-range lines ----------------------------

FUZZ_SEEDS: dict[str, tuple[str, bytes]] = {
    **{detect_language(path) or "text": (path, fixture(name)) for name, (path, _) in EXPECTED.items()},
    "markdown": ("docs/guide.md", fixture("guide.md")),
    "rst": ("docs/intro.rst", fixture("intro.rst")),
    "yaml": ("deploy/services.yaml", yaml_services(3)),
    "json": ("a.json", b'{"a": [1, 2, {"b": null}],\n "c": "d"}\n'),
    "toml": ("a.toml", b"[x]\ny = 1\n\n[z]\nw = 'v'\n"),
    "sql": ("a.sql", b"SELECT 1;\n\nCREATE TABLE t (id INT);\n"),
    "dockerfile": ("Dockerfile", b"FROM alpine\nRUN echo hi\n"),
    "text": ("notes.txt", b"hello\n\nworld\n"),
}
TOKENS = [b'def ', b'class ', b'fn ', b'func ', b'function ', b'struct ', b'impl ', b'module ', b'end\n',
          b'{', b'}', b'(', b')', b':', b';', b'=', b'=>', b'\n', b'    ', b'\t', b'#', b'# H\n', b'//',
          b'/*', b'*/', b'///', b'"', b"'", b'`', b'```\n', b'===\n', b'@dec\n', b'x', b'Foo', b'\x00',
          b'\xff', b'\r\n', b'<?php ', b'namespace ', b'template <T> ', b'export ', b'const f = () => ',
          b'interface ', b'enum ']


@contextmanager
def no_fallback_warnings() -> Iterator[list[logging.LogRecord]]:
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    handler = Keep(logging.WARNING)
    logger = logging.getLogger("indexer.chunking.files")
    logger.addHandler(handler)
    try:
        yield records
    finally:
        logger.removeHandler(handler)
    assert not records, records[0].getMessage()


@st.composite
def fuzz_input(draw: st.DrawFn, seed: bytes) -> bytes:
    how = draw(st.sampled_from(["mutate", "tokens", "binary", "text"]))
    if how == "binary":
        return draw(st.binary(max_size=600))
    if how == "text":
        return draw(st.text(max_size=400)).encode("utf-8", "surrogatepass")
    if how == "tokens":
        return b"".join(draw(st.lists(st.sampled_from(TOKENS), max_size=120)))
    data = seed
    edits = draw(st.lists(st.tuples(st.integers(0, len(seed)), st.integers(0, 60), st.sampled_from(TOKENS)),
                          max_size=10))
    for pos, cut, insert in edits:
        pos = min(pos, len(data))
        data = data[:pos] + insert + data[pos + cut :]
    return data


@pytest.mark.parametrize("language", sorted(FUZZ_SEEDS))
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_fuzz_never_raises_and_lines_stay_in_range(language: str, data: st.DataObject) -> None:
    path, seed = FUZZ_SEEDS[language]
    raw = data.draw(fuzz_input(seed))
    max_tokens = data.draw(st.sampled_from([16, 40, 256]))
    window = data.draw(st.sampled_from([1, 5, 40]))
    with no_fallback_warnings():
        result = chunk_file(path, raw, max_tokens=max_tokens, window_lines=window)
    line_count = len(file_lines(raw))
    for c in result.chunks:
        assert 1 <= c.start_line <= c.end_line <= line_count
        assert 1 <= c.part <= c.parts and c.text
    for d in result.definitions:
        assert 1 <= d.start_line <= d.end_line <= line_count
    for r in result.references:
        assert 1 <= r.line <= line_count
