"""Demo accounts for `make serve`: created once with random passwords, kept in a private file in the
data dir, and printed at every start so whoever runs the demo can sign in."""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

from hotline.accounts import Accounts

DEMO_USERS = (("demo-admin", "admin", None), ("demo-staff", "staff", None), ("demo-operator", "operator", None),
              ("demo-meituan", "enterprise", "美团"))


def ensure_demo_users(accounts: Accounts, path: Path, url: str) -> str:
    known = json.loads(path.read_text()) if path.exists() else {}
    existing = {u["name"] for u in accounts.users()}
    for name, role, platform in DEMO_USERS:
        if name in existing:
            continue
        password = secrets.token_urlsafe(9)
        accounts.add_user(name, role, password, platform)
        known[name] = {"role": role, "platform": platform, "password": password}
    if known:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(known, ensure_ascii=False, indent=2))
        os.chmod(path, 0o600)
    lines = [f"demo sign-in at {url}/login (passwords kept in {path}):"]
    for name, info in known.items():
        extra = f", {info['platform']}" if info.get("platform") else ""
        lines.append(f"  {name:<14} {info['password']:<14} ({info['role']}{extra})")
    lines.append(f"  pages: {url}/console  {url}/ask  {url}/staff  {url}/dashboard   API docs: {url}/docs")
    return "\n".join(lines)
