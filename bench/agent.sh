#!/usr/bin/env bash
# Benchmark: the agent's memory and CPU over DURATION s at an INTERVAL s, beside
# prometheus-node-exporter (scraped every INTERVAL s) and zabbix_agentd (30 passive checks every
# INTERVAL s), all three on this machine at the same time. See bench/agent.py.
#
# Usage: bench/agent.sh        Optional environment: DURATION (600), INTERVAL (10).
# Prints markdown; writes bench/out/agent.md and appends bench/out/agent.jsonl.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
if ! command -v prometheus-node-exporter > /dev/null || ! command -v zabbix_agentd > /dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  [ -e /usr/sbin/policy-rc.d ] || { printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d; }
  apt-get install -y -qq --no-install-recommends prometheus-node-exporter zabbix-agent > /dev/null
fi
# The full binary (release) and the agent-only build (profile `agent`, no `server` feature).
cargo build --release -q -p pupitre --bin pupitre
cargo build --profile agent -q -p pupitre --bin pupitre --no-default-features
python3 bench/agent.py --bin "$ROOT/target/release/pupitre" \
  --agent-bin "$ROOT/target/agent/pupitre" \
  --duration "${DURATION:-600}" --interval "${INTERVAL:-10}" --out bench/out/agent.md
