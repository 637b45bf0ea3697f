"""A private Courier-IMAP 5.0 instance, in a mount namespace of its own.

Root only. authdaemond's socket dir (/run/courier/authdaemon) and config dir
(/etc/courier) are compiled in, so the whole server runs under ``unshare -m`` with a
private etc/ and run/ bind-mounted over them: nothing on the host changes. Debian's
courier-imap package would remove Dovecot, so scripts/setup installs courier-base,
courier-authdaemon and courier-authlib-userdb only, and unpacks courier-imap's binaries
into .test-servers/ (CONTRIBUTING.md, "Test servers").

Courier's traits the tests rely on: namespace ``INBOX.`` with ``.`` as separator; no
MOVE, SPECIAL-USE or CONDSTORE; NO replies without response codes; a failed login
costs 5 s; RENAME of a missing mailbox answers OK.
"""

from __future__ import annotations

import grp
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from connector.imap.demo.localserver import free_port, wait_for_greeting

from .common import ServerInfo, WorkDir

USERS = {"alice": "alicepw", "bob": "bobpw"}
ROOT = Path(__file__).resolve().parents[2]
IMAPD = ROOT / ".test-servers" / "usr/bin/imapd"
IMAPLOGIN = ROOT / ".test-servers" / "usr/lib/courier/courier/imaplogin"
TOOLS = [
    Path(p)
    for p in (
        "/usr/sbin/couriertcpd",
        "/usr/bin/couriertls",
        "/usr/sbin/authdaemond",
        "/usr/sbin/userdb",
        "/usr/sbin/userdbpw",
        "/usr/sbin/makeuserdb",
        "/usr/bin/maildirmake",
        "/usr/bin/unshare",
    )
]
CAPABILITIES = (
    "IMAP4rev1 UIDPLUS CHILDREN NAMESPACE THREAD=ORDEREDSUBJECT THREAD=REFERENCES SORT QUOTA IDLE"
)


def available() -> bool:
    return (
        os.geteuid() == 0
        and IMAPD.exists()
        and IMAPLOGIN.exists()
        and all(p.exists() for p in TOOLS)
        and Path("/etc/courier").is_dir()
        and Path("/run/courier/authdaemon").is_dir()
    )


def wait_for_tls_greeting(port: int, timeout: float = 15.0) -> None:
    import socket
    import ssl

    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE  # only "is it up?"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with (
                socket.create_connection(("127.0.0.1", port), timeout=3) as raw,
                context.wrap_socket(raw) as sock,
            ):
                if sock.recv(100).startswith(b"* OK"):
                    return
        except (OSError, ssl.SSLError):
            time.sleep(0.05)
    raise RuntimeError(f"no TLS greeting on port {port} within {timeout} s")


