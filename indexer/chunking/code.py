"""Code chunks from tree-sitter: one per function, method and type-like definition, plus module gaps,
with the definitions and references the symbol table records."""

from __future__ import annotations

import inspect
import logging
import re
from dataclasses import dataclass, field

from tree_sitter import Node, QueryCursor

from indexer.chunking.languages import get_parser, get_query
from indexer.chunking.lines import WORD, Source, pieces_to_lines
from indexer.chunking.models import Chunk, Definition, FileChunks, Reference
from indexer.chunking.sections import chunk_windows
from indexer.chunking.splitter import Splitter

log = logging.getLogger(__name__)

# Kinds that hold members: their chunk shows member signatures, and their members get chunks of their own.
CONTAINER_KINDS = frozenset(
    {"class", "struct", "interface", "enum", "trait", "impl", "module", "object", "protocol", "extension",
     "union", "record", "actor"}
)
FUNCTION_KINDS = frozenset({"function", "method"})
_METHOD_HOLDERS = CONTAINER_KINDS - {"module"}  # a function in a Rust `mod` is still a function
# Recorded as definitions for lookup, never chunked (they live in the module chunks).
_DEFINITION_ONLY = frozenset({"variable", "constant"})

_COMMENT_TYPES = frozenset({"comment", "line_comment", "block_comment", "multiline_comment"})
# Rust's `#[derive(...)]` sits beside the item it annotates, not inside it.
_ATTRIBUTE_SIBLINGS = frozenset({"attribute_item"})
# Nodes whose whole text belongs to the one definition they wrap (decorators, `export`, `template<...>`,
# `const f = () => ...`, Go's `type X struct`, C's `typedef struct {...} X;`).
_WRAPPERS = frozenset(
    {"decorated_definition", "export_statement", "expression_statement", "template_declaration",
     "lexical_declaration", "variable_declaration", "type_declaration", "type_definition", "declaration",
     "ambient_declaration"}
)
# The subset of wrappers that carry the declaring keyword, so the signature starts there.
_SIGNATURE_WRAPPERS = frozenset(
    {"lexical_declaration", "variable_declaration", "type_declaration", "template_declaration",
     "type_definition", "declaration"}
)
# Definitions whose body is the function they hold: `const f = () => {...}`, `{ init: function () {} }`.
_VALUE_HOLDERS = frozenset(
    {"variable_declarator", "field_definition", "public_field_definition", "pair", "assignment_expression"}
)
_GO_TYPE_KINDS = {"struct_type": "struct", "interface_type": "interface"}
_KOTLIN_BODIES = frozenset({"class_body", "enum_class_body", "function_body"})
_C_DECLARATOR_WRAPPERS = frozenset(
    {"pointer_declarator", "reference_declarator", "attributed_declarator", "parenthesized_declarator",
     "array_declarator"}
)
_MAX_SIGNATURE_LINES = 6
_MAX_REFERENCE_LEN = 200



@dataclass(eq=False)
class _Symbol:
    node: Node
    kind: str
    name: str = ""
    scope: list[str] = field(default_factory=list)  # qualifiers written in the name: C++ `A::f`, Go receivers
    name_byte: int = -1
    parent: _Symbol | None = None
    children: list[_Symbol] = field(default_factory=list)
    names: list[str] = field(default_factory=list)  # the qualified name below the module path
    qualified: str = ""
    chunked: bool = False
    outer: Node | None = None  # the node including wrappers (decorators, export, template)
    end: int = 0  # byte where the symbol ends (a C `;` after `struct x {...}` included)
    body: Node | None = None
    doc_start: int = 0  # byte where the symbol's range starts (its leading comments and attributes)
    doc_nodes: list[Node] = field(default_factory=list)


