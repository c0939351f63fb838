#!/bin/sh
# Builds invoice-tweak-python.wasm from app.py with componentize-py (the one in
# .venv/ if there is one, else the one on the PATH; $ERP_SYNC_COMPONENTIZE_PY overrides).
#
# The WIT contract is read from wit/erp-sync-transform@1.0.0/ beside this file. Inside
# the erp-sync repository it is copied there from ../../wit on every build (so it is
# never stale and never committed); a copy of this template made elsewhere (e.g. by
# `erp-sync transform new`) carries its own wit/ folder.
set -eu
cd "$(dirname "$0")"
WORLD=invoice-tweak
OUTPUT=invoice-tweak-python.wasm
if [ -f ../../wit/erp-sync-transform@1.0.0/transform.wit ]; then
  mkdir -p wit && cp -r ../../wit/erp-sync-transform@1.0.0 wit/
fi
if [ ! -f wit/erp-sync-transform@1.0.0/transform.wit ]; then
  echo "wit/erp-sync-transform@1.0.0/transform.wit is missing: copy it from the erp-sync repository" >&2
  exit 1
fi
COMPONENTIZE_PY=componentize-py
[ -x .venv/bin/componentize-py ] && COMPONENTIZE_PY=.venv/bin/componentize-py
# The tests' build script names its own (a venv under its OUT_DIR).
COMPONENTIZE_PY="${ERP_SYNC_COMPONENTIZE_PY:-$COMPONENTIZE_PY}"
"$COMPONENTIZE_PY" -d wit/erp-sync-transform@1.0.0 -w "$WORLD" componentize app -o "$OUTPUT"
