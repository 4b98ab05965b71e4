#!/usr/bin/env bash
# `make setup`: system packages (Debian apt), then .venv with exactly requirements/cpu.lock, then a check
# that .venv matches the lock. Prints what it installs; a package that cannot be installed is one clear
# error line, never a traceback.
set -uo pipefail
cd "$(dirname "$0")/.."

SYSTEM_PACKAGES=(chromium tesseract-ocr tesseract-ocr-eng zpaq 7zip bzip3 libjxl-tools gcc)   # headless Chromium for the browser tests (tests/browser.py); Tesseract for the optical report; zpaq, 7-Zip (PPMd), bzip3 and cjxl as baselines (lab.baselines); gcc for the C kernels (lab/native.py)
CORPUS_PACKAGES=(dict-gcide wordnet-base python3.11-doc)   # `make corpora`: English training text for the learned codecs (lab.corpora)
DOCUMENT_PACKAGES=(blends-doc debian-faq debian-history debian-reference-en debmake-doc developers-reference installation-guide-amd64 live-manual-pdf maint-guide)   # `make documents`: real PDFs for the optical family (lab.optical.pdfdocs)
LOCK=requirements/cpu.lock
PYTHON=${PYTHON:-python3}
VENV=.venv
LOG=$(mktemp -t lab-setup.XXXXXX)

say() { printf '[setup] %s\n' "$*"; }
die() { printf '[setup] error: %s\n' "$*" >&2; exit 1; }

"$PYTHON" -c 'import sys; sys.exit(sys.version_info[:2] < (3, 11))' 2>/dev/null \
  || die "Python >= 3.11 is needed; $PYTHON is $("$PYTHON" -V 2>&1 || echo missing) (set PYTHON=...)"

if [ "${1:-}" = "--corpora" ]; then SYSTEM_PACKAGES=("${CORPUS_PACKAGES[@]}"); fi
APT_OPTS=()
if [ "${1:-}" = "--documents" ]; then SYSTEM_PACKAGES=("${DOCUMENT_PACKAGES[@]}"); APT_OPTS=(--no-install-recommends); fi
missing=()
for p in "${SYSTEM_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  command -v apt-get >/dev/null || die "system package(s) ${missing[*]} missing and there is no apt-get here: install them with your package manager"
  sudo=""
  if [ "$(id -u)" != 0 ]; then
    sudo -n true 2>/dev/null || die "system package(s) ${missing[*]} missing: run 'sudo apt-get install ${missing[*]}' (or make setup as root)"
    sudo="sudo -n"
  fi
  say "installing system packages: ${missing[*]} (apt-get)"
  $sudo apt-get update -qq >"$LOG" 2>&1 || die "apt-get update failed (log: $LOG)"
  for p in "${missing[@]}"; do
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${APT_OPTS[@]}" "$p" >>"$LOG" 2>&1 \
      || die "cannot install system package '$p' with apt-get (log: $LOG)"
  done
else
  say "system packages present: ${SYSTEM_PACKAGES[*]}"
fi
if [ "${1:-}" = "--corpora" ] || [ "${1:-}" = "--documents" ]; then rm -f "$LOG"; exit 0; fi

if [ ! -x "$VENV/bin/python" ]; then
  say "creating $VENV with $("$PYTHON" -V 2>&1)"
  "$PYTHON" -m venv "$VENV" || die "cannot create $VENV"
fi
say "installing $(grep -c '^[A-Za-z0-9].*==' "$LOCK") Python packages pinned in $LOCK"
pipq() { "$VENV/bin/python" -m pip install -q --disable-pip-version-check "$@" >>"$LOG" 2>&1; }
pipq -r "$LOCK" || { grep -E "^ERROR" "$LOG" | tail -3 >&2; die "pip could not install $LOCK (log: $LOG)"; }
say "installing the lab package (editable, no dependencies)"
pipq --no-deps --config-settings editable_mode=compat -e . || die "pip could not install the lab package (log: $LOG)"
say "compiling the C kernels (lab/entropy/cm.c, lab/procedural/search.c; without them the numba kernels give the same bytes)"
"$VENV/bin/python" -m lab.native
# the lab's bytecode, as pip writes it for an installed package: a `lab` process then starts without compiling
# its modules, also where PYTHONDONTWRITEBYTECODE is set (a stale file is ignored by Python, never wrong)
"$VENV/bin/python" -m compileall -q -j 0 lab scripts >/dev/null || die "could not compile the lab's Python files"
"$VENV/bin/python" scripts/check_env.py "$LOCK" || exit 1
rm -f "$LOG"
touch "$VENV/.installed"
