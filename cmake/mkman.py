#!/usr/bin/env python3
"""mkman.py - write mproc's man pages from the comments of its public headers.

    mkman.py --out DIR --version X.Y.Z include/mproc.h include/mproc/*.h

The headers are the one source: every MP_API function gets DIR/man3/<name>.3
made from the comment that documents it, each header DIR/man7/mproc_<module>.7
made from its top comment, and include/mproc.h gives DIR/man7/mproc.7 (the
list of modules).  Stale pages are removed; DIR/stamp is touched last.

Which comment documents a function: the block comment right above its
declaration, with no blank line between.  Declarations that follow one
another without a blank line form a group sharing that comment (one page per
function, each showing the whole group), and typedefs between the comment
and the declaration belong to the group too.  A function with no such
comment is an error: the script names it and exits with status 1.
"""

import argparse
import os
import re
import sys

IDENT = re.compile(r'[A-Za-z_]\w*')
# Prototypes and code are wrapped to fit here: 80 columns less man's indent.
WIDTH = 72


class Item:
    """A top-level piece of a header: comment, directive, blank or decl."""

    def __init__(self, kind, text, line, end, comments=None):
        self.kind = kind        # 'comment', 'tcomment', 'pp', 'blank', 'decl'
        self.text = text        # raw source text
        self.line = line        # first line (1-based)
        self.end = end          # last line
        self.comments = comments or []


def strip_cplusplus(src):
    """Blank out `#ifdef __cplusplus ... #endif` blocks (extern "C")."""
    out, depth = [], 0
    for ln in src.split('\n'):
        s = ln.strip()
        if depth:
            if s.startswith('#if'):
                depth += 1
            elif s.startswith('#endif'):
                depth -= 1
            out.append('#')
        elif re.match(r'#\s*if(def)?\s+(defined\s*\(?\s*)?__cplusplus', s):
            depth = 1
            out.append('#')
        else:
            out.append(ln)
    return '\n'.join(out)


def tokenize(src):
    src = strip_cplusplus(src)
    items, i, n, line = [], 0, len(src), 1

    def last_line():
        return items[-1].end if items else 0

    while i < n:
        c = src[i]
        if c in ' \t\n':
            nl = 0
            while i < n and src[i] in ' \t\n':
                nl += src[i] == '\n'
                i += 1
            if nl >= 2:
                items.append(Item('blank', '', line + 1, line + nl - 1))
            line += nl
            continue
        if src.startswith('/*', i) or src.startswith('//', i):
            if src[i + 1] == '*':
                j = src.find('*/', i + 2)
                if j < 0:
                    raise SyntaxError('%d: unterminated comment' % line)
                text = src[i:j + 2]
            else:
                j = src.find('\n', i)
                j = n if j < 0 else j
                text = src[i:j]
            end = line + text.count('\n')
            kind = 'tcomment' if items and items[-1].kind != 'blank' \
                and last_line() == line else 'comment'
            prev = items[-1] if items else None
            if kind == 'comment' and text.startswith('//') and prev and \
                    prev.kind == 'comment' and prev.text.startswith('//') \
                    and prev.end == line - 1:
                prev.text += '\n' + text
                prev.end = end
            else:
                items.append(Item(kind, text, line, end))
            line = end
            i += len(text)
            continue
        if c == '#':
            j = i
            while True:
                k = src.find('\n', j)
                k = n if k < 0 else k
                if k > 0 and src[k - 1] == '\\' and k < n:
                    j = k + 1
                    continue
                break
            text = src[i:k]
            items.append(Item('pp', text, line, line + text.count('\n')))
            line += text.count('\n')
            i = k
            continue
        # A declaration: up to ';' outside braces and parentheses.
        j, depth, start, comments = i, 0, line, []
        while j < n:
            if src.startswith('/*', j):
                k = src.find('*/', j + 2) + 2
                comments.append(src[j:k])
                j = k
                continue
            if src.startswith('//', j):
                k = src.find('\n', j)
                comments.append(src[j:k])
                j = k
                continue
            ch = src[j]
            if ch == '"':
                j = src.index('"', j + 1) + 1
                continue
            if ch in '({':
                depth += 1
            elif ch in ')}':
                depth -= 1
            elif ch == ';' and depth == 0:
                j += 1
                break
            j += 1
        else:
            raise SyntaxError('%d: declaration without ";"' % start)
        text = src[i:j]
        items.append(Item('decl', text, start, start + text.count('\n'),
                          comments))
        line = start + text.count('\n')
        i = j
    return items


