# Builds the text corpus from the packages fetch.py brought into the scratch tree: one JSON line
# per document ({"source", "kind", "group", "path", "text"}) in SCRATCH/corpus/{train,valid}.jsonl.
# Documents keep their boundaries: a SWORD book/chapter block, a documentation file, a source file
# (code: path relative to its repository, the repository is the "group").
# Validation: prose holds out the LAST 5% of every source's documents (DATA.md); documentation and
# code hold out a deterministic 3% of documents (hash of source + path), so repositories stay
# whole enough for repository tasks. Packages reserved for evaluation are refused
# (packages.assert_trainable), also if their files were somehow put into the scratch tree.
# Usage: python3 training/data/corpus.py [--scratch /work/scratch]
import argparse
import glob
import gzip
import hashlib
import html
import html.parser
import json
import re
import struct
import sys
import tarfile
import zlib
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import packages  # noqa: E402

MAX_FILE_BYTES = 256 * 1024          # larger single files are generated data, not prose or code
DOC_MIN_CHARS = 200

# ---- text helpers -------------------------------------------------------------------------------


def decode_bytes(b):
    """UTF-8 text or None (binary: NUL bytes; or not UTF-8 and not plausibly Latin-1 text)."""
    if b"\x00" in b:
        return None
    try:
        return b.decode("utf-8")
    except UnicodeDecodeError:
        t = b.decode("latin-1")
        printable = sum(c.isprintable() or c in "\n\t\r" for c in t[:4096])
        return t if printable > 0.97 * min(len(t), 4096) else None


