"""Markdown bodies rendered to sanitized HTML on the server; video links become embeds."""

from __future__ import annotations

from html.parser import HTMLParser

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chatd import richtext
from tests.conftest import Cast, Connect, new_id, open_thread
from tests.support import MSGPACK, ChatdProcess

ALLOWED_TAGS = {
    "p", "br", "strong", "em", "s", "del", "ul", "ol", "li", "a", "code", "pre", "blockquote", "hr",
    "h1", "h2", "h3", "h4", "h5", "h6",
}  # fmt: skip
PLAIN = richtext.PLAIN_WORDS.pattern
ALLOWED_ATTRIBUTES = {"href", "title", "start", "target", "rel"}

XSS = [
    "<script>alert(1)</script>",
    "<SCRIPT SRC=//evil.example/x.js></SCRIPT>",
    "[click](javascript:alert(1))",
    "[click](JaVaScRiPt:alert(1))",
    "[click](  javascript:alert(1))",
    "[click](jav&#x09;ascript:alert(1))",
    "[click](vbscript:msgbox(1))",
    "[click](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "![x](data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9YWxlcnQoMSk+)",
    "![x](https://evil.example/pixel.gif)",
    '<img src=x onerror="alert(1)">',
    "<svg/onload=alert(1)>",
    "<svg><script>alert(1)</script></svg>",
    '<a href="javascript:alert(1)">x</a>',
    '<iframe src="https://evil.example"></iframe>',
    "<div style=\"background:url('javascript:alert(1)')\">x</div>",
    '<p onclick="alert(1)">x</p>',
    '[x](https://ok.example "title" onmouseover=alert(1))',
    '[x](https://ok.example"onmouseover="alert(1))',
    "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)></style></mglyph></table></mtext></math>",
    "<<script>script>alert(1)<</script>/script>",
    "`<script>alert(1)</script>`",
    "```html\n<script>alert(1)</script>\n```",
    "<form action=javascript:alert(1)><button>x</button></form>",
    '<object data="javascript:alert(1)"></object>',
    "<base href=javascript:alert(1)//>",
    "<meta http-equiv=refresh content='0;url=javascript:alert(1)'>",
    "[x](//evil.example/%0Ajavascript:alert(1))",
    '<https://ok.example/"onmouseover="alert(1)>',
    "javascript:alert(1)",
]


class _Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))


def assert_safe(html: str) -> None:
    collector = _Collector()
    collector.feed(html)
    for tag, attrs in collector.tags:
        assert tag in ALLOWED_TAGS, (tag, html)
        for name, value in attrs:
            assert name in ALLOWED_ATTRIBUTES, (name, html)
            if name == "href":
                assert value is not None
                assert value.startswith(("http://", "https://", "mailto:", "tel:")), html
                assert '"' not in value
    lowered = html.lower()
    assert "<script" not in lowered
    assert "<svg" not in lowered
    assert "<img" not in lowered


async def test_markdown_is_rendered_for_every_reader(cast: Cast, connect: Connect) -> None:
    staff = await connect(cast.token(cast.staff))
    client = await connect(cast.token(cast.client), MSGPACK)
    thread_id = (await open_thread(staff, cast.client))["thread"]["id"]
    body = (
        "Hello **Ana**, _please_ send:\n\n- the ~~old~~ new lease\n1. a `payslip`\n\n"
        "> quoted\n\nSee [the guide](https://example.com/guide) :tada: :+1: `:tada:` :unknown_code:"
    )
    sent = (await staff.ok("send", thread_id=thread_id, body=body, client_msg_id=new_id()))["message"]
    html = sent["html"]
    assert sent["body"] == body
    for fragment in (
        "<strong>Ana</strong>",
        "<em>please</em>",
        "<s>old</s>",
        "<ul>",
        "<li>",
        "<code>payslip</code>",
        "<blockquote>",
        "🎉",
        "👍",
        "<code>:tada:</code>",
        ":unknown_code:",
        'rel="noopener noreferrer nofollow"',
        'href="https://example.com/guide"',
    ):
        assert fragment in html, (fragment, html)
    assert_safe(html)
    assert sent["embeds"] == []
    got = await client.event("message.created", message__id=sent["id"])
    assert got["data"]["message"]["html"] == html
    history = (await client.ok("history", thread_id=thread_id))["messages"]
    assert history[-1]["html"] == html


