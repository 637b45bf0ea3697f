"""Pure protocol helpers: UID sets, flags, mailbox names, search translation."""

from __future__ import annotations

import pytest

from connector.imap import search
from connector.imap.wire import protocol
from connector.imap.wire.server_sets import ServerSet
from connector.sdk.errors import InvalidInput, Unsupported


@pytest.mark.parametrize(
    "text,items",
    [
        ("7", ((7, 7),)),
        ("3:9", ((3, 9),)),
        ("1,4,8:10", ((1, 1), (4, 4), (8, 10))),
        ("5:*", ((5, None),)),
        ("*", ((None, None),)),
        (" 1 , 2 : 3 ", ((1, 1), (2, 3))),
    ],
)
def test_parse_uid_set(text, items):
    assert protocol.parse_uid_set(text).items == items


@pytest.mark.parametrize(
    "text",
    [
        "",
        " ",
        "0",
        "1:0",
        "a",
        "1;2",
        "1,,2",
        "1:2:3",
        "-1",
        "4294967296",
        "1\r\nA1 CREATE x",
        "1 2",
    ],
)
def test_bad_uid_sets(text):
    with pytest.raises(InvalidInput) as info:
        protocol.parse_uid_set(text)
    assert info.value.details[0]["path"] == "inputs.range"


def test_search_key_makes_n_star_safe_and_resolves_bare_star():
    assert protocol.parse_uid_set("5:*").search_key() == [b"5:4294967295"]
    # A bare * is the newest UID, read by the caller (UID FETCH * (UID)); none when empty.
    assert protocol.parse_uid_set("*").search_key(highest=42) == [b"42"]
    assert protocol.parse_uid_set("*").search_key() == []
    assert protocol.parse_uid_set("9:3,1,*").search_key(highest=12) == [b"1,3:9,12"]
    assert protocol.parse_uid_set("9:3,*").search_filter() == b"3:9,*"


def test_compress_and_chunk():
    uids = list(range(1, 10001, 2)) + list(range(20000, 30000))
    sets = protocol.uid_sets(uids, limit=8000)
    assert all(len(s) <= 8000 for s in sets)
    assert len(sets) > 1
    back = [u for s in sets for u in ServerSet.parse(s).expand()]
    assert back == sorted(uids)
    assert protocol.uid_sets(range(1, 5001)) == [b"1:5000"]


@pytest.mark.parametrize(
    "given,expected",
    [
        (["\\seen", "\\FLAGGED"], ["\\Seen", "\\Flagged"]),
        (["$Label1", "Work", "\\Seen", "\\seen"], ["$Label1", "Work", "\\Seen"]),
    ],
)
def test_flags_normalised(given, expected):
    assert protocol.normalize_flags(given) == expected


@pytest.mark.parametrize(
    "flag",
    [
        "\\Recent",
        "\\Junk",
        "two words",
        "a(b",
        'q"uote',
        "a\r\nb",
        "x]",
        "star*",
        "per%",
        "\\",
        "",
        "é",
    ],
)
def test_bad_flags(flag):
    with pytest.raises(InvalidInput) as info:
        protocol.normalize_flags(["\\Seen", flag])
    assert info.value.details[0]["path"] == "inputs.flags.1"


@pytest.mark.parametrize("name", ["a\rb", "a\nb", "a\0b", "tab\there", "", "   ", "\x7f"])
def test_bad_mailbox_names(name):
    with pytest.raises(InvalidInput):
        protocol.check_mailbox(name, "mailbox")


def test_mailbox_arg_is_quoted_modified_utf7():
    assert protocol.mailbox_arg("Données/Été") == b'"Donn&AOk-es/&AMk-t&AOk-"'
    assert protocol.mailbox_arg('a"b\\c') == b'"a\\"b\\\\c"'


def keys(filters, caps=frozenset()):
    return search.translate(filters, search.Criteria(caps), "filterOptions")


def test_search_translation():
    assert keys({"seen": False, "flagged": True}) == [b"UNSEEN", b"FLAGGED"]
    assert keys({"subject": 'say "hi"'}) == [b"SUBJECT", b'"say \\"hi\\""']
    assert keys({"since": "2024-01-05", "larger": 100}) == [
        b"SINCE",
        b"5-Jan-2024",
        b"LARGER",
        b"100",
    ]
    assert keys({"header": {"X-Priority": "1"}}) == [b"HEADER", b'"X-Priority"', b'"1"']
    assert keys({"uid": "5:*"}) == [b"UID", b"5:4294967295"]
    assert keys({"new": False}) == [b"NOT", b"NEW"]
    assert keys({"seq": "1:3, 5:*"}) == [b"1:3,5:*"]
    assert keys({"or": [{"seen": True}, {"from": "a", "to": "b"}, {"draft": True}]}) == [
        b"OR",
        b"(",
        b"SEEN",
        b")",
        b"OR",
        b"(",
        b"FROM",
        b'"a"',
        b"TO",
        b'"b"',
        b")",
        b"(",
        b"DRAFT",
        b")",
    ]
    assert keys({"not": {"or": [{"seen": True}, {"flagged": True}]}}) == [
        b"NOT",
        b"(",
        b"OR",
        b"(",
        b"SEEN",
        b")",
        b"(",
        b"FLAGGED",
        b")",
        b")",
    ]


def test_non_ascii_terms_go_as_literals():
    criteria = search.Criteria()
    out = search.translate({"subject": "Été"}, criteria, "filterOptions")
    assert isinstance(out[1], protocol.Literal) and out[1] == "Été".encode()
    assert criteria.utf8


@pytest.mark.parametrize(
    "filters,path",
    [
        ({"colour": "red"}, "inputs.filterOptions.colour"),
        ({"subject": "a\r\nA1 CREATE x"}, "inputs.filterOptions.subject"),
        ({"since": "yesterday"}, "inputs.filterOptions.since"),
        ({"seen": "maybe"}, "inputs.filterOptions.seen"),
        ({"keyword": "bad word"}, "inputs.filterOptions.keyword.0"),
        ({"or": [{"seen": True}, {"nope": 1}]}, "inputs.filterOptions.or.1.nope"),
        ({"header": {"Bad:Name": "x"}}, "inputs.filterOptions.header"),
        ({"larger": -1}, "inputs.filterOptions.larger"),
    ],
)
def test_bad_filters_name_their_path(filters, path):
    with pytest.raises(InvalidInput) as info:
        keys(filters)
    assert info.value.details[0]["path"] == path


def test_unknown_filter_lists_the_known_ones():
    with pytest.raises(InvalidInput, match=r"Known filters: .*subject"):
        keys({"colour": "red"})


def test_capability_dependent_filters_are_unsupported():
    for filters in ({"modseq": 5}, {"gmraw": "has:attachment"}, {"emailId": "abc"}):
        with pytest.raises(Unsupported):
            keys(filters)
    assert keys({"modseq": 5}, frozenset({"CONDSTORE"})) == [b"MODSEQ", b"5"]


def test_body_sections():
    assert [protocol.body_section(p) for p in ["", None, " 2 ", "1.2", "2.header", "text"]] == [
        "",
        "",
        "2",
        "1.2",
        "2.HEADER",
        "TEXT",
    ]
    for bad in ["0", "1.", "1]<>", "BODY", "1 2", "2.MIME.1"]:
        with pytest.raises(InvalidInput):
            protocol.body_section(bad)