def tidy(text):
    """Normalise line ends, strip trailing spaces, at most two blank lines in a row."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = re.sub(r"[ \t]+\n", "\n", text)
    text = re.sub(r"\n{4,}", "\n\n\n", text)
    return text.strip("\n") + "\n"


def read_maybe_gz(path):
    b = Path(path).read_bytes()
    if str(path).endswith((".gz", ".dz")):
        b = gzip.decompress(b)
    return b


# ---- SWORD modules (zText / zCom / zCom4 / zLD) ------------------------------------------------

_NOTE = re.compile(r"<note\b[^>]*>.*?</note>", re.S)
_RF = re.compile(r"<RF>.*?<Rf>", re.S)


def osis_to_text(s):
    """OSIS/TEI/ThML markup of a SWORD block -> plain text (notes dropped, titles and chapters on
    their own lines, paragraph milestones as blank lines)."""
    s = _NOTE.sub("", s)
    s = _RF.sub("", s)
    s = re.sub(r'<chapter\b[^>]*\bn="(\d+)"[^>]*/>', r"\n\nChapter \1\n\n", s)
    s = re.sub(r"<title\b[^>]*>(.*?)</title>", r"\n\n\1\n\n", s, flags=re.S)
    s = re.sub(r"<(?:div|p)\b[^>]*type=\"x-p\"[^>]*/>", "\n\n", s)
    s = re.sub(r"<(?:lb|br)\b[^>]*/?>|</?p\b[^>]*>|</?l\b[^>]*>", "\n", s)
    s = re.sub(r"<[^>]+>", "", s)
    s = html.unescape(s)
    s = re.sub(r"[ \t]{2,}", " ", s)
    s = re.sub(r" *\n *", "\n", s)
    return tidy(s)


def sword_blocks(prefix):
    """prefix = path without the 2-letter suffix (e.g. .../ot.b or .../ot.c): yields the
    decompressed blocks in order (a block is a book or a chapter; linked entries appear once)."""
    index = Path(prefix + "zs").read_bytes()
    data = Path(prefix + "zz").read_bytes()
    for i in range(len(index) // 12):
        off, size, _usize = struct.unpack_from("<III", index, 12 * i)
        if size:
            yield zlib.decompress(data[off:off + size]).decode("utf-8", "replace")


def read_sword(root, name, args):
    mods = root / "usr/share/sword/modules"
    docs = []
    for zs in sorted(glob.glob(str(mods / "**/*zs"), recursive=True)):
        prefix = zs[:-2]
        testament = Path(prefix).name[:2]
        pending = ""
        for bi, block in enumerate(sword_blocks(prefix)):
            pending += osis_to_text(block)
            if len(pending) >= 20000:
                docs.append((f"{testament}/{bi:04d}", pending))
                pending = ""
        if pending.strip():
            docs.append((f"{testament}/end", pending))
    for zdx in sorted(glob.glob(str(mods / "**/*.zdx"), recursive=True)):
        docs.extend(read_zld(zdx[:-4]))
    return docs


def read_zld(prefix):
    """A zLD dictionary: .zdx (offset, size) of zlib blocks in .zdt; each block starts with a
    u32 entry count and (offset, size) pairs. Entries grouped by the first letter of their key."""
    zdx, zdt = Path(prefix + ".zdx").read_bytes(), Path(prefix + ".zdt").read_bytes()
    groups = {}
    for i in range(len(zdx) // 8):
        off, size = struct.unpack_from("<II", zdx, 8 * i)
        block = zlib.decompress(zdt[off:off + size])
        (count,) = struct.unpack_from("<I", block, 0)
        for e in range(count):
            eo, es = struct.unpack_from("<II", block, 4 + 8 * e)
            raw = block[eo:eo + es].rstrip(b"\x00").decode("utf-8", "replace")
            m = re.search(r'<entryFree n="([^"]*)"', raw)
            key = m.group(1) if m else ""
            body = osis_to_text(raw).strip()
            if body:
                letter = (key[:1] or "#").upper()
                groups.setdefault(letter, []).append(f"{key}\n{body}\n" if key else body + "\n")
    return [(f"dict/{k}", "\n".join(v)) for k, v in sorted(groups.items())]


# ---- plain files, dictd, HTML ------------------------------------------------------------------

def read_files(root, name, args):
    docs = []
    skip_ext = tuple(args.get("skip_ext", ()))
    for pattern in args["glob"]:
        for p in sorted(glob.glob(str(root / pattern), recursive=True)):
            if not Path(p).is_file() or p.endswith(skip_ext) or Path(p).is_symlink():
                continue
            raw = read_maybe_gz(p)
            if len(raw) > args.get("max_bytes", 4 * MAX_FILE_BYTES):
                continue
            text = decode_bytes(raw)
            if text and len(text) >= DOC_MIN_CHARS:
                docs.append((str(Path(p).relative_to(root)), tidy(text)))
    return docs


def read_dictd(root, name, args):
    docs = []
    for p in sorted(glob.glob(str(root / "usr/share/dictd/*.dict*"))):
        text = decode_bytes(read_maybe_gz(p))
        if text:
            docs.append((str(Path(p).relative_to(root)), tidy(text)))
    return docs


class _HtmlText(html.parser.HTMLParser):
    BLOCK = {"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "pre", "dt", "dd",
             "table", "ul", "ol", "blockquote", "section", "hr"}
    SKIP = {"script", "style", "head", "nav"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.out, self.skip, self.pre = [], 0, 0

    SKIP_CLASSES = ("sphinxsidebar", "related", "footer", "navheader", "navfooter", "toc",
                    "headerlink", "breadcrumbs")

    def handle_starttag(self, tag, attrs):
        if self.skip and tag == "div":
            self.skip += 1
        elif tag in self.SKIP:
            self.skip += 1
        elif tag == "div" and any(c in (dict(attrs).get("class") or "")
                                  for c in self.SKIP_CLASSES):
            self.skip += 1
        if tag == "pre":
            self.pre += 1
        if tag in self.BLOCK:
            self.out.append("\n\n" if tag in ("p", "pre", "h1", "h2", "h3", "table") else "\n")

    def handle_endtag(self, tag):
        if (tag in self.SKIP or tag == "div") and self.skip:
            self.skip -= 1
        if tag == "pre" and self.pre:
            self.pre -= 1
        if tag in self.BLOCK:
            self.out.append("\n")

    def handle_data(self, data):
        if not self.skip:
            self.out.append(data if self.pre else re.sub(r"\s+", " ", data))


def html_to_text(s):
    p = _HtmlText()
    p.feed(s)
    p.close()
    text = "".join(p.out)
    text = re.sub(r"[ \t]+\n", "\n", text)
    text = re.sub(r"\n[ \t]+(?=\S)", lambda m: m.group(0) if "  " in m.group(0) else "\n", text)
    return tidy(text)


def read_html(root, name, args):
    docs = []
    skip = tuple(args.get("skip", ()))
    for pattern in args["glob"]:
        for p in sorted(glob.glob(str(root / pattern), recursive=True)):
            if any(s in p for s in skip) or not Path(p).is_file():
                continue
            raw = decode_bytes(read_maybe_gz(p))
            if raw:
                text = html_to_text(raw)
                if len(text) >= DOC_MIN_CHARS:
                    docs.append((str(Path(p).relative_to(root)), text))
    return docs


# ---- code repositories -------------------------------------------------------------------------

CODE_EXT = {".c", ".h", ".cc", ".cpp", ".cxx", ".hpp", ".hh", ".hxx", ".inl", ".py", ".pyi",
            ".sh", ".bash", ".cmake", ".tcl", ".lua", ".rb", ".pl", ".pm", ".go", ".rs", ".js",
            ".ts", ".java", ".m4", ".ac", ".am", ".mk", ".proto", ".y", ".l", ".txt", ".md",
            ".rst", ".in", ".def", ".S", ".asm", ".awk", ".sed", ".el", ".vim", ".toml", ".yml",
            ".yaml", ".cfg", ".ini"}
CODE_NAMES = {"Makefile", "CMakeLists.txt", "README", "INSTALL", "NEWS", "configure.ac",
              "Makefile.am", "meson.build", "BUILD", "Dockerfile"}
SKIP_PARTS = {".git", "node_modules", "testdata", "test-data", "fixtures", "third_party_data"}


def code_file_ok(path, text):
    p = Path(path)
    if not (p.suffix in CODE_EXT or p.name in CODE_NAMES):
        return False
    if any(part in SKIP_PARTS for part in p.parts):
        return False
    if p.suffix == ".txt" and p.name != "CMakeLists.txt" and len(text) > 64 * 1024:
        return False  # large .txt in a repository is data (word lists, test vectors)
    lines = text.split("\n")
    long_lines = sum(len(line) > 300 for line in lines)
    return len(text) >= 64 and long_lines <= max(2, len(lines) // 50)


def read_repo_dir(root, name, args):
    base = root / args["root"]
    docs = []
    for p in sorted(base.rglob("*")):
        if p.is_file() and not p.is_symlink() and p.stat().st_size <= MAX_FILE_BYTES:
            rel = str(p.relative_to(base))
            if "__pycache__" in rel or "/test/" in f"/{rel}" and p.suffix != ".py":
                continue
            text = decode_bytes(p.read_bytes())
            if text and code_file_ok(rel, text):
                docs.append((rel, tidy(text)))
    return docs


def read_source_tarball(src_dir):
    """The upstream tarball(s) of a source package, read in place: [(path in repo, text)]."""
    docs = []
    for tb in sorted(Path(src_dir).glob("*.orig*.tar.*")):
        if tb.name.endswith(".asc") or "orig-www" in tb.name:
            continue
        with tarfile.open(tb) as tar:
            for m in tar:
                if not m.isfile() or m.size > MAX_FILE_BYTES:
                    continue
                rel = m.name.split("/", 1)[1] if "/" in m.name else m.name
                f = tar.extractfile(m)
                text = decode_bytes(f.read()) if f else None
                if text and code_file_ok(rel, text):
                    docs.append((rel, tidy(text)))
    return docs


# ---- symbols for "which file defines" ----------------------------------------------------------

_C_FUNC = re.compile(r"^(?:[A-Za-z_][\w\s\*&:<>,]*?[\s\*&])?([A-Za-z_]\w*(?:::\w+)*)\s*\([^;{]*$")
_C_TYPE = re.compile(r"^(?:typedef\s+)?(?:struct|class|union|enum)\s+([A-Za-z_]\w*)\s*"
                     r"(?::[^{;]*)?\{?\s*$")
_C_DEFINE = re.compile(r"^#\s*define\s+([A-Za-z_]\w*)")
_PY_DEF = re.compile(r"^(?:async\s+)?(?:def|class)\s+([A-Za-z_]\w*)")
_C_KEYWORDS = {"if", "for", "while", "switch", "return", "sizeof", "else", "do", "case", "main"}


def defined_symbols(path, text):
    """Top-level definitions in C/C++ (functions whose body opens on that or the next line,
    struct/class/enum, #define) and Python (def/class at column 0)."""
    suffix = Path(path).suffix
    out = []
    lines = text.split("\n")
    if suffix in (".py", ".pyi"):
        out = [m.group(1) for m in map(_PY_DEF.match, lines) if m]
    elif suffix in (".c", ".h", ".cc", ".cpp", ".cxx", ".hpp", ".hh", ".hxx", ".inl"):
        for i, line in enumerate(lines):
            if not line or line[0] in " \t#/*}" and not line.startswith("#"):
                continue
            m = _C_DEFINE.match(line) or _C_TYPE.match(line)
            if not m and i + 1 < len(lines):
                m = _C_FUNC.match(line)
                if m:
                    nxt = line + lines[i + 1]
                    if "{" not in nxt and not (i + 2 < len(lines) and lines[i + 2].startswith("{")):
                        m = None
            if m:
                out.append(m.group(1).split("::")[-1] if "::" in m.group(1) else m.group(1))
    seen, uniq = set(), []
    for s in out:
        if len(s) >= 4 and s not in _C_KEYWORDS and not s.startswith("_") and s not in seen:
            seen.add(s)
            uniq.append(s)
    return uniq


# ---- corpus assembly ---------------------------------------------------------------------------

READERS = {"sword": read_sword, "files": read_files, "dictd": read_dictd, "html": read_html,
           "repo": read_repo_dir}


def is_valid(kind, source, path, index, count):
    if kind == "prose":  # the last 5% of the source's documents (none of a source of < 4)
        return count >= 4 and index >= count - max(1, round(0.05 * count))
    h = hashlib.sha1(f"{source}/{path}".encode()).digest()
    return h[0] < 8  # 8/256 ~= 3%


DEFAULT_CAPS_MB = {"prose": 24.0, "doc": 12.0, "code": 6.0}


def build(scratch, caps_mb=None, log=print):
    caps_mb = dict(DEFAULT_CAPS_MB, **(caps_mb or {}))
    scratch = Path(scratch)
    out_dir = scratch / "corpus"
    out_dir.mkdir(parents=True, exist_ok=True)
    sources = [(n, k, r, a) for n, k, r, a in packages.BINARY]
    sources += [(n, "code", "source", {}) for n in packages.SOURCE]
    stats = {}
    with open(out_dir / "train.jsonl", "w", encoding="utf-8") as ftr, \
            open(out_dir / "valid.jsonl", "w", encoding="utf-8") as fva:
        for name, kind, reader, args in sources:
            packages.assert_trainable(name)
            if reader == "source":
                docs = read_source_tarball(scratch / "src" / name)
                group = name
            else:
                docs = READERS[reader](scratch / "root" / name, name, args)
                group = args.get("repo", name)
            cap = int(caps_mb[kind] * 2**20)
            # Over the cap: keep a spread-out subset (files in hash order until the cap), then
            # restore the natural order so a repository's neighbouring files stay together.
            order = sorted(range(len(docs)), key=lambda i: hashlib.sha1(
                f"keep:{name}/{docs[i][0]}".encode()).digest())
            keep, total = set(), 0
            for i in order:
                if total + len(docs[i][1]) <= cap:
                    keep.add(i)
                    total += len(docs[i][1])
            kept = [d for i, d in enumerate(docs) if i in keep]
            symbol_count = {}
            syms = []
            for path, text in kept:
                s = defined_symbols(path, text) if kind == "code" else []
                syms.append(s)
                for x in s:
                    symbol_count[x] = symbol_count.get(x, 0) + 1
            nvalid = 0
            for i, ((path, text), s) in enumerate(zip(kept, syms)):
                valid = is_valid(kind, name, path, i, len(kept))
                rec = {"source": name, "kind": kind, "group": group, "path": path, "text": text}
                if kind == "code":
                    rec["symbols"] = [x for x in s if symbol_count[x] == 1][:64]
                (fva if valid else ftr).write(json.dumps(rec, ensure_ascii=False) + "\n")
                nvalid += valid
            stats[name] = {"kind": kind, "docs": len(kept), "valid_docs": nvalid,
                           "chars": total, "dropped_over_cap": len(docs) - len(kept)}
            log(f"{name:24s} {kind:5s} {len(kept):6d} docs ({nvalid} valid) "
                f"{total / 1e6:7.2f} M chars")
    (out_dir / "stats.json").write_text(json.dumps(stats, indent=1))
    return stats


def build_eval(scratch, log=print):
    """The evaluation-only corpus (packages.EVAL_*) -> SCRATCH/corpus/eval.jsonl. Never mixed
    with the training files; pretokenize.py writes it to its own shard folder."""
    scratch = Path(scratch)
    ev = scratch / "eval"
    out = scratch / "corpus" / "eval.jsonl"
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "w", encoding="utf-8") as f:
        for name, kind, reader, args in packages.EVAL_BINARY:
            for path, text in READERS[reader](ev / "root" / name, name, args):
                f.write(json.dumps({"source": name, "kind": kind, "group": name, "path": path,
                                    "text": text}, ensure_ascii=False) + "\n")
        for name in packages.EVAL_SOURCE:
            docs = read_source_tarball(ev / "src" / name)
            count = {}
            syms = [defined_symbols(p, t) for p, t in docs]
            for s in syms:
                for x in s:
                    count[x] = count.get(x, 0) + 1
            for (path, text), s in zip(docs, syms):
                f.write(json.dumps({"source": name, "kind": "code", "group": name, "path": path,
                                    "text": text, "symbols": [x for x in s if count[x] == 1][:64]},
                                   ensure_ascii=False) + "\n")
            log(f"eval {name}: {len(docs)} files")
    return out


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--scratch", default="/work/scratch")
    for kind, mb in DEFAULT_CAPS_MB.items():
        ap.add_argument(f"--cap-{kind}", type=float, default=mb,
                        help=f"MiB of characters kept per {kind} source")
    ap.add_argument("--eval", action="store_true", help="build only the evaluation corpus")
    args = ap.parse_args(argv)
    if args.eval:
        build_eval(args.scratch)
        return
    stats = build(args.scratch, {k: getattr(args, f"cap_{k}") for k in DEFAULT_CAPS_MB})
    print(f"total {sum(s['chars'] for s in stats.values()) / 1e6:.1f} M chars")


if __name__ == "__main__":
    main()
