"""What to skip and what to keep: skip reasons by name and path, and include/exclude globs (.gitignore style)."""

from __future__ import annotations

import re

SKIP_TOO_LARGE = "too-large"
SKIP_VENDORED = "vendored"
SKIP_GENERATED = "generated"
SKIP_TRANSLATION = "translation"
SKIP_SECRET = "secret"
SKIP_BINARY = "binary-ext"
SKIP_SYMLINK = "symlink"
SKIP_SYMLINK_OUTSIDE = "symlink-outside"
SKIP_SUBMODULE = "submodule"
SKIP_EXCLUDED = "excluded"
SKIP_UNREADABLE = "unreadable"
SKIP_REASONS = (
    SKIP_TOO_LARGE, SKIP_VENDORED, SKIP_GENERATED, SKIP_TRANSLATION, SKIP_SECRET, SKIP_BINARY, SKIP_SYMLINK,
    SKIP_SYMLINK_OUTSIDE, SKIP_SUBMODULE, SKIP_EXCLUDED, SKIP_UNREADABLE,
)



# --------------------------------------------------------------------------------------------------
# What to skip. Matching is on lower-cased names so "LOGO.PNG" and "ID_RSA" are caught too.

VENDORED_DIRS = frozenset({
    # dependencies
    "node_modules", "bower_components", "jspm_packages", "vendor", "third_party", "third-party",
    "thirdparty", "site-packages", "pods", "carthage", ".yarn", ".pnpm-store",
    # virtual environments and tool caches
    ".venv", "venv", ".tox", ".nox", ".eggs", "__pycache__", ".mypy_cache", ".pytest_cache",
    ".ruff_cache", ".cache", ".gradle", ".terraform", ".serverless", ".parcel-cache", ".dayone",
    # build output
    "dist", "build", "target", "_build", ".next", ".nuxt", ".svelte-kit", "deriveddata", "htmlcov",
    # other version control
    ".git", ".hg", ".svn",
})
_VENDORED_SUFFIXES = (".egg-info",)

_SECRET_NAMES = frozenset({
    ".env", ".netrc", "_netrc", ".npmrc", ".pypirc", ".pgpass", ".git-credentials", ".htpasswd",
    ".dockercfg", "credentials", "credentials.json", "credentials.yml", "credentials.yaml",
    "credentials.xml", "id_rsa", "id_dsa", "id_ecdsa", "id_ed25519", "id_ecdsa_sk", "id_ed25519_sk",
})
_SECRET_PREFIXES = (".env.", "secrets.", "secret.")
_SECRET_SUFFIXES = (
    ".env", ".pem", ".key", ".p12", ".pfx", ".jks", ".keystore", ".kdbx", ".gpg", ".ovpn",
    ".tfstate", ".tfstate.backup", ".tfvars",
)

_BINARY_EXTS = frozenset(re.split(r"\s+", """
    png jpg jpeg gif bmp ico icns cur tif tiff webp avif heic heif psd xcf ai sketch fig eps raw
    mp3 wav ogg oga flac aac m4a opus mid midi mp4 m4v mov avi mkv webm wmv flv swf
    zip tar gz tgz bz2 tbz tbz2 xz txz 7z rar zst lz lz4 lzma cab deb rpm dmg iso img apk aab ipa
    msi whl egg jar war ear aar nupkg gem crate
    ttf otf woff woff2 eot fon
    so dylib dll exe bin o obj a lib ko pyc pyo pyd class wasm node beam dex rlib pdb idb
    pdf doc docx xls xlsx ppt pptx odt ods odp epub
    sqlite sqlite3 db mdb accdb parquet avro orc feather arrow npy npz pkl pickle h5 hdf5 pt pth
    ckpt onnx safetensors tflite pb mat blend fbx glb
""".strip()))
_BINARY_NAMES = frozenset({".ds_store", "thumbs.db"})

_GENERATED_NAMES = frozenset(name.lower() for name in (
    "package-lock.json", "npm-shrinkwrap.json", "yarn.lock", "pnpm-lock.yaml", "bun.lock", "bun.lockb",
    "deno.lock", "poetry.lock", "Pipfile.lock", "uv.lock", "pdm.lock", "Cargo.lock", "Gemfile.lock",
    "composer.lock", "go.sum", "mix.lock", "pubspec.lock", "Podfile.lock", "flake.lock",
    "packages.lock.json", "gradle.lockfile", "conda-lock.yml", "Package.resolved",
))
_GENERATED_SUFFIXES = (
    ".min.js", ".min.mjs", ".min.css", ".map", "_pb2.py", "_pb2.pyi", "_pb2_grpc.py", ".pb.go",
    ".pb.cc", ".pb.h", ".pb.swift", "_pb.js", "_pb.d.ts", "_grpc_pb.js", ".g.dart", ".freezed.dart",
    ".designer.cs",
)