def strip_comments(text):
    text = re.sub(r'/\*.*?\*/', ' ', text, flags=re.S)
    return re.sub(r'//[^\n]*', ' ', text)


def strip_attributes(text):
    while True:
        m = re.search(r'__attribute__\s*\(', text)
        if not m:
            return text
        depth, j = 0, m.end() - 1
        while j < len(text):
            depth += {'(': 1, ')': -1}.get(text[j], 0)
            j += 1
            if depth == 0:
                break
        text = text[:m.start()] + text[j:]


def comment_lines(raw):
    """The text of a comment, line by line, its markers removed."""
    if raw.startswith('//'):
        return [re.sub(r'^\s*// ?', '', ln).rstrip() for ln in raw.split('\n')]
    out = []
    for k, ln in enumerate(raw[2:-2].split('\n')):
        ln = ln.expandtabs(8).rstrip()
        m = re.match(r'\s*\*( |$)', ln)
        if k > 0 and m:
            ln = ln[m.end():]
        else:
            ln = ln.strip()
        out.append(ln)
    while out and not out[0]:
        out.pop(0)
    while out and not out[-1]:
        out.pop()
    return out


def blocks(lines):
    """Split comment lines into ('text'|'code'|'bullet', [lines]) blocks;
    ('break', None) separates paragraphs."""
    res = []
    for ln in lines:
        if not ln.strip():
            if res and res[-1][0] != 'break':
                res.append(('break', None))
            continue
        prev = res[-1][0] if res else 'break'
        if prev == 'bullet' and ln.startswith('  ') and \
                not ln.startswith('    '):
            res[-1][1].append(ln.strip())
        elif ln.startswith('- '):
            res.append(('bullet', [ln[2:].strip()]))
        elif ln.startswith('    '):
            if prev == 'code':
                res[-1][1].append(ln[4:])
            else:
                res.append(('code', [ln[4:]]))
        elif prev == 'text':
            res[-1][1].append(ln.strip())
        else:
            res.append(('text', [ln.strip()]))
    while res and res[-1][0] == 'break':
        res.pop()
    return res


SENTENCE_END = re.compile(r'(?<=[.?!])\)?(?:  +|\n)')


def sentences(lines):
    """The sentences of a text block (a sentence ends with '.', '?' or '!'
    followed by two spaces or the end of a line)."""
    text = '\n'.join(lines)
    parts, pos = [], 0
    for m in SENTENCE_END.finditer(text):
        parts.append(text[pos:m.start() + (1 if m.group(0).startswith(')')
                                           else 0)])
        pos = m.end()
    parts.append(text[pos:])
    return [re.sub(r'\s+', ' ', p).strip() for p in parts if p.strip()]


NAME_PREFIX = re.compile(
    r'^((?:mp_\w+|_\w+|mproc[\w/.]*)(?:\s*(?:/|,|and)\s*(?:mp_\w+|_\w+))*)'
    r'\s+-\s+')


def summary_of(lines, lower=True):
    """The first sentence of a comment, without its 'name - ' prefix, made
    short enough for a NAME line (whatis): parentheses go from a long one,
    and a still longer one stops at its first top-level ';' or ':'."""
    first = blocks(lines)
    if not first or first[0][0] != 'text':
        return ''
    s = sentences(first[0][1])[0]
    s = NAME_PREFIX.sub('', s).rstrip('.').strip()
    # "Send SIGTERM" reads "send SIGTERM" after "name \-"; class names
    # ("Queue / JoinableQueue", "Semaphore(value)") keep their capital.
    m = re.match(r'[A-Z][a-z]*\b(?![(\w])( / |, )?(\S*)', s)
    if lower and m and not (m.group(1) and
                            re.match(r'[A-Z]\w*[a-z]', m.group(2))):
        s = s[0].lower() + s[1:]
    if len(s) > 90:
        s = re.sub(r' \((?:[^()]|\([^()]*\))*\)', '', s)
    if len(s) > 110:
        depth = 0
        for k, ch in enumerate(s):
            depth += {'(': 1, ')': -1}.get(ch, 0)
            if depth == 0 and k >= 25 and s[k:k + 2] in ('; ', ': '):
                return s[:k]
    return s


