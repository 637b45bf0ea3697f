"""The service's settings: what the operator chose on the command line, frozen.

uvicorn starts each worker process anew (``--workers N``): the settings travel to them as
JSON in an environment variable.
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass

CONFIG_ENV = "CONNECTOR_SERVE_CONFIG"


@dataclass(frozen=True)
class Settings:
    connectors: tuple[str, ...] | None = None  # names; None: every installed connector
    token_file: str | None = None
    no_auth: bool = False
    threads: int = 32  # steps running at once (a hard cap: held by the step's thread)
    per_account: int = 3  # pooled sessions per account
    idle_seconds: float = 60.0
    step_timeout: float = 300.0
    max_body: int = 64 * 1024 * 1024

    def to_env(self) -> str:
        return json.dumps(dataclasses.asdict(self))

    @classmethod
    def from_env(cls) -> Settings:
        values = json.loads(os.environ.get(CONFIG_ENV, "{}"))
        if values.get("connectors") is not None:
            values["connectors"] = tuple(values["connectors"])
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in known})