_TRANSLATION_EXTS = frozenset({"po", "pot", "mo", "xlf", "xliff"})


def name_reason(name: str) -> str | None:
    """Skip reason implied by a file name alone (secret, binary-ext, generated), else None."""
    low = name.lower()
    if (low in _SECRET_NAMES or low.startswith(_SECRET_PREFIXES) or low.endswith(_SECRET_SUFFIXES)
            or (low.endswith(".pub") and low[:-4] in _SECRET_NAMES)):
        return SKIP_SECRET
    ext = low.rpartition(".")[2] if "." in low.lstrip(".") else ""
    if ext in _BINARY_EXTS or low in _BINARY_NAMES:
        return SKIP_BINARY
    if low in _GENERATED_NAMES or low.endswith(_GENERATED_SUFFIXES):
        return SKIP_GENERATED
    if ext in _TRANSLATION_EXTS:
        return SKIP_TRANSLATION
    return None


def is_vendored_dir(name: str) -> bool:
    low = name.lower()
    return low in VENDORED_DIRS or low.endswith(_VENDORED_SUFFIXES)


# --------------------------------------------------------------------------------------------------
# Globs


def _translate_segment(seg: str) -> str:
    """One path segment of a glob as a regex that never matches '/'."""
    out: list[str] = []
    i, n = 0, len(seg)
    while i < n:
        c = seg[i]
        if c == "*":
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "\\" and i + 1 < n:
            i += 1
            out.append(re.escape(seg[i]))
        elif c == "[":
            j = i + 1
            if j < n and seg[j] in "!^":
                j += 1
            if j < n and seg[j] == "]":
                j += 1
            while j < n and seg[j] != "]":
                j += 1
            if j >= n:
                out.append(re.escape(c))
            else:
                body = seg[i + 1 : j]
                negate = body[:1] in ("!", "^")
                if negate:
                    body = body[1:]
                body = body.replace("\\", "\\\\").replace("[", "\\[")
                out.append(f"[^/{body}]" if negate else f"[{body}]")
                i = j
        else:
            out.append(re.escape(c))
        i += 1
    return "".join(out)


def _compile_glob(pattern: str) -> re.Pattern[str] | None:
    p = pattern.strip()
    if p.startswith("./"):
        p = p[2:]
    dir_only = p.endswith("/")
    anchored = p.startswith("/")
    p = p.strip("/")
    if not p:
        return None
    anchored = anchored or "/" in p
    parts = p.split("/")
    out = "" if anchored else "(?:.*/)?"
    glue = ""  # separator owed before the next ordinary segment
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        if part == "**":
            if i == 0:
                out += ".*" if last else "(?:.*/)?"
            else:
                out += "/.*" if last else "/(?:.*/)?"
            glue = ""
            continue
        out += glue + _translate_segment(part)
        glue = "/"
    out += "/.*" if dir_only else "(?:/.*)?"
    return re.compile(out, re.DOTALL)


def match_glob(pattern: str, path: str) -> bool:
    """Whether an include/exclude glob matches a repository-relative POSIX path (see module docs)."""
    rx = _compile_glob(pattern)
    return bool(rx and rx.fullmatch(path))


class PathFilter:
    """A repository's include/exclude lists, compiled once per snapshot."""

    def __init__(self, include: list[str], exclude: list[str]) -> None:
        self.include = [rx for rx in map(_compile_glob, include) if rx]
        self.exclude = [rx for rx in map(_compile_glob, exclude) if rx]

    def excluded(self, path: str) -> bool:
        if self.include and not any(rx.fullmatch(path) for rx in self.include):
            return True
        return any(rx.fullmatch(path) for rx in self.exclude)

    def excludes_whole_dir(self, path: str) -> bool:
        """True when an exclude glob matches the directory itself, so nothing below can be indexed."""
        return any(rx.fullmatch(path + "/") for rx in self.exclude)


def path_reason(path: str, flt: PathFilter) -> str | None:
    """Skip reason from the path's directories and the include/exclude globs."""
    parts = path.split("/")
    if any(is_vendored_dir(d) for d in parts[:-1]):
        return SKIP_VENDORED
    if flt.excluded(path):
        return SKIP_EXCLUDED
    return None
