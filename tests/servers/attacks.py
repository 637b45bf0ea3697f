"""Issue 36's attacks on a shared service, and what a victim tenant sees meanwhile.

A victim tenant steps getStatus on Dovecot (a pooled session, from a process and a client
address of its own, 127.0.0.2: tests/servers/victim.py), paced, first quiet and then while
the attacker tenant runs one attack from 127.0.0.1 against the same service (a fresh one
per attack, so that what one attack leaves behind is not charged to the next). The attacks
point steps at the hostile servers of tests/servers/fake.py, or at the service itself.
``measure()`` returns both figures from the same run; tests/system/test_victim_p99.py
asserts them, bench/w9.py prints them.
"""

from __future__ import annotations

import collections
import json
import select
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.servers import fake
from tests.servers.service import UNCAPPED, Service
from tests.servers.victim import SAMPLES, answer

ROOT = Path(__file__).resolve().parents[2]

ATTACKER = {"Authorization": "Bearer attacker-service-token"}
STRANGER = {"Authorization": "Bearer not-a-token"}
TOKENS = {"victim": "victim-service-token", "attacker": "attacker-service-token"}
SETTLE = 1.0  # seconds the attack runs before the victim is measured
# Each attacker thread repeats its attack at most 10 times a second (big bodies less often):
# an attack, sustained. The unpaced floods (``every=0``) are for the rate budgets.
PACE = 0.1
FLOOR = 0.25  # seconds of noise allowed on a shared 2-core machine: max(2 x quiet, quiet + this)
# A flood slows every step a little rather than a few a lot: under one, the victim's median
# stays within max(2 x its quiet median, the quiet median + this) too.
MEDIAN_FLOOR = 0.025
# What the test suite asserts (``loose``): what a missing defence costs the victim (failed
# steps, stalls of seconds: 1.5 s under 60,000 keywords, 429s under wrong passwords, 120 s
# under a drip), not the noise of a machine running the suite beside lint and other
# Pythons (an unpaced flood measured 406 ms there against a 332 ms bound). Bench W9
# measures the 2x target itself, as speed is measured here: side by side, not in tests.
LOOSE_RATIO, LOOSE_FLOOR, LOOSE_MEDIAN_FLOOR = 3, 1.0, 0.1


def p99(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=100)[98] if len(samples) > 1 else samples[0]


@dataclass
class Figures:
    """The victim's latencies (seconds), quiet and under one attack, from the same service."""

    attack: str
    quiet: list[float]
    attacked: list[float]
    errors: list[str]  # the victim's failed steps under attack (codes, or the exception)
    attack_steps: collections.Counter = field(default_factory=collections.Counter)
    tries: int = 1  # attacked phases measured: a second when the first was not within
    flood: bool = False  # the median is bounded too (``median_bound``)
    loose: bool = False  # the test suite's bounds (LOOSE_*), not the bench's

    @property
    def bound(self) -> float:
        quiet = p99(self.quiet)
        if self.loose:
            return max(LOOSE_RATIO * quiet, quiet + LOOSE_FLOOR)
        return max(2 * quiet, quiet + FLOOR)

    @property
    def median_bound(self) -> float:
        quiet = statistics.median(self.quiet)
        if not self.flood:
            return float("inf")
        if self.loose:
            return max(LOOSE_RATIO * quiet, quiet + LOOSE_MEDIAN_FLOOR)
        return max(2 * quiet, quiet + MEDIAN_FLOOR)

    @property
    def within(self) -> bool:
        complete = len(self.attacked) >= SAMPLES
        if not complete or self.errors or p99(self.attacked) > self.bound:
            return False
        return statistics.median(self.attacked) <= self.median_bound

    def row(self) -> str:
        q50, q99 = statistics.median(self.quiet) * 1000, p99(self.quiet) * 1000
        a50 = statistics.median(self.attacked) * 1000 if self.attacked else float("nan")
        a99 = p99(self.attacked) * 1000 if self.attacked else float("nan")
        steps = ", ".join(f"{code} {n}" for code, n in self.attack_steps.most_common(3))
        failed = collections.Counter(self.errors).most_common(2)
        verdict = "within" if self.within else "OVER"
        if self.flood and self.attacked and statistics.median(self.attacked) > self.median_bound:
            verdict += f" (p50 over {self.median_bound * 1000:.0f})"
        if self.tries > 1:
            verdict += f" (try {self.tries})"
        if failed:
            verdict += f" ({len(self.errors)} failed: {', '.join(e for e, _ in failed)})"
        return (
            f"| {self.attack} | {q50:.0f} | {q99:.0f} | {a50:.0f} | {a99:.0f} | "
            f"{a99 / q99:.1f}x | {self.bound * 1000:.0f} | {verdict} | {steps} |"
        )