# ---- roff ----

def esc(s):
    s = s.replace('\\', '\\e').replace('-', '\\-')
    return s.replace("'", '\\(aq').replace('`', '\\(ga')


def guard(line):
    """A roff text line: never starting with a control character or a space."""
    line = line.lstrip(' ')
    return '\\&' + line if line.startswith(('.', "'")) else line


class Roff:
    def __init__(self, funcs):
        self.funcs = funcs      # names to set in bold
        self.out = []

    def emit(self, *lines):
        for ln in lines:
            # No empty paragraph right after a heading.
            if ln == '.PP' and self.out and \
                    self.out[-1].startswith(('.SH', '.SS')):
                continue
            self.out.append(ln)

    def bold_names(self, s):
        return re.sub(r'\b(mp_\w+)\b',
                      lambda m: '\\fB%s\\fR' % m.group(1)
                      if m.group(1) in self.funcs else m.group(1), s)

    def text(self, s):
        """Escaped running text, one sentence per line."""
        s = re.sub(r'([.?!]\)?) {2,}', '\\1\n', s.strip())
        s = re.sub(r' {2,}', ' ', s)
        return [guard(self.bold_names(esc(x))) for x in s.split('\n')]

    def para(self, s, lead=False):
        """A paragraph; with lead, a short leading label ("Timeouts.",
        "Thread safety:") is set in bold."""
        m = re.match(r"([A-Z][\w/' -]{1,38}?)(\.  |: )", s) if lead else None
        if m and len(m.group(1).split()) <= 4:
            label = esc(m.group(1) + m.group(2).strip())
            rest = self.text(s[m.end():])
            self.emit('.PP', '\\fB%s\\fR %s' % (label, rest[0]), *rest[1:])
        else:
            self.emit('.PP', *self.text(s))

    def code(self, lines, indent=4):
        self.emit('.PP', '.RS %d' % indent, '.nf')
        self.emit(*['\\&' + esc(ln.expandtabs(8)) for ln in lines])
        self.emit('.fi', '.RE')

    def comment(self, lines, lead=True, skip_lead_first=False):
        """Render comment lines: paragraphs, bullet lists, code."""
        first = True
        for kind, body in blocks(lines):
            if kind == 'text':
                self.para('\n'.join(body),
                          lead=lead and not (first and skip_lead_first))
            elif kind == 'bullet':
                self.emit('.IP \\(bu 2', *self.text('\n'.join(body)))
            elif kind == 'code':
                self.code(body)
            first = False

    def see_also(self, refs):
        for k, (name, sec) in enumerate(refs):
            self.emit('.BR %s (%s)%s' % (name, sec,
                                        ',' if k < len(refs) - 1 else ''))


# ---- the model ----

class Func:
    def __init__(self, name, decl, header, line):
        self.name, self.decl, self.header, self.line = name, decl, header, line
        self.doc = None         # the documenting comment Item
        self.group = None       # list of Func sharing doc


class Type:
    def __init__(self, names, item, index, header):
        self.names = names      # identifiers that refer to it
        self.item = item
        self.index = index      # its position in header.items
        self.header = header
        self.doc = None         # its leading comment Item
        body = strip_comments(item.text)
        self.has_body = '{' in body
        self.is_fnptr = bool(re.search(r'\(\s*\*\s*\w+\s*\)', body)) and \
            not self.has_body
        fields = re.findall(r'(\w+)\s*(?:\[[^\]]*\])?\s*[;,]',
                            body[body.find('{') + 1:body.rfind('}')]) \
            if self.has_body else []
        self.private = bool(fields) and all(f.startswith('_') for f in fields)
        self.uses = set(IDENT.findall(body))

    def shown(self):
        return not self.private and (self.has_body or self.is_fnptr or
                                     self.doc is not None)