def chunk_code(
    src: Source, language: str, result: FileChunks, splitter: Splitter, window_lines: int
) -> None:
    parser = get_parser(language)
    query = get_query(language)
    if parser is None or query is None:
        chunk_windows(src, language, result, splitter, window_lines)
        return
    data = src.data
    tree = parser.parse(data)
    root = tree.root_node
    result.had_errors = root.has_error
    captures = QueryCursor(query).captures(root)

    symbols = _collect_symbols(captures, language, src)
    modpath = src.module
    for s in symbols:
        s.outer = _outer(s.node)
        s.end = s.outer.end_byte
        after = s.outer.next_sibling
        if after is not None and after.type == ";" and not after.is_named:
            s.end = after.end_byte
        s.body = _body(s.node, language)
        _resolve_kind(s, language)
        s.names = [*(s.parent.names if s.parent else []), *s.scope, s.name]
        s.qualified = ".".join([modpath, *s.names] if modpath else s.names)
        s.chunked = _is_chunked(s)
        if s.chunked:
            s.doc_start, s.doc_nodes = _leading(s.outer, src)
        if s.parent is not None:
            s.parent.children.append(s)
        outer = s.outer
        result.definitions.append(
            Definition(name=s.name, qualified_name=s.qualified, kind=s.kind, path=src.path,
                       start_line=outer.start_point.row + 1, end_line=_end_row(outer) + 1)
        )

    module_doc = _python_docstring(root, src) if language == "python" else ""
    first_statement = _first_named(root)
    doc_row = first_statement.start_point.row if module_doc and first_statement is not None else -1
    top: list[_Symbol] = []
    for s in symbols:
        if not s.chunked:
            continue
        if s.parent is None:
            top.append(s)
        _emit_symbol(s, src, language, result, splitter)
    _emit_module_gaps(top, src, language, result, splitter, window_lines, module_doc, doc_row)
    result.chunks.sort(key=lambda c: (c.start_line, c.part, -c.end_line))
    result.references.extend(_references(captures, src, {s.name_byte for s in symbols}))


def _collect_symbols(captures: dict[str, list[Node]], language: str, src: Source) -> list[_Symbol]:
    found: dict[tuple[int, int, str], _Symbol] = {}
    for capture, nodes in captures.items():
        if not capture.startswith("definition."):
            continue
        kind = capture[len("definition."):]
        for node in nodes:
            key = (node.start_byte, node.end_byte, node.type)
            if node.end_byte > node.start_byte and key not in found:
                found[key] = _Symbol(node=node, kind=kind)
    symbols: list[_Symbol] = []
    for s in found.values():
        named = _name(s.node, language, src)
        if named is None:
            continue
        s.name, s.scope, s.name_byte = named
        symbols.append(s)
    symbols.sort(key=lambda s: (s.node.start_byte, -s.node.end_byte))
    stack: list[_Symbol] = []
    for s in symbols:
        while stack and stack[-1].node.end_byte <= s.node.start_byte:
            stack.pop()
        s.parent = stack[-1] if stack else None
        stack.append(s)
    return symbols


def _first_named(node: Node | None) -> Node | None:
    # Node.named_child raises IndexError past the end instead of returning None.
    return node.named_child(0) if node is not None and node.named_child_count else None


def _text(node: Node | None, src: Source) -> str:
    return src.decode(node.start_byte, node.end_byte) if node is not None else ""


_GENERICS = re.compile(r"<.*$|\[.*$", re.S)


def _type_name(text: str) -> str:
    """`&'a mut foo::Bar<T>` -> `Bar`: the plain name a type is known by."""
    text = _GENERICS.sub("", text).replace("&", " ").replace("*", " ")
    words = [w for w in text.split() if w not in ("mut", "dyn", "const") and not w.startswith("'")]
    name = words[-1] if words else ""
    return re.split(r"::|\.", name)[-1] if name else ""


