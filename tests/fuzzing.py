"""Hypothesis strategies for fuzzing Poort over HTTP, and the property every answer must have.

A :class:`Probe` is one request a hostile or broken client might send: odd field values
(empty, whitespace, up to 100,000 characters, NUL bytes, bidi marks, combining characters,
emoji, digits of other scripts), duplicated and unknown keys, bodies that are not valid UTF-8
or not a form at all, bodies over the 1 MiB limit, odd query strings and odd headers. The
property, :func:`assert_clear`: the answer is never a 5xx, and a 4xx carries a message a
person (or a client reading JSON) can act on.
"""

from __future__ import annotations

import base64
import html
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from flask.testing import FlaskClient
from hypothesis import strategies as st
from werkzeug.datastructures import MultiDict

MAX_CONTENT_LENGTH = 1024 * 1024

# -- values -----------------------------------------------------------------------------------

#: Text that has broken software before: bidi controls, combining marks, emoji sequences,
#: digits of other scripts, invisible and odd spaces, case-folding surprises, markup.
ODD = (
    "\u202e",  # RIGHT-TO-LEFT OVERRIDE
    "\u200f\u200e\u2066\u2069",  # RTL / LTR marks and isolates
    "\u202a\u202b\u202c\u202d",
    "e\u0301\u0301\u0301\u0301",  # stacked combining accents
    "Z\u0351\u0334\u0321\u0316\u0348\u033a\u035d",
    "\U0001f600",
    "\U0001f469\u200d\U0001f469\u200d\U0001f467\u200d\U0001f466",  # ZWJ family
    "\U0001f1f3\U0001f1f1",  # flag
    "\uff10\uff16\uff11\uff12\uff13\uff14\uff15\uff16\uff17\uff18",  # full-width digits
    "\u0660\u0666\u0661\u0662\u0663\u0664\u0665\u0666\u0667\u0668",  # Arabic-Indic digits
    "\u06f0\u06f6\u06f1\u06f2",  # Extended Arabic-Indic digits
    "\u0966\u096c\u0967\u0968",  # Devanagari digits
    "\ufeff",  # BOM
    "\u200b\u200c\u200d",  # zero-width space, non-joiner, joiner
    "\u00a0\u3000\u2028\u2029\u0085",  # odd spaces and line breaks
    "\ufb01\u00df\u0130\u2126",  # ligature fi, sharp s, dotted I, ohm sign
    "\uffff\ufffe\U0010ffff",  # noncharacters
    "\x00",
    "\x00\x01\x1b[31m\x7f",
    "\r\n",
    "'\"<>&;--",
    "<script>alert(1)</script>",
    "{{7*7}}${7*7}%s%n",
    "../../../etc/passwd",
    "%00%ff%zz",
    "\\",
    "1e309",
    "-0",
    "NaN",
)

#: Characters repeated to make very long values.
LONG_UNITS = ("a", "9", "\u00e9", "\U0001f600", "\x00", "\u0663", " ", "%")


def long_values(max_size: int = 100_000) -> st.SearchStrategy[str]:
    return st.builds(
        lambda unit, n: unit * n, st.sampled_from(LONG_UNITS), st.integers(256, max_size)
    )


def digit_strings() -> st.SearchStrategy[str]:
    """Code- and phone-like strings, in ASCII and in the digits of other scripts."""
    scripts = (
        "0123456789",
        "\uff10\uff11\uff12\uff13\uff14\uff15\uff16\uff17\uff18\uff19",
        "\u0660\u0661\u0662\u0663\u0664\u0665\u0666\u0667\u0668\u0669",
        "\u0966\u0967\u0968\u0969\u096a\u096b\u096c\u096d\u096e\u096f",
    )
    return st.builds(
        lambda digits, script, prefix: prefix + "".join(script[int(d)] for d in digits),
        st.text("0123456789", min_size=1, max_size=20),
        st.sampled_from(scripts),
        st.sampled_from(("", "+", "+31", "00", " ", "\u200f+", "\uff0b")),
    )


