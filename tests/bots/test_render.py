"""Chat text: long output split into messages that each fit and keep their code blocks, and agent
Markdown turned into Telegram HTML that Telegram accepts."""

from __future__ import annotations

import re
from bisect import bisect_right
from html.parser import HTMLParser

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bots.chat.render import (
    discord_markdown_chunks,
    needs_file,
    split_telegram_html,
    split_text,
    telegram_html,
    truncate_line,
)

PROPERTIES = settings(max_examples=100, deadline=None, database=None)

# The fence rule of CommonMark, written out again so the tests check the module against it.
OPEN = re.compile(r"( {0,3})(`{3,})[^`]*")
CLOSE = re.compile(r" {0,3}(`{3,})[ \t\r]*")

LOG = "".join(f"2024-05-01 12:{i % 60:02d}:07 INFO worker-{i % 7}: job {i} <ok> & done\n"
              for i in range(10_000))
CODE = ("```python\n" + "".join(f"    if a < b and c > {i}:  # **not bold** & `x`\n"
                                for i in range(5_000)) + "```\n")


def fences_by_line(text: str) -> tuple[list[int], list[str | None]]:
    """Where each line of `text` starts, and the opening line of the fence open there."""
    starts: list[int] = []
    openings: list[str | None] = []
    opening: str | None = None
    start = 0
    for line in text.split("\n"):
        starts.append(start)
        openings.append(opening)
        if opening is None:
            opening = line if OPEN.fullmatch(line) else None
        elif (m := CLOSE.fullmatch(line)) and len(m[1]) >= len(closing_line(opening).lstrip()):
            opening = None
        start += len(line) + 1
    return starts, openings


def closing_line(opening: str) -> str:
    m = OPEN.fullmatch(opening)
    assert m is not None
    return m[1] + m[2]


def open_fence_at_end(text: str) -> str | None:
    _, openings = fences_by_line(text + "\n")
    return openings[-1]


def reassemble(original: str, chunks: list[str]) -> str:
    """The chunks without the fence lines split_text added, checking on the way that each added
    line is the one the original calls for where it was added."""
    starts, openings = fences_by_line(original)

    def open_at(pos: int) -> str | None:
        return openings[bisect_right(starts, pos) - 1]

    def closer_at(pos: int) -> str:
        opening = open_at(pos)
        if opening is None:
            return ""
        return ("" if original[pos - 1] == "\n" else "\n") + closing_line(opening)

    pos = 0
    for n, chunk in enumerate(chunks):
        opening = open_at(pos)
        if opening is not None:
            assert chunk.startswith(opening + "\n"), (pos, chunk)
            chunk = chunk[len(opening) + 1:]
        if n < len(chunks) - 1:
            content = next((chunk[:k] for k in range(len(chunk), 0, -1)
                            if original.startswith(chunk[:k], pos)
                            and closer_at(pos + k) == chunk[k:]), None)
            assert content is not None, (pos, chunk)
            chunk = content
        assert original.startswith(chunk, pos), (pos, chunk)
        pos += len(chunk)
    return original[:pos]


def assert_fences_balanced(original: str, chunks: list[str]) -> None:
    for chunk in chunks[:-1]:
        assert open_fence_at_end(chunk) is None, chunk
    if chunks:
        assert (open_fence_at_end(chunks[-1]) is None) == (open_fence_at_end(original) is None)


