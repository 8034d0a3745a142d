"""Text for chat: split long output into messages and turn agent Markdown into Telegram HTML.

Pure functions, no chat SDK. Telegram caps a message at 4096 characters and Discord at 2000, and
agents write long Markdown with fenced code, so text is split on its Markdown source and every
fenced block stays a fenced block in every message: a block cut by a split is closed at the end
of one chunk and reopened, with its info string, at the start of the next.

Fences are CommonMark's backtick fences: a line of three or more backticks, indented by at most
three spaces, opens a block (the rest of the line is the info string and has no backticks); a
line of at least as many backticks and nothing else closes it.
"""

from __future__ import annotations

import html
import re
from bisect import bisect_left, bisect_right
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import islice

TELEGRAM_LIMIT = 4096
DISCORD_LIMIT = 2000

_OPEN = re.compile(r"( {0,3})(`{3,})([^`]*)")
_CLOSE = re.compile(r" {0,3}(`{3,})[ \t\r]*")
# Cut points, best first: after a blank line, after a line break, after a space.
_BREAKS = ("\n\n", "\n", " ")


@dataclass(frozen=True, slots=True)
class _Fence:
    line: str  # the opening line, without its line break
    indent: str
    marker: str  # the run of backticks
    info: str

    def closer(self, after_line_break: bool) -> str:
        return ("" if after_line_break else "\n") + self.indent + self.marker


def _after_line(fence: _Fence | None, line: str) -> _Fence | None:
    """The fence open after `line`, given the fence open before it."""
    if fence is None:
        m = _OPEN.fullmatch(line)
        return _Fence(line, m[1], m[2], m[3].strip()) if m else None
    m = _CLOSE.fullmatch(line)
    return None if m and len(m[1]) >= len(fence.marker) else fence