def malformed() -> st.SearchStrategy[str]:
    """A value no form should choke on."""
    return st.one_of(
        st.just(""),
        st.sampled_from((" ", "\t", "\n", " \r\n\t ", "\u3000")),
        st.sampled_from(ODD),
        st.lists(st.sampled_from(ODD) | st.text(max_size=4), min_size=2, max_size=6).map("".join),
        st.text(max_size=30),
        digit_strings(),
        long_values(),
    )


def values(plausible: Sequence[str] = ()) -> st.SearchStrategy[str]:
    """Mostly malformed, sometimes a value the view would accept (to get past first checks)."""
    if not plausible:
        return malformed()
    return st.one_of(st.sampled_from(list(plausible)), malformed())


ODD_KEYS = (
    "",
    " ",
    "csrf_token",  # a second, wrong token after the right one
    "a[]",
    "a[b][c]",
    "\x00",
    "\u202ename",
    "k" * 5000,
)


def pairs(
    fields: Mapping[str, Sequence[str]],
    base: Mapping[str, str] | None = None,
    *,
    max_extra: int = 4,
) -> st.SearchStrategy[list[tuple[str, str]]]:
    """Form or query pairs: each known field absent or with a value, plus extra pairs that
    repeat known keys (duplicated keys) or add odd ones.

    With *base* (a request the view accepts), half the pairs are that request with up to
    three fields left out or changed, so the fuzz gets past the first check more often.
    """
    names = list(fields)
    known = st.fixed_dictionaries({name: st.none() | values(fields[name]) for name in names}).map(
        lambda d: [(k, v) for k, v in d.items() if v is not None]
    )
    if base and names:
        changes = st.fixed_dictionaries(
            {name: st.none() | values(fields[name]) for name in names}
        )  # fmt: skip
        chosen = st.sets(st.sampled_from(names), max_size=3)
        near = st.builds(lambda c, ch: _near(base, names, c, ch), changes, chosen)
        known = st.one_of(near, known)
    extra_keys = st.sampled_from(names + list(ODD_KEYS)) if names else st.sampled_from(ODD_KEYS)
    extra = st.lists(st.tuples(extra_keys, malformed()), max_size=max_extra)
    return st.builds(lambda a, b: a + b, known, extra)


def _near(
    base: Mapping[str, str],
    names: Sequence[str],
    changes: Mapping[str, str | None],
    chosen: set[str],
) -> list[tuple[str, str]]:
    items = []
    for name in names:
        value = changes[name] if name in chosen else base.get(name)
        if value is not None:
            items.append((name, value))
    return items


# -- raw bytes ----------------------------------------------------------------------------------

#: Byte sequences that are not UTF-8: a lone surrogate (as CESU/"surrogatepass" writes it), an
#: overlong slash, truncated sequences, bytes that never occur in UTF-8.
BAD_UTF8 = (
    "\ud800".encode("utf-8", "surrogatepass"),
    "\udfff".encode("utf-8", "surrogatepass"),
    b"\xc0\xaf",
    b"\xe2\x82",
    b"\xf0\x9f\x98",
    b"\xff\xfe",
    b"\x80",
    b"\xf8\x88\x80\x80\x80",
)


def _percent(data: bytes) -> bytes:
    return "".join(f"%{b:02X}" for b in data).encode("ascii")


def raw_chunks() -> st.SearchStrategy[bytes]:
    """A piece of a urlencoded body or query string, often broken."""
    bad = st.sampled_from(BAD_UTF8)
    return st.one_of(
        bad,
        bad.map(_percent),  # percent-encoded invalid UTF-8
        st.sampled_from((b"%", b"%E", b"%G1", b"%%", b"%u202e", b"+", b"&&", b";", b"==", b"=")),
        st.binary(max_size=20),
        malformed().map(lambda s: quote(s, safe="").encode("ascii")),
    )


