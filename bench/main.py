"""Benchmarks: our connector against peers and a floor, side by side in one run.

Starts a private Dovecot, seeds it, runs each workload several times with the
contenders interleaved, prints medians and ratios, and writes them as JSON.
Run it with ``bench/run`` (which installs the peers first).
"""

from __future__ import annotations

import argparse
import json
import ssl
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import seed  # noqa: E402
from connector.imap import manifest_path  # noqa: E402
from connector.imap.wire.protocol import uid_sets  # noqa: E402
from connector.sdk import Connector  # noqa: E402
from tests.servers.common import bulk_append  # noqa: E402
from tests.servers.dovecot import Dovecot  # noqa: E402
from tests.servers.fake import DelayProxy  # noqa: E402

NODE_DIR = ROOT / "bench" / "node"
SUMMARY_ITEMS = "(UID FLAGS RFC822.SIZE INTERNALDATE ENVELOPE)"


class Bench:
    def __init__(self, info, workdir: Path, repeats: int):
        self.info = info
        self.workdir = workdir
        self.repeats = repeats
        self.connector = Connector.load(manifest_path())
        self.connection = info.connection(timeout=60)
        self.ca_file = workdir / "ca.pem"
        self.ca_file.write_text(info.ca_pem)
        self.conn_file = workdir / "connection.json"
        self.conn_file.write_text(json.dumps(self.connection))
        self.context = ssl.create_default_context(cafile=str(self.ca_file))
        self.results: dict[str, dict[str, list[float]]] = {}

    # -- plumbing -------------------------------------------------------------------------

    def imaplib_session(self):
        import imaplib

        imap = imaplib.IMAP4_SSL("127.0.0.1", self.info.tls_port, ssl_context=self.context)
        imap.login("alice", self.info.users["alice"])
        return imap

    def invoke(self, action: str, **inputs):
        envelope = self.connector.invoke(
            {"action": action, "connection": self.connection, "inputs": inputs}
        )
        assert envelope["ok"], envelope
        return envelope["data"]

    def run(self, workload: str, contenders: dict, *, reset=None) -> None:
        """Each contender once as warm-up, then ``repeats`` interleaved rounds."""
        times: dict[str, list[float]] = {name: [] for name in contenders}
        for round_ in range(self.repeats + 1):
            for name, fn in contenders.items():
                if reset:
                    reset()
                started = time.perf_counter()
                reported = fn()
                elapsed = (time.perf_counter() - started) * 1000
                if round_:  # round 0 warms caches on both sides
                    times[name].append(reported if isinstance(reported, float) else elapsed)
        self.results[workload] = times

    # -- W1: 1000 newest summaries ----------------------------------------------------------

    def w1(self, newest: list[int]) -> None:
        uid_range = ",".join(s.decode() for s in uid_sets(newest))

        def ours():
            data = self.invoke("searchMailbox", mailbox="INBOX", limit=1000)
            assert len(data["messages"]) == 1000

        def floor():
            imap = self.imaplib_session()
            imap.select("INBOX", readonly=True)
            typ, data = imap.uid("SEARCH", "ALL")
            last = [int(u) for u in data[0].split()][-1000:]
            typ, data = imap.uid(
                "FETCH", ",".join(s.decode() for s in uid_sets(last)), SUMMARY_ITEMS
            )
            assert typ == "OK" and len(data) >= 1000
            imap.logout()

        def imap_tools():
            from imap_tools import AND, MailBox

            with MailBox("127.0.0.1", self.info.tls_port, ssl_context=self.context).login(
                "alice", self.info.users["alice"], initial_folder="INBOX"
            ) as box:
                messages = list(
                    box.fetch(AND(uid=uid_range), headers_only=True, mark_seen=False, bulk=True)
                )
                for m in messages:  # what a summary holds, parsed
                    _ = (
                        m.uid,
                        m.subject,
                        m.from_values,
                        m.to_values,
                        m.cc_values,
                        m.date,
                        m.flags,
                        m.size_rfc822,
                    )
                assert len(messages) == 1000

        def imapflow():
            run = subprocess.run(
                [
                    "node",
                    str(NODE_DIR / "w1.mjs"),
                    "127.0.0.1",
                    str(self.info.tls_port),
                    "alice",
                    self.info.users["alice"],
                    str(self.ca_file),
                    uid_range,
                ],
                capture_output=True,
                text=True,
                timeout=120,
                check=True,
            )
            report = json.loads(run.stdout)
            assert report["count"] == 1000, report
            return float(report["ms"])  # its own work time: Node's start is not counted

        contenders = {"ours": ours, "floor (imaplib, unparsed)": floor, "imap-tools": imap_tools}
        if (NODE_DIR / "node_modules" / "imapflow").exists():
            contenders["imapflow (in-process time)"] = imapflow
        self.run("W1 1000 newest summaries", contenders)

    # -- W2: one action, cold and warm ------------------------------------------------------

    def w2(self) -> None:
        cli = Path(sys.executable).with_name("imap-connector")
        floor_script = textwrap.dedent(f"""\
            import imaplib, ssl
            ctx = ssl.create_default_context(cafile={str(self.ca_file)!r})
            imap = imaplib.IMAP4_SSL("127.0.0.1", {self.info.tls_port}, ssl_context=ctx)
            imap.login("alice", {self.info.users["alice"]!r})
            typ, data = imap.status("INBOX", "(MESSAGES UNSEEN UIDNEXT UIDVALIDITY)")
            assert typ == "OK"
            imap.logout()
            """)

        def process(*args: str):
            # Every contender waited for alike, on its pipes: Popen.wait with a timeout and no
            # pipes polls with sleeps doubling to 50 ms, and so timed a 54 ms floor as 64.
            run = subprocess.run(args, capture_output=True, text=True, timeout=60)
            assert run.returncode == 0, run.stdout + run.stderr

        def cold_cli():
            process(
                str(cli),
                "invoke",
                "getStatus",
                "--connection",
                f"@{self.conn_file}",
                "--input",
                "mailbox=INBOX",
            )

        def floor_process():
            process(sys.executable, "-c", floor_script)

        # The floor with IMAPClient imported as our wire imports it (its version read without
        # a package metadata search), nothing else changed: the share of the ratio that is the
        # library our wire is built on, before any code of ours runs.
        imapclient_script = (
            "from connector.imap.wire import library_version\n"
            "library_version.provide()\n"
            "import imapclient\n" + floor_script
        )

        def floor_with_imapclient():
            process(sys.executable, "-c", imapclient_script)

        self.run(
            "W2 cold process: getStatus",
            {
                "ours (imap-connector invoke)": cold_cli,
                "floor (python + imaplib STATUS)": floor_process,
                "the floor + import imapclient": floor_with_imapclient,
            },
        )

        def warm_ours():
            self.invoke("getStatus", mailbox="INBOX")

        def warm_imapclient():
            from imapclient import IMAPClient

            client = IMAPClient("127.0.0.1", self.info.tls_port, ssl_context=self.context)
            client.login("alice", self.info.users["alice"])
            client.folder_status(
                "INBOX",
                [b"MESSAGES", b"RECENT", b"UNSEEN", b"UIDNEXT", b"UIDVALIDITY", b"HIGHESTMODSEQ"],
            )
            client.logout()

        self.run(
            "W2 in-process: getStatus",
            {"ours (Connector.invoke)": warm_ours, "floor (raw imapclient)": warm_imapclient},
        )

    # -- W3: flag all 10,000 ----------------------------------------------------------------

    def w3(self, all_uids: list[int]) -> None:
        def reset():
            imap = self.imaplib_session()
            imap.select("INBOX")
            imap.uid("STORE", "1:*", "-FLAGS.SILENT", r"(\Flagged)")
            imap.logout()

        def ours():
            data = self.invoke("addFlags", mailbox="INBOX", range="1:*", flags=["\\Flagged"])
            assert len(data["messages"]) == len(all_uids)

        def floor():
            imap = self.imaplib_session()
            imap.select("INBOX")
            typ, _ = imap.uid("STORE", "1:*", "+FLAGS.SILENT", r"(\Flagged)")
            assert typ == "OK"
            imap.logout()

        def imap_tools():
            from imap_tools import MailBox, MailMessageFlags

            with MailBox("127.0.0.1", self.info.tls_port, ssl_context=self.context).login(
                "alice", self.info.users["alice"], initial_folder="INBOX"
            ) as box:
                box.flag([str(u) for u in all_uids], MailMessageFlags.FLAGGED, True)

        self.run(
            "W3 flag all messages",
            {
                "ours": ours,
                "floor (raw UID STORE 1:* silent)": floor,
                "imap-tools flag()": imap_tools,
            },
            reset=reset,
        )

    # -- W4: one big message ----------------------------------------------------------------

    def w4(self, uid: int, size: int) -> dict:
        # Peak memory from /proc: ru_maxrss would report the parent's size at fork time.
        prelude = textwrap.dedent(f"""\
            import json, sys, time
            sys.path.insert(0, {str(ROOT)!r})
            def status_kb(field):
                with open("/proc/self/status") as fh:
                    return next(int(l.split()[1]) for l in fh if l.startswith(field + ":"))
            def rss_kb():
                with open("/proc/self/clear_refs", "w") as fh:
                    fh.write("5")  # reset the high-water mark to the current size
                return status_kb("VmRSS")
            def peak_kb():
                return status_kb("VmHWM")
            """)
        ours = prelude + textwrap.dedent(f"""\
            from connector.imap import manifest_path
            from connector.sdk import Connector
            connector = Connector.load(manifest_path())
            connection = json.load(open({str(self.conn_file)!r}))
            connector.invoke({{"action": "getStatus", "connection": connection}})  # imports done
            before = rss_kb(); started = time.perf_counter()
            envelope = connector.invoke({{"action": "downloadMessage", "connection": connection,
                "inputs": {{"mailbox": "Big", "messageIndex": {uid}, "format": "raw"}}}})
            elapsed = (time.perf_counter() - started) * 1000
            assert envelope["ok"], envelope
            print(json.dumps({{"ms": elapsed, "peak_kb": peak_kb() - before}}))
            """)
        floor = prelude + textwrap.dedent(f"""\
            import imaplib, ssl
            ctx = ssl.create_default_context(cafile={str(self.ca_file)!r})
            imap = imaplib.IMAP4_SSL("127.0.0.1", {self.info.tls_port}, ssl_context=ctx)
            imap.login("alice", {self.info.users["alice"]!r}); imap.logout()
            before = rss_kb(); started = time.perf_counter()
            imap = imaplib.IMAP4_SSL("127.0.0.1", {self.info.tls_port}, ssl_context=ctx)
            imap.login("alice", {self.info.users["alice"]!r})
            imap.select("Big", readonly=True)
            typ, data = imap.uid("FETCH", "{uid}", "(BODY.PEEK[])")
            assert typ == "OK" and len(data[0][1]) > {size} * 0.99
            imap.logout()
            elapsed = (time.perf_counter() - started) * 1000
            print(json.dumps({{"ms": elapsed, "peak_kb": peak_kb() - before}}))
            """)
        memory: dict[str, list[float]] = {"ours": [], "floor (imaplib fetch)": []}

        def contender(name, script):
            def fn():
                run = subprocess.run(
                    [sys.executable, "-c", script], capture_output=True, text=True, timeout=300
                )
                assert run.returncode == 0, run.stderr
                report = json.loads(run.stdout)
                memory[name].append(report["peak_kb"] / 1024)
                return float(report["ms"])

            return fn

        floor_name = "floor (imaplib fetch)"
        self.run(
            f"W4 download {size // 2**20} MB raw",
            {"ours": contender("ours", ours), floor_name: contender(floor_name, floor)},
        )
        return {name: statistics.median(values[1:]) for name, values in memory.items()}