def _name(node: Node, language: str, src: Source) -> tuple[str, list[str], int] | None:
    """The short name of a definition, qualifiers written into it, and the byte where the name starts."""
    t = node.type
    target: Node | None
    if language in ("c", "cpp") and t in ("function_definition", "declaration", "field_declaration"):
        target = _c_function_name(node)
    elif t == "type_definition":
        target = _c_declarator_name(node.child_by_field_name("declarator"))
    elif t in ("struct_specifier", "union_specifier", "enum_specifier", "class_specifier"):
        target = node.child_by_field_name("name")
        if target is None and node.parent is not None and node.parent.type == "type_definition":
            target = _c_declarator_name(node.parent.child_by_field_name("declarator"))
    elif t == "impl_item":
        target = node.child_by_field_name("type")
        if target is None:
            return None
        return _type_name(_text(target, src)), [], target.start_byte
    elif t == "companion_object":
        target = node.child_by_field_name("name")
        if target is None:
            return "Companion", [], -1
    elif t == "init_declaration":
        return "init", [], -1
    elif t == "deinit_declaration":
        return "deinit", [], -1
    elif t in ("field_definition", "public_field_definition"):
        target = node.child_by_field_name("property") or node.child_by_field_name("name")
    elif t == "pair":  # `{ init: function () {...} }`
        target = node.child_by_field_name("key")
    elif t == "assignment_expression":  # `Foo.prototype.bar = function () {...}`
        left = node.child_by_field_name("left")
        target = left.child_by_field_name("property") if left is not None else None
    elif t == "assignment":  # Python module-level assignment
        target = node.child_by_field_name("left")
    elif t == "function_expression":  # `defineGetter(req, 'fresh', function () {...})` is named by the call
        target = node.child_by_field_name("name")
        args = _call_arguments(node) if target is None else None
        target = args.named_children[1] if args is not None and len(args.named_children) == 3 else target
    else:
        target = node.child_by_field_name("name")
    if target is None:
        return None
    text = _text(target, src).strip().strip("\"'`")
    if not text or "\n" in text or len(text) > 200:
        return None
    scope: list[str] = []
    if t == "pair":  # methods of `const Shortcuts = {...}` are known as Shortcuts.name
        holder = node.parent.parent if node.parent is not None else None
        if holder is not None and holder.type == "variable_declarator":
            scope = _js_scope(_text(holder.child_by_field_name("name"), src))
        elif holder is not None and holder.type == "assignment_expression":
            scope = _js_scope(_text(holder.child_by_field_name("left"), src))
    elif t == "assignment_expression":  # `Foo.prototype.bar = ...` is Foo.bar
        left = node.child_by_field_name("left")
        scope = _js_scope(_text(left.child_by_field_name("object") if left is not None else None, src))
    elif t == "function_expression" and (args := _call_arguments(node)) is not None:
        # `defineGetter(req, 'ip', function ip() {...})` defines req.ip; `app.get('/', function home() {})` home
        first = args.named_children[:2]
        if (len(first) == 2 and first[0].type == "identifier" and first[1].type == "string"
                and _text(first[1], src).strip("\"'`") == text):
            scope = _js_scope(_text(first[0], src))
    if t == "method_declaration" and language == "go":
        receiver = node.child_by_field_name("receiver")
        param = _first_named(receiver) if receiver is not None else None
        rtype = param.child_by_field_name("type") if param is not None else None
        if rtype is not None:
            scope = [_type_name(_text(rtype, src))]
    elif language == "swift" and target.type == "user_type":
        text = _type_name(text.replace(".", " "))
    elif "::" in text and language in ("cpp", "c", "ruby", "rust", "php"):
        parts = [_GENERICS.sub("", p).strip() for p in text.split("::")]
        parts = [p for p in parts if p]
        if not parts:
            return None
        scope, text = parts[:-1], parts[-1]
    if language == "cpp" and "<" in text and not text.startswith("operator"):
        text = text.split("<", 1)[0] or text  # template specialisations: `swap<int>` is `swap`
    return text, scope, target.start_byte


_JS_NOISE = frozenset({"prototype", "module", "exports", "window", "this", "self", "globalThis"})


def _call_arguments(node: Node) -> Node | None:
    """The argument list a function expression is handed to, when it is one argument of a top-level call."""
    parent = node.parent
    call = parent.parent if parent is not None and parent.type == "arguments" else None
    statement = call.parent if call is not None and call.type == "call_expression" else None
    return parent if statement is not None and statement.type == "expression_statement" else None


def _js_scope(text: str) -> list[str]:
    """`Calendar.prototype` -> ["Calendar"]: the names an object-literal or assigned method lives under."""
    parts = [p for p in text.split(".") if p not in _JS_NOISE]
    return parts if all(p.isidentifier() for p in parts) else []


def _c_function_name(node: Node) -> Node | None:
    d = node.child_by_field_name("declarator")
    for _ in range(16):
        if d is None:
            return None
        if d.type == "function_declarator":
            return _c_declarator_name(d.child_by_field_name("declarator"))
        if d.type in _C_DECLARATOR_WRAPPERS or d.type == "init_declarator":
            d = d.child_by_field_name("declarator") or _first_named(d)
            continue
        return None
    return None