def raw_urlencoded(fields: Sequence[str]) -> st.SearchStrategy[bytes]:
    """A urlencoded body (or query string) with invalid UTF-8 and broken escapes in keys and
    values, duplicated keys and stray separators."""
    key = st.one_of(st.sampled_from([k.encode() for k in fields] or [b"x"]), raw_chunks())
    value = st.lists(raw_chunks() | st.sampled_from((b"1", b"abc")), max_size=4).map(b"".join)
    pair = st.tuples(key, st.sampled_from((b"=", b"", b"==")), value).map(b"".join)
    sep = st.sampled_from((b"&", b"&&", b";", b"&amp;"))
    return st.builds(lambda items, s: s.join(items), st.lists(pair, min_size=1, max_size=6), sep)


# -- headers ------------------------------------------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def header_text(max_size: int = 60) -> st.SearchStrategy[str]:
    """A header value as a WSGI server hands it over: any bytes but CR/LF, read as Latin-1."""
    return st.binary(max_size=max_size).map(
        lambda b: b.replace(b"\r", b"").replace(b"\n", b"").decode("latin-1")
    )


def authorization(client_ids: Sequence[str] = ("x",)) -> st.SearchStrategy[str]:
    """Authorization header values: Basic and Bearer with garbage, and odd schemes."""
    ids = st.sampled_from(list(client_ids))
    return st.one_of(
        st.sampled_from(
            (
                "Basic",
                "Basic ",
                "Bearer",
                "Bearer ",
                "Basic ====",
                "Basic !!!",
                "Basic Og==",
                "Digest username=x",
                "bearer  ",
                "BASIC eA==",
            )
        ),
        header_text().map(lambda s: "Basic " + s),
        header_text().map(lambda s: "Bearer " + s),
        st.binary(max_size=40).map(lambda b: "Basic " + _b64(b)),  # decodes to non-UTF-8
        st.sampled_from(BAD_UTF8).map(lambda b: "Basic " + _b64(b + b":" + b)),
        st.tuples(ids, malformed()).map(
            lambda t: "Basic " + _b64(f"{t[0]}:{t[1]}".encode("utf-8", "surrogatepass"))
        ),
        st.tuples(ids, malformed()).map(
            lambda t: "Basic " + _b64(f"{t[0]}:{quote(t[1], safe='')}".encode())
        ),
        malformed().map(lambda s: "Bearer " + quote(s, safe="")[:8000]),
        st.integers(8_000, 20_000).map(lambda n: "Bearer " + "A" * n),
    )


def extra_headers(client_ids: Sequence[str] = ("x",)) -> st.SearchStrategy[list[tuple[str, str]]]:
    header = st.one_of(
        authorization(client_ids).map(lambda v: ("Authorization", v)),
        st.sampled_from(
            (
                ("Accept", "application/json"),
                ("Accept", "application/json;q=1, text/html;q=0.1"),
                ("Accept", "*/*;q=garbage"),
                ("Accept", ""),
                ("Accept-Language", "nl;q=x, \u00e9\u00e9"),
                ("Accept-Language", "*;q=0"),
                ("Origin", "null"),
                ("Origin", "https://evil.example"),
                ("Sec-Fetch-Site", "cross-site"),
                ("X-Forwarded-For", "1.2.3.4, <script>"),
                ("Cookie", "__Host-session=\x00garbage; other=%FF"),
                ("User-Agent", "\U0001f600"),
                ("X-CSRFToken", "garbage"),
            )
        ),
        st.tuples(
            st.sampled_from(
                (
                    "Accept",
                    "Accept-Language",
                    "User-Agent",
                    "Referer",
                    "Origin",
                    "Cookie",
                    "If-None-Match",
                    "Range",
                )
            ),
            header_text(200),
        ),
    )
    return st.lists(header, max_size=3)


# -- the probe ----------------------------------------------------------------------------------

#: Content types a form view may be sent instead of a form.
ODD_CONTENT_TYPES = (
    "application/json",
    "text/plain",
    "application/xml",
    "multipart/form-data",  # no boundary
    "multipart/form-data; boundary=x",
    "application/x-www-form-urlencoded; charset=utf-16",
    "application/octet-stream",
    "",
    "\u00e9/\u00e9",
)


