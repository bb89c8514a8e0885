#!/usr/bin/env bash
# Installs what is missing and builds every WebAssembly plugin under plugins/ from source into
# plugins/build/. CI runs it before `go test ./...`; the tests that need the .wasm files run it
# too (through internal/pluginbuild), so a plain `go test ./...` works on a fresh checkout.
#
#   wabt (wat2wasm)          apt-get install -y wabt         hand-written WAT plugins
#   assemblyscript, as-pdk   npm ci (package-lock.json)      AssemblyScript plugin
#   Go wasip1                the Go toolchain                 Go plugins (extism/go-pdk)
#
# Incremental: a target is rebuilt only when a source is newer. Concurrent runs (go test runs
# packages in parallel) are serialised with flock.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
out="$here/build"
mkdir -p "$out"
exec 9>"$out/.lock"
flock 9

log() { echo "plugins/build.sh: $*" >&2; }

# stale TARGET SOURCES... succeeds when TARGET is missing or older than any source.
stale() {
  local t="$1"; shift
  [[ -e "$t" ]] || return 0
  [[ -n "$(find "$@" -newer "$t" -print -quit 2>/dev/null)" ]]
}

# ---- tools ----
if ! command -v wat2wasm >/dev/null; then
  log "installing wabt"
  sudo_cmd=""
  [[ $(id -u) -ne 0 ]] && sudo_cmd="sudo"
  $sudo_cmd apt-get install -y -o DPkg::Lock::Timeout=300 wabt >&2 ||
    { $sudo_cmd apt-get update >&2 && $sudo_cmd apt-get install -y -o DPkg::Lock::Timeout=300 wabt >&2; }
fi
as_dir="$here/wasm/exactmatch-as"
if [[ ! -x "$as_dir/node_modules/.bin/asc" || "$as_dir/package-lock.json" -nt "$as_dir/node_modules/.package-lock.json" ]]; then
  log "npm ci in $as_dir"
  (cd "$as_dir" && npm ci --no-audit --no-fund >&2)
fi

# ---- WAT ----
for src in "$here"/wasm/exactmatch-wat/*.wat "$here"/wasm/hostile-wat/*.wat; do
  name="$(basename "$src" .wat)"
  case "$name" in
    exactmatch) target="$out/exactmatch-wat.wasm" ;;
    hostile) target="$out/hostile-wat.wasm" ;;
    *) target="$out/$name.wasm" ;;
  esac
  if stale "$target" "$src"; then
    log "wat2wasm $src"
    wat2wasm "$src" -o "$target"
  fi
done

# ---- AssemblyScript ----
if stale "$out/exactmatch-as.wasm" "$as_dir/assembly" "$as_dir/package.json" "$as_dir/package-lock.json"; then
  log "asc exactmatch-as"
  (cd "$as_dir" && npm run --silent build >&2)
fi

# ---- Go (wasip1, c-shared: a reactor module whose exports the host calls) ----
for pkg in exactmatch-go hostile-go judge-go emailreward-go; do
  target="$out/$pkg.wasm"
  if stale "$target" "$here/wasm/$pkg" "$here/rewards" "$here/judge" "$here/packs/email/reward" "$root/sdk" "$root/go.mod"; then
    log "go build $pkg"
    (cd "$root" && GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o "$target" "./plugins/wasm/$pkg")
  fi
done
# ---- Go guests of the layout convention (plugins/README.md): plugins/NAME/wasm → build/NAME.wasm ----
for dir in "$here"/*/wasm; do
  [[ -d "$dir" ]] && compgen -G "$dir/*.go" >/dev/null || continue
  name="$(basename "$(dirname "$dir")")"
  target="$out/$name.wasm"
  if stale "$target" "$here/$name" "$root/sdk" "$root/go.mod"; then
    log "go build $name"
    (cd "$root" && GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o "$target" "./plugins/$name/wasm")
  fi
done
# ---- tool packs (plugins/packs/NAME/wasm → build/NAME.wasm; the tests assemble and pack them) ----
for dir in "$here"/packs/*/wasm; do
  [[ -d "$dir" ]] || continue
  name="$(basename "$(dirname "$dir")")"
  target="$out/$name.wasm"
  if stale "$target" "$here/packs/$name" "$root/sdk" "$root/go.mod"; then
    log "go build pack $name"
    (cd "$root" && GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o "$target" "./plugins/packs/$name/wasm")
  fi
done
# ---- CodeAct interpreter (Starlark, wasip1) → build/interpreter-starlark.wasm, copied into
# runtime/sandbox/embedded/ (gitignored) so that the next `go build` embeds it in the binary ----
target="$out/interpreter-starlark.wasm"
if stale "$target" "$here/interpreter/starlark" "$root/sdk" "$root/internal/pyfloat" "$root/go.mod" "$root/go.sum"; then
  log "go build interpreter-starlark"
  (cd "$root" && GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -trimpath -ldflags="-s -w" -o "$target" ./plugins/interpreter/starlark)
fi
embedded="$root/runtime/sandbox/embedded/starlark.wasm"
if [[ -d "$(dirname "$embedded")" ]] && ! cmp -s "$target" "$embedded"; then
  cp "$target" "$embedded.tmp" && mv "$embedded.tmp" "$embedded"
fi
log "ok: $(cd "$out" && ls *.wasm | tr '\n' ' ')"