class TelegramTags(HTMLParser):
    """Tags in the order Telegram reads them; records what it would refuse."""

    ALLOWED = frozenset({"b", "i", "s", "a", "code", "pre"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.open: list[str] = []
        self.errors: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in self.ALLOWED:
            self.errors.append(f"<{tag}> is not a Telegram tag")
        # Bold, italic and strike nest anywhere but in code; code and pre hold nothing else.
        parent = self.open[-1] if self.open else None
        if (parent == "code" or (parent == "pre" and tag != "code")
                or (parent == "a" and tag in ("a", "code", "pre")) or (tag == "pre" and parent)):
            self.errors.append(f"<{tag}> inside <{parent}>")
        self.open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.open or self.open.pop() != tag:
            self.errors.append(f"</{tag}> closes nothing open")

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def visible_text(chunk: str) -> str:
    """The text Telegram shows for an HTML message, after checking that it would accept it."""
    parser = TelegramTags()
    parser.feed(chunk)
    parser.close()
    assert not parser.errors, (parser.errors, chunk)
    assert not parser.open, (parser.open, chunk)
    bare = re.sub(r'<(b|i|s|code|pre|/b|/i|/s|/a|/code|/pre)>|<a href="[^"<>]*">'
                  r'|<code class="language-[\w+#.-]+">', "", chunk)
    assert "<" not in bare and ">" not in bare, chunk
    assert not re.search(r"&(?!(lt|gt|amp|quot);)", bare), chunk
    return "".join(parser.text)


def utf16_length(text: str) -> int:
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


# Markdown like agents write it, with the fence lines and near-fences that make splitting hard.
WORDS = st.sampled_from(["word", "a < b", "&", "**bold**", "*it*", "_it_", "~~gone~~", "`code`",
                         "[link](https://example.com/x)", "snake_case", "2*3*4", "x```y", "```",
                         "🙂", "<tag>", "w" * 70])
LINES = st.one_of(
    st.sampled_from(["```", "```python", "```js title=x", "````", "", "# Heading", "- item",
                     "   ```", "```not`a fence", "    ```"]),
    st.lists(WORDS, max_size=12).map(" ".join),
    st.text(alphabet="ab `*_<&", max_size=60),
)
DOCUMENTS = st.lists(LINES, max_size=40).map("\n".join)


# split_text ----------------------------------------------------------------------------------

def test_empty_text_gives_no_chunks_and_short_text_one() -> None:
    assert split_text("", 10) == []
    assert split_text("short", 10) == ["short"]
    assert split_text("exactly 10", 10) == ["exactly 10"]


def test_a_limit_below_one_is_refused() -> None:
    with pytest.raises(ValueError):
        split_text("text", 0)


def test_paragraphs_are_cut_at_blank_lines() -> None:
    paragraph = "line one of the paragraph\nline two of the paragraph\n"
    text = "\n".join([paragraph] * 6)
    chunks = split_text(text, 170)
    assert len(chunks) > 1
    assert all(chunk.endswith("paragraph\n\n") for chunk in chunks[:-1])
    assert "".join(chunks) == text


def test_lines_are_cut_at_line_breaks_and_long_lines_at_spaces() -> None:
    lines = "".join(f"line {i}\n" for i in range(100))
    assert all(c.endswith("\n") for c in split_text(lines, 50))
    sentence = " ".join(["word"] * 100)
    chunks = split_text(sentence, 42)
    assert all(c.endswith(" ") for c in chunks[:-1])
    assert all(len(c) <= 42 for c in chunks)
    assert "".join(chunks) == sentence


def test_a_single_huge_word_is_hard_cut_into_full_chunks() -> None:
    word = "".join(chr(ord("a") + i % 26) for i in range(10_000))
    chunks = split_text(word, 2000)
    assert [len(c) for c in chunks] == [2000] * 5
    assert "".join(chunks) == word


@pytest.mark.parametrize("limit", [4096, 2000, 333])
def test_a_ten_thousand_line_log_is_cut_between_lines(limit: int) -> None:
    chunks = split_text(LOG, limit)
    assert all(len(c) <= limit for c in chunks)
    assert all(c.endswith("\n") for c in chunks)
    assert "".join(chunks) == LOG


@pytest.mark.parametrize("limit", [4096, 2000, 100])
def test_a_huge_code_block_is_closed_and_reopened_in_every_chunk(limit: int) -> None:
    chunks = split_text(CODE, limit)
    assert len(chunks) > 1
    assert all(len(c) <= limit for c in chunks)
    assert all(c.startswith("```python\n") for c in chunks)
    assert all(c.endswith("\n```") for c in chunks[:-1])
    assert chunks[-1].endswith("\n```\n")
    assert_fences_balanced(CODE, chunks)
    assert reassemble(CODE, chunks) == CODE


def test_a_code_line_longer_than_the_limit_is_closed_on_a_line_of_its_own() -> None:
    text = "```\n" + "x" * 50 + "\n```"
    chunks = split_text(text, 20)
    assert chunks[0] == "```\n" + "x" * 12 + "\n```"
    assert all(len(c) <= 20 for c in chunks)
    assert_fences_balanced(text, chunks)
    assert reassemble(text, chunks) == text


def test_an_inline_triple_backtick_never_starts_a_chunk_as_a_fence() -> None:
    text = "see the ```python marker in this sentence and more words after it"
    for limit in range(14, 40):
        chunks = split_text(text, limit)
        assert all(open_fence_at_end(c) is None for c in chunks), chunks
        assert "".join(chunks) == text


@PROPERTIES
@given(st.text(alphabet=st.sampled_from("ab \n`#*") | st.characters(), max_size=400),
       st.integers(1, 120))
def test_every_chunk_fits_and_plain_text_comes_back_whole(text: str, limit: int) -> None:
    chunks = split_text(text, limit)
    assert all(0 < len(c) <= limit for c in chunks)
    if "`" not in text:
        assert "".join(chunks) == text


@PROPERTIES
@given(DOCUMENTS, st.integers(0, 200))
def test_chunks_keep_every_character_and_every_fence_balanced(text: str, extra: int) -> None:
    longest_fence_line = max((len(line) for line in text.split("\n") if "```" in line), default=0)
    limit = 3 * longest_fence_line + 10 + extra
    chunks = split_text(text, limit)
    assert all(len(c) <= limit for c in chunks)
    assert_fences_balanced(text, chunks)
    assert reassemble(text, chunks) == text


# telegram_html -------------------------------------------------------------------------------

def test_html_in_the_text_is_escaped() -> None:
    assert telegram_html("<script>alert(1)</script>") == "&lt;script&gt;alert(1)&lt;/script&gt;"
    assert telegram_html("a < b && c > d") == "a &lt; b &amp;&amp; c &gt; d"


def test_code_is_escaped_but_never_formatted() -> None:
    assert telegram_html("run `**x** <y> & _z_`") == "run <code>**x** &lt;y&gt; &amp; _z_</code>"
    block = "```python\nif a < b:\n    print('**x**', _y_)\n```"
    assert telegram_html(block) == ('<pre><code class="language-python">if a &lt; b:\n'
                                    "    print('**x**', _y_)</code></pre>")
    assert telegram_html("```\n*plain*\n```") == "<pre>*plain*</pre>"


def test_an_unclosed_code_block_runs_to_the_end_and_is_closed() -> None:
    assert telegram_html("text\n```sh\nls <dir>") == (
        'text\n<pre><code class="language-sh">ls &lt;dir&gt;</code></pre>')


def test_markdown_emphasis_links_headings_and_bullets_become_telegram_html() -> None:
    markdown = ("# Result\n- **bold** and *italic* and _also_ and ~~gone~~\n"
                "* see [the docs](https://example.com/a?b=1&c=2)")
    assert telegram_html(markdown) == (
        "<b>Result</b>\n• <b>bold</b> and <i>italic</i> and <i>also</i> and <s>gone</s>\n"
        '• see <a href="https://example.com/a?b=1&amp;c=2">the docs</a>')


def test_ambiguous_stars_and_underscores_stay_as_written() -> None:
    text = "snake_case_name 2*3*4 __init__.py f(*args, **kwargs) a * b * c"
    assert telegram_html(text) == text


def test_a_bare_url_is_shown_exactly_as_written_whatever_it_holds() -> None:
    link = "http://127.0.0.1:8765/signin/-_Ab*c-_x_-*d_"
    assert telegram_html(f"Your link:\n{link}\nIt works once.") == (
        f"Your link:\n{link}\nIt works once.")
    assert telegram_html("**go to https://e.com/*x* now**") == (
        "<b>go to https://e.com/*x* now</b>")
    assert telegram_html("[https://e.com/_a_](https://e.com/_a_)") == (
        '<a href="https://e.com/_a_">https://e.com/_a_</a>')


def test_a_link_url_cannot_break_out_of_its_attribute() -> None:
    assert telegram_html('[x](https://e.com/?q="a"&r=1)') == (
        '<a href="https://e.com/?q=&quot;a&quot;&amp;r=1">x</a>')
    assert telegram_html("[x](javascript:alert(1))") == "[x](javascript:alert(1))"


def test_code_inside_a_link_is_plain_text_because_telegram_refuses_it() -> None:
    assert telegram_html("[`f()` docs](https://e.com)") == '<a href="https://e.com">f() docs</a>'
    assert telegram_html("**bold `code`**") == "<b>bold <code>code</code></b>"


@PROPERTIES
@given(DOCUMENTS)
def test_any_markdown_gives_html_telegram_accepts(markdown: str) -> None:
    visible_text(telegram_html(markdown))


@PROPERTIES
@given(st.text(alphabet=st.characters(exclude_characters="*_~`[#-+")))
def test_text_without_markup_is_shown_exactly_as_written(text: str) -> None:
    assert visible_text(telegram_html(text)) == text


# split_telegram_html -------------------------------------------------------------------------

def test_a_long_log_becomes_messages_that_fit_and_show_every_line() -> None:
    chunks = split_telegram_html(LOG)
    assert all(4000 < len(c) <= 4096 for c in chunks[:-1])  # as few messages as fit
    assert "".join(visible_text(c) for c in chunks) == LOG


def test_a_huge_code_block_is_a_code_block_in_every_message() -> None:
    chunks = split_telegram_html(CODE)
    assert len(chunks) > 1
    for chunk in chunks:
        assert len(chunk) <= 4096
        assert chunk.startswith('<pre><code class="language-python">')
        assert chunk.rstrip("\n").endswith("</code></pre>")
        visible_text(chunk)


def test_text_that_escaping_multiplies_is_split_again_until_it_fits() -> None:
    ampersands = "&" * 10_000
    chunks = split_telegram_html(ampersands)
    assert all(len(c) <= 4096 for c in chunks)
    assert "".join(visible_text(c) for c in chunks) == ampersands


def test_length_is_counted_as_telegram_counts_it() -> None:
    emoji = "🙂" * 5000  # two UTF-16 code units each
    chunks = split_telegram_html(emoji)
    assert all(utf16_length(c) <= 4096 for c in chunks)
    assert "".join(chunks) == emoji


@PROPERTIES
@given(DOCUMENTS, st.integers(64, 600))
def test_every_telegram_message_fits_and_is_valid_html(markdown: str, limit: int) -> None:
    for chunk in split_telegram_html(markdown, limit):
        assert 0 < utf16_length(chunk) <= limit
        assert chunk.strip()
        visible_text(chunk)


# Discord, files, status lines ----------------------------------------------------------------

def test_discord_messages_fit_keep_their_code_blocks_and_are_never_blank() -> None:
    text = "intro\n\n" + CODE + "\n" * 3000 + LOG[:50_000]
    chunks = discord_markdown_chunks(text)
    assert all(len(c) <= 2000 and c.strip() for c in chunks)
    assert_fences_balanced(text, chunks)
    assert discord_markdown_chunks("hi") == ["hi"]


def test_text_needs_a_file_only_past_the_number_of_messages() -> None:
    line = "y" * 99 + "\n"
    assert not needs_file("short", limit=100)
    assert not needs_file(line * 3, limit=100)
    assert needs_file(line * 4, limit=100)
    assert not needs_file(line * 4, max_chunks=4, limit=100)


def test_a_status_line_is_one_line_cut_with_an_ellipsis() -> None:
    assert truncate_line("  fix the\n\tlogin   bug ", 40) == "fix the login bug"
    assert truncate_line("fix the login bug", 10) == "fix the l…"
    assert len(truncate_line("x" * 100, 10)) == 10
    with pytest.raises(ValueError):
        truncate_line("x", 0)