@dataclass
class Probe:
    """One request: method and path set by the target, the rest drawn."""

    body: str  # form, raw, json, multipart, other, huge, none
    pairs: list[tuple[str, str]] = field(default_factory=list)
    raw: bytes = b""
    content_type: str = ""
    query: bytes = b""
    headers: list[tuple[str, str]] = field(default_factory=list)
    csrf: str = "valid"  # valid, missing, garbage

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(f"Probe({self.describe()})")  # hypothesis shows this, not 100 kB

    def describe(self) -> str:
        return (
            f"body={self.body} csrf={self.csrf} content_type={self.content_type!r} "
            f"pairs={_short(self.pairs)} raw={_short(self.raw)} query={_short(self.query)} "
            f"headers={_short(self.headers)}"
        )


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) < 400 else text[:400] + f"... ({len(text)} chars)"


def json_bodies(fields: Mapping[str, Sequence[str]]) -> st.SearchStrategy[bytes]:
    """JSON where a form is expected: objects with the fields (lone surrogates escaped in the
    text, which json.loads turns into real lone surrogates), arrays, scalars, broken JSON."""
    scalar = st.one_of(
        values(),
        st.integers(-(2**70), 2**70),
        st.floats(allow_nan=True),
        st.booleans(),
        st.none(),
    )
    nested = st.recursive(
        scalar,
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner),
        max_leaves=6,
    )
    keys = st.sampled_from(list(fields) or ["x"]) | st.text(max_size=5)
    obj = st.dictionaries(keys, nested, max_size=6).map(
        lambda d: json.dumps(d, ensure_ascii=True).encode()
    )
    return st.one_of(
        obj,
        obj.map(lambda b: b.replace(b'"', b'"\\ud800', 1)),  # a lone surrogate in a key
        nested.map(lambda v: json.dumps(v).encode()),
        st.sampled_from((b"{", b"[1,", b'{"a":}', b"\xff\xfe{}", b"null", b'"\\udc00"', b"")),
        st.integers(1, 200).map(lambda n: b"[" * n * 50 + b"]" * n * 50),  # deep nesting
    )


def probes(
    fields: Mapping[str, Sequence[str]],
    *,
    form: bool = True,
    query_fields: Mapping[str, Sequence[str]] | None = None,
    client_ids: Sequence[str] = ("x",),
    base: Mapping[str, str] | None = None,
) -> st.SearchStrategy[Probe]:
    """Requests for a target that reads *fields* from a form (``form=True``) or from the
    query string (``form=False``); *query_fields* are read from the query string as well.
    *base* is a request the view accepts (see :func:`pairs`)."""
    query_fields = query_fields if query_fields is not None else ({} if form else fields)
    names = list(fields)
    plain_query = pairs(query_fields, None if form else base).map(_urlencode)
    query = st.one_of(
        st.just(b""),
        plain_query,
        raw_urlencoded(list(query_fields)),
        long_values(20_000).map(lambda s: b"x=" + quote(s, safe="").encode()[:60_000]),
        *([] if form else [plain_query, plain_query]),  # a GET reads only its query
    )
    csrf = st.sampled_from(("valid", "valid", "valid", "missing", "garbage"))
    common = {"query": query, "headers": extra_headers(client_ids), "csrf": csrf}
    kinds = [
        st.builds(Probe, body=st.just("form"), pairs=pairs(fields, base), **common),
        st.builds(Probe, body=st.just("raw"), raw=raw_urlencoded(names), **common),
    ]
    if form:
        kinds += [
            st.builds(Probe, body=st.just("form"), pairs=pairs(fields, base), **common),
            st.builds(Probe, body=st.just("json"), raw=json_bodies(fields), **common),
            st.builds(Probe, body=st.just("multipart"), pairs=pairs(fields, base), **common),
            st.builds(
                Probe,
                body=st.just("other"),
                raw=st.binary(max_size=200) | raw_urlencoded(names),
                content_type=st.sampled_from(ODD_CONTENT_TYPES),
                **common,
            ),
            st.builds(Probe, body=st.just("huge"), **common),
        ]
    else:
        kinds.append(st.builds(Probe, body=st.just("none"), **common))
    return st.one_of(kinds)