HEADER = (
    "| attack | quiet p50 ms | quiet p99 ms | attacked p50 ms | attacked p99 ms | p99 ratio "
    "| bound ms | victim | attacker's steps |\n|---|---|---|---|---|---|---|---|---|"
)


def table(results: list[Figures]) -> str:
    return "\n".join([HEADER, *(figures.row() for figures in results)])


class Arena:
    """One service, the victim (a process stepping on its Dovecot account:
    tests/servers/victim.py), and the attacker's means."""

    def __init__(self, service: Service, dovecot: Any):
        self.service, self.dovecot = service, dovecot
        self.victim_connection = {**dovecot.connection("alice", secure=False), "timeout": 10}
        self.enough = threading.Event()  # the attack did what it must (``loop(at_least=)``)
        self.attack_steps: collections.Counter = collections.Counter()
        self._lock = threading.Lock()
        body = {"connection": self.victim_connection, "inputs": {"mailbox": "INBOX"}}
        self._victim = subprocess.Popen(
            [sys.executable, "-m", "tests.servers.victim", service.url],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self._tell(json.dumps(body))
        if self._victim.stdout is None or self._victim.stdout.readline().strip() != "ready":
            raise RuntimeError("the victim did not start")

    def _tell(self, line: str) -> None:
        assert self._victim.stdin is not None
        self._victim.stdin.write(line + "\n")
        self._victim.stdin.flush()

    def victim(self, phase: str) -> tuple[list[float], list[str]]:
        """A phase of the victim's steps: ``quiet``, or ``attacked`` (until ``enough``)."""
        self._tell(phase)
        if phase == "attacked":

            def tell_when_enough() -> None:
                self.enough.wait()
                try:
                    self._tell("enough")
                except (OSError, ValueError):
                    pass  # (the phase ended first)

            threading.Thread(target=tell_when_enough, daemon=True).start()
        assert self._victim.stdout is not None
        line = self._victim.stdout.readline()
        if not line:
            raise RuntimeError(f"the victim process ended (status {self._victim.wait(5)})")
        figures = json.loads(line)
        return figures["latencies"], figures["errors"]

    # -- the attacker

    def step(self, client: httpx.Client, action: str, connection: dict, inputs: dict) -> None:
        self.post(
            client, f"/v1/imap/actions/{action}", {"connection": connection, "inputs": inputs}
        )

    def post(self, client: httpx.Client, path: str, body: Any, headers: dict = ATTACKER) -> None:
        try:
            if isinstance(body, bytes):
                headers = {**headers, "Content-Type": "application/json"}
                reply = client.post(path, content=body, headers=headers)
            else:
                reply = client.post(path, json=body, headers=headers)
            code = answer(reply)
        except httpx.HTTPError as exc:
            code = type(exc).__name__
        with self._lock:
            self.attack_steps[code] += 1

    def loop(
        self,
        stop: threading.Event,
        workers: int,
        one: Callable[..., None],
        at_least: int = 0,
        every: float = PACE,
    ) -> None:
        """``workers`` attacker threads calling ``one(client, n)`` until ``stop``, each at
        most once ``every`` seconds; the victim is measured until ``at_least`` calls are
        done (``self.enough``)."""
        counter = iter(range(10**9))
        if not at_least:
            self.enough.set()

        def work() -> None:
            with httpx.Client(base_url=self.service.url, timeout=150, limits=UNCAPPED) as c:
                while not stop.is_set():
                    started = time.monotonic()
                    n = next(counter)
                    one(c, n)
                    if n + 1 >= at_least:
                        self.enough.set()
                    stop.wait(every - (time.monotonic() - started))

        threads = [threading.Thread(target=work, daemon=True) for _ in range(workers)]
        for thread in threads:
            thread.start()
        stop.wait()
        ends = time.monotonic() + 2  # (a step held by the service ends when the service does)
        for thread in threads:
            thread.join(max(0.0, ends - time.monotonic()))

    def close(self) -> None:
        self.enough.set()
        try:
            assert self._victim.stdin is not None
            self._victim.stdin.close()  # (the end of its commands)
            self._victim.wait(5)
        except (OSError, ValueError, subprocess.TimeoutExpired):
            self._victim.kill()
            self._victim.wait(5)


def hostile(port: int, user: str = "mallory", timeout: float = 5) -> dict:
    return {
        "host": "127.0.0.1",
        "port": port,
        "user": user,
        "pass": "pw",
        "secure": False,
        "startTls": "never",
        "timeout": timeout,
    }


STATUS = {"mailbox": "INBOX"}

# -- the attacks: each runs until ``stop`` ---------------------------------------------------


def huge_greeting(arena: Arena, stop: threading.Event) -> None:
    """Steps to a server whose greeting is ~1 MB of fresh bytes (150 and more steps)."""
    with fake.Listener(fake.greets_with_fresh_bytes()) as peer:
        arena.loop(
            stop,
            6,
            lambda c, n: arena.step(c, "getStatus", hostile(peer.port, f"g{n}"), STATUS),
            at_least=150,
        )


def wrong_passwords(arena: Arena, stop: threading.Event) -> None:
    """12 loops of wrong-password steps on the victim's own host and user."""
    wrong = {**arena.victim_connection, "pass": "not-the-password"}
    arena.loop(stop, 12, lambda c, n: arena.step(c, "getStatus", wrong, STATUS))


def wrong_passwords_unpaced(arena: Arena, stop: threading.Event) -> None:
    """12 loops of wrong-password steps on the victim's own host and user, each sending its
    next step as soon as the last one is answered (a throttled login answers at once)."""
    wrong = {**arena.victim_connection, "pass": "not-the-password"}
    arena.loop(stop, 12, lambda c, n: arena.step(c, "getStatus", wrong, STATUS), every=0)


def wrong_tokens_unpaced(arena: Arena, stop: threading.Event) -> None:
    """12 loops of steps with a wrong service token (401), unpaced, from the attacker's
    address."""
    body = {"connection": arena.victim_connection, "inputs": STATUS}
    arena.loop(
        stop,
        12,
        lambda c, n: arena.post(c, "/v1/imap/actions/getStatus", body, STRANGER),
        every=0,
    )


def many_keywords(arena: Arena, stop: threading.Event) -> None:
    """addFlags with 60,000 keywords, 4 at a time, on the attacker's own account."""
    bob = {**arena.dovecot.connection("bob", secure=False), "timeout": 10}
    inputs = {"mailbox": "INBOX", "range": "1:*", "flags": [f"$k{i}" for i in range(60_000)]}
    body = json.dumps({"connection": bob, "inputs": inputs}).encode()  # (649 KB, made once)
    arena.loop(stop, 4, lambda c, n: arena.post(c, "/v1/imap/actions/addFlags", body), every=0.5)


def drip(arena: Arena, stop: threading.Event) -> None:
    """Steps (timeout 3 s) to a server that drips one byte a second after login."""
    with fake.Listener(fake.drips_after_login()) as peer:
        arena.loop(
            stop,
            16,
            lambda c, n: arena.step(c, "getStatus", hostile(peer.port, f"d{n}", 3), STATUS),
        )


def huge_literal(arena: Arena, stop: threading.Event) -> None:
    """listMailboxes at a server whose LIST announces {4000000000}."""
    with fake.Listener(fake.lists_a_huge_literal()) as peer:
        arena.loop(stop, 3, lambda c, n: arena.step(c, "listMailboxes", hostile(peer.port), {}))


def esearch_everything(arena: Arena, stop: threading.Event) -> None:
    """searchMailbox at a server answering ESEARCH ... UID ALL 1:4294967295."""
    with fake.Listener(fake.esearch_all_uids()) as peer:
        arena.loop(stop, 4, lambda c, n: arena.step(c, "searchMailbox", hostile(peer.port), STATUS))


def huge_body(arena: Arena, stop: threading.Event) -> None:
    """A 45 MB JSON body of empty objects, one after another."""
    body = b'{"connection": {}, "inputs": {"mailbox": "INBOX", "x": [' + b"{}," * 15_000_000
    body += b"{}]}}"
    arena.loop(stop, 1, lambda c, n: arena.post(c, "/v1/imap/actions/getStatus", body), every=2)


def idle_sockets(arena: Arena, stop: threading.Event, count: int = 1100) -> None:
    """~1,100 idle sockets from one client address (127.0.0.1), held open: those the
    service closes are opened again, 100 a second at most (a flood of connections is the
    kernel's or a proxy's to stop)."""
    held: list[socket.socket] = []

    def open_one() -> None:
        try:
            held.append(socket.create_connection(("127.0.0.1", arena.service.port), 5))
        except OSError as exc:
            arena.attack_steps[type(exc).__name__] += 1

    try:
        while len(held) < count and not stop.is_set():
            open_one()
        arena.attack_steps["sockets opened"] = len(held)
        arena.enough.set()
        while not stop.wait(0.2):
            watch = select.poll()  # (select() stops at descriptor 1024)
            by_fd = {sock.fileno(): sock for sock in held}
            for fd in by_fd:
                watch.register(fd, select.POLLIN)
            for fd, _ in watch.poll(0):  # (nothing was sent: readable means closed)
                held.remove(by_fd[fd])
                by_fd[fd].close()
                arena.attack_steps["closed by the service"] += 1
            for _ in range(min(20, count - len(held))):
                open_one()
    finally:
        for sock in held:
            sock.close()


def many_users(arena: Arena, stop: threading.Event) -> None:
    """One tenant varying user names: a pooled session each."""
    with fake.Listener(fake.accepts_any_user()) as peer:
        arena.loop(
            stop, 8, lambda c, n: arena.step(c, "getStatus", hostile(peer.port, f"u{n}"), STATUS)
        )


def many_mailboxes(arena: Arena, stop: threading.Event) -> None:
    """listMailboxes at a server listing 300,000 mailboxes (~37 MB)."""
    with fake.Listener(fake.lists_many_mailboxes()) as peer:
        arena.loop(stop, 2, lambda c, n: arena.step(c, "listMailboxes", hostile(peer.port), {}))


@dataclass(frozen=True)
class Attack:
    key: str
    title: str
    run: Callable[[Arena, threading.Event], None]
    # Why the victim is not yet expected within its bound (the branch building the
    # defence, or the gap left); "" when the defence is in this tree.
    gap: str = ""
    flood: bool = False  # requests as fast as they are answered: the median is bounded too


ATTACKS = [
    Attack("greeting", "1 MB fresh greetings", huge_greeting),
    Attack("passwords", "wrong passwords, victim's user", wrong_passwords),
    Attack("passwords-unpaced", "wrong passwords, unpaced", wrong_passwords_unpaced, flood=True),
    Attack("tokens-unpaced", "wrong service tokens, unpaced", wrong_tokens_unpaced, flood=True),
    Attack("keywords", "addFlags with 60,000 keywords", many_keywords),
    Attack("drip", "a byte a second after login", drip),
    Attack("literal", "LIST announcing {4000000000}", huge_literal),
    Attack("esearch", "ESEARCH ALL 1:4294967295", esearch_everything),
    Attack("body", "45 MB JSON body", huge_body),
    Attack("sockets", "1,100 idle sockets, one client", idle_sockets),
    Attack("users", "varying user names", many_users),
    Attack("mailboxes", "300,000 mailboxes", many_mailboxes),
]


@contextmanager
def shared_service(tmp: Path, *args: str) -> Iterator[Service]:
    """The service as hosted (its defaults), with a victim and an attacker tenant; stopped
    hard at the end (steps an attack left in flight are not waited for)."""
    service = Service(tmp, *args, tokens=TOKENS)
    try:
        yield service
    finally:
        service.process.send_signal(signal.SIGTERM)
        try:
            service.process.wait(2)
        except subprocess.TimeoutExpired:
            service.process.kill()
            service.process.wait(10)
        service.http.close()


def measure(attack: Attack, service: Service, dovecot: Any, *, loose: bool = False) -> Figures:
    """The victim's latencies quiet, then under ``attack``, on ``service`` (``loose``: judged
    by the test suite's bounds)."""
    arena = Arena(service, dovecot)
    try:
        quiet, quiet_errors = arena.victim("quiet")
        if quiet_errors:
            raise AssertionError(f"the victim failed before any attack: {quiet_errors}")
        stop = threading.Event()
        attacker = threading.Thread(target=attack.run, args=(arena, stop), daemon=True)
        attacker.start()
        time.sleep(SETTLE)
        steps = arena.attack_steps
        attacked = arena.victim("attacked")
        figures = Figures(attack.title, quiet, *attacked, steps, 1, attack.flood, loose)
        if not figures.within:
            # A hiccup of the shared machine fails one phase; a missing defence fails both.
            attacked = arena.victim("attacked")
            figures = Figures(attack.title, quiet, *attacked, steps, 2, attack.flood, loose)
        stop.set()
        attacker.join(10)
        return figures
    finally:
        arena.close()
