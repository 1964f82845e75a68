"""Where the indexer gets files from: a git work tree, a plain directory, or a git URL.

Three kinds of repository, one `Snapshot` shape:

* **Local git work tree** (the directory given is the root of a work tree, or a bare repository):
  the files git *tracks* at the branch head (the configured branch, else HEAD), with their
  *committed* content. Uncommitted edits and untracked files are not indexed, so an index always
  corresponds to one commit, which is recorded. Listing uses `git ls-tree -r -l` (blob ids and sizes
  without reading anything) and content comes from one long-lived `git cat-file --batch`, which
  keeps a no-op reindex of thousands of files far below a second.
* **Git URL**: cloned once into `cache_dir/<name>` without a checkout (only git objects are read),
  fetched on later runs; the configured branch (else the remote's default branch) of `origin` is
  indexed like a local work tree.
* **Plain directory** (not a work tree root: an ordinary directory, a *subdirectory* of a work
  tree, or a git repository with no commits yet): the files on disk, walked without following
  symlinks or descending into `.git`; blob ids are git-style sha1s of the content so they compare
  equal to git's for identical content.

Git never prompts (GIT_TERMINAL_PROMPT=0, no askpass, ssh BatchMode) and never runs hooks.

Skip reasons (keys of `Snapshot.skipped`; stable, shown to users):

* ``too-large``       size above ``max_file_bytes`` (from ls-tree -l / stat, nothing read)
* ``vendored``        a directory component is a dependency, cache or build-output directory
                      (node_modules, vendor, third_party, dist, build, target, .venv, __pycache__, ...;
                      see `VENDORED_DIRS`). Directory walks do not enter such a directory and count it
                      once as ``"dir/"``; git listings count each file.
* ``generated``       minified bundles, source maps, lock files, protobuf/gRPC output (by name only;
                      content markers such as "DO NOT EDIT" are checked later by the pipeline)
* ``translation``     translation catalogs (.po, .pot, .mo, .xlf): thousands of strings per locale that
                      would drown code in search and teach a new hire nothing about the code
* ``secret``          files that typically hold credentials (.env, .env.*, *.pem, *.key, id_rsa,
                      .netrc, .npmrc, credentials.json, secrets.*, *.tfstate, ...). Never read.
* ``binary-ext``      an extension that is always binary (images, archives, fonts, object code,
                      .pyc, .jar, .pdf, .sqlite, ...). NUL-byte sniffing of other files happens later.
* ``symlink``         a symlink (git mode 120000 or on disk); never followed
* ``symlink-outside`` a symlink whose target leaves the indexed root (counted instead of ``symlink``)
* ``submodule``       a git submodule (mode 160000)
* ``excluded``        matched a repo ``exclude`` glob, or no glob of a non-empty ``include`` list
* ``unreadable``      a plain-directory entry that cannot be stat'ed, listed or read, a special file
                      (FIFO, socket, device), or a file name that is not valid UTF-8

Checks run in that priority: vendored, excluded, symlink/submodule/special, secret, binary-ext,
generated, translation, too-large; each skipped file is counted once, under the first reason that applies.

Include/exclude globs (`match_glob`) follow .gitignore conventions, on the repository-relative
POSIX path, case-sensitively:

* a pattern without a ``/`` matches a name at any depth: ``*.py``, ``README.md``, ``tests``;
* a pattern containing a ``/`` is anchored at the root (a leading ``/`` or ``./`` is optional):
  ``docs/*.md`` matches ``docs/a.md`` but not ``docs/x/a.md`` or ``src/docs/a.md``;
* ``*`` and ``?`` never cross ``/``; ``[abc]`` / ``[!abc]`` are character classes;
* ``**`` is any number of directories: ``docs/**``, ``**/test_*.py``, ``src/**/*.ts``;
* a pattern that matches a directory matches everything below it (``vendor``, ``src/legacy``);
  a trailing ``/`` makes a pattern match directories only.
"""

from indexer.sources.filters import SKIP_REASONS, match_glob
from indexer.sources.repos import open_snapshot, repo_from_argument
from indexer.sources.snapshot import Snapshot, SourceError

__all__ = ["SKIP_REASONS", "Snapshot", "SourceError", "match_glob", "open_snapshot", "repo_from_argument"]