class Header:
    def __init__(self, path):
        self.path = path
        base = os.path.basename(path)[:-2]
        self.module = base
        self.include = 'mproc.h' if base == 'mproc' else 'mproc/%s.h' % base
        self.page = 'mproc' if base == 'mproc' else 'mproc_' + base
        with open(path, encoding='utf-8') as f:
            self.src = f.read()
        try:
            self.items = tokenize(self.src)
        except SyntaxError as e:
            raise SyntaxError('%s:%s' % (path, e)) from None
        self.top = comment_lines(self.items[0].text) \
            if self.items and self.items[0].kind == 'comment' else []
        self.funcs, self.types, self.errors = [], [], []
        self.parse()

    def parse(self):
        for k, it in enumerate(self.items):
            if it.kind != 'decl':
                continue
            code = strip_comments(it.text)
            if re.match(r'\s*MP_API\b', code):
                self.add_func(k, it, code)
            elif re.match(r'\s*(typedef|enum|struct)\b', code):
                self.add_type(k, it, code)
        m = re.search(r'#define\s+MP_ERRNO_MAP\(X\)(.*?)\n(?!.*\\\n)',
                      self.src.replace('\\\n', '\x00'), re.S)
        if m:
            body = m.group(1).replace('\x00', ' ')
            for name, val, text in re.findall(
                    r'X\(\s*(\w+)\s*,\s*(-?\d+)\s*,\s*((?:"[^"]*"\s*)+)\)',
                    body):
                text = ''.join(re.findall(r'"([^"]*)"', text))
                self.errors.append(('MP_' + name, val, text))

    def add_func(self, k, it, code):
        decl = strip_attributes(re.sub(r'^\s*MP_API\b', '', code))
        decl = re.sub(r'\s+', ' ', decl).strip()
        m = re.match(r'(.*?)\b([A-Za-z_]\w*)\s*\(', decl)
        if not m:
            raise SyntaxError('%s:%d: not a function: %r' % (
                self.path, it.line, decl))
        f = Func(m.group(2), decl, self, it.line)
        # Walk up through the group (declarations, typedefs) to its comment.
        j = k - 1
        while j >= 0 and self.items[j].kind in ('decl', 'tcomment'):
            j -= 1
        if j >= 0 and self.items[j].kind == 'comment' and \
                not (j == 0 and self.top):
            f.doc = self.items[j]
        self.funcs.append(f)

    def add_type(self, k, it, code):
        code = re.sub(r'\s+', ' ', code)
        names = []
        m = re.search(r'\(\s*\*\s*(\w+)\s*\)', code)
        if m and '{' not in code:
            names.append(m.group(1))
        else:
            tag = re.match(r'\s*(?:typedef\s+)?(?:struct|enum|union)\s+(\w+)',
                           code)
            if tag:
                names.append(tag.group(1))
            if code.lstrip().startswith('typedef'):
                last = re.search(r'(\w+)\s*;\s*$', code)
                if last and last.group(1) not in names:
                    names.append(last.group(1))
        if not names:
            return
        t = Type(names, it, k, self)
        if k > 0 and self.items[k - 1].kind == 'comment' and \
                not (k == 1 and self.top):
            t.doc = self.items[k - 1]
        self.types.append(t)


def group_funcs(headers):
    for h in headers:
        by_doc = {}
        for f in h.funcs:
            if f.doc is not None:
                by_doc.setdefault(id(f.doc), []).append(f)
        for f in h.funcs:
            if f.doc is not None:
                f.group = by_doc[id(f.doc)]


# ---- pages ----

def th(name, sec, version, date):
    return ['.\\" Generated by cmake/mkman.py from the comments of the',
            '.\\" mproc headers: edit those, not this file.',
            '.TH %s %s "%s" "mproc %s" "mproc Manual"' % (name, sec, date,
                                                          version),
            # Identifiers are long: never hyphenate, never stretch lines.
            '.nh', '.ad l']


def params(decl):
    """Split a normalised prototype into (return type, name, [params])."""
    m = re.match(r'(.*?)\b([A-Za-z_]\w*)\s*\((.*)\)\s*;?\s*$', decl)
    ret, name, plist = m.group(1), m.group(2), m.group(3)
    ps, depth, cur = [], 0, ''
    for ch in plist:
        if ch == ',' and depth == 0:
            ps.append(cur.strip())
            cur = ''
            continue
        depth += {'(': 1, ')': -1, '[': 1, ']': -1}.get(ch, 0)
        cur += ch
    if cur.strip():
        ps.append(cur.strip())
    return ret, name, ps


