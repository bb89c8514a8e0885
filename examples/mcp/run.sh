#!/usr/bin/env bash
# Train the CodeAct athlete on the email tools served by an MCP server
# (examples/mcp/server), one short GRPO run.
# Run from the repository root: bash examples/mcp/run.sh [--steps N]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
mkdir -p runs/mcp
go build -o runs/mcp/toolbrain ./cmd/toolbrain
tb=runs/mcp/toolbrain
"$tb" data email --seed 1 --out runs/mcp/corpus >/dev/null   # inboxes and train/test questions
"$tb" mcp list mail --config "$here/toolbrain.toml"           # the server's tools, as the athlete sees them
"$tb" train --config "$here/toolbrain.toml" "$@"
