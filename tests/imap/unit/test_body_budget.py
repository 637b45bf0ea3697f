"""The service's default element budget for a body (Settings.max_body_elements) fits the
largest body a real IMAP step sends: a trigger poll at every cap at once (mailboxes, its
state's cursors and recent Message-IDs, filters), checked as the trigger and the search
check them, then counted as the service counts a body."""

from __future__ import annotations

import json

from connector.imap import search
from connector.imap.triggers.new_emails import SEEN_MOST, checked_state, recent
from connector.sdk import Connector
from connector.sdk.service.body import MAX_BODY_DEPTH, JsonShape
from connector.sdk.service.settings import Settings

CAPABILITIES = frozenset({"IMAP4REV1", "CONDSTORE", "X-GM-EXT-1", "OBJECTID"})


def trigger_input(connector: Connector, name: str) -> dict:
    (trigger,) = connector.manifest.table("trigger").values()
    return next(spec.schema for spec in trigger.inputs if spec.key == name)


def largest_filters() -> dict:
    """search.MAX_TERMS filters: an "or" of MAX_OR_ITEMS alternatives of a few string
    filters each (the "or" counts as one), and headers for the rest (one each)."""
    keys = sorted(search.STRING_KEYS)
    per = (search.MAX_TERMS - 1) // search.MAX_OR_ITEMS
    alternatives = [
        {keys[k]: f"a {n} {k} value" for k in range(per)} for n in range(search.MAX_OR_ITEMS)
    ]
    headers = search.MAX_TERMS - 1 - per * search.MAX_OR_ITEMS
    return {"or": alternatives, "header": {f"X-Header-{n}": "some text" for n in range(headers)}}


def test_a_trigger_poll_at_every_cap_fits_the_default_element_budget(connector):
    most = trigger_input(connector, "mailboxes")["maxItems"]
    mailboxes = [f"Folder {n}/Sub" for n in range(most)]
    per_poll = trigger_input(connector, "maxPerPoll")["maximum"]
    filters = largest_filters()
    # Each cursor as the trigger writes it, at its fullest: SEEN_MOST messages handed off
    # in the re-read window of every mailbox (a busy day), and the old Message-IDs too.
    now = 1764843072
    seen = [(f"{n:012x}", now - n) for n in range(SEEN_MOST)]
    state = {
        "mailboxes": {
            name: {
                "uidValidity": 1700000000 + n,
                "lastUid": 4000000000,
                "lastInternalDate": "2026-12-04T10:11:12.131415+00:00",
                "seen": recent(seen, None),
                "recentIds": [
                    f"<{n}.{i}.20261204101112@mail.example.com>"
                    for i in range(per_poll // len(mailboxes))
                ],
                "since": "2026-12-01T00:00:00+00:00",
            }
            for n, name in enumerate(mailboxes)
        }
    }
    assert len(checked_state(state, "INBOX")) == len(mailboxes)  # the trigger takes it
    criteria = search.build(
        CAPABILITIES, sender=None, recipient=None, read_unread="all", filters=filters
    )
    assert criteria.terms == search.MAX_TERMS  # every filter it may hold
    body = {
        "connection": {
            "host": "imap.mail.example.com",
            "port": 993,
            "secure": True,
            "user": "someone@mail.example.com",
            "pass": "a password",
            "timeout": 60,
        },
        "inputs": {
            "mailbox": "INBOX",
            "mailboxes": mailboxes,
            "subscribed": True,
            "fetchContent": True,
            "markAsRead": True,
            "maxPerPoll": per_poll,
            "filterOptions": filters,
            "afterSuccess": "move",
            "afterSuccessMailbox": "Archive/Done",
            "afterFailure": "addFlag",
            "afterFailureFlag": "Failed",
        },
        "state": state,
    }
    shape = JsonShape(10**9, MAX_BODY_DEPTH)
    shape.feed(json.dumps(body).encode())
    budget = Settings().max_body_elements
    # 6,773 elements (with each cursor's seen as a list of pairs: ~126,000): the budget
    # leaves room (1.4 x) for what a step may add later.
    assert shape.elements * 1.4 < budget, (shape.elements, budget)