class _Splitter:
    """One text and where to cut it; knows which fence is open at the start of each line."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.starts: list[int] = []
        self.ends: list[int] = []
        self.fences: list[_Fence | None] = []  # open at the start of the line
        self.fence_lines: list[bool] = []  # the line opens or closes a fence
        fence: _Fence | None = None
        start = 0
        for line in text.split("\n"):
            after = _after_line(fence, line)
            self.starts.append(start)
            self.ends.append(start + len(line))
            self.fences.append(fence)
            self.fence_lines.append(after is not fence)
            fence = after
            start += len(line) + 1

    def chunks(self, limit: int) -> Iterator[str]:
        pos = 0
        while pos < len(self.text):
            chunk, pos = self.chunk(pos, limit)
            yield chunk

    def chunk(self, pos: int, limit: int) -> tuple[str, int]:
        """The chunk of at most `limit` characters that starts at `pos`, and where it ends."""
        text = self.text
        fence = self._fence_at(pos)
        reopen = fence.line + "\n" if fence else ""
        if len(reopen) + len(text) - pos <= limit:
            return reopen + text[pos:], len(text)
        cut = self._cut(pos, len(reopen), limit)
        if cut is None:  # the fence lines leave no room for content: cut the bare text
            cut = min(len(text), pos + limit)
            return text[pos:cut], cut
        return reopen + text[pos:cut] + self._closer(cut), cut

    def _fence_at(self, pos: int) -> _Fence | None:
        return self.fences[bisect_right(self.starts, pos) - 1]

    def _closer(self, cut: int) -> str:
        fence = self._fence_at(cut)
        return fence.closer(self.text[cut - 1] == "\n") if fence else ""

    def _clean(self, pos: int, cut: int) -> bool:
        """A cut that keeps fences intact: not inside a fence line, and neither part of the line
        it cuts looks like a fence line once it stands at the start of a line in its chunk."""
        i = bisect_right(self.starts, cut) - 1
        start = self.starts[i]
        if cut == start:
            return True
        if self.fence_lines[i]:
            return False
        fence = self.fences[i]
        return not any(
            "```" in self.text[a:min(b, a + 6)]
            and _after_line(fence, self.text[a:b]) is not fence
            for a, b in ((max(start, pos), cut), (cut, self.ends[i])))

    def _cut(self, pos: int, reopen: int, limit: int) -> int | None:
        """Where the chunk starting at `pos` ends: the best kind of break in its second half,
        else as late as fits."""
        text = self.text
        top = min(len(text), pos + limit - reopen)
        floor = pos + (top - pos + 1) // 2

        def fits(cut: int) -> bool:
            return reopen + cut - pos + len(self._closer(cut)) <= limit

        for brk in _BREAKS:
            end = top
            while (i := text.rfind(brk, pos, end)) >= 0 and (cut := i + len(brk)) >= floor:
                if fits(cut) and self._clean(pos, cut):
                    return cut
                end = cut - 1
        for clean in (True, False):
            for cut in range(top, pos, -1):
                if fits(cut) and (not clean or self._clean(pos, cut)):
                    return cut
        return None


def _chunks(text: str, limit: int) -> Iterator[str]:
    if limit < 1:
        raise ValueError(f"limit must be at least 1, not {limit!r}")
    if len(text) <= limit:
        yield from [text] if text else []
    else:
        yield from _Splitter(text).chunks(limit)


def split_text(text: str, limit: int) -> list[str]:
    """Split `text` into chunks of at most `limit` characters, losing and reordering nothing.

    Cuts after a blank line if one falls in the second half of a chunk, else after a line
    break, else after a space, else wherever the limit falls. A fenced code block that is cut is
    closed at the end of its chunk and reopened with the same opening line at the start of the
    next one, and those added lines count toward the limit. (Only when an opening line is too
    long for the limit are its chunks cut bare.)
    """
    return list(_chunks(text, limit))


def discord_markdown_chunks(text: str, limit: int = DISCORD_LIMIT) -> list[str]:
    """Messages for Discord, which renders Markdown itself: `text` split fence-aware under
    `limit`, without chunks of only whitespace (Discord refuses empty messages)."""
    return [chunk for chunk in split_text(text, limit) if chunk.strip()]


def needs_file(text: str, *, max_chunks: int = 3, limit: int) -> bool:
    """Whether `text` takes more than `max_chunks` messages of `limit` characters; the caller
    then sends it as a file rather than flooding the chat."""
    if len(text) > max_chunks * limit:  # a chunk carries at most `limit` characters of text
        return True
    return sum(1 for _ in islice(_chunks(text, limit), max_chunks + 1)) > max_chunks


def truncate_line(text: str, width: int) -> str:
    """`text` on one line of at most `width` characters: whitespace collapsed, cut with "…"."""
    if width < 1:
        raise ValueError(f"width must be at least 1, not {width!r}")
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[:width - 1].rstrip() + "…"


# Telegram HTML -------------------------------------------------------------------------------

_HEADING = re.compile(r" {0,3}#{1,6}[ \t]+(.*?)(?:[ \t]+#+)?[ \t\r]*")
_BULLET = re.compile(r"([ \t]*)[-*+][ \t]+(.*)")
_LANGUAGE = re.compile(r"[\w+#.-]+")
_CODE_SPAN = re.compile(r"(?<!`)(`+)(?!`)(.+?)(?<!`)\1(?!`)")
# A bare URL (not the target of a [text](url) link) is shown exactly as written, never
# formatted: a sign-in link or a branch URL with _ or * in it must survive. As in GitHub's
# Markdown, trailing punctuation is not part of it.
_BARE_URL = re.compile(r"(?<!\]\()https?://[^\s<>`()\[\]]*[^\s<>`()\[\]?!.,:;*_~'\"]")
# Tried at the same start in this order. Emphasis needs non-space just inside its markers, and
# single * and _ also a non-word character outside them, so 2*3*4 and snake_case_names stay.
# It spans at most 1000 characters of one line, which keeps a long line of stars linear.
_INLINE = (
    ("a", re.compile(r"\[([^\[\]\n]+)\]\((https?://[^\s()<>]+(?:\([^\s()<>]*\)[^\s()<>]*)*)\)")),
    ("b", re.compile(r"\*\*(?=\S)(.{1,1000}?)(?<=\S)\*\*")),
    ("s", re.compile(r"~~(?=\S)(.{1,1000}?)(?<=\S)~~")),
    ("i", re.compile(r"(?<![\w*])\*(?=[^\s*])(.{1,1000}?)(?<=[^\s*])\*(?![\w*])")),
    ("i", re.compile(r"(?<!\w)_(?=[^\s_])(.{1,1000}?)(?<=[^\s_])_(?!\w)")),
)


def _escape(text: str) -> str:
    return html.escape(text, quote=False)


def telegram_html(markdown: str) -> str:
    """The light Markdown agents write, as Telegram HTML (parse_mode=HTML).

    Fenced blocks become <pre> (with <code class="language-x"> when the info string names a
    language), `code` becomes <code>, **bold** <b>, *italic* and _italic_ <i>, ~~strike~~ <s>,
    [text](https://…) a link, a "# heading" a bold line and a "- item" a "• item". Everything
    else is escaped text, nothing inside code is formatted, and every tag is closed.
    """
    out: list[str] = []
    code: list[str] = []
    fence: _Fence | None = None
    for line in markdown.split("\n"):
        after = _after_line(fence, line)
        if fence is None and after is not None:
            code = []
        elif fence is not None and after is None:
            out.append(_pre(fence, code))
        elif fence is not None:
            code.append(line)
        else:
            out.append(_line_html(line))
        fence = after
    if fence is not None:  # an unclosed block runs to the end, as in CommonMark
        out.append(_pre(fence, code))
    return "\n".join(out)


def _pre(fence: _Fence, lines: list[str]) -> str:
    body = _escape("\n".join(lines))
    if not body:  # Telegram has no use for an empty entity
        return ""
    language = fence.info.split()[0] if fence.info else ""
    if _LANGUAGE.fullmatch(language):
        return f'<pre><code class="language-{language}">{body}</code></pre>'
    return f"<pre>{body}</pre>"


def _line_html(line: str) -> str:
    if (m := _HEADING.fullmatch(line)) and m[1].strip():
        return f"<b>{_inline(m[1])}</b>"
    if m := _BULLET.fullmatch(line):
        return f"{m[1]}• {_inline(m[2])}"
    return _inline(line)


def _inline(text: str) -> str:
    spans = [(m.start(), m.end(), m[2], True) for m in _CODE_SPAN.finditer(text)]
    spans += [(m.start(), m.end(), m[0], False) for m in _BARE_URL.finditer(text)
              if not any(a < m.end() and m.start() < b for a, b, _, _ in spans)]
    spans.sort()
    masked, last = [], 0
    for start, end, _, _ in spans:  # hide code and URLs from the emphasis patterns
        masked += [text[last:start], "\0" * (end - start)]
        last = end
    return _Inline(text, "".join(masked) + text[last:], spans).render(0, len(text), False)


class _Inline:
    """Inline Markdown of one line. Tags are only ever written in pairs around a recursively
    rendered inner part, so they balance by construction."""

    def __init__(self, text: str, masked: str, spans: list[tuple[int, int, str, bool]]
                 ) -> None:
        """``spans``: (start, end, content, is code) of code spans and bare URLs."""
        self.text, self.masked, self.spans = text, masked, spans
        self.span_starts = [start for start, _, _, _ in spans]

    def render(self, lo: int, hi: int, in_link: bool) -> str:
        out: list[str] = []
        pos = lo
        # A pattern's leftmost match from pos stays leftmost until pos passes its start.
        found: dict[int, re.Match[str] | None] = {}
        while pos < hi:
            for rank, (_, pattern) in enumerate(_INLINE):
                if rank not in found or ((m := found[rank]) is not None and m.start() < pos):
                    found[rank] = pattern.search(self.masked, pos, hi)
            matches = [(m.start(), rank) for rank, m in found.items() if m is not None]
            k = bisect_left(self.span_starts, pos)
            span = self.spans[k] if k < len(self.spans) and self.spans[k][0] < hi else None
            if span and (not matches or span[0] <= min(matches)[0]):
                start, end, content, is_code = span
                out.append(_escape(self.text[pos:start]))
                if not is_code:  # a bare URL
                    out.append(_escape(content))
                    pos = end
                    continue
                if len(content) > 2 and content[0] == content[-1] == " " and content.strip():
                    content = content[1:-1]  # CommonMark drops one space on each side
                code = _escape(content)
                out.append(code if in_link else f"<code>{code}</code>")  # no code in links
                pos = end
                continue
            if not matches:
                break
            start, rank = min(matches)
            m = found[rank]
            assert m is not None
            tag = _INLINE[rank][0]
            out.append(_escape(self.text[pos:start]))
            inner = self.render(m.start(1), m.end(1), in_link or tag == "a")
            if tag == "a":
                href = _escape(self.text[m.start(2):m.end(2)]).replace('"', "&quot;")
                out.append(f'<a href="{href}">{inner}</a>')
            else:
                out.append(f"<{tag}>{inner}</{tag}>")
            pos = m.end()
        out.append(_escape(self.text[pos:hi]))
        return "".join(out)


def split_telegram_html(markdown: str, limit: int = TELEGRAM_LIMIT) -> list[str]:
    """Telegram messages for `markdown`: each valid HTML on its own and at most `limit` long.

    The Markdown is split (fence-aware, as split_text does) and each chunk converted on its
    own. Escaping and tags make HTML longer than its source, so a chunk whose HTML is too long
    is cut again from the same start, shorter in proportion, until it fits; the next chunk
    starts where it ends. Length is measured in UTF-16 code units, the unit Telegram counts
    in, which is never fewer than characters. Chunks of only whitespace are left out, since
    Telegram refuses empty messages.
    """
    if limit < 5:  # the longest escape of one character, "&amp;"
        raise ValueError(f"limit must be at least 5, not {limit!r}")
    splitter = _Splitter(markdown)
    out: list[str] = []
    pos = 0
    while pos < len(markdown):
        source_limit = limit
        while True:
            source, end = splitter.chunk(pos, source_limit)
            converted = telegram_html(source)
            length = len(converted.encode("utf-16-le", "surrogatepass")) // 2
            if length <= limit:
                break
            # Shorter by the overshoot; at least one character shorter, so this ends.
            assert len(source) > 1, "the HTML of one character always fits"
            source_limit = max(1, min(len(source) - 1, len(source) * limit // length))
        if converted.strip():
            out.append(converted)
        pos = end
    return out
