"""Turning untrusted index text into page text, file names, titles and links.

The index is edited in pull requests, so every string in it is hostile to the site generator. Four rules,
one function each, and the templates use nothing else for index text:

- :func:`text` escapes a value so that it is plain text in both contexts a generated page has: Markdown
  (no emphasis, links, ``{: attr}`` lists, headings, tables) and raw HTML (no tags, no attributes). Every
  ASCII punctuation character that Markdown or HTML gives a meaning is written as a numeric character
  reference, which Python-Markdown passes through and the browser shows as the character itself.
  Control characters go (Python-Markdown's own placeholders are built from ``\\x02``/``\\x03``), and so do
  the bidirectional embedding, override and isolate controls: one in a collection name would run the
  rest of its sentence right to left ("top-5 96.0%" shown reversed), spoofing the figures after it.
- :func:`slug` is the only way from a name to a file name: ``[a-z0-9_-]``, bounded, collision-free.
- :func:`title` is what MkDocs gets for navigation titles: MkDocs' theme templates do not escape, so a
  title is the name itself only when it holds nothing but letters, digits, space, ``_ . -``; else its slug.
- :func:`http_url` accepts http(s) URLs with a host and nothing else; the caller renders anything else
  as text.
"""

from __future__ import annotations

import json
import re
import unicodedata
from urllib.parse import urlsplit

from markupsafe import Markup

__all__ = ["MAX_TEXT", "RESERVED", "Slugs", "Trusted", "config_url", "http_url", "py_string", "slug", "text", "title"]

MAX_TEXT = 2000  # characters of one value shown on a page; the rest is cut (a page is not a data dump)
MAX_SLUG = 64
# bidirectional formatting characters (LRM/RLM, ALM, embeddings, overrides, isolates): dropped from page text
_BIDI = frozenset("\u200e\u200f\u061c\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
# ASCII characters a value keeps as they are: they mean nothing to Markdown in the middle of a line,
# nor to HTML. Everything else in ASCII punctuation becomes a character reference.
_PLAIN = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 .,-/:%@")
_TITLE = re.compile(r"[A-Za-z0-9][A-Za-z0-9 _.\-]{0,79}")
# names the site's own pages and folders use: a collection page may not take one
RESERVED = frozenset({"index", "corrections", "cli", "api", "assets", "models", "search", "404", "sitemap"})


class Trusted(Markup):
    """Page text that is safe as it is: escaped by :func:`text`, a slug path, a code literal, or prose from
    the package's own ``docs/templates``. Only this type skips escaping: a ``Markup`` that jinja2 made from
    index text (``join``, ``~``) has its HTML escaped but not its Markdown, so it is escaped again."""

    __slots__ = ()


def _clean(value: object) -> str:
    """The value as one line of printable text, bounded."""
    s = str(value)
    if len(s) > MAX_TEXT:
        s = s[:MAX_TEXT] + "…"
    out = []
    for ch in s:
        if ch in "\t\n\r\x0b\x0c":
            out.append(" ")
        elif unicodedata.category(ch) in ("Cc", "Cs", "Co", "Cn") or ch in "\u2028\u2029" or ch in _BIDI:
            continue
        else:
            out.append(ch)
    return "".join(out)


def text(value: object) -> Markup:
    """``value`` as inert page text (Markdown and HTML alike); see the module docstring."""
    if isinstance(value, Trusted):
        return value
    return Trusted("".join(ch if ch in _PLAIN or ord(ch) > 127 else f"&#{ord(ch)};" for ch in _clean(value)))


def slug(name: object) -> str:
    """A file-name-safe form of ``name``: lower-case ``[a-z0-9_-]``, at most 64 characters, never empty."""
    s = unicodedata.normalize("NFKD", str(name)).encode("ascii", "ignore").decode().lower()
    s = re.sub(r"[^a-z0-9_-]+", "-", s)
    s = re.sub(r"-{2,}", "-", s).strip("-_")[:MAX_SLUG].strip("-_")
    return s or "item"


class Slugs:
    """Hands out distinct slugs: a second ``TResNet``/``tresnet`` gets ``tresnet-2``; reserved names never."""

    def __init__(self, reserved: frozenset[str] = frozenset()):
        self._taken: set[str] = set(reserved)

    def __call__(self, name: object) -> str:
        base = slug(name)
        candidate, n = base, 1
        while candidate in self._taken:
            n += 1
            candidate = f"{base[:MAX_SLUG - 1 - len(str(n))]}-{n}"
        self._taken.add(candidate)
        return candidate


def title(name: object, fallback: str) -> str:
    """A navigation/page title MkDocs may print unescaped: ``name`` if it is plain, else ``fallback``."""
    s = str(name)
    return s if _TITLE.fullmatch(s) else fallback


def http_url(value: object) -> str | None:
    """``value`` if it is an http(s) URL with a host and no spaces, control or format (bidi, zero-width)
    characters; else None."""
    if not isinstance(value, str) or len(value) > 2048:
        return None
    if any(ch.isspace() or unicodedata.category(ch) in ("Cc", "Cf") for ch in value):
        return None
    try:
        parts = urlsplit(value)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    return value


# what RFC 3986 lets a URL hold unencoded: letters, digits, -._~, the delimiters, and % for escapes
_URL_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~:/?#[]@!$&'()*+,;=%")


def config_url(value: object) -> str | None:
    """``value`` if it is an http(s) URL written with RFC 3986 characters only; else None.

    For the URLs that go into MkDocs' configuration (``site_url``, ``repo_url``): the theme prints some of
    them into attributes without escaping (the canonical link), so a ``"`` or ``<`` there would be markup.
    """
    url = http_url(value)
    return url if url is not None and set(url) <= _URL_CHARS else None


def py_string(value: object) -> Markup:
    """A Python string literal of ``value`` for a fenced code block (one line, quotes and backslashes escaped).

    Fenced code is shown literally (the highlighter escapes HTML), so the only danger is ending the fence,
    which needs a new line: ``json.dumps`` writes none, and its output is a valid Python literal.
    """
    return Trusted(json.dumps(_clean(value)))
