# The corpus sources: Debian packages by NAME (never a pinned version), what each contributes and
# how its files are read. One list for training, one for evaluation only; RESERVED names the
# packages that must never reach training data (../shared/DATA.md), and assert_trainable() is
# called by every script that reads a package into the training corpus.
#
# kind: "prose" (books, commentaries), "doc" (technical documentation), "code" (a repository:
# every file is a document with its path). how: a reader name from corpus.py.

# Packages whose text is reserved for evaluation. Checked by name and by the source-package name
# of anything fetched (a binary package built from one of these sources is reserved too).
RESERVED = frozenset({
    "sword-comm-mhcc",                                        # prose: Matthew Henry's commentary
    "lua5.4", "jq", "leveldb", "re2", "tmux", "ninja-build",  # code: held-out repositories
})


class ReservedPackageError(RuntimeError):
    pass


def assert_trainable(name):
    """Raises ReservedPackageError if `name` (a binary or source package) is reserved."""
    base = name.split("/")[0].split("=")[0]
    if base in RESERVED:
        raise ReservedPackageError(f"{base} is reserved for evaluation and must not enter training")
    return base


# Binary packages: apt-get download NAME, dpkg -x into the scratch tree.
# (name, kind, reader, reader arguments)
BINARY = [
    # Public-domain books and long prose (SWORD modules: zlib blocks, tags stripped).
    ("sword-text-kjv", "prose", "sword", {}),
    ("sword-text-web", "prose", "sword", {}),
    ("sword-comm-tdavid", "prose", "sword", {}),
    ("sword-comm-scofield", "prose", "sword", {}),
    ("sword-dict-naves", "prose", "sword", {}),
    ("jargon-text", "prose", "files", {"glob": ["usr/share/doc/jargon-text/**/*.txt*"],
                                           "max_bytes": 8 << 20}),
    ("dict-devil", "prose", "dictd", {}),
    ("fortunes", "prose", "files", {"glob": ["usr/share/games/fortunes/*"], "skip_ext": [".dat", ".u8"]}),
    # Long technical documentation.
    ("python3.11-doc", "doc", "files", {"glob": ["usr/share/doc/python3.11/html/_sources/**/*.rst.txt"]}),
    ("linux-doc-6.1", "doc", "files", {"glob": ["usr/share/doc/linux-doc-6.1/Documentation/**/*.rst*",
                                                 "usr/share/doc/linux-doc-6.1/Documentation/**/*.txt*"]}),
    ("vim-runtime", "doc", "files", {"glob": ["usr/share/vim/vim*/doc/*.txt*"]}),
    ("perl-doc", "doc", "files", {"glob": ["usr/share/perl/*/pod/*.pod*", "usr/share/perl/*/pod/**/*.pod*"]}),
    ("manpages", "doc", "files", {"glob": ["usr/share/man/man*/*"]}),
    ("manpages-dev", "doc", "files", {"glob": ["usr/share/man/man*/*"]}),
    ("python-django-doc", "doc", "html", {"glob": ["usr/share/doc/python-django-doc/html/**/*.html"],
                                         "skip": ["genindex", "search.html", "py-modindex"]}),
    ("postgresql-doc-15", "doc", "html", {"glob": ["usr/share/doc/postgresql-doc-15/html/*.html"]}),
    ("abs-guide", "doc", "html", {"glob": ["usr/share/doc/abs-guide/html/*.html"]}),
    ("debian-reference-en", "doc", "html", {"glob": ["usr/share/debian-reference/*.en.html"]}),
    # Code shipped in a binary package: the Python standard library.
    ("libpython3.11-stdlib", "code", "repo", {"root": "usr/lib/python3.11", "repo": "cpython-Lib"}),
]

# Source packages: apt-get source --download-only NAME (deb-src through a private apt
# configuration); the upstream tarball is read in place. Each is one repository.
SOURCE = [
    "redis", "sqlite3", "nlohmann-json3", "protobuf", "git", "curl", "cmake", "python-django",
    "bash", "coreutils", "libuv1", "xz-utils", "zlib", "lz4", "sentencepiece", "libevent",
]

# Evaluation only (eval.py): never read by corpus.py.
EVAL_BINARY = [("sword-comm-mhcc", "prose", "sword", {})]
EVAL_SOURCE = ["lua5.4", "jq", "leveldb", "re2", "tmux", "ninja-build"]

for _n, *_ in BINARY:
    assert_trainable(_n)
for _n in SOURCE:
    assert_trainable(_n)