def _c_declarator_name(d: Node | None) -> Node | None:
    for _ in range(16):
        if d is None:
            return None
        if d.type in _C_DECLARATOR_WRAPPERS or d.type == "function_declarator":
            d = d.child_by_field_name("declarator") or _first_named(d)
            continue
        return d
    return None


def _resolve_kind(s: _Symbol, language: str) -> None:
    node = s.node
    if s.kind == "auto":
        if node.type == "type_spec":
            ty = node.child_by_field_name("type")
            s.kind = _GO_TYPE_KINDS.get(ty.type if ty is not None else "", "type")
        elif language == "swift":
            decl = node.child_by_field_name("declaration_kind")
            s.kind = decl.type if decl is not None and decl.type in CONTAINER_KINDS else "class"
        else:  # Kotlin class_declaration covers classes, interfaces and enum classes
            s.kind = "class"
            for child in node.children:
                if child.type == "interface":
                    s.kind = "interface"
                elif child.type == "modifiers" and any(
                    m.type == "class_modifier" and m.text == b"enum" for m in child.named_children
                ):
                    s.kind = "enum"
    parent = s.parent
    if s.kind == "function" and parent is not None and parent.kind in _METHOD_HOLDERS:
        s.kind = "method"
    elif s.kind == "method" and parent is None and not s.scope:
        s.kind = "function"
    elif s.kind == "function" and s.scope and language in ("cpp", "javascript", "typescript", "tsx"):
        s.kind = "method"  # `void Widget::draw() {...}`, `defineGetter(req, 'ip', function ip() {...})`


def _is_chunked(s: _Symbol) -> bool:
    if s.kind in _DEFINITION_ONLY:
        return False
    parent = s.parent
    if parent is None:
        return s.body is not None or s.kind not in FUNCTION_KINDS
    return parent.chunked and parent.kind in CONTAINER_KINDS and s.body is not None


def _outer(node: Node) -> Node:
    # the whole `defineGetter(req, 'ip', function ip() {...});` statement, so its doc comment comes with it
    args = _call_arguments(node) if node.type == "function_expression" else None
    cur = args.parent.parent if args is not None and args.parent is not None else node
    for _ in range(8):
        parent = cur.parent
        if parent is None or parent.type not in _WRAPPERS:
            break
        if parent.type in ("lexical_declaration", "variable_declaration", "type_declaration"):
            if sum(1 for c in parent.named_children if c.type == cur.type) != 1:
                break
        elif parent.type in ("declaration", "type_definition"):
            ty = parent.child_by_field_name("type")
            if ty is None or ty != cur:
                break
        cur = parent
    return cur


def _body(node: Node, language: str) -> Node | None:
    body = node.child_by_field_name("body")
    if body is not None:
        return body
    t = node.type
    if t in _VALUE_HOLDERS:
        value = node.child_by_field_name("value") or node.child_by_field_name("right")
        return value.child_by_field_name("body") if value is not None else None
    if t == "type_spec":
        ty = node.child_by_field_name("type")
        if ty is not None and ty.type in ("struct_type", "interface_type"):
            for child in ty.children:
                if child.type in ("{", "field_declaration_list"):
                    return child
        return None
    if language == "kotlin":
        for child in node.named_children:
            if child.type in _KOTLIN_BODIES:
                return child
    return None


def _end_row(node: Node) -> int:
    row, col = node.end_point
    return row - 1 if col == 0 and row > node.start_point.row else row


