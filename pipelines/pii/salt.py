"""The salt of the PII audit hashes: one per lake, created once, kept outside the lake's tables.

Where it comes from, first found: the environment variable `pii.salt_env`; the file
`pii.salt_file` (a mounted secret on a cluster); for a local lake only, a file made once
under ~/.config/lakehouse/pii-salt/ named after the lake root (created atomically with
O_EXCL, mode 0600). A lake on s3a:// or hdfs:// must be given one of the first two: a salt
made on one driver's disk would be lost with it. Lakes of earlier versions kept it in
`<lake>/_ops/pii_salt`; that file is still read (move it out and set pii.salt_file).

Every lake records a check value of its salt (`<lake>/_ops/pii_salt.check`: HMAC of a fixed
string under the salt; it reveals nothing about audited values), created atomically with the
first audit. A run with another salt, or with none where audit rows exist, stops with a clear
error instead of hashing the same value two ways.
"""
from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path

CHECK = "_ops/pii_salt.check"
LEGACY = "_ops/pii_salt"


class SaltError(RuntimeError):
    """The salt is missing, or not the one the lake's audit hashes were made with."""


def _check_value(salt: bytes) -> str:
    return hmac.new(salt, b"lakehouse pii salt check", hashlib.sha256).hexdigest()[:32]


def default_file(lake_root: str) -> Path:
    return (Path.home() / ".config" / "lakehouse" / "pii-salt"
            / hashlib.sha256(lake_root.encode()).hexdigest()[:16])


def _read_or_create(path: Path, create: bool) -> bytes | None:
    if path.exists():
        return path.read_text().strip().encode()
    if not create:
        return None
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:   # another run made it first: use that one
        return path.read_text().strip().encode()
    with os.fdopen(fd, "w") as fh:
        fh.write(secrets.token_hex(32))
    return path.read_text().strip().encode()


def audit_salt(lake, cfg: dict) -> tuple[bytes, str]:
    """(salt, where it came from), checked against the lake's recorded check value."""
    p = cfg["pii"]
    local = lake.root.startswith("file:")
    has_audit = lake.read_text(CHECK) is not None
    if os.environ.get(p["salt_env"]):
        salt, source = os.environ[p["salt_env"]].encode(), f"${p['salt_env']}"
    elif p["salt_file"]:
        path = Path(p["salt_file"]).expanduser()
        salt, source = _read_or_create(path, create=not has_audit), str(path)
    elif lake.read_text(LEGACY):
        salt, source = lake.read_text(LEGACY).strip().encode(), f"{lake.root}/{LEGACY} (move it out of the lake)"
    elif local:
        path = default_file(lake.root)
        salt, source = _read_or_create(path, create=not has_audit), str(path)
    else:
        raise SaltError(f"the PII audit salt of a lake on {lake.root.split(':')[0]}:// must be given: set "
                        f"${p['salt_env']} or pii.salt_file (a secret every driver can read)")
    if salt is None:
        raise SaltError(f"the lake's PII audit hashes were made with a salt that is not at {source}: restore it "
                        f"(or set ${p['salt_env']}); a new salt would hash the same values differently")
    if not lake.create_text(CHECK, _check_value(salt)) and lake.read_text(CHECK).strip() != _check_value(salt):
        raise SaltError(f"the salt from {source} is not the one this lake's PII audit hashes were made with "
                        f"({lake.root}/{CHECK}): use that salt, or a new lake")
    return salt, source