def _urlencode(items: Sequence[tuple[str, str]]) -> bytes:
    return "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in items).encode()


def send(
    client: FlaskClient, method: str, path: str, probe: Probe, token: str | None, **kwargs: Any
) -> Any:
    """Send *probe* to *path*, with the session's CSRF token as the probe says."""
    headers = list(probe.headers)
    if probe.csrf == "garbage":
        token = "garbage-token"
    elif probe.csrf == "missing":
        token = None
    environ: dict[str, Any] = {}
    if probe.query:
        # Raw bytes as a WSGI server passes them on: Latin-1 decoded, not re-encoded.
        environ["QUERY_STRING"] = probe.query.decode("latin-1")
    data: Any = None
    content_type: str | None = None
    if probe.body in ("form", "multipart"):
        data = MultiDict(([("csrf_token", token)] if token else []) + probe.pairs)
        if probe.body == "multipart":
            content_type = "multipart/form-data"
            data.add("upload", (_file(probe), "\u202egpj.exe"))
    elif probe.body == "raw":
        data = (f"csrf_token={token}&".encode() if token else b"") + probe.raw
        content_type = "application/x-www-form-urlencoded"
    elif probe.body in ("json", "other"):
        data = probe.raw
        content_type = "application/json" if probe.body == "json" else probe.content_type
        if token:
            headers.append(("X-CSRFToken", token))
    elif probe.body == "huge":
        data = (
            (f"csrf_token={token}&".encode() if token else b"")
            + b"x="
            + b"a" * (MAX_CONTENT_LENGTH + 1)
        )
        content_type = "application/x-www-form-urlencoded"
    if method == "GET":
        data, content_type = None, None
    return client.open(
        path,
        method=method,
        data=data,
        content_type=content_type,
        headers=headers,
        environ_overrides=environ,
        **kwargs,
    )


def _file(probe: Probe) -> Any:
    import io

    return io.BytesIO(probe.raw or b"\x00\xff" * 10)


# -- the property ---------------------------------------------------------------------------

_MESSAGE = re.compile(
    r"<(p|div|li|span)\b[^>]*(?:role=\"alert\"|class=\"[^\"]*\b(?:lead|field-error|flash-error|"
    r"errors?)\b[^\"]*\")[^>]*>(.*?)</\1>",
    re.DOTALL,
)
_TAG = re.compile(r"<[^>]+>")


def human_message(response: Any) -> str:
    """The message a 4xx answer shows: the alert or lead paragraph of a page, the error of a
    JSON answer, or a plain-text body; "" when there is none."""
    mimetype = response.mimetype or ""
    text = response.get_data(as_text=True)
    if mimetype == "application/json" or mimetype.endswith("+json"):
        data = response.get_json(silent=True)
        if not isinstance(data, dict):
            return ""
        for key in ("error_description", "message", "error"):
            if isinstance(data.get(key), str) and data[key].strip():
                return str(data[key]).strip()
        return ""
    if mimetype == "text/html":
        for match in _MESSAGE.finditer(text):
            message = " ".join(html.unescape(_TAG.sub(" ", match.group(2))).split())
            if message:
                return message
        return ""
    if mimetype == "text/plain":
        return text.strip()
    return ""


def assert_clear(response: Any, what: str) -> None:
    """Never a server error; a client error says what was wrong."""
    status = response.status_code
    body = response.get_data(as_text=True)
    assert status < 500, f"{what}\n-> {status}\n{body[:3000]}"
    if 400 <= status < 500:
        assert human_message(response), (
            f"{what}\n-> {status} without a message ({response.mimetype})\n{body[:3000]}"
        )
        assert "Traceback" not in body, f"{what}\n-> {status} shows a traceback"