def param_runs(p):
    """A parameter as (text, italic) runs: its name in italics."""
    if p in ('void', '...'):
        return [(p, False)]
    m = re.search(r'\(\s*\*\s*(\w+)\s*\)', p)
    if not m:
        m = re.search(r'(\w+)\s*(?:\[[^\]]*\])?\s*$', p)
    if not m or m.start(1) == 0:
        return [(p, False)]
    return [(p[:m.start(1)], False), (m.group(1), True),
            (p[m.end(1):], False)]


def prototype(decl):
    """Roff lines for a prototype: bold, parameter names in italics,
    wrapped to WIDTH with continuation lines aligned after '('."""
    ret, name, ps = params(decl)
    head = ret.rstrip() + ('' if ret.endswith('*') or not ret.strip()
                           else ' ') + name + '('
    head = re.sub(r'\s+\*', ' *', head)
    indent = len(head) if len(head) < 40 else 8
    lines, cur = [], [(head, False)]
    width = len(head)
    for k, p in enumerate(ps):
        runs = param_runs(p)
        runs[-1] = (runs[-1][0] + (',' if k < len(ps) - 1 else ');'),
                    runs[-1][1]) if not runs[-1][1] else runs[-1]
        if runs[-1][1]:
            runs.append((',' if k < len(ps) - 1 else ');', False))
        plen = sum(len(t) for t, _ in runs)
        sep = '' if k == 0 else ' '
        if k > 0 and width + 1 + plen > WIDTH:
            lines.append(cur)
            cur, width, sep = [(' ' * indent, False)], indent, ''
        cur.append((sep, False))
        cur.extend(runs)
        width += len(sep) + plen
    if not ps:
        cur.append((');', False))
    lines.append(cur)
    out = []
    for runs in lines:
        s = ''
        for t, it in runs:
            if t:
                s += ('\\fI%s\\fB' % esc(t)) if it else esc(t)
        out.append('\\fB' + s + '\\fR')
    return out


def type_source(t):
    """The definition of a type as written, dedented by half a tab."""
    lines = t.item.text.expandtabs(8).split('\n')
    return [ln[4:] if ln.startswith(' ' * 8) else ln for ln in lines]


def types_for(funcs, header, all_types):
    """Types declared in header that the prototypes use (and the types those
    use), in header order; plus the names of types from other headers."""
    local = {n: t for t in header.types for n in t.names}
    want, todo = set(), []
    foreign = {}
    for f in funcs:
        ret, name, ps = params(f.decl)
        for ident in IDENT.findall(ret + ' ' + ' '.join(ps)):
            if ident in local:
                todo.append(local[ident])
            elif ident in all_types and all_types[ident].header is not header:
                foreign.setdefault(all_types[ident].header, []).append(ident)
    while todo:
        t = todo.pop()
        if id(t) in want:
            continue
        want.add(id(t))
        for ident in t.uses:
            if ident in local and ident not in t.names:
                todo.append(local[ident])
    shown = [t for t in header.types if id(t) in want and t.shown()]
    return shown, foreign


RETURN_START = re.compile(
    r'(Returns?\b|Errors?\b|Negative\b|Same (returns|errors)\b|'
    r'mp_\w+ returns\b|0\b|1\b|1/0\b|-E[A-Z]+\b|MP_E[A-Z]+\b|'
    r'NULL (with|on|if|when|for|\()|NULL:)')


def split_returns(lines):
    """Split a function comment into description blocks and the sentences
    that state return values or errors (never the first sentence)."""
    desc, rets, first = [], [], True
    for kind, body in blocks(lines):
        if kind != 'text':
            desc.append((kind, body))
            continue
        keep, moved = [], False
        for s in sentences(body):
            # "Otherwise ..." goes on from the sentence before it.
            moved = not first and (RETURN_START.match(s) is not None or
                                   (moved and re.match(r'(Otherwise|Else)\b',
                                                       s) is not None))
            (rets if moved else keep).append(s)
            first = False
        if keep:
            desc.append(('text', keep))
    while desc and desc[-1][0] == 'break':
        desc.pop()
    return desc, rets


def thread_safety(header):
    """The top comment's thread-safety statement, to the end of its
    paragraph, or None."""
    for kind, body in blocks(header.top):
        if kind != 'text':
            continue
        ss = sentences(body)
        for k, s in enumerate(ss):
            if re.match(r'Thread(/process)? safety\b', s):
                return '  '.join(ss[k:])
    return None