class Courier(WorkDir):
    def __init__(self, ca):
        self.ca = ca
        self.dir = None
        self.process: subprocess.Popen | None = None

    def start(self) -> ServerInfo:
        self.dir = Path(tempfile.mkdtemp(prefix="co", dir="/tmp"))
        os.chmod(self.dir, 0o755)
        self.plain_port, self.tls_port = free_port(), free_port()
        self._write_files()
        self.process = subprocess.Popen(
            ["unshare", "-m", "--propagation", "private", "bash", str(self.workdir / "start.sh")],
            stdout=open(self.workdir / "stdout.log", "wb"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            wait_for_greeting(self.plain_port, self.process)
            wait_for_tls_greeting(self.tls_port)
        except RuntimeError as exc:
            self.stop()
            raise RuntimeError(f"{exc}\n{self.log()}") from None
        return ServerInfo(
            name="courier",
            host="127.0.0.1",
            ca_pem=self.ca.cert_pem.bytes().decode(),
            users=dict(USERS),
            tls_port=self.tls_port,
            starttls_port=self.plain_port,
            # No RAW-ENVELOPE: ENVELOPE gives header text with non-UTF-8 8-bit bytes as "".
            capabilities={
                "UIDPLUS",
                "KEYWORDS",
                "SEQUENCE-SEARCH",
                "BROKEN-HEADERS",
                "SEARCH-8BIT",
            },
            prefix="INBOX.",
            delimiter=".",
            slow_login_failure=True,
            seed=self.seed,
        )

    def seed(self, mailbox: str, messages: list[bytes], user: str = "alice") -> None:
        """Messages written straight into the mailbox's maildir (Courier rescans on SELECT)."""
        assert mailbox.startswith("INBOX.") and mailbox.isascii(), mailbox
        folder = self.workdir / "mail" / user / "Maildir" / ("." + mailbox[len("INBOX.") :])
        uid, gid = pwd.getpwnam("nobody").pw_uid, grp.getgrnam("nogroup").gr_gid
        stamp = int(time.time())
        for index, message in enumerate(messages):
            path = folder / "cur" / f"{stamp}.M{index:06d}P{os.getpid()}.seed:2,"
            path.write_bytes(message)
            os.chown(path, uid, gid)

    def stop(self) -> None:
        if self.dir is None:
            return
        for name in ("plain.pid", "tls.pid", "run/pid"):
            path = self.workdir / name
            try:
                os.kill(int(path.read_text().split()[0]), signal.SIGTERM)
            except (OSError, ValueError, IndexError):
                pass
        if self.process is not None and self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGTERM)
                self.process.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                self.process.kill()
        time.sleep(0.1)
        shutil.rmtree(self.dir, ignore_errors=True)

    def log(self) -> str:
        path = self.dir / "stdout.log" if self.dir else None
        return path.read_text(errors="replace") if path and path.exists() else ""

    def _write_files(self) -> None:
        d = self.workdir
        (d / "etc").mkdir()
        (d / "run").mkdir()
        (d / "mail").mkdir()
        shutil.copy("/etc/courier/authdaemonrc", d / "etc" / "authdaemonrc")
        rc = (d / "etc" / "authdaemonrc").read_text()
        rc = "\n".join(line for line in rc.splitlines() if not line.startswith("authmodulelist="))
        (d / "etc" / "authdaemonrc").write_text(rc + '\nauthmodulelist="authuserdb"\n')
        leaf = self.ca.issue_cert("127.0.0.1", "localhost")
        pem = leaf.private_key_pem.bytes() + leaf.cert_chain_pems[0].bytes()
        (d / "tls.pem").write_bytes(pem)
        os.chmod(d / "tls.pem", 0o644)  # root-only 0600 makes STARTTLS drop the line
        uid, gid = pwd.getpwnam("nobody").pw_uid, grp.getgrnam("nogroup").gr_gid
        users = []
        for user, password in USERS.items():
            home = d / "mail" / user
            users.append(
                f"userdb {user} set uid={uid} gid={gid} home={home} mail={home}/Maildir\n"
                f"echo '{password}' | userdbpw -md5 | userdb {user} set systempw\n"
                f"mkdir -p {home} && maildirmake {home}/Maildir && chown -R {uid}:{gid} {home}\n"
            )
        env = {
            "IMAP_CAPABILITY": CAPABILITIES,
            "IMAP_CAPABILITY_TLS": CAPABILITIES + " AUTH=PLAIN",
            "IMAP_STARTTLS": "YES",
            "IMAP_TLS_REQUIRED": "0",
            "COURIERTLS": "/usr/bin/couriertls",
            "TLS_CERTFILE": str(d / "tls.pem"),
            "TLS_VERIFYPEER": "NONE",
            "IMAP_KEYWORDS": "1",
            "IMAP_ACL": "1",
            "IMAP_USELOCKS": "1",
            "IMAP_ULIMITD": "131072",
            "IMAP_TRASHFOLDERNAME": "Trash",
            "IMAP_EMPTYTRASH": "",
            "IMAP_UMASK": "022",
            "IMAP_MOVE_EXPUNGE_TO_TRASH": "0",
            # Without FAM, IDLE looks for new mail this often (default 60 s): push tests.
            "IMAP_IDLE_TIMEOUT": "2",
            "MAILDIRPATH": "Maildir",
            "IMAP_MAILBOX_SANITY_CHECK": "1",
        }
        exports = "".join(f"export {k}='{v}'\n" for k, v in env.items())
        tcpd = (
            "couriertcpd -address=127.0.0.1 -maxprocs=80 -maxperip=80 -nodnslookup -noidentlookup"
        )
        (d / "start.sh").write_text(f"""\
set -e
mount --bind {d}/etc /etc/courier
mount --bind {d}/run /run/courier/authdaemon
chown courier:courier {d}/run
{"".join(users)}makeuserdb
authdaemond start
{exports}
{tcpd} {self.plain_port} {IMAPLOGIN} {IMAPD} Maildir &
echo $! > {d}/plain.pid
{tcpd} {self.tls_port} /usr/bin/couriertls -server -tcpd {IMAPLOGIN} {IMAPD} Maildir &
echo $! > {d}/tls.pid
wait
""")
