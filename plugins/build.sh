#!/usr/bin/env bash
# Installs what is missing and builds every WebAssembly guest under plugins/ from source into
# plugins/build/. CI runs it before `go test ./...`; the tests that need the .wasm files run it
# too (through internal/pluginbuild), so a plain `go test ./...` works on a fresh checkout.
#
#   wabt (wat2wasm)          apt-get install -y wabt         hand-written WAT guests
#   assemblyscript, as-pdk   npm ci (package-lock.json)      AssemblyScript guests
#   Go wasip1                the Go toolchain                 Go guests (extism/go-pdk)
#
# It finds the guests by the layout of plugins/README.md: the guest of plugins/P is
# plugins/P/wasm/ → build/NAME.wasm, NAME being P without a leading packs/ and with / as -
# (plugins/judge → judge, plugins/packs/email/reward → email-reward); a plugin with several
# guests puts each in plugins/P/wasm/GUEST/ → build/GUEST.wasm. A guest is Go (package main),
# WAT (main.wat; any other X.wat beside it → build/X.wasm) or AssemblyScript (package.json).
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
die() { log "$*"; exit 1; }

# stale TARGET SOURCES... succeeds when TARGET is missing or older than any source (node_modules
# aside).
stale() {
  local t="$1"; shift
  [[ -e "$t" ]] || return 0
  [[ -n "$(find "$@" -name node_modules -prune -o -newer "$t" -print -quit 2>/dev/null)" ]]
}

# Modules that are also committed, so that a plain `go build` embeds them: built reproducibly
# (-trimpath, stripped) and copied over the committed file when they differ (CI then fails on
# the diff: .ci/run).
declare -A committed=([interpreter-starlark]="$root/runtime/sandbox/embedded/starlark.wasm")

# ---- find the guests ----
dirs=() names=() plugins=()
declare -A seen=()
claim() { # claim NAME SOURCE: one source per build/NAME.wasm
  [[ -z "${seen[$1]:-}" ]] || die "two sources build to build/$1.wasm: ${seen[$1]} and $2"
  seen[$1]="$2"
}
add() { # add DIR NAME PLUGIN_DIR
  claim "$2" "$1"
  dirs+=("$1") names+=("$2") plugins+=("$3")
}
is_guest() { compgen -G "$1/*.go" >/dev/null || compgen -G "$1/*.wat" >/dev/null || [[ -f "$1/package.json" ]]; }
while IFS= read -r wasm; do
  plugin="$(dirname "$wasm")"
  rel="${plugin#"$here"/}"
  if is_guest "$wasm"; then
    name="${rel#packs/}"
    add "$wasm" "${name//\//-}" "$plugin"
  fi
  for sub in "$wasm"/*/; do
    sub="${sub%/}"
    [[ -d "$sub" && "$(basename "$sub")" != node_modules ]] && is_guest "$sub" && add "$sub" "$(basename "$sub")" "$plugin"
  done
done < <(find "$here" \( -path "$out" -o -name node_modules \) -prune -o -type d -name wasm -print | sort)
[[ ${#dirs[@]} -gt 0 ]] || die "no guests found under $here/*/wasm"

# wabt installs itself on first use.
need_wabt() {
  command -v wat2wasm >/dev/null && return
  log "installing wabt"
  local sudo_cmd=""
  [[ $(id -u) -ne 0 ]] && sudo_cmd="sudo"
  $sudo_cmd apt-get install -y -o DPkg::Lock::Timeout=300 wabt >&2 ||
    { $sudo_cmd apt-get update >&2 && $sudo_cmd apt-get install -y -o DPkg::Lock::Timeout=300 wabt >&2; }
}

for i in "${!dirs[@]}"; do
  dir="${dirs[$i]}" name="${names[$i]}" plugin="${plugins[$i]}"
  target="$out/$name.wasm"
  pkg="./${dir#"$root"/}"
  if compgen -G "$dir/*.go" >/dev/null; then
    # Go (wasip1, c-shared: a reactor module whose exports the host calls). Its sources: its
    # plugin's directory and what every guest may import (sdk, internal/).
    if stale "$target" "$plugin" "$root/sdk" "$root/internal" "$root/go.mod" "$root/go.sum"; then
      log "go build $pkg → build/$name.wasm"
      flags=(-buildmode=c-shared)
      [[ -n "${committed[$name]:-}" ]] && flags+=(-trimpath "-ldflags=-s -w")
      (cd "$root" && GOOS=wasip1 GOARCH=wasm go build "${flags[@]}" -o "$target" "$pkg")
    fi
  elif [[ -f "$dir/package.json" ]]; then
    # AssemblyScript: its package.json's build script, told where to write.
    if [[ ! -x "$dir/node_modules/.bin/asc" || "$dir/package-lock.json" -nt "$dir/node_modules/.package-lock.json" ]]; then
      log "npm ci in $pkg"
      (cd "$dir" && npm ci --no-audit --no-fund >&2)
    fi
    if stale "$target" "$dir"; then
      log "npm run build in $pkg → build/$name.wasm"
      (cd "$dir" && npm run --silent build -- --outFile "$target" >&2)
    fi
  else
    # WAT: main.wat is the guest; every other X.wat beside it is one more module, build/X.wasm.
    [[ -f "$dir/main.wat" ]] || die "$pkg: a WAT guest needs main.wat"
    need_wabt
    for src in "$dir"/*.wat; do
      t="$target"
      if [[ "$(basename "$src")" != main.wat ]]; then
        t="$out/$(basename "$src" .wat).wasm"
        claim "$(basename "$src" .wat)" "$src"
      fi
      if stale "$t" "$src"; then
        log "wat2wasm ${src#"$root"/} → build/$(basename "$t")"
        wat2wasm "$src" -o "$t"
      fi
    done
  fi
  if [[ -n "${committed[$name]:-}" ]] && ! cmp -s "$target" "${committed[$name]}"; then
    log "copy build/$name.wasm over ${committed[$name]#"$root"/}"
    cp "$target" "${committed[$name]}.tmp" && mv "${committed[$name]}.tmp" "${committed[$name]}"
  fi
done
log "ok: $(cd "$out" && ls *.wasm | tr '\n' ' ')"
