# Training rows from pre-tokenised shards: plain language-model rows, and long-context episodes
# that use the model's prompt templates (config.json "templates"):
#   passkey      needle(s) at a random depth of a document, "What is the pass key?"    (template)
#   passkey_plain the same in plain text ending "The pass key is" (what `tome generate` can feed)
#   multikey     several "The access code for NAME is N." needles, asked for one      (template)
#   quote        "Continue this passage from the document: "<span>"" -> the next words
#   follows      "Which line comes right after "<line>" in the document?" -> that line
#   whichfile    a repository in context, "Which file defines `SYMBOL`?" -> its path
#   whichfile_many  the same over excerpts of as many of a repository's files as fit (headers restated)
#   fim          a repository in context, then the completion template: prefix/suffix -> middle
#   nextline     fim with the cursor at a line start and an empty suffix: the next line (the
#                target file in the context on a quarter of the rows; eval_rows' "nextline")
#   nextline_tree  nextline with the target file always in the context, anywhere in the row, and
#                at most 8,192 characters of prefix: the line's earlier copy is to be found
#                (long-range copying; training/results/long-copy/)
# Layouts (special tokens as ids, text runs encoded as one piece each, as the engine does):
#   document  = template "document" with {text} = the document's text
#   repository = <s><|doc|> then per file template "file" (<|file|>{path}\n{text}) then <|/doc|>
#                with config.json "file_header_every" N > 0, a file's header (<|file|>{path}\n) is
#                stated again inside it: after a token ending a line, once N tokens of the file
#                have passed since its header (or the last restatement), when more of it follows
#                (restate_headers; the engine's ingest lays repositories out the same way)
#   episode   = context + template "question" ({question}) + answer + </s>
#   fim       = repository + template "completion" ({prefix}, {suffix}) + middle + </s>
# A row is (tokens [T+1] int64, lm_mask [T] bool, answer_mask [T] bool); targets are tokens[1:].
# Pure numpy + the SentencePiece model: runs in DataLoader workers on the GPU machine.
import random
import re

import numpy as np

BOS, EOS, PAD = 1, 2, 3

TASKS = ("passkey", "passkey_plain", "multikey", "quote", "follows", "whichfile", "fim",
         "nextline", "whichfile_many", "nextline_tree")
NAMES = ("Alice", "Bob", "Carol", "David", "Erin", "Frank", "Grace", "Heidi", "Ivan", "Judy",
         "Mallory", "Niaj", "Olivia", "Peggy", "Rupert", "Sybil", "Trent", "Victor", "Walter",
         "Yusuf", "Zoe", "Ada", "Linus", "Guido", "Bjarne", "Ken", "Dennis", "Grace", "Barbara")
PASSKEY_FORMS = (  # (needle, question): {v} the value
    ("The pass key is {v}. Remember it. {v} is the pass key.", "What is the pass key?"),
    ("The secret number is {v}.", "What is the secret number?"),
    ("Remember this code: {v}.", "What code were you asked to remember?"),
    ("Note: the magic number is {v}.", "What is the magic number?"),
)
PLAIN_QUESTION = "What is the pass key? The pass key is"


def random_value(rng):
    """A value to retrieve: digits (4-7) mostly, sometimes a code like K7Q-294."""
    if rng.random() < 0.75:
        n = rng.randint(4, 7)
        return str(rng.randrange(10 ** (n - 1), 10 ** n))
    letters = "ABCDEFGHJKLMNPQRSTUVWXYZ"
    return "".join(rng.choice(letters + "0123456789") for _ in range(3)) + "-" + \
        str(rng.randrange(100, 1000))


# "Which file defines" questions. In the bare form the symbol follows a space, as at most
# definitions ("int name(", "def name"), so SentencePiece spells it with the same pieces there
# ("▁l ua V _fin ish get"); after a backtick its first pieces differ ("lua V _fin ish get").
WHICHFILE_FORMS = ("Which file defines `{sym}`?", "Which file defines {sym}?")


