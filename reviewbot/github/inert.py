"""Text a model (or a pull request) wrote, made inert before it goes into anything we post.

Everything posted is Markdown that GitHub renders, so untrusted text could otherwise carry
HTML comments (our hidden ``reviewbot:`` markers among them), raw HTML, links and images
to anywhere, ``@mentions`` that notify people, and code fences that close ours. ``inert``
is the one function every piece of such text goes through:

- outside code, ``& < >`` become entities and ``\\ [ ]`` are backslash-escaped, so no HTML,
  HTML comment, link, image or link definition can form (the text still reads the same);
- ``reviewbot:`` and ``<!--`` are broken everywhere (with an invisible zero-width
  joiner), so no copy of one of our markers can appear in a body, not even inside code;
- ``@`` and issue references get a zero-width joiner: no mention, team ping, email
  autolink or cross-reference;
- bare URLs stay links only when they point into the repository; others become code;
- code spans and fences stay code, an unclosed fence is closed, unmatched backticks are
  escaped, bidirectional-override characters are dropped, and the length is capped.
"""

from __future__ import annotations

import re

ZWJ = "\u200d"
_BIDI = re.compile("[\u202a-\u202e\u2066-\u2069\u200e\u200f\x00]")
_MARKER_WORD = re.compile(r"(reviewbot)(:)", re.IGNORECASE)
_FENCE_OPEN = re.compile(r"^( {0,3})(`{3,}|~{3,})(.*)$")
_BACKTICKS = re.compile(r"`+")
_URL = re.compile(r"(?i)(?:\b(?:https?|ftp|file)://|\bwww\.)[^\s<>`\"']+")
_REF = re.compile(r"#(?=\d)|(?<=\bGH)-(?=\d)", re.IGNORECASE)
_TRAILING = ".,:;!?)]}*_~'\""


def _code(text: str) -> str:
    """Inside code nothing renders, but markers are read from raw text: break them (and any
    HTML comment opener) with an invisible joiner."""
    return _MARKER_WORD.sub(rf"\1{ZWJ}\2", text).replace("<!--", f"<!{ZWJ}--")


def _repo_link(url: str, repo: str, server: str) -> bool:
    root = f"{server.rstrip('/')}/{repo}".lower()
    low = url.lower()
    if not (low == root or low.startswith(root + "/") or low.startswith(root + "#")):
        return False
    # Only plain path characters: no userinfo, no escapes that could change what it is.
    return re.fullmatch(r"[A-Za-z0-9._~/#%?=&+:-]+", url[len(root) :] or "/") is not None


def _escape_text(text: str) -> str:
    text = (
        text.replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace("\\", "\\\\")
        .replace("[", "\\[")
        .replace("]", "\\]")
        .replace("`", "\\`")
    )
    text = _MARKER_WORD.sub(rf"\1{ZWJ}\2", text)
    text = text.replace("@", "@" + ZWJ)
    return _REF.sub(lambda m: m.group(0) + ZWJ, text)


def _prose(text: str, repo: str, server: str) -> str:
    """One run of text outside code: escaped, with bare URLs kept or turned into code."""
    out: list[str] = []
    pos = 0
    for m in _URL.finditer(text):
        url = m.group(0).rstrip(_TRAILING)
        if not url:
            continue
        out.append(_escape_text(text[pos : m.start()]))
        if repo and _repo_link(url, repo, server):
            out.append(url)
        else:
            out.append(code_span(url))
        pos = m.start() + len(url)
    out.append(_escape_text(text[pos:]))
    return "".join(out)


def _line(text: str, repo: str, server: str) -> str:
    """One line of prose: code spans (a backtick run closed by one as long) stay code."""
    out: list[str] = []
    pos = 0
    runs = list(_BACKTICKS.finditer(text))
    i = 0
    while i < len(runs):
        opener = runs[i]
        closer = next(
            (j for j in range(i + 1, len(runs)) if len(runs[j].group(0)) == len(opener.group(0))),
            None,
        )
        if closer is None:
            i += 1
            continue
        out.append(_prose(text[pos : opener.start()], repo, server))
        out.append(_code(text[opener.start() : runs[closer].end()]))
        pos = runs[closer].end()
        i = closer + 1
    out.append(_prose(text[pos:], repo, server))
    return "".join(out)


def _render(text: str, *, repo: str, server: str, inline: bool) -> str:
    text = _BIDI.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))
    if inline:
        return _line(" ".join(text.split()), repo, server)
    out: list[str] = []
    fence: tuple[str, int] | None = None  # (character, length) of the open fence
    for line in text.split("\n"):
        if fence is not None:
            char, length = fence
            stripped = line.strip()
            if (
                len(line) - len(line.lstrip(" ")) <= 3
                and len(stripped) >= length
                and set(stripped) == {char}
            ):
                fence = None
            out.append(_code(line))
            continue
        m = _FENCE_OPEN.match(line)
        if m and not (m.group(2)[0] == "`" and "`" in m.group(3)):
            fence = (m.group(2)[0], len(m.group(2)))
            out.append(m.group(1) + m.group(2) + _escape_text(m.group(3)))
            continue
        out.append(_line(line, repo, server))
    if fence is not None:
        out.append(fence[0] * fence[1])  # an unclosed fence would swallow what follows
    return "\n".join(out)


def inert(
    text: str | None,
    *,
    repo: str = "",
    limit: int = 4_000,
    inline: bool = False,
    server: str = "https://github.com",
) -> str:
    """``text`` as Markdown that renders as plain text and code, at most about ``limit`` long.

    ``repo`` ("owner/name") is where links may point; ``inline`` flattens the text to one
    line (titles, table cells). The result is at most ``limit`` characters, plus a closing
    fence when the cut fell inside one.
    """
    if not text:
        return ""
    source = text if len(text) <= limit else text[: max(0, limit - 1)].rstrip() + "…"
    rendered = _render(source, repo=repo, server=server, inline=inline)
    while len(rendered) > limit and len(source) > 1:
        keep = max(1, int(len(source) * limit / len(rendered) * 0.9))
        source = source[:keep].rstrip() + "…"
        rendered = _render(source, repo=repo, server=server, inline=inline)
    return rendered


def code_span(text: str) -> str:
    """``text`` (a path, a URL) as one inline code span no backtick inside can close."""
    flat = _BIDI.sub("", " ".join(text.split()))
    longest = max((len(m) for m in _BACKTICKS.findall(flat)), default=0)
    ticks = "`" * (longest + 1)
    pad = " " if flat.startswith("`") or flat.endswith("`") or not flat.strip() else ""
    return f"{ticks}{pad}{_code(flat)}{pad}{ticks}"


def fence_for(code: str) -> str:
    """A backtick fence longer than any backtick run inside ``code`` (at least three)."""
    longest = max((len(m) for m in _BACKTICKS.findall(code)), default=0)
    return "`" * max(3, longest + 1)