def _leading(outer: Node, src: Source) -> tuple[int, list[Node]]:
    """Where a definition's range starts once its adjacent leading comments and attributes are included."""
    found: list[Node] = []
    expect = outer.start_point.row
    node = outer
    for _ in range(10_000):
        prev = node.prev_named_sibling
        if prev is None:
            parent = node.parent
            if parent is not None and parent.parent is not None and parent.start_byte == node.start_byte:
                node = parent
                continue
            break
        if prev.type not in _COMMENT_TYPES and prev.type not in _ATTRIBUTE_SIBLINGS:
            break
        if _end_row(prev) < expect - 1:
            break
        if prev.start_byte == 0 and src.data.startswith(b"#!"):
            break  # a shebang line documents nothing
        at_line_start = src.line_starts[src.row_of(prev.start_byte)] == prev.start_byte
        if not at_line_start and src.indent_before(prev.start_byte) == "":
            break  # a trailing comment after code on its line belongs to that code
        found.append(prev)
        expect = prev.start_point.row
        node = prev
    found.reverse()
    return (found[0].start_byte if found else outer.start_byte), found


_XML_DOC_TAGS = re.compile(r"</?(?:summary|remarks)>")  # C# `/// <summary>` wrappers
_COMMENT_MARKS = re.compile(r"^\s*(?:/\*+!?|\*+/?|///?!?|#+!?|--+|;+)\s?")


def _comment_text(nodes: list[Node], src: Source) -> str:
    lines: list[str] = []
    for node in nodes:
        if node.type not in _COMMENT_TYPES:
            continue
        text = _text(node, src)
        if text.rstrip().endswith("*/"):
            text = text.rstrip()[:-2]
        for line in text.split("\n"):
            lines.append(_COMMENT_MARKS.sub("", line, count=1).rstrip())
    return _XML_DOC_TAGS.sub("", inspect.cleandoc("\n".join(lines))).strip() if lines else ""


_STRING_PREFIX = re.compile(r"^[rRbBuUfF]{0,2}(\"\"\"|'''|\"|')")


def _python_string(node: Node, src: Source) -> str:
    text = _text(node, src)
    m = _STRING_PREFIX.match(text)
    if not m:
        return ""
    quote = m.group(1)
    body = text[m.end():]
    if body.endswith(quote):
        body = body[: -len(quote)]
    return inspect.cleandoc(body)


def _python_docstring(block: Node | None, src: Source) -> str:
    if block is None:
        return ""
    first = _first_named(block)
    while first is not None and first.type == "comment":
        first = first.next_named_sibling
    if first is None or first.type != "expression_statement":
        return ""
    string = _first_named(first)
    if string is None or string.type != "string":
        return ""
    return _python_string(string, src)


def _head_end(s: _Symbol) -> int:
    """Where a definition's header ends: at its body, or at a comment between header and body (Python and
    Ruby put comments that precede the first statement outside the body node)."""
    end = s.body.start_byte if s.body is not None else s.node.end_byte
    for child in s.node.children:
        if child.start_byte >= end:
            break
        if child.type in _COMMENT_TYPES:
            return child.start_byte
    return end


def _signature(s: _Symbol, src: Source) -> str:
    # `defineGetter(req, 'fresh', function () {`: the call names the function, so the signature starts with it
    args = _call_arguments(s.node) if s.node.type == "function_expression" else None
    start_node = args.parent if args is not None and args.parent is not None else s.node
    outer_start = s.outer.start_byte if s.outer is not None else start_node.start_byte
    while (
        start_node != s.outer
        and start_node.parent is not None
        and start_node.parent.type in _SIGNATURE_WRAPPERS
        and start_node.parent.start_byte >= outer_start
    ):
        start_node = start_node.parent
    end = _head_end(s)
    lines = [line.strip() for line in src.decode(start_node.start_byte, end).split("\n")]
    lines = [line for line in lines if line]
    signature = "\n".join(lines[:_MAX_SIGNATURE_LINES])
    return signature[:-1].rstrip() if signature.endswith("=") else signature  # Scala's `def f: Int =`


def _stub(child: _Symbol, src: Source, language: str) -> str:
    """A member as its container chunk shows it: the declaration, then `...` for the body."""
    assert child.outer is not None and child.body is not None
    head = src.decode(child.outer.start_byte, _head_end(child)).rstrip()
    opens = src.data[child.body.start_byte : child.body.start_byte + 1]
    braces = language not in ("python", "ruby") and opens == b"{"
    return head + (" { ... }" if braces else " ...")


