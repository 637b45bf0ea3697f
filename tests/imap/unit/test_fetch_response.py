"""The fast FETCH reader and header decoders, against IMAPClient's parser and the email package."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from email.header import decode_header, make_header

import pytest
from imapclient.response_parser import parse_fetch_response

from connector.imap.mail import charsets, dates
from connector.imap.mail.envelope import envelope_json, summary
from connector.imap.mail.mime import decode_words, header_date
from connector.imap.wire import fetch_response
from connector.imap.wire.malformed import MalformedReply

DATA = [
    (
        b'1 (UID 7 FLAGS (\\Seen $Work) RFC822.SIZE 1234 INTERNALDATE "01-May-2024 09:30:00 +0200" '
        b'ENVELOPE ("Wed, 01 May 2024 09:29:41 +0200" {12}',
        b'Subject "q" ',
    ),
    (
        b' (("Andr\\"e" NIL "andre" "example.com")) NIL NIL ((NIL NIL "team" NIL)("Bob" NIL "bob" '
        b'"example.org")(NIL NIL NIL NIL)) NIL NIL "<r@x>" "<m@x>") '
        b"BODY[HEADER.FIELDS (FROM TO)]<0> {5}",
        b"ab)cd",
    ),
    b")",
    b'2 (UID 9 FLAGS () RFC822.SIZE 10 INTERNALDATE " 2-Jan-2024 00:00:01 -0130" ENVELOPE '
    b"(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL))",
    b"3 (FLAGS (\\Deleted))",  # an unsolicited update: no UID
]


def test_parse_matches_the_grammar():
    out = fetch_response.parse(DATA)
    first = out[7]
    assert first[b"FLAGS"] == (b"\\Seen", b"$Work") and first[b"RFC822.SIZE"] == 1234
    env = first[b"ENVELOPE"]
    assert env[1] == b'Subject "q" ' and env[2] == [[b'Andr"e', None, b"andre", b"example.com"]]
    assert first[b"BODY[HEADER.FIELDS (FROM TO)]<0>"] == b"ab)cd"
    assert out[9][b"FLAGS"] == () and out[9][b"ENVELOPE"] == [None] * 10
    assert out[3] == {b"FLAGS": (b"\\Deleted",), b"SEQ": 3}


@pytest.mark.parametrize("first", [True, False])
def test_an_update_without_a_uid_never_merges_into_another_messages_record(first):
    # Sequence number 5 (no UID: a flag change another session made) and UID 5 are two
    # messages: the one the reply names by UID keeps its own flags, in either order.
    solicited = [b"1 (UID 5 FLAGS (\\Seen) RFC822.SIZE 10)", b"2 (UID 6 FLAGS () RFC822.SIZE 11)"]
    update = b"5 (FLAGS (\\Deleted))"
    lines = [update, *solicited] if first else [*solicited, update]
    for read in (fetch_response.parse, fetch_response.parse_tokens):
        out = read(lines)
        assert out[5] == {b"SEQ": 1, b"UID": 5, b"FLAGS": (b"\\Seen",), b"RFC822.SIZE": 10}
        assert set(out) == {5, 6}
    assert fetch_response.parse([update, solicited[1]])[5] == {b"SEQ": 5, b"FLAGS": (b"\\Deleted",)}


def test_parse_agrees_with_imapclient():
    ours = fetch_response.parse(DATA)
    theirs = parse_fetch_response(DATA, False, True)
    for uid in (7, 9):
        assert set(ours[uid][b"FLAGS"]) == set(theirs[uid][b"FLAGS"])
        assert ours[uid][b"RFC822.SIZE"] == theirs[uid][b"RFC822.SIZE"]
        assert dates.internal_date(ours[uid][b"INTERNALDATE"]) == theirs[uid][b"INTERNALDATE"]
    env = theirs[7][b"ENVELOPE"]
    assert env.subject == ours[7][b"ENVELOPE"][1]
    assert env.message_id == ours[7][b"ENVELOPE"][9]


LINES = [
    b'5 (UID 9 FLAGS (\\Seen $X) RFC822.SIZE 10 INTERNALDATE " 2-Jan-2024 00:00:01 -0130" ENVELOPE '
    b'("Wed, 01 May 2024" "S \\"q\\" \\\\" (("A" NIL "a" "x.com")) NIL NIL ((NIL NIL "team" NIL)'
    b'("Bob" NIL "bob" "example.org")(NIL NIL NIL NIL)) NIL NIL NIL "<m@x>"))',
    b"6 (UID 10 FLAGS () RFC822.SIZE 1)",
    b"7 (UID 11 FLAGS (\\Seen) MODSEQ (12))",  # not in the fast path's vocabulary
]


def test_fast_path_and_general_reader_agree():
    for line in LINES[:2]:
        fast, general = fetch_response._fast_values([line]), [*fetch_response._token_values([line])]
        assert len(general) == 1 and general[0].keys() == fast.keys()
        # Address lists may be tuples on one side, lists on the other: compared as summaries.
        assert {**general[0], b"ENVELOPE": 0} == {**fast, b"ENVELOPE": 0}
        uid = fast[b"UID"]
        assert summary(uid, fast) == summary(uid, general[0])
    assert fetch_response._fast_values([LINES[2]]) is None  # MODSEQ: the general reader
    out = fetch_response.parse(LINES)
    assert out[11][b"MODSEQ"] == 12 and set(out) == {9, 10, 11}
    assert out[9][b"ENVELOPE"][1] == b'S "q" \\'
    assert out[9] == fetch_response.parse(LINES[:1])[9]


def test_a_stream_reads_each_response_as_it_completes():
    # read_fetch appends entries one by one; each message is handed over as soon as its
    # response is complete (a literal's tuple alone completes nothing), merged if repeated.
    seen = []
    stream = fetch_response.FetchStream(lambda uid, values: seen.append((uid, dict(values))))
    stream.append(DATA[0])
    stream.append(DATA[1])
    assert seen == []
    stream.append(DATA[2])
    assert [uid for uid, _ in seen] == [7]
    for entry in [*DATA[3:], b"4 (UID 7 FLAGS (\\Flagged))"]:
        stream.append(entry)
    assert [uid for uid, _ in seen] == [7, 9, 7]  # the update without a UID: not handed over
    assert seen[-1][1][b"FLAGS"] == (b"\\Flagged",) and seen[-1][1][b"RFC822.SIZE"] == 1234
    assert stream.result() == fetch_response.parse([*DATA, b"4 (UID 7 FLAGS (\\Flagged))"])


def test_a_stream_keeps_reading_past_an_error_and_raises_it_at_the_end():
    def refuse(uid, values):
        raise RuntimeError(f"no {uid}")

    stream = fetch_response.FetchStream(refuse)
    for entry in [b"1 (UID 3 FLAGS ())", b"2 (UID x FLAGS ())", b"3 (UID 5 FLAGS ())"]:
        stream.append(entry)  # nothing raised while the reply is being read
    with pytest.raises(RuntimeError, match="no 3"):
        stream.result()
    broken = fetch_response.FetchStream()
    for entry in [b"1 (UID x FLAGS ())", b"2 (UID 5 FLAGS ())"]:
        broken.append(entry)
    with pytest.raises(MalformedReply, match="UID is not a number"):
        broken.result()


def test_flag_read_back_fast_path():
    lines = [b"1 (UID 4 FLAGS (\\Seen \\Flagged))", b"2 (FLAGS () UID 9)"]
    assert (
        fetch_response._flags_only(lines)
        == fetch_response.parse_tokens(lines)
        == {
            4: {b"SEQ": 1, b"UID": 4, b"FLAGS": (b"\\Seen", b"\\Flagged")},
            9: {b"SEQ": 2, b"UID": 9, b"FLAGS": ()},
        }
    )
    assert fetch_response._flags_only([*lines, b"3 (UID 5 FLAGS () RFC822.SIZE 3)"]) is None


def test_flag_read_back_by_uid_reads_any_reply_the_same():
    lines = [b"1 (UID 4 FLAGS (\\Seen \\Flagged))", b"2 (FLAGS () UID 9)", b"3 (UID 7 FLAGS ())"]
    fast = fetch_response.uid_flags(lines)
    assert fast == {4: (b"\\Seen", b"\\Flagged"), 9: (), 7: ()}
    assert fast[9] is fast[7]  # one tuple per distinct flag set: the caches after hit
    # Anything else in the reply: the general reader, and a reply without a UID left out.
    mixed = [*lines, b"4 (UID 5 FLAGS (x) MODSEQ (3))", b"6 (FLAGS (y))", b"8 (UID x FLAGS ())"]
    assert fetch_response.uid_flags(mixed[:-1]) == {**fast, 5: (b"x",)}
    with pytest.raises(MalformedReply, match="UID is not a number"):
        fetch_response.uid_flags(mixed)


def test_envelope_json_skips_group_markers():
    env = envelope_json(fetch_response.parse(DATA)[7][b"ENVELOPE"])
    assert env["from"] == [{"name": 'Andr"e', "address": "andre@example.com"}]
    assert env["to"] == [{"name": "Bob", "address": "bob@example.org"}]
    assert env["date"] == "2024-05-01T09:29:41+02:00" and env["messageId"] == "<m@x>"


def test_internal_date():
    assert dates.internal_date(b" 2-Jan-2024 00:00:01 -0130") == datetime(
        2024, 1, 2, 0, 0, 1, tzinfo=timezone(-timedelta(hours=1, minutes=30))
    )
    assert dates.internal_date(b"garbage") is None
    assert dates.internal_date_iso(b" 2-Jan-2024 00:00:01 -0130") == "2024-01-02T00:00:01-01:30"
    assert dates.internal_date_iso(b"31-Foo-2024 00:00:01 +0000") is None


@pytest.mark.parametrize(
    "value",
    [
        "=?utf-8?q?R=C3=A9sum=C3=A9_and_report?=",
        "=?utf-8?b?0JjQstCw0L0=?= <x@y>",
        "a =?utf-8?q?b?= =?utf-8?q?c?= d",
        "=?iso-8859-1?q?Jos=E9?=",
        "plain text",
        "=?UTF-8?B?w6k=?==?UTF-8?B?w6k=?=",
        "=?utf-8?q?broken=ZZ?=",
        "=?windows-1252?q?=93quoted=94?=",
    ],
)
def test_decode_words_agrees_with_the_email_package(value):
    assert decode_words(value) == str(make_header(decode_header(value)))


def test_q_words_decode_as_the_email_package_decodes_them():
    import random

    rng = random.Random(3)
    pieces = ["=", "_", "a", "Z", "0", "9", "e", "F", "g", "=4", "=41", "=e9", "=C3=A9", "=="]
    for _ in range(2000):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(1, 8)))
        value = f"=?iso-8859-1?q?{text}?="
        [(data, charset)] = decode_header(value)  # its bytes; the text by our charset rules
        assert decode_words(value) == charsets.decode(data, charset), value


def test_decode_words_survives_unknown_charsets_and_bad_base64():
    assert decode_words("=?x-unknown?q?Bad=E9?=").startswith("Bad")
    assert decode_words("=?utf-8?b?!!!?=") == "=?utf-8?b?!!!?="  # kept as it came


@pytest.mark.parametrize(
    "value,expected",
    [
        ("Wed, 01 May 2024 09:29:41 +0200", "2024-05-01T09:29:41+02:00"),
        ("1 May 2024 09:29 -0000", "2024-05-01T09:29:00+00:00"),
        ("Wed, 1 May 2024 09:29:41 GMT", "2024-05-01T09:29:41+00:00"),
        ("not a date", None),
        ("", None),
    ],
)
def test_header_date(value, expected):
    assert header_date(value) == expected


def test_dates_written_out_by_hand_agree_with_datetime():
    """The common forms are formatted without a datetime: the same text isoformat() gives."""
    import random

    rng = random.Random(7)
    for _ in range(3000):
        day, month, year = rng.randint(1, 31), rng.randint(1, 12), rng.choice([1999, 2024, 9])
        hh, mm, ss = rng.randint(0, 23), rng.randint(0, 59), rng.randint(0, 59)
        oh, om = 0, 0
        if rng.random() < 0.7:
            oh, om = rng.randint(0, 23), rng.choice([0, 30, 45, 59])
        sign = rng.choice("+-")
        name = dates.MONTHS[month - 1]
        header = f"{day} {name} {year:04d} {hh:02d}:{mm:02d}:{ss:02d} {sign}{oh:02d}{om:02d}"
        internal = f"{day:2d}-{name}-{year:04d} {hh:02d}:{mm:02d}:{ss:02d} {sign}{oh:02d}{om:02d}"
        offset = timedelta(hours=oh, minutes=om) * (-1 if sign == "-" else 1)
        try:
            expected = datetime(year, month, day, hh, mm, ss, tzinfo=timezone(offset)).isoformat()
        except ValueError:  # the 31st of a short month: not a date
            assert dates.header_date_iso(header) is None
            continue
        assert dates.header_date_iso(header) == expected, header
        got = dates.internal_date_iso(internal.encode())  # the server's offset as written
        assert got == expected or (got and got.endswith("-00:00") and oh == om == 0), internal


NOISE = b'()"\\{}[] NIL0123456789\x00'


def test_mangled_replies_never_raise_anything_unexpected():
    """Hostile or broken servers: any mutation of a reply parses, or fails as MalformedReply
    (SERVER_ERROR) and nothing else: any other exception would be a bug of ours, and is
    reported as one (INTERNAL_ERROR), so this test fails on it."""
    import random

    rng = random.Random(5)
    samples = [DATA, LINES]
    malformed = 0
    for _ in range(3000):
        data = list(rng.choice(samples))
        i = rng.randrange(len(data))
        entry = data[i]
        text = entry[0] if isinstance(entry, tuple) else entry
        cut = rng.randrange(len(text) + 1)
        if rng.random() < 0.05:  # a number past any UID: int() of it is a cost of its own
            noise = b"9" * rng.choice([21, 5000])
        else:
            noise = bytes(rng.choice(NOISE) for _ in range(rng.randrange(4)))
        text = text[:cut] + noise + text[cut + rng.randrange(3) :]
        data[i] = (text, entry[1]) if isinstance(entry, tuple) else text
        try:
            parsed = fetch_response.parse(data)
        except MalformedReply:
            malformed += 1
            with pytest.raises(MalformedReply):  # (the flag read-back's reader agrees)
                fetch_response.uid_flags(data)
            continue
        for uid, values in parsed.items():
            summary(uid, values)  # whatever came, the summary is built without an exception
            assert type(uid) is int and type(values[b"SEQ"]) is int
            assert all(type(flag) is bytes for flag in values.get(b"FLAGS", ()))
        fetch_response.uid_flags(data)
    assert 300 < malformed < 2700  # (both kinds were met)


def test_literal8_values_are_read_like_literals():
    # Cyrus answers BODY[] of a message holding NUL bytes as ~{n} (RFC 3516).
    data = [(b"82 (UID 82 RFC822.SIZE 5 BODY[] ~{5}", b"ab\x00cd"), b")"]
    assert fetch_response.parse(data)[82][b"BODY[]"] == b"ab\x00cd"
