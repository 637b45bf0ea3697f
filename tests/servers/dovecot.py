"""A private Dovecot instance: its own config, certificates and mail in a temp dir.

Works as root (mail owned by nobody) and as an ordinary user. The comments in the
configuration below say why each setting is there (CONTRIBUTING.md, "Test servers").
"""

from __future__ import annotations

import grp
import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

from connector.imap.demo.localserver import free_port, stop_server, wait_for_greeting

from .common import ServerInfo, WorkDir

USERS = {"alice": "alicepw", "bob": "bobpw", "carol": "pässwörd-€"}  # carol: non-ASCII
BINARY = shutil.which("dovecot") or "/usr/sbin/dovecot"


def available() -> bool:
    return os.path.exists(BINARY)


class Dovecot(WorkDir):
    def __init__(
        self,
        ca,
        *,
        extra_conf: str = "",
        key_type=None,
        ssl_conf: str = "",
        tokens: dict[str, str] | None = None,
        ssl: bool = True,
    ):
        self.ca = ca
        self.ssl = ssl
        self.extra_conf = extra_conf
        self.ssl_conf = ssl_conf
        self.key_type = key_type
        self.tokens = tokens or {}
        self.dir = None
        self.process: subprocess.Popen | None = None

    # -- lifecycle ----------------------------------------------------------------------

    def start(self) -> ServerInfo:
        # Short and world-readable: socket paths stay under 108 bytes and the
        # auth process (another user) can read the users file.
        self.dir = Path(tempfile.mkdtemp(prefix="dc", dir="/tmp"))
        os.chmod(self.dir, 0o755)
        self.tls_port, self.starttls_port = free_port(), free_port()
        self._write_files()
        self.process = subprocess.Popen(
            [BINARY, "-F", "-c", str(self.workdir / "dovecot.conf")],
            stdout=subprocess.DEVNULL,
            stderr=open(self.workdir / "stderr.log", "wb"),
        )
        try:
            wait_for_greeting(self.starttls_port, self.process)
        except RuntimeError as exc:
            raise RuntimeError(f"{exc}\n{self.log()}") from None
        return ServerInfo(
            name="dovecot",
            host="127.0.0.1",
            ca_pem=self.ca.cert_pem.bytes().decode(),
            users=dict(USERS),
            tls_port=self.tls_port if self.ssl else None,
            starttls_port=self.starttls_port,
            capabilities={
                "SPECIAL-USE",
                "KEYWORDS",
                "CONDSTORE",
                "UIDPLUS",
                "MOVE",
                "SEQUENCE-SEARCH",
                "BROKEN-HEADERS",
                "RAW-ENVELOPE",
                "BINARY",
                "SEARCH-8BIT",
            },
        )

    def stop(self) -> None:
        stop_server(self.process, self.dir)

    def log(self) -> str:
        parts = []
        for name in ("dovecot.log", "stderr.log"):
            path = self.workdir / name
            if path.exists():
                parts.append(path.read_text(errors="replace"))
        return "\n".join(parts)

    # -- files --------------------------------------------------------------------------

    def kick(self, user: str) -> None:
        """End the user's sessions, as an administrator does after changing a password."""
        subprocess.run(
            ["doveadm", "-c", str(self.workdir / "dovecot.conf"), "kick", user],
            check=True,
            capture_output=True,
            timeout=30,
        )

    def _write_files(self) -> None:
        d = self.workdir
        kwargs = {"key_type": self.key_type} if self.key_type is not None else {}
        leaf = self.ca.issue_cert("127.0.0.1", "localhost", **kwargs)
        leaf.private_key_pem.write_to_path(str(d / "key.pem"))
        leaf.cert_chain_pems[0].write_to_path(str(d / "cert.pem"))
        os.chmod(d / "key.pem", 0o644)
        (d / "users").write_text("".join(f"{u}:{{PLAIN}}{p}::::::\n" for u, p in USERS.items()))
        (d / "tokens").write_text(
            "".join(f"{u}:{{PLAIN}}{t}::::::\n" for u, t in self.tokens.items())
        )
        mail = d / "mail"
        mail.mkdir()
        (d / "dovecot.conf").write_text(self._config())
        if os.geteuid() == 0:
            nobody = pwd.getpwnam("nobody").pw_uid
            nogroup = grp.getgrnam("nogroup").gr_gid
            os.chown(mail, nobody, nogroup)

    def _config(self) -> str:
        d = self.workdir
        if os.geteuid() == 0:
            identity = "mail_uid = nobody\nmail_gid = nogroup\n"
            services = ""
        else:
            user = pwd.getpwuid(os.getuid()).pw_name
            group = grp.getgrgid(os.getgid()).gr_name
            identity = (
                f"default_internal_user = {user}\ndefault_login_user = {user}\n"
                f"default_internal_group = {group}\n"
            )
            services = "".join(
                f"service {s} {{\n  chroot =\n}}\n"
                for s in ("anvil", "imap-login", "imap-urlauth-login", "ipc", "stats")
            )
        token_auth = ""
        mechanisms = "plain login"
        if self.tokens:
            mechanisms += " xoauth2 oauthbearer"
            token_auth = (
                f"passdb {{\n  driver = passwd-file\n  mechanisms = xoauth2 oauthbearer\n"
                f"  args = scheme=PLAIN username_format=%n {d}/tokens\n}}\n"
            )
        return f"""\
base_dir = {d}/run
state_dir = {d}/state
log_path = {d}/dovecot.log
info_log_path = {d}/dovecot.log
listen = 127.0.0.1
protocols = imap
ssl = {"yes" if self.ssl else "no"}
ssl_cert = <{d}/cert.pem
ssl_key = <{d}/key.pem
{self.ssl_conf}
auth_mechanisms = {mechanisms}
disable_plaintext_auth = no
auth_failure_delay = 0
# One server serves the whole suite: pooled and test sessions of one user add up past the
# default of 10 per user and IP.
mail_max_userip_connections = 100
auth_verbose = yes
{identity}
passdb {{
  driver = passwd-file
  mechanisms = plain login
  args = scheme=PLAIN username_format=%n {d}/users
}}
{token_auth}
userdb {{
  driver = static
  args = home={d}/mail/%n
}}
mail_location = maildir:{d}/mail/%n:LAYOUT=fs:INBOX={d}/mail/%n/INBOX
namespace inbox {{
  inbox = yes
  separator = /
  mailbox Drafts {{
    special_use = \\Drafts
    auto = subscribe
  }}
  mailbox Junk {{
    special_use = \\Junk
    auto = subscribe
  }}
  mailbox Trash {{
    special_use = \\Trash
    auto = subscribe
  }}
  mailbox Sent {{
    special_use = \\Sent
    auto = subscribe
  }}
}}
service anvil {{
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
service imap-login {{
  inet_listener imap {{
    port = {self.starttls_port}
  }}
  inet_listener imaps {{
    port = {self.tls_port if self.ssl else 0}
    ssl = {"yes" if self.ssl else "no"}
  }}
}}
{services}
{self.extra_conf}
"""