class ColdSteps:
    """W6: cold steps (a new connection each) through a proxy adding ``rtt`` per round trip.

    Our steps run with the server known to the process (an earlier step saw its greeting
    and capabilities): LOGIN travels with the step's first command. Flights are the
    client's sends between waits, counted by the proxy, for the last run of each.
    """

    def __init__(self, bench: Bench, rtt_ms: float):
        self.bench = bench
        self.proxy = DelayProxy(bench.info.tls_port, delay=rtt_ms / 2000)
        self.flights: dict[str, dict[str, int]] = {}
        self.connection = dict(bench.connection, port=self.proxy.port)

    def ours(self, action: str, inputs: dict):
        def run():
            envelope = self.bench.connector.invoke(
                {"action": action, "connection": self.connection, "inputs": inputs}
            )
            assert envelope["ok"], envelope

        return run

    def imaplib_step(self, step: str, uid: int):
        import imaplib

        def run():
            imap = imaplib.IMAP4_SSL("127.0.0.1", self.proxy.port, ssl_context=self.bench.context)
            imap.login("alice", self.bench.info.users["alice"])
            if step == "getStatus":
                typ, _ = imap.status("INBOX", "(MESSAGES RECENT UNSEEN UIDNEXT UIDVALIDITY)")
            else:
                imap.select("INBOX", readonly=True)
                if step == "searchMailbox":
                    typ, data = imap.uid("SEARCH", "ALL")
                    last = b",".join(data[0].split()[-10:]).decode()
                    typ, _ = imap.uid("FETCH", last, SUMMARY_ITEMS)
                else:
                    typ, _ = imap.uid("FETCH", str(uid), "(BODY.PEEK[])")
            assert typ == "OK"
            imap.logout()

        return run

    def imapflow_step(self, step: str, uid: int):
        def run():
            done = subprocess.run(
                [
                    "node",
                    str(NODE_DIR / "w6.mjs"),
                    "127.0.0.1",
                    str(self.proxy.port),
                    "alice",
                    self.bench.info.users["alice"],
                    str(self.bench.ca_file),
                    step,
                    str(uid),
                ],
                capture_output=True,
                text=True,
                timeout=120,
                check=True,
            )
            return float(json.loads(done.stdout)["ms"])

        return run

    def count(self, name: str, run) -> tuple:
        """One more run with the flight counter reset: (its result, its flights)."""
        time.sleep(4 * self.proxy.delay)  # an earlier LOGOUT passes the proxy first
        self.proxy.reset()
        reported = run()
        time.sleep(4 * self.proxy.delay)
        return reported, self.proxy.flights

    def workload(self, step: str, inputs: dict, uid: int, label: str) -> None:
        contenders = {
            "ours": self.ours(step, inputs),
            "floor (raw imaplib)": self.imaplib_step(step, uid),
        }
        if (NODE_DIR / "node_modules" / "imapflow").exists():
            contenders["imapflow (in-process time)"] = self.imapflow_step(step, uid)
        self.bench.run(label, contenders)
        self.flights[label] = {name: self.count(name, run)[1] for name, run in contenders.items()}

    def close(self) -> None:
        self.proxy.close()


