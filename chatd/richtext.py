"""Message bodies: Markdown source in, sanitized HTML and video embeds out.

Two layers keep script out of what the web client shows: markdown-it renders raw HTML in the
source as text (``html=False``) and refuses ``javascript:``/``data:`` links; nh3 then keeps only an
allow-list of tags, attributes and URL schemes, so a renderer bug cannot become an XSS.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from urllib.parse import parse_qs, urlsplit

import nh3
from markdown_it import MarkdownIt
from markdown_it.rules_core import StateCore
from markdown_it.token import Token

from protocol.values import Embed
from storage.handles import Teammate
from storage.messages import Body

MAX_EMBEDS = 5

_TAGS = {
    "p", "br", "strong", "em", "s", "del", "ul", "ol", "li", "a", "code", "pre", "blockquote", "hr",
    "h1", "h2", "h3", "h4", "h5", "h6", "span",
}  # fmt: skip
_ATTRIBUTES = {"a": {"href", "title"}, "ol": {"start"}, "span": {"data-user-id"}}
_CLEANER = nh3.Cleaner(
    tags=_TAGS,
    clean_content_tags={"script", "style"},
    attributes=_ATTRIBUTES,
    # Only the server's own @mention spans keep a class (raw HTML in the source is text anyway).
    allowed_classes={"span": {"mention"}},
    url_schemes={"http", "https", "mailto", "tel"},
    link_rel="noopener noreferrer nofollow",
    # A relative link would point at chatd itself: only absolute http(s), mailto and tel links stay.
    url_relative="deny",
    set_tag_attribute_values={"a": {"target": "_blank"}},
)

# The shortcodes people type most; a full table would weigh more than the feature is worth.
EMOJI = {
    "smile": "😄", "slightly_smiling_face": "🙂", "grin": "😁", "joy": "😂", "wink": "😉", "blush": "😊",
    "thinking": "🤔", "cry": "😢", "sweat_smile": "😅", "heart": "❤️", "+1": "👍", "thumbsup": "👍",
    "-1": "👎", "thumbsdown": "👎", "ok_hand": "👌", "clap": "👏", "wave": "👋", "pray": "🙏",
    "muscle": "💪", "raised_hands": "🙌", "tada": "🎉", "fire": "🔥", "rocket": "🚀", "star": "⭐",
    "sparkles": "✨", "eyes": "👀", "white_check_mark": "✅", "heavy_check_mark": "✔️", "x": "❌",
    "warning": "⚠️", "exclamation": "❗", "question": "❓", "bulb": "💡", "memo": "📝", "calendar": "📅",
    "email": "📧", "phone": "📞", "paperclip": "📎", "page_facing_up": "📄", "moneybag": "💰",
    "house": "🏠", "key": "🔑", "lock": "🔒", "hourglass": "⌛", "clock": "🕒", "coffee": "☕",
    "sunny": "☀️", "100": "💯",
}  # fmt: skip
_SHORTCODE = re.compile(r":([a-z0-9_+-]+):")


def _emoji(state: StateCore) -> None:
    """Replace known ``:shortcodes:`` in text, never inside code spans or blocks."""
    for token in state.tokens:
        for child in token.children or ():
            if child.type == "text" and ":" in child.content:
                child.content = _SHORTCODE.sub(lambda m: EMOJI.get(m.group(1), m.group(0)), child.content)


def _mentions(state: StateCore) -> None:
    """Turn ``@handle`` and ``@Full Name`` of the people in ``env["people"]`` into mention spans
    (never inside code), and list who was mentioned in ``env["mentioned"]``."""
    people: Sequence[Teammate] = state.env.get("people", ())
    if not people:
        return
    keys = sorted(
        ((key.lower(), person) for person in people for key in (person.handle, person.name) if key),
        key=lambda pair: -len(pair[0]),
    )
    mentioned: list[int] = state.env["mentioned"]
    for token in state.tokens:
        if not token.children or not any(c.type == "text" and "@" in c.content for c in token.children):
            continue
        children: list[Token] = []
        for child in token.children:
            children.extend(_split_mentions(child, keys, mentioned) if child.type == "text" else [child])
        token.children = children


def _split_mentions(token: Token, keys: list[tuple[str, Teammate]], mentioned: list[int]) -> list[Token]:
    text, out, start = token.content, [], 0
    for at in (i for i, ch in enumerate(text) if ch == "@"):
        if at < start or (at > 0 and (text[at - 1].isalnum() or text[at - 1] in "._-")):
            continue  # inside a previous mention, or an email address
        rest = text[at + 1 :]
        lowered = rest.lower()
        found = next(
            (
                (key, person)
                for key, person in keys
                if lowered.startswith(key) and (len(rest) == len(key) or not _word_char(rest[len(key)]))
            ),
            None,
        )
        if found is None:
            continue
        key, person = found
        out.append(_text(text[start:at]))
        span = Token("html_inline", "", 0)
        typed = html.escape(text[at : at + 1 + len(key)])
        span.content = f'<span class="mention" data-user-id="{person.id}">{typed}</span>'
        out.append(span)
        start = at + 1 + len(key)
        if person.id not in mentioned:
            mentioned.append(person.id)
    out.append(_text(text[start:]))
    return [t for t in out if t.type != "text" or t.content]


def _word_char(ch: str) -> bool:
    return ch.isalnum() or ch == "_"


def _text(content: str) -> Token:
    token = Token("text", "", 0)
    token.content = content
    return token


def _markdown() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": False, "linkify": True, "breaks": True, "typographer": False})
    md.enable(["linkify", "strikethrough"]).disable("image")
    md.core.ruler.push("emoji", _emoji)
    md.core.ruler.push("mentions", _mentions)
    return md


_MD = _markdown()


# Words, spaces, commas and a final question mark: no Markdown syntax, no link, shortcode, mention
# or character to escape can be in it, so it renders as one paragraph of itself. Most short chat
# messages are such; skipping markdown-it and nh3 for them saves most of a send's render.
PLAIN_WORDS = re.compile(r"[^\W_]+(?:[ ,]+[^\W_]+)*\??")


def render(source: str, people: Sequence[Teammate] = ()) -> Body:
    """``people``: who may be @mentioned in this body (the author is never among the mentioned)."""
    if PLAIN_WORDS.fullmatch(source):
        return Body(source=source, html=f"<p>{source}</p>\n", embeds=[])
    return render_markdown(source, people)


def render_markdown(source: str, people: Sequence[Teammate] = ()) -> Body:
    """``render`` without its shortcut for plain words."""
    env: dict[str, object] = {"people": people, "mentioned": []}
    tokens = _MD.parse(source, env)
    hrefs = [
        str(child.attrs["href"])
        for token in tokens
        for child in token.children or ()
        if child.type == "link_open" and "href" in child.attrs
    ]
    rendered = _CLEANER.clean(_MD.renderer.render(tokens, _MD.options, env))
    mentioned = env["mentioned"]
    assert isinstance(mentioned, list)
    return Body(source=source, html=rendered, embeds=embeds_in(hrefs), mentions=tuple(mentioned))


def embeds_in(hrefs: list[str]) -> list[Embed]:
    """The videos the links point at, each once, in order, at most MAX_EMBEDS."""
    found: list[Embed] = []
    for href in hrefs:
        embed = video_embed(href)
        if embed is not None and embed not in found:
            found.append(embed)
    return found[:MAX_EMBEDS]


_YOUTUBE_ID = re.compile(r"[A-Za-z0-9_-]{11}")
_VIMEO_ID = re.compile(r"\d{1,12}")
_LOOM_ID = re.compile(r"[0-9a-f]{32}")
_DRIVE_ID = re.compile(r"[A-Za-z0-9_-]{10,100}")


def video_embed(url: str) -> Embed | None:
    """An embeddable player for a YouTube, Vimeo, Loom or Google Drive video link."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme not in ("http", "https"):
        return None
    host = (parts.hostname or "").removeprefix("www.").removeprefix("m.")
    segments = [s for s in parts.path.split("/") if s]
    if host in ("youtube.com", "youtube-nocookie.com"):
        video = parse_qs(parts.query).get("v", [""])[0] if segments == ["watch"] else ""
        if len(segments) == 2 and segments[0] in ("embed", "shorts", "live", "v"):
            video = segments[1]
        return _embed("youtube", video, _YOUTUBE_ID, "https://www.youtube-nocookie.com/embed/{}")
    if host == "youtu.be" and len(segments) == 1:
        return _embed("youtube", segments[0], _YOUTUBE_ID, "https://www.youtube-nocookie.com/embed/{}")
    if host == "vimeo.com" and segments:
        return _embed("vimeo", segments[-1], _VIMEO_ID, "https://player.vimeo.com/video/{}")
    if host == "player.vimeo.com" and len(segments) == 2 and segments[0] == "video":
        return _embed("vimeo", segments[1], _VIMEO_ID, "https://player.vimeo.com/video/{}")
    if host == "loom.com" and len(segments) == 2 and segments[0] in ("share", "embed"):
        return _embed("loom", segments[1], _LOOM_ID, "https://www.loom.com/embed/{}")
    if host == "drive.google.com" and len(segments) >= 3 and segments[:2] == ["file", "d"]:
        return _embed("google_drive", segments[2], _DRIVE_ID, "https://drive.google.com/file/d/{}/preview")
    return None


def _embed(provider: str, video_id: str, shape: re.Pattern[str], player: str) -> Embed | None:
    if not shape.fullmatch(video_id):
        return None
    return Embed(provider=provider, id=video_id, url=player.format(video_id))
