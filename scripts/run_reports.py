"""Run every report notebook through papermill with configs/reports/<profile>.yaml.

Executed notebooks go to outputs/notebooks/; the notebooks write reports/<name>.md, figures and JSON.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--profile", default="cpu")
    ap.add_argument("--only", nargs="*", help="notebook names to run (default: all in the profile)")
    ap.add_argument("--skip", nargs="*", default=[], help="notebook names not to run")
    args = ap.parse_args()
    cfg_path = ROOT / "configs" / "reports" / f"{args.profile}.yaml"
    if not cfg_path.exists():
        print(f"run_reports: no profile {args.profile!r} ({cfg_path} missing)", file=sys.stderr)
        return 2
    cfg = yaml.safe_load(cfg_path.read_text())
    import papermill as pm

    out_dir = ROOT / "outputs" / "notebooks"
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, params in cfg["notebooks"].items():
        if (args.only and name not in args.only) or name in args.skip:
            continue
        params = dict(params or {})
        params.setdefault("command", f"make reports PROFILE={args.profile}")
        t0 = time.time()
        print(f"[reports] {name} (profile {args.profile}) ...", flush=True)
        pm.execute_notebook(str(ROOT / "notebooks" / f"{name}.ipynb"), str(out_dir / f"{name}.{args.profile}.ipynb"),
                            parameters=params, cwd=str(ROOT), progress_bar=False, kernel_name="python3")
        print(f"[reports] {name} done in {time.time() - t0:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