class TaskMaker:
    """Builds rows of length T from a shards.Split with an Encoder (tokenizer.Encoder)."""

    def __init__(self, split, enc, templates, seed=0, repo_segment_tokens=32768,
                 file_header_every=0):
        self.split, self.enc, self.templates = split, enc, templates
        self.file_header_every = int(file_header_every)
        self._file_cache = {}
        self._text_cache = {}
        self.far_share = 0.0   # training: share of pass-key needles drawn in the first quarter
        # training: share of which-file episodes asking for a symbol whose first occurrence in
        # its file is >= deep_chars characters after the header (when the context has one)
        self.deep_share, self.deep_chars = 0.0, 500
        # training: share of which-file questions asked in the bare form (WHICHFILE_FORMS[1])
        self.bare_share = 0.0
        self.rng = random.Random(seed)
        self.nrng = np.random.default_rng(seed)
        vocab = enc.sp.get_piece_size()
        self.word_start = np.zeros(vocab, dtype=bool)      # piece starts a word / follows \n
        for i in range(vocab):
            p = enc.sp.id_to_piece(i)
            self.word_start[i] = p.startswith("\u2581") or p == "<0x0A>"
        self.newline = enc.sp.piece_to_id("<0x0A>")
        self.line_end = line_end_mask(enc.sp)
        self.sep = np.asarray(enc.encode("\n\n"), dtype=np.int64)
        self.special = dict(enc.special)
        docs = split.docs
        self.text_docs = np.nonzero(docs[:, 2] != 2)[0]      # prose + doc
        lens = docs[self.text_docs, 1].astype(np.float64)
        self.text_p = lens / lens.sum() if lens.size else None
        self.repos = {}                                      # group -> [doc index] in path order
        for i in np.nonzero(docs[:, 2] == 2)[0]:
            self.repos.setdefault(int(docs[i, 3]), []).append(int(i))
        self.repo_ids = sorted(self.repos)
        rl = np.array([docs[self.repos[g], 1].sum() for g in self.repo_ids], dtype=np.float64)
        self.repo_p = rl / rl.sum() if rl.size else None
        self.stream = self._build_stream(repo_segment_tokens)

    # ---- pieces --------------------------------------------------------------------------------

    def tpl(self, name, **values):
        return np.asarray(self.enc.encode_template(self.templates[name], **values), dtype=np.int64)

    def doc_wrap(self):
        """The document template around a text: (ids before, ids after)."""
        pre, _, post = self.templates["document"].partition("{text}")
        return (np.asarray(self.enc.encode_template(pre), np.int64),
                np.asarray(self.enc.encode_template(post), np.int64))

    def file_ids(self, i):
        """<|file|> + encode(path + "\n" + text) of code document i (its header restated inside
        it every file_header_every tokens, when set)."""
        ids = np.concatenate(([self.special["<|file|>"]], self.split.doc(i).astype(np.int64)))
        if self.file_header_every <= 0:
            return ids
        got = self._file_cache.get(i)
        if got is None:
            got = restate_headers(ids, self.file_header_every, self.line_end)
            self._file_cache[i] = got.astype(np.uint16)
            return got
        return got.astype(np.int64)

    def _build_stream(self, seg_tokens):
        """The LM stream: every document in its template (code: repositories cut into segments
        of consecutive files), in a shuffled order, concatenated."""
        pre, post = self.doc_wrap()
        units = [np.concatenate((pre, self.split.doc(i).astype(np.int64), post))
                 for i in self.text_docs]
        for g in self.repo_ids:
            files, size = [], 0
            for i in self.repos[g]:
                f = self.file_ids(i)
                if files and size + f.size > seg_tokens:
                    units.append(np.concatenate([pre, *files, post]))
                    files, size = [], 0
                files.append(f)
                size += f.size
            if files:
                units.append(np.concatenate([pre, *files, post]))
        self.rng.shuffle(units)
        return np.concatenate(units).astype(np.uint16) if units else np.zeros(0, np.uint16)

    def text_window(self, n):
        """n tokens of running text (prose/doc), from a random document and offset, continued
        with further random documents separated by a blank line."""
        out, have = [], 0
        while have < n:
            i = self.text_docs[self.nrng.choice(self.text_docs.size, p=self.text_p)]
            d = self.split.doc(i).astype(np.int64)
            start = int(self.nrng.integers(0, max(1, d.size - (n - have)))) if not out else 0
            piece = d[start:start + n - have]
            if out:
                out.append(self.sep)
                have += self.sep.size
            out.append(piece[: max(0, n - have)])
            have += out[-1].size
        return np.concatenate(out)[:n] if out else np.zeros(0, np.int64)

    def repo_files(self, budget, min_files=1):
        """Consecutive files of one repository whose file-template ids fit `budget` tokens:
        (group, [doc index], [ids]) or None."""
        for _ in range(8):
            g = self.repo_ids[self.nrng.choice(len(self.repo_ids), p=self.repo_p)]
            files = self.repos[g]
            start = int(self.nrng.integers(0, len(files)))
            chosen, ids, size = [], [], 0
            for i in files[start:] + files[:start]:
                f = self.file_ids(i)
                if size + f.size > budget:
                    if chosen:
                        break
                    continue  # a file too large to fit at all: try the next one
                chosen.append(i)
                ids.append(f)
                size += f.size
            if len(chosen) >= min_files:
                return g, chosen, ids
        return None

    # ---- rows ----------------------------------------------------------------------------------

    @staticmethod
    def finish(parts, answer_from, T):
        """Concatenates parts -> a row of T+1 (right-padded with PAD); answer_from: index into the
        concatenation where the answer starts (None: no answer). Returns None if too long."""
        ids = np.concatenate(parts).astype(np.int64)
        n = ids.size
        if n > T + 1 or n < 2:
            return None
        tokens = np.full(T + 1, PAD, dtype=np.int64)
        tokens[:n] = ids
        lm = np.zeros(T, dtype=bool)
        lm[: n - 1] = True
        ans = np.zeros(T, dtype=bool)
        if answer_from is not None:
            ans[answer_from - 1: n - 1] = True   # targets t+1 in [answer_from, n)
        return tokens, lm, ans

    def lm_row(self, T):
        s = int(self.nrng.integers(0, self.stream.size - T - 1))
        tokens = self.stream[s:s + T + 1].astype(np.int64)
        return tokens, np.ones(T, dtype=bool), np.zeros(T, dtype=bool)

    def _qa(self, context, question, answer_text, T):
        q = self.tpl("question", question=question)
        a = np.concatenate((np.asarray(self.enc.encode(answer_text), np.int64), [EOS]))
        head = np.concatenate(context + [q])
        return self.finish([head, a], head.size, T)

    def passkey(self, T, plain=False, depth=None, form=None):
        v = random_value(self.rng)
        if plain:
            needle = np.asarray(self.enc.encode(f"\nThe pass key is {v}. Remember it. {v} is "
                                                f"the pass key.\n"), np.int64)
            tail = np.asarray(self.enc.encode("\n\n" + PLAIN_QUESTION), np.int64)
            ans = np.concatenate((self.enc.encode(f" {v}."), [EOS])).astype(np.int64)
            pre, post = np.asarray([BOS], np.int64), np.zeros(0, np.int64)
            fill = T + 1 - needle.size - tail.size - ans.size - pre.size
        else:
            form, question = PASSKEY_FORMS[self.rng.randrange(len(PASSKEY_FORMS))
                                           if form is None else form]
            needle = np.asarray(self.enc.encode("\n" + form.format(v=v) + "\n"), np.int64)
            pre, post = self.doc_wrap()
            tail = np.concatenate((post, self.tpl("question", question=question)))
            ans = np.concatenate((self.enc.encode(v), [EOS])).astype(np.int64)
            fill = T + 1 - needle.size - tail.size - ans.size - pre.size
        if fill < 8:
            return None
        filler = self.text_window(fill)
        d = int(round((self._train_depth() if depth is None else depth) * filler.size))
        head = np.concatenate((pre, filler[:d], needle, filler[d:], tail))
        return self.finish([head, ans], head.size, T)

    def _train_depth(self):
        """A random needle depth in 0..1; with probability far_share in 0..0.25 instead (needle
        far from the question). far_share 0 draws exactly one number, as before."""
        u = self.rng.random()
        if self.far_share and self.rng.random() < self.far_share:
            u *= 0.25
        return u

    def multikey(self, T, depth=None):
        k = self.rng.randint(2, 6)
        names = self.rng.sample(NAMES, k)
        vals = [random_value(self.rng) for _ in names]
        needles = [np.asarray(self.enc.encode(f"\nThe access code for {n} is {v}.\n"), np.int64)
                   for n, v in zip(names, vals)]
        j = self.rng.randrange(k)
        pre, post = self.doc_wrap()
        tail = np.concatenate((post, self.tpl("question",
                                              question=f"What is the access code for {names[j]}?")))
        ans = np.concatenate((self.enc.encode(vals[j]), [EOS])).astype(np.int64)
        fill = T + 1 - sum(x.size for x in needles) - tail.size - ans.size - pre.size
        if fill < 8:
            return None
        filler = self.text_window(fill)
        cuts = sorted(int(self.rng.random() * filler.size) for _ in range(k))
        if depth is not None:
            cuts[j] = int(depth * filler.size)
            cuts = sorted(cuts)
        parts, last = [pre], 0
        for c, nd in zip(cuts, needles):
            parts += [filler[last:c], nd]
            last = c
        parts += [filler[last:], tail]
        head = np.concatenate(parts)
        return self.finish([head, ans], head.size, T)

    def _context_text(self, T, reserve):
        """A document context (text window in the document template) leaving `reserve` tokens."""
        pre, post = self.doc_wrap()
        n = T + 1 - reserve - pre.size - post.size
        if n < 32:
            return None
        return pre, self.text_window(n), post

    def quote(self, T):
        span_len, ans_len = self.rng.randint(10, 24), self.rng.randint(6, 20)
        ctx = self._context_text(T, 3 * span_len + 3 * ans_len + 24)
        if ctx is None:
            return None
        pre, body, post = ctx
        starts = np.nonzero(self.word_start[body[: max(1, body.size - span_len - ans_len - 8)]])[0]
        if starts.size == 0:
            return None
        p = int(starts[self.nrng.integers(0, starts.size)])
        e = p + span_len
        q_end = e + ans_len
        while q_end < body.size and not self.word_start[body[q_end]]:
            q_end += 1                                   # end the answer at a word boundary
        span, cont = self.enc.decode(body[p:e]), self.enc.decode(body[e:q_end])
        if not span.strip() or not cont.strip():
            return None
        question = f'Continue this passage from the document: "{span}"'
        return self._qa([pre, body, post], question, cont, T)

    def follows(self, T, code=None):
        code = self.rng.random() < 0.4 if code is None else code
        reserve = 160
        if code:
            r = self.repo_files(T + 1 - reserve - 4)
            if r is None:
                return None
            _, chosen, ids = r
            pre, post = self.doc_wrap()
            context = [pre, *ids, post]
            i = chosen[self.rng.randrange(len(chosen))]
            text = self.enc.decode(self.split.doc(i)).split("\n", 1)[-1]
        else:
            ctx = self._context_text(T, reserve)
            if ctx is None:
                return None
            context = list(ctx)
            text = self.enc.decode(ctx[1])
        for unit, parts in (("line", text.split("\n")),
                            ("sentence", re.split(r"(?<=[.!?;])\s+", text))):
            counts = {}
            for ln in parts:
                counts[ln.strip()] = counts.get(ln.strip(), 0) + 1
            cand = [k for k in range(1, len(parts) - 2)
                    if 16 <= len(parts[k].strip()) <= 200 and counts[parts[k].strip()] == 1
                    and 1 <= len(parts[k + 1].strip()) <= 200]
            if cand:
                k = self.rng.choice(cand)
                question = (f'Which {unit} comes right after "{parts[k].strip()}" '
                            f'in the document?')
                return self._qa(context, question, parts[k + 1].strip(), T)
        return None

    def whichfile(self, T, form=None):
        """form: index into WHICHFILE_FORMS (None: 0, or 1 with probability bare_share)."""
        ep = self.whichfile_episode(T, form)
        return None if ep is None else ep[0]

    def whichfile_episode(self, T, form=None):
        """whichfile's row with what it was built from: (row, {"symbol", "path", "docs" (the
        context's files, in order), "context" (its ids before the question)}) or None."""
        r = self.repo_files(T + 1 - 64, min_files=2 if T >= 2048 else 1)
        if r is None:
            return None
        _, chosen, ids = r
        cands = [(i, s) for i in chosen for s in self.split.symbols[i]]
        if not cands:
            return None
        if self.deep_share and self.rng.random() < self.deep_share:   # 0: no draw, as before
            body = {i: self.enc.decode(self.split.doc(i)).split("\n", 1)[-1] for i in chosen}
            deep = [(i, s) for i, s in cands if body[i].find(s) >= self.deep_chars]
            cands = deep or cands
        i, sym = self.rng.choice(cands)
        if form is None:   # bare_share 0: no draw, the rows as before
            form = int(bool(self.bare_share) and self.rng.random() < self.bare_share)
        pre, post = self.doc_wrap()
        context = [pre, *ids, post]
        row = self._qa(context, WHICHFILE_FORMS[form].format(sym=sym), self.split.paths[i], T)
        if row is None:
            return None
        return row, {"symbol": sym, "path": self.split.paths[i], "docs": chosen, "context": context}

    def _segments(self, i):
        """File i's template ids cut before each restated header: arrays that each begin with
        <|file|> path (one array when file_header_every is 0)."""
        ids = self.file_ids(i)
        starts = np.nonzero(ids == self.special["<|file|>"])[0]
        return np.split(ids, starts[1:])

    def _text(self, i):
        got = self._text_cache.get(i)
        if got is None:
            got = self._text_cache[i] = self.enc.decode(self.split.doc(i))
        return got

    def whichfile_many(self, T, max_mentions=8):
        """"Which file defines" among many files in one row, as with a whole repository in
        context: excerpts of as many files of one repository as fit T (in path order), each a run
        of 1-3 header-led segments (file_header_every > 0: every excerpt starts with its path).
        The defining file's excerpt holds the symbol's first occurrence; up to max_mentions other
        files that mention the symbol come first, their excerpt at the mention."""
        if self.file_header_every <= 0:
            return None
        budget = T + 1 - 64
        g = self.repo_ids[self.nrng.choice(len(self.repo_ids), p=self.repo_p)]
        files = self.repos[g]
        with_sym = [i for i in files if self.split.symbols[i]]
        if len(files) < 4 or not with_sym:
            return None
        t = self.rng.choice(with_sym)
        sym = self.rng.choice(self.split.symbols[t])

        def excerpt(i, at_symbol):
            segs = self._segments(i)
            j = None
            if at_symbol:
                j = next((k for k, sg in enumerate(segs) if sym in self.enc.decode(sg)), None)
                if j is None:
                    return None
            else:
                j = self.rng.randrange(len(segs))
            a, b = max(0, j - self.rng.randint(0, 1)), j + 1 + self.rng.randint(0, 1)
            return np.concatenate(segs[a:b])

        pieces, size = {}, 0
        first = excerpt(t, True)
        if first is None or first.size > budget // 2:
            return None
        pieces[t], size = first, first.size
        others = [i for i in files if i != t]
        self.rng.shuffle(others)
        mentions = [i for i in others if sym in self._text(i)][:max_mentions]
        for i in mentions + [i for i in others if i not in set(mentions)]:
            if size > budget - 64:
                break
            ex = excerpt(i, i in mentions)
            if ex is None or size + ex.size > budget:
                continue
            pieces[i] = ex
            size += ex.size
        if len(pieces) < 2:
            return None
        pre, post = self.doc_wrap()
        ids = [pieces[i] for i in files if i in pieces]
        return self._qa([pre, *ids, post], WHICHFILE_FORMS[0].format(sym=sym),
                        self.split.paths[t], T)

    def fim(self, T, keep_target=None, empty_suffix=None, n_lines=None, col=None, prefix_cap=None):
        """keep_target: the target file also in the repository context (else left out);
        empty_suffix: cursor at the end (next-line completion); n_lines: lines in the middle;
        col: 0 = the middle starts at a line start (None: random); prefix_cap: at most this many
        characters of prefix (and half of it of suffix)."""
        keep_target = self.rng.random() < 0.5 if keep_target is None else keep_target
        empty_suffix = self.rng.random() < 0.25 if empty_suffix is None else empty_suffix
        r = self.repo_files(max(64, (T + 1) * 2 // 3))
        if r is None:
            return None
        _, chosen, ids = r
        t = self.rng.randrange(len(chosen))
        text = self.enc.decode(self.split.doc(chosen[t])).split("\n", 1)[-1]
        lines = text.split("\n")
        if len(lines) < 4:
            return None
        a = self.rng.randrange(1, len(lines) - 1)
        b = min(len(lines), a + (n_lines or self.rng.choice((1, 1, 1, 2, 3))))
        if col is None:
            col = 0
            if self.rng.random() < 0.5 and len(lines[a]) > 8:
                col = self.rng.randrange(len(lines[a]) - len(lines[a].lstrip()), len(lines[a]))
        middle = "\n".join(lines[a:b])[col:] + "\n"
        if not middle.strip() or (empty_suffix and b == len(lines)):
            return None
        budget_chars = max(200, (T + 1) // 6 * 3)
        if prefix_cap is not None:
            budget_chars = min(budget_chars, prefix_cap)
        prefix = ("\n".join(lines[:a]) + "\n" + lines[a][:col])[-budget_chars:]
        suffix = "" if empty_suffix else "\n".join(lines[b:])[: budget_chars // 2]
        if not keep_target:
            ids = ids[:t] + ids[t + 1:]
        pre, post = self.doc_wrap()
        comp = self.tpl("completion", prefix=prefix, suffix=suffix)
        head = np.concatenate([pre, *ids, post, comp])
        ans = np.concatenate((self.enc.encode(middle), [EOS])).astype(np.int64)
        while head.size + ans.size > T + 1 and len(ids) > 0:  # drop context files to fit
            ids = ids[:-1]
            head = np.concatenate([pre, *ids, post, comp])
        return self.finish([head, ans], head.size, T)

    def episode(self, task, T):
        fn = {"passkey": self.passkey, "multikey": self.multikey, "quote": self.quote,
              "follows": self.follows, "whichfile": self.whichfile, "fim": self.fim,
              "whichfile_many": self.whichfile_many,
              "passkey_plain": lambda T: self.passkey(T, plain=True),
              "nextline": lambda T: self.fim(T, keep_target=self.rng.random() < 0.25,
                                             empty_suffix=True, n_lines=1, col=0),
              "nextline_tree": lambda T: self.fim(T, keep_target=True, empty_suffix=True,
                                                  n_lines=1, col=0, prefix_cap=8192)}[task]
        return fn(T)

    def row(self, T, task_mix):
        """One row: a task episode with probability sum(task_mix.values()) (tasks in proportion),
        else an LM row. A task that cannot be built at this length falls back to a passkey."""
        u = self.rng.random()
        for task, p in task_mix.items():
            if u < p:
                r = self.episode(task, T)
                if r is None:
                    r = self.passkey(T)
                if r is not None:
                    return r
                break
            u -= p
        return self.lm_row(T)


def line_end_mask(sp):
    """bool [vocab]: the pieces whose bytes end a line (the newline byte piece, or a piece
    ending in a line break), as the engine's tokenizer spells them."""
    out = np.zeros(sp.get_piece_size(), dtype=bool)
    for i in range(out.size):
        p = sp.id_to_piece(i)
        out[i] = p == "<0x0A>" or (not sp.is_byte(i) and p.endswith("\n"))
    return out


def restate_headers(ids, every, line_end):
    """ids = one file's template ids: <|file|> + path ids + the header's line end + body. Returns
    them with the header (ids up to and including its line end) inserted again after a body
    token that ends a line once `every` body tokens have passed since the last header, when
    more of the body follows. The same rule as the engine's ingest (tome::ingest::tokenize,
    tokenize_params::restate_header_every)."""
    ids = np.asarray(ids, dtype=np.int64)
    ends = np.nonzero(line_end[ids])[0]
    if every <= 0 or ends.size == 0:
        return ids
    h = int(ends[0]) + 1                     # header length
    header = ids[:h]
    out, last = [ids[:h]], h                 # last: where the current run of body tokens began
    for e in ends[1:]:
        e = int(e)
        if e + 1 - last >= every and e + 1 < ids.size:
            out.append(ids[last:e + 1])
            out.append(header)
            last = e + 1
    out.append(ids[last:])
    return np.concatenate(out)


def batch(maker, T, rows, task_mix):
    """rows of T -> (tokens [rows, T+1], lm_mask [rows, T], answer_mask [rows, T]) numpy."""
    out = [maker.row(T, task_mix) for _ in range(rows)]
    return tuple(np.stack(x) for x in zip(*out))


def check_row(enc, row, T):
    """Test helper: the answer span decodes to something and ends with EOS."""
    tokens, lm, ans = row
    assert tokens.shape == (T + 1,) and lm.shape == ans.shape == (T,)
    if ans.any():
        tgt = tokens[1:][ans]
        assert tgt[-1] == EOS
        return enc.decode(tgt[:-1])
    return None


_WS = re.compile(r"\s+")


def normalise_answer(s):
    return _WS.sub(" ", s).strip()