def seed_server(info, count: int, big_size: int) -> tuple[list[int], int]:
    from imapclient import IMAPClient

    context = ssl.create_default_context(cadata=info.ca_pem)
    client = IMAPClient("127.0.0.1", info.tls_port, ssl_context=context, timeout=120)
    client.login("alice", info.users["alice"])
    bulk_append(client, "INBOX", seed.messages(count))
    client.create_folder("Big")
    client.append("Big", seed.big_message(big_size))
    client.select_folder("INBOX", readonly=True)
    uids = client.search(["ALL"])
    client.select_folder("Big", readonly=True)
    big_uid = client.search(["ALL"])[0]
    client.logout()
    return uids, big_uid


def report(results: dict, memory: dict, big_size: int) -> dict:
    table = {}
    print()
    for workload, times in results.items():
        medians = {name: statistics.median(values) for name, values in times.items()}
        floor_name = next((n for n in medians if n.startswith("floor")), None)
        floor = medians.get(floor_name)
        print(workload)
        rows = {}
        for name, median in medians.items():
            ratio = median / floor if floor else None
            rows[name] = {
                "median_ms": round(median, 1),
                "vs_floor": round(ratio, 2) if ratio else None,
                "runs_ms": [round(v, 1) for v in times[name]],
            }
            print(
                f"  {name:38s} {median:9.1f} ms   {ratio:5.2f}x floor"
                if ratio
                else f"  {name:38s} {median:9.1f} ms"
            )
        if "ours" in medians:
            for name, median in medians.items():
                if name != "ours" and not name.startswith("floor"):
                    speed = median / medians["ours"]
                    print(
                        f"  {'':38s} {name} takes {speed:.2f}x our time"
                        f" ({'ours is faster' if speed > 1 else 'ours is slower'})"
                    )
        table[workload] = rows
    if memory:
        print(
            f"W4 peak memory above the process's resting size, message {big_size / 2**20:.0f} MB:"
        )
        for name, mb in memory.items():
            print(f"  {name:38s} {mb:9.1f} MB   {mb * 2**20 / big_size:5.2f}x the message")
        table["W4 peak memory MB"] = {n: round(m, 1) for n, m in memory.items()}
    return table


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=10000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--big-mb", type=int, default=20)
    parser.add_argument(
        "--only",
        default="W1,W2,W3,W4,W5,W6,W7,W8,W9",
        help="comma-separated workloads (W10, push at scale, only when named)",
    )
    parser.add_argument("--appends", type=int, default=50, help="W8: messages appended")
    parser.add_argument("--rtt-ms", type=float, default=20.0, help="W6: added per round trip")
    parser.add_argument("--json", default=str(ROOT / "bench" / "results" / "latest.json"))
    args = parser.parse_args(argv)
    import trustme

    only = {w.strip().upper() for w in args.only.split(",")}
    server = Dovecot(trustme.CA())
    info = server.start()
    try:
        started = time.perf_counter()
        big_size = args.big_mb * 2**20
        uids, big_uid = seed_server(info, args.messages, big_size)
        print(
            f"seeded {len(uids)} messages + one of {args.big_mb} MB in "
            f"{time.perf_counter() - started:.1f} s; {args.repeats} runs per contender, interleaved"
        )
        with tempfile.TemporaryDirectory() as tmp:
            bench = Bench(info, Path(tmp), args.repeats)
            memory = {}
            if "W1" in only:
                bench.w1(uids[-1000:])
            if "W2" in only:
                bench.w2()
            if "W3" in only:
                bench.w3(uids)
            if "W4" in only:
                memory = bench.w4(big_uid, big_size)
            flights = {}
            if "W5" in only:
                from bench.w5 import fairness, run_w5

                flights.update(run_w5(bench, uids[-1], [0.0, args.rtt_ms]))
                fair = fairness(bench)
            if "W6" in only:
                cold = ColdSteps(bench, args.rtt_ms)
                try:
                    rtt = f"{args.rtt_ms:g} ms RTT"
                    cold.workload(
                        "getStatus", {"mailbox": "INBOX"}, uids[-1], f"W6 cold getStatus, {rtt}"
                    )
                    cold.workload(
                        "searchMailbox",
                        {"mailbox": "INBOX", "limit": "10"},
                        uids[-1],
                        f"W6 cold searchMailbox (10 newest), {rtt}",
                    )
                    cold.workload(
                        "downloadMessage",
                        {"mailbox": "INBOX", "messageIndex": str(uids[-1])},
                        uids[-1],
                        f"W6 cold downloadMessage, {rtt}",
                    )
                    flights.update(cold.flights)
                finally:
                    cold.close()
            temporal = None
            if "W7" in only:
                from bench.temporal import run_w7

                temporal = run_w7(bench)
            new_mail = None
            if "W8" in only:
                from bench.temporal import run_w8

                new_mail = run_w8(bench, appends=args.appends)
            at_scale = None
            if "W10" in only:  # (not in the default run: ~20 minutes, a Dovecot of its own)
                from bench.w10 import run_w10

                at_scale = run_w10([16, 128, 1000])
            attacks = None
            if "W9" in only:
                from bench.w9 import run_w9

                attacks = run_w9(info, Path(tmp))
            table = report(bench.results, memory, big_size)
            if "W5" in only:
                table["W5 fairness"] = fair
            if temporal is not None:
                table["W7 Temporal"] = temporal
            if new_mail is not None:
                table["W8 new mail to the handler"] = new_mail
            if attacks is not None:
                table["W9 victim p99 under attack"] = attacks
            if at_scale is not None:
                table["W10 push at scale"] = at_scale
            for label, counts in flights.items():
                print(
                    f"{label}: client flights per step: "
                    + ", ".join(f"{name} {n}" for name, n in counts.items())
                )
                table[label]["flights"] = counts
        out = Path(args.json)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(
            json.dumps(
                {"messages": args.messages, "repeats": args.repeats, "results": table}, indent=2
            )
        )
        print(f"\nwritten to {out}")
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
