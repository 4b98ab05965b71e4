"""Compare the running environment with a lock file: every pin installed at its version, nothing else.

    .venv/bin/python scripts/check_env.py requirements/cpu.lock     (run by `make setup`; exit 1 on a difference)
"""
from __future__ import annotations

import re
import sys
from importlib import metadata
from pathlib import Path

ALLOWED_EXTRA = {"lab", "pip"}   # the project itself (editable) and the installer


def norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def read_lock(path: Path) -> dict[str, str]:
    pins = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line and not line.startswith("-"):
            name, _, version = line.partition("==")
            pins[norm(name)] = version.strip()
    return pins


def differences(pins: dict[str, str]) -> list[str]:
    installed = {norm(d.metadata["Name"]): d.version for d in metadata.distributions()}
    out = [f"{n}: lock {v}, installed {installed.get(n, 'nothing')}" for n, v in sorted(pins.items())
           if installed.get(n) != v]
    out += [f"{n}: installed {v}, not in the lock" for n, v in sorted(installed.items())
            if n not in pins and n not in ALLOWED_EXTRA]
    return out


def main() -> int:
    lock = Path(sys.argv[1] if len(sys.argv) > 1 else "requirements/cpu.lock")
    pins = read_lock(lock)
    diff = differences(pins)
    if diff:
        print(f"[setup] error: the environment differs from {lock} in {len(diff)} package(s):", file=sys.stderr)
        for d in diff[:20]:
            print(f"[setup]   {d}", file=sys.stderr)
        print("[setup] rebuild it: rm -rf .venv && make setup", file=sys.stderr)
        return 1
    print(f"[setup] environment matches {lock}: {len(pins)} packages at their locked versions")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