@pytest.mark.parametrize("payload", XSS)
async def test_xss_payloads_are_sanitized_through_send_and_render(cast: Cast, connect: Connect, payload: str) -> None:
    client = await connect(cast.token(cast.client))
    staff = await connect(cast.token(cast.staff))
    thread_id = (await open_thread(staff, cast.client))["thread"]["id"]
    sent = (await client.ok("send", thread_id=thread_id, body=payload, client_msg_id=new_id()))["message"]
    assert sent["body"] == payload  # the source is kept as written; only the rendering is cleaned
    assert_safe(sent["html"])
    seen = await staff.event("message.created", message__id=sent["id"])
    assert_safe(seen["data"]["message"]["html"])
    edited = (await client.ok("edit", message_id=sent["id"], body=f"edited {payload}"))["message"]
    assert_safe(edited["html"])


async def test_video_links_become_embeds_and_edits_rerender(cast: Cast, connect: Connect) -> None:
    staff = await connect(cast.token(cast.staff))
    thread_id = (await open_thread(staff, cast.client))["thread"]["id"]
    body = (
        "Watch https://www.youtube.com/watch?v=dQw4w9WgXcQ&t=3 and https://youtu.be/dQw4w9WgXcQ (same),\n"
        "[vimeo](https://vimeo.com/76979871), https://www.loom.com/share/0123456789abcdef0123456789abcdef,\n"
        "https://drive.google.com/file/d/1AbCdEfGhIjKlMnOpQrS/view?usp=sharing and not https://example.com/watch?v=x"
    )
    sent = (await staff.ok("send", thread_id=thread_id, body=body, client_msg_id=new_id()))["message"]
    assert sent["embeds"] == [
        {"provider": "youtube", "id": "dQw4w9WgXcQ", "url": "https://www.youtube-nocookie.com/embed/dQw4w9WgXcQ"},
        {"provider": "vimeo", "id": "76979871", "url": "https://player.vimeo.com/video/76979871"},
        {
            "provider": "loom",
            "id": "0123456789abcdef0123456789abcdef",
            "url": "https://www.loom.com/embed/0123456789abcdef0123456789abcdef",
        },
        {
            "provider": "google_drive",
            "id": "1AbCdEfGhIjKlMnOpQrS",
            "url": "https://drive.google.com/file/d/1AbCdEfGhIjKlMnOpQrS/preview",
        },
    ]
    edited = (await staff.ok("edit", message_id=sent["id"], body="no more **video**"))["message"]
    assert edited["embeds"] == []
    assert "<strong>video</strong>" in edited["html"]
    deleted = (await staff.ok("delete", message_id=sent["id"]))["message"]
    assert deleted["html"] == ""
    assert deleted["embeds"] == []


async def test_http_send_renders_too(server: ChatdProcess, cast: Cast, connect: Connect) -> None:
    staff = await connect(cast.token(cast.staff))
    thread_id = (await open_thread(staff, cast.client))["thread"]["id"]
    headers = {"Authorization": f"Bearer {cast.token(cast.client)}"}
    async with httpx.AsyncClient(base_url=server.base_url, headers=headers) as http:
        answer = await http.post(
            f"/api/threads/{thread_id}/messages",
            json={"body": "*hi* <script>alert(1)</script>", "client_msg_id": new_id()},
        )
    assert answer.status_code == 201, answer.text
    html = answer.json()["message"]["html"]
    assert "<em>hi</em>" in html
    assert_safe(html)


@settings(max_examples=300, deadline=None)
@given(
    st.text(alphabet=st.sampled_from("aZé9٣_ ,?.:*#-\n\t'\"<&@1)"), max_size=12) | st.from_regex(PLAIN, fullmatch=True)
)
def test_the_plain_words_shortcut_renders_as_markdown_does(source: str) -> None:
    assert richtext.render(source) == richtext.render_markdown(source)
