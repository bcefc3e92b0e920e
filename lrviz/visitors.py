"""Who is asking, on an instance a whole class shares: visitors, their tokens, the host's admin
token, and what each may change.

A visitor is a random id the page keeps in a cookie (a reload or a second tab is the same
visitor; another browser is another). The cookie holds the id signed with this instance's
secret, so a token someone makes up, or edits to another visitor's id, is not accepted: the
page treats it as a newcomer's. No accounts. Everyone may look at every run; a visitor changes
(stops, renames, deletes) only their own. Runs with no visitor were made by the command line,
or before visitors were kept: the host's. The host manages every run: at the command line
(Visitor() with no id), or on the page with $LRVIZ_ADMIN_TOKEN.
"""
from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from .params import ConfigError
from .store import default_home

COOKIE = "lrviz_visitor"
ADMIN_ENV = "LRVIZ_ADMIN_TOKEN"
_ID_CHARS = 22  # secrets.token_urlsafe(16)


class NotYours(ConfigError):
    """A change to a run or an experiment another visitor started."""

    def __init__(self, what: str, ident):
        super().__init__(what, ident, "it belongs to another visitor: you can look at it, not change it")


@dataclass(frozen=True)
class Visitor:
    id: str | None = None  # None: the host at the command line
    admin: bool = False
    exercise: str | None = None  # the exercise link they came by (lrviz.exercises)

    def manages(self, row: dict | None) -> bool:
        """Whether this visitor may change the run or group (a store row)."""
        return row is not None and (self.admin or self.id is None or row.get("visitor") == self.id)

    def owns(self, row: dict) -> bool:
        """Whether the run or group is this visitor's own (what 'my runs' lists)."""
        return row.get("visitor") == self.id

    def check(self, row: dict | None, what: str, ident) -> None:
        if row is not None and not self.manages(row):
            raise NotYours(what, ident)

    # Every change the page makes goes through these: the check sits beside the change, on the
    # server, whatever a request names.
    def stop(self, engine, run_id: int) -> None:
        self.check(engine.store.run(run_id), "run", run_id)
        engine.stop(run_id)

    def delete(self, engine, run_id: int) -> None:
        self.check(engine.store.run(run_id), "run", run_id)
        engine.delete(run_id)

    def rename(self, store, run_id: int, name: str) -> None:
        self.check(store.run(run_id), "run", run_id)
        store.rename(run_id, name)


HOST = Visitor()


def aliases(rows: list[dict], me: Visitor) -> dict:
    """How the page names whoever made each row (runs or groups, oldest first): "you", "host"
    for the command line, and everyone else "visitor 1", "visitor 2", … in the order of their
    first run; never their id."""
    names, others = {me.id: "you", None: "host"}, 0
    for row in rows:
        if row.get("visitor") not in names:
            others += 1
            names[row["visitor"]] = f"visitor {others}"
    return names


def issue(home: str | Path | None = None) -> tuple[str, str]:
    """(a new visitor's id, the token their cookie keeps)."""
    ident = secrets.token_urlsafe(16)
    return ident, token(ident, home)


def token(ident: str, home: str | Path | None = None) -> str:
    """The token that names this visitor on this instance."""
    return f"{ident}.{_sign(ident, home)}"


def verify(token: str | None, home: str | Path | None = None) -> str | None:
    """The visitor a token names, or None for anything this instance did not issue."""
    if not isinstance(token, str) or token.count(".") != 1:
        return None
    ident, signature = token.split(".")
    if len(ident) != _ID_CHARS or not hmac.compare_digest(signature, _sign(ident, home)):
        return None
    return ident


def is_admin_token(given: str | None) -> bool:
    """Whether the text is $LRVIZ_ADMIN_TOKEN (never, when the host set none)."""
    wanted = os.environ.get(ADMIN_ENV) or ""
    return bool(wanted) and isinstance(given, str) and hmac.compare_digest(given.encode(), wanted.encode())


def admin_offered() -> bool:
    return bool(os.environ.get(ADMIN_ENV))


def _sign(ident: str, home) -> str:
    return hmac.new(_secret(home), ident.encode(), hashlib.sha256).hexdigest()[:32]


_SECRETS: dict[Path, bytes] = {}


def _secret(home) -> bytes:
    """This instance's signing key: a file in the run folder, made once, readable by its owner
    only; kept, so that cookies outlive a restart."""
    path = Path(home or default_home()) / "secret"
    if path not in _SECRETS:
        path.parent.mkdir(parents=True, exist_ok=True)
        part = path.with_name(f".secret.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(secrets.token_bytes(32))
        try:
            os.link(part, path)  # whole or not at all; the first process to get there wins
        except FileExistsError:
            pass
        finally:
            part.unlink()
        key = path.read_bytes()
        if len(key) != 32:
            raise ConfigError("LRVIZ_HOME", str(path), "its secret file is damaged: delete it (visitors then "
                                                      "start anew)")
        _SECRETS[path] = key
    return _SECRETS[path]