def function_page(f, all_funcs, all_types, version, date):
    h = f.header
    group = f.group
    r = Roff(all_funcs)
    r.emit(*th(f.name, 3, version, date))
    names = ', '.join(g.name for g in group)
    summary = summary_of(comment_lines(f.doc.text)) or summary_of(h.top)
    r.emit('.SH NAME', '%s \\- %s' % (names, esc(summary)))
    r.emit('.SH LIBRARY',
           'mproc library',
           '.RI ( libmproc ", " \\-lmproc ;',
           '.IR "pkg\\-config mproc" )')
    r.emit('.SH SYNOPSIS', '.nf',
           '.BR "#include <%s>" "   /* or <mproc.h> */"' % h.include)
    shown, foreign = types_for(group, h, all_types)
    prev = None
    for t in shown:
        # Types declared one after the other stay together.
        if prev is None or t.index != prev.index + 1:
            r.emit('.sp')
        r.emit(*['\\&' + esc(ln) for ln in type_source(t)])
        prev = t
    r.emit('.sp')
    for g in group:
        r.emit(*prototype(g.decl))
    r.emit('.fi')

    r.emit('.SH DESCRIPTION')
    doc = comment_lines(f.doc.text)
    desc, rets = split_returns(doc)
    first = True
    for kind, body in desc:
        if kind == 'text':
            s = '  '.join(body)
            if first:
                m = NAME_PREFIX.match(s)
                if m:
                    s = m.group(1) + ' \x01 ' + s[m.end():]
            r.para(s, lead=not first)
        elif kind == 'bullet':
            r.emit('.IP \\(bu 2', *r.text('\n'.join(body)))
        elif kind == 'code':
            r.code(body)
        first = False
    for t in shown:
        if t.doc is not None and t.doc is not f.doc:
            r.emit('.SS %s' % t.names[-1])
            r.comment(comment_lines(t.doc.text))
    for fh, idents in sorted(foreign.items(), key=lambda x: x[0].path):
        idents = sorted(set(idents))
        user = next((g for g in fh.funcs
                     if set(idents) & set(IDENT.findall(
                         ' '.join(params(g.decl)[2])))), None)
        where = ' (see \\fB%s\\fR(3))' % user.name if user else ''
        r.emit('.PP', '%s %s declared in \\fB<%s>\\fR%s.' % (
            ', '.join('\\fI%s\\fR' % i for i in idents),
            'is' if len(idents) == 1 else 'are', fh.include, where))
    if rets:
        r.emit('.SH RETURN VALUE')
        r.emit(*r.text('  '.join(rets)))

    r.emit('.SH NOTES')
    ts = thread_safety(h)
    if ts:
        r.para(ts, lead=True)
    r.emit('.PP', '\\fB%s\\fR(7), the top comment of \\fB<%s>\\fR, describes '
           'the module as a whole' % (h.page, h.include) +
           ('; \\fBmproc_common\\fR(7) the error model and timeouts.'
            if h.module != 'common' else
            ': the error model and timeouts.'))
    r.emit('.SH SEE ALSO')
    refs = [(h.page, 7)]
    if h.module != 'common':
        refs.append(('mproc_common', 7))
    refs.append(('mproc', 7))
    refs += [(g.name, 3) for g in h.funcs if g not in group]
    r.see_also(refs)
    return '\n'.join(r.out).replace('\x01', '\\-') + '\n'


def function_list(r, h):
    seen = set()
    for f in h.funcs:
        if id(f.group) in seen:
            continue
        seen.add(id(f.group))
        r.emit('.TP', ', '.join('\\fB%s\\fR(3)' % g.name for g in f.group))
        r.emit(*r.text(summary_of(comment_lines(f.doc.text))))