def _emit_symbol(s: _Symbol, src: Source, language: str, result: FileChunks, splitter: Splitter) -> None:
    assert s.outer is not None
    end = s.end
    pieces: list[tuple[str, int]] = [(src.indent_before(s.doc_start), src.row_of(s.doc_start))]
    pos = s.doc_start
    for child in s.children:
        if not child.chunked or child.outer is None or child.doc_start < pos or child.end > end:
            continue
        pieces.append((src.decode(pos, child.doc_start), src.row_of(pos)))
        pieces.append((_stub(child, src, language), child.outer.start_point.row))
        pos = child.end
    if pos < end:
        pieces.append((src.decode(pos, end), src.row_of(pos)))
    lines = pieces_to_lines(pieces)
    if not lines:
        return
    signature = _signature(s, src)
    if language == "python":
        docstring = _python_docstring(s.body, src) or _comment_text(s.doc_nodes, src)
    else:
        docstring = _comment_text(s.doc_nodes, src)
    header_lines = signature.split("\n")
    while len(header_lines) > 1 and header_lines[0].startswith(("@", "#[", "[")):
        header_lines.pop(0)  # annotations and attributes say less than the declaration itself
    header = " ".join(header_lines)
    parts = splitter.split(lines, header=header)
    for i, (part_lines, part_text) in enumerate(parts, 1):
        result.chunks.append(
            Chunk(path=src.path, language=language, kind=s.kind, symbol=s.qualified, name=s.name,
                  signature=signature, docstring=docstring, start_line=part_lines[0][0] + 1,
                  end_line=part_lines[-1][0] + 1, text=part_text, part=i, parts=len(parts))
        )


def _emit_module_gaps(
    top: list[_Symbol],
    src: Source,
    language: str,
    result: FileChunks,
    splitter: Splitter,
    window_lines: int,
    module_doc: str,
    doc_row: int,
) -> None:
    name = src.module.rsplit(".", 1)[-1]
    spans = sorted((s.doc_start, s.end) for s in top)
    gaps: list[tuple[int, int]] = []
    pos = 0
    for start, end in spans:
        if start > pos:
            gaps.append((pos, start))
        pos = max(pos, end)
    if pos < len(src.data):
        gaps.append((pos, len(src.data)))
    for start, end in gaps:
        text = src.decode(start, end)
        if not WORD.search(text):
            continue
        lines = pieces_to_lines([(text, src.row_of(start))])
        parts = [p for p in splitter.split(lines, window_lines=window_lines) if WORD.search(p[1])]
        for i, (part_lines, part_text) in enumerate(parts, 1):
            doc = module_doc if part_lines[0][0] <= doc_row <= part_lines[-1][0] else ""
            result.chunks.append(
                Chunk(path=src.path, language=language, kind="module", symbol=src.module, name=name,
                      signature="", docstring=doc, start_line=part_lines[0][0] + 1,
                      end_line=part_lines[-1][0] + 1, text=part_text, part=i, parts=len(parts))
            )


_QUOTES = "\"'`<>"


def _references(captures: dict[str, list[Node]], src: Source, definition_names: set[int]) -> list[Reference]:
    seen: set[tuple[str, str, int]] = set()
    refs: list[Reference] = []
    strong: set[tuple[str, int]] = set()
    pending: list[tuple[str, int]] = []
    for capture, nodes in captures.items():
        if not capture.startswith("reference."):
            continue
        kind = capture[len("reference."):]
        for node in nodes:
            if node.start_byte in definition_names:
                continue
            name = _text(node, src)
            if kind == "import":
                name = " ".join(name.split())
                if name.startswith("import "):
                    name = name[len("import "):]
                name = name.strip(_QUOTES + "; ")
            else:
                name = name.strip()
            if not name or len(name) > _MAX_REFERENCE_LEN:
                continue
            line = node.start_point.row + 1
            if kind == "identifier":
                pending.append((name, line))
                continue
            key = (name, kind, line)
            if key not in seen:
                seen.add(key)
                strong.add((name, line))
                refs.append(Reference(name=name, kind=kind, path=src.path, line=line))
    for name, line in pending:  # an identifier already counted as a call or import adds nothing
        key = (name, "identifier", line)
        if key not in seen and (name, line) not in strong:
            seen.add(key)
            refs.append(Reference(name=name, kind="identifier", path=src.path, line=line))
    refs.sort(key=lambda r: (r.line, r.kind, r.name))
    return refs
