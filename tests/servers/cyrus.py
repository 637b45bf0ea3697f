"""A private Cyrus IMAP 3.6 instance: its own config, sasldb, certificates and spool.

Root only (the master drops to user ``cyrus``). Debian's cyrus-imapd package would
remove Dovecot, so scripts/setup installs only cyrus-common (master, tools) and
unpacks cyrus-imapd's binaries into .test-servers/ (CONTRIBUTING.md, "Test servers").
Users live in a sasldb whose realm must equal ``servername``.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path

from connector.imap.demo.localserver import free_port, stop_server, wait_for_greeting

from .common import ServerInfo, WorkDir

USERS = {"alice": "alicepw", "bob": "bobpw", "carol": "pässwörd-€"}  # carol: non-ASCII
ROOT = Path(__file__).resolve().parents[2]
IMAPD = ROOT / ".test-servers" / "usr/lib/cyrus/bin/imapd"
# Tells IDLE clients of new mail at once (without it, imapd looks every imapidlepoll: 60 s).
IDLED = ROOT / ".test-servers" / "usr/lib/cyrus/bin/idled"
MASTER = Path("/usr/lib/cyrus/bin/master")
TOOLS = Path("/usr/lib/cyrus/bin")
SASLPASSWD = Path("/usr/sbin/saslpasswd2")


def available() -> bool:
    return os.geteuid() == 0 and all(p.exists() for p in (IMAPD, IDLED, MASTER, SASLPASSWD))


class Cyrus(WorkDir):
    def __init__(self, ca):
        self.ca = ca
        self.dir = None
        self.process: subprocess.Popen | None = None

    def start(self) -> ServerInfo:
        self.dir = Path(tempfile.mkdtemp(prefix="cy", dir="/tmp"))
        os.chmod(self.dir, 0o755)
        self.plain_port, self.tls_port = free_port(), free_port()
        self._write_files()
        self.process = subprocess.Popen(
            [
                str(MASTER),
                "-C",
                str(self.workdir / "imapd.conf"),
                "-M",
                str(self.workdir / "cyrus.conf"),
                "-p",
                str(self.workdir / "master.pid"),
                "-D",
            ],
            stdout=subprocess.DEVNULL,
            stderr=open(self.workdir / "stderr.log", "wb"),
        )
        try:
            wait_for_greeting(self.plain_port, self.process)
        except RuntimeError as exc:
            raise RuntimeError(f"{exc}\n{self.log()}") from None
        return ServerInfo(
            name="cyrus",
            host="127.0.0.1",
            ca_pem=self.ca.cert_pem.bytes().decode(),
            users=dict(USERS),
            tls_port=self.tls_port,
            starttls_port=self.plain_port,
            # Special-use flags come back in lower case (\sent): normalised by the connector.
            # Gaps: raw 8-bit header bytes are not searched (no SEARCH-8BIT); obsolete
            # "Name  :" header syntax is refused at APPEND (no BROKEN-HEADERS).
            capabilities={
                "SPECIAL-USE",
                "KEYWORDS",
                "CONDSTORE",
                "UIDPLUS",
                "MOVE",
                "SEQUENCE-SEARCH",
                "RAW-ENVELOPE",
                "BINARY",
            },
            slow_login_failure=True,
        )  # ~3.3 s for a refused login

    def stop(self) -> None:
        stop_server(self.process, self.dir)

    def log(self) -> str:
        path = self.dir / "stderr.log" if self.dir else None
        return path.read_text(errors="replace") if path and path.exists() else ""

    def _write_files(self) -> None:
        d = self.workdir
        for sub in ("config", "config/socket", "spool", "proc", "lock", "socket"):
            (d / sub).mkdir(parents=True, exist_ok=True)
        leaf = self.ca.issue_cert("127.0.0.1", "localhost")
        leaf.private_key_pem.write_to_path(str(d / "key.pem"))
        leaf.cert_chain_pems[0].write_to_path(str(d / "cert.pem"))
        os.chmod(d / "key.pem", 0o644)
        (d / "imapd.conf").write_text(f"""\
configdirectory: {d}/config
partition-default: {d}/spool
proc_path: {d}/proc
mboxname_lockpath: {d}/lock
lmtpsocket: {d}/socket/lmtp
idlesocket: {d}/socket/idle
notifysocket: {d}/socket/notify
servername: localhost
admins: cyrus
allowplaintext: yes
munge8bit: no
reject8bit: no
sasl_pwcheck_method: auxprop
sasl_auxprop_plugin: sasldb
sasl_sasldb_path: {d}/sasldb2
sasl_mech_list: PLAIN LOGIN
unixhierarchysep: yes
altnamespace: yes
autocreate_quota: 0
autocreate_inbox_folders: Sent | Drafts | Trash | Junk
autocreate_subscribe_folders: Sent | Drafts | Trash | Junk
xlist-sent: Sent
xlist-drafts: Drafts
xlist-trash: Trash
xlist-junk: Junk
tls_server_cert: {d}/cert.pem
tls_server_key: {d}/key.pem
""")
        (d / "cyrus.conf").write_text(f"""\
START {{
  recover cmd="{TOOLS}/ctl_cyrusdb -C {d}/imapd.conf -r"
}}
SERVICES {{
  imap cmd="{IMAPD} -C {d}/imapd.conf" listen="127.0.0.1:{self.plain_port}" prefork=1
  imaps cmd="{IMAPD} -s -C {d}/imapd.conf" listen="127.0.0.1:{self.tls_port}" prefork=1
}}
EVENTS {{
}}
DAEMON {{
  idled cmd="{IDLED} -C {d}/imapd.conf"
}}
""")
        for user, password in USERS.items():
            subprocess.run(
                [str(SASLPASSWD), "-p", "-c", "-f", str(d / "sasldb2"), "-u", "localhost", user],
                input=password.encode(),
                check=True,
            )
        subprocess.run(["chown", "-R", "cyrus:mail", str(d)], check=True)