def module_page(h, headers, all_funcs, version, date):
    r = Roff(all_funcs)
    r.emit(*th(h.page, 7, version, date))
    r.emit('.SH NAME', '%s \\- %s' % (h.page,
                                       esc(summary_of(h.top, lower=False))))
    r.emit('.SH SYNOPSIS', '.nf', '.B #include <%s>' % h.include, '.fi',
           '.PP', 'Link with', '.I \\-lmproc',
           '.RI ( "pkg\\-config \\-\\-cflags \\-\\-libs mproc" ).')
    r.emit('.SH DESCRIPTION')
    top = list(h.top)
    if top:
        top[0] = NAME_PREFIX.sub('', top[0])
        top[0] = top[0][:1].upper() + top[0][1:]
    r.comment(top, skip_lead_first=True)
    if h.errors:
        r.emit('.SH ERROR CODES',
               'mproc\\(aqs own codes (\\fBmp_strerror\\fR() names any code,',
               'these and negative errno values alike):')
        for name, val, text in h.errors:
            r.emit('.TP', '.BR %s " (%s)"' % (name, esc(val)),
                   *r.text(text[:1].upper() + text[1:] + '.'))
    if h.module == 'mproc':
        r.emit('.SH MODULES')
        for m in headers:
            if m is h:
                continue
            r.emit('.TP', '.BR %s (7)' % m.page, '\\fB<%s>\\fR:' % m.include,
                   *r.text(summary_of(m.top, lower=False)))
        r.emit('.SH GUIDE',
               'The guide, \\fIdocs/guide.md\\fR, and one page per module,',
               '\\fIdocs/<module>.md\\fR, are in the mproc sources.')
    if h.funcs:
        r.emit('.SH FUNCTIONS')
        function_list(r, h)
    r.emit('.SH SEE ALSO')
    refs = [(m.page, 7) for m in headers if m is not h]
    r.see_also(refs)
    if h.module not in ('mproc', 'common'):
        r.emit('.PP', 'The guide\\(aqs page on this module is',
               '\\fIdocs/%s.md\\fR in the mproc sources.' % h.module)
    return '\n'.join(r.out) + '\n'


def write(path, text, written):
    written.add(os.path.abspath(path))
    try:
        with open(path, encoding='utf-8') as f:
            if f.read() == text:
                return
    except OSError:
        pass
    with open(path + '.tmp', 'w', encoding='utf-8') as f:
        f.write(text)
    os.replace(path + '.tmp', path)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--out', required=True, help='output directory')
    ap.add_argument('--version', required=True)
    ap.add_argument('headers', nargs='+')
    a = ap.parse_args()
    date = ''
    if os.environ.get('SOURCE_DATE_EPOCH'):
        import time
        date = time.strftime('%Y-%m-%d', time.gmtime(
            int(os.environ['SOURCE_DATE_EPOCH'])))

    try:
        headers = [Header(p) for p in a.headers]
    except SyntaxError as e:
        print('error: %s' % e, file=sys.stderr)
        return 1
    headers.sort(key=lambda h: (h.module != 'mproc', h.module != 'common',
                                h.module))
    bad = [f for h in headers for f in h.funcs if f.doc is None]
    for f in bad:
        print('%s:%d: error: %s has no comment (write one right above the '
              'declaration)' % (f.header.path, f.line, f.name),
              file=sys.stderr)
    if bad:
        return 1
    for h in headers:
        if not h.top:
            print('%s:1: error: no top comment' % h.path, file=sys.stderr)
            return 1
    group_funcs(headers)
    all_funcs = {f.name for h in headers for f in h.funcs}
    all_types = {n: t for h in headers for t in h.types for n in t.names}
    seen = {}
    for h in headers:
        for f in h.funcs:
            if f.name in seen:
                print('%s:%d: error: %s declared twice' % (h.path, f.line,
                                                           f.name),
                      file=sys.stderr)
                return 1
            seen[f.name] = f

    written = set()
    for sec in ('man3', 'man7'):
        os.makedirs(os.path.join(a.out, sec), exist_ok=True)
    for h in headers:
        write(os.path.join(a.out, 'man7', h.page + '.7'),
              module_page(h, headers, all_funcs, a.version, date), written)
        for f in h.funcs:
            write(os.path.join(a.out, 'man3', f.name + '.3'),
                  function_page(f, all_funcs, all_types, a.version, date),
                  written)
    for sec in ('man3', 'man7'):
        d = os.path.join(a.out, sec)
        for name in os.listdir(d):
            p = os.path.abspath(os.path.join(d, name))
            if p not in written:
                os.remove(p)
    with open(os.path.join(a.out, 'stamp'), 'w') as f:
        f.write('%d pages\n' % len(written))
    return 0


if __name__ == '__main__':
    sys.exit(main())
