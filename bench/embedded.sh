#!/usr/bin/env bash
# The embedded search backend: import speed, database size, search latency and throughput,
# host memory, at several sizes of a synthetic register. Loopback only, bounded.
#   bash bench/embedded.sh                        # 100,000 and 1,000,000 records
#   SIZES="100000 1000000 3000000" DURATION=10 RECALL=1000 bash bench/embedded.sh
set -euo pipefail
cd "$(dirname "$0")/.."
SIZES=${SIZES:-"100000 1000000"}
DURATION=${DURATION:-10}
RECALL=${RECALL:-1000}

need() { command -v "$1" >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq "$2" >/dev/null; }; }
need wrk wrk
need curl curl
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 1 300); do (echo >/dev/tcp/127.0.0.1/$1) 2>/dev/null && return 0; sleep 0.1; done; echo "port $1 never opened" >&2; return 1; }

work=$(mktemp -d)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
bin=target/release/deces-edge

# Rate limits and the quota off: the load would be refused otherwise.
for f in SEARCH AGG ACCOUNTS OTHER BULK; do for w in PER_CLIENT GLOBAL; do
  export "SPIN_VARIABLE_${f}_RATE_${w}=0" "SPIN_VARIABLE_${f}_BURST_${w}=0"; done; done
export SPIN_VARIABLE_ANONYMOUS_QUOTA_MAX=0

# wrk's latency percentiles (ms) and requests/s for one URL.
measure() { # measure CONNECTIONS URL -> "p50 p99 rps"
  wrk -t1 -c"$1" -d"${DURATION}s" --latency "$2" | python3 -c '
import re, sys
text = sys.stdin.read()
def ms(label):
    m = re.search(r"^\s*" + label + r"%\s+([\d.]+)(us|ms|s)", text, re.M)
    v, unit = float(m.group(1)), m.group(2)
    return v / 1000 if unit == "us" else v * 1000 if unit == "s" else v
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
bad = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
p50, p99 = ms("50"), ms("99")
print("%.2f %.2f %.0f %s" % (p50, p99, rps, bad.group(1) if bad else 0))'
}

printf '| records | import records/s | database MB | MB per million | query | p50 ms (1 conn) | p99 ms (1 conn) | req/s (20 conn) | non-2xx | host RSS MB |\n'
printf '|---|---|---|---|---|---|---|---|---|---|\n'
for n in $SIZES; do
  dir="$work/$n"; mkdir -p "$dir"
  printf '[key_value_store.default]\ntype = "spin"\npath = "kv.db"\n\n[sqlite_database.default]\ntype = "spin"\npath = "search.db"\n' > "$dir/rc.toml"
  "$bin" sample --records "$n" --seed 11 --out "$dir/deces-bench.txt"
  start=$(date +%s.%N)
  "$bin" import --manifest spin.toml --runtime-config-file "$dir/rc.toml" "$dir/deces-bench.txt" 2> "$dir/import.log"
  end=$(date +%s.%N)
  rate=$(python3 -c "print(round($n / ($end - $start)))")
  bytes=$(du -cb "$dir"/search.db* | tail -1 | cut -f1)
  mb=$(python3 -c "print(round($bytes / 1e6))"); per=$(python3 -c "print(round($bytes / 1e6 / ($n / 1e6)))")
  # Queries from the imported records themselves: a common name, a person, two typos.
  read -r last first birth < <(python3 - "$dir/deces-bench.txt" <<'PY'
import sys
line = open(sys.argv[1], encoding="latin-1").readlines()[4242 % 1000]
nom, prenoms = line[:80].strip().rstrip("/").split("*")
b = line[81:89]
print(nom.split()[0], prenoms.split()[0], f"{b[6:8]}/{b[4:6]}/{b[0:4]}")
PY
)
  typo=$(python3 -c "import sys; s=sys.argv[1]; print(s[0] + s[2] + s[1] + s[3:-1] + ('A' if s[-1] != 'A' else 'E'))" "$last")
  port=$(free_port)
  "$bin" up --manifest spin.toml --runtime-config-file "$dir/rc.toml" --listen "127.0.0.1:$port" > /dev/null 2>&1 &
  pid=$!
  wait_port "$port"
  base="http://127.0.0.1:$port/deces/api/v1/search"
  curl -sf "$base?lastName=$last" > /dev/null
  for q in "name-only lastName=$last" "first+last+birth firstName=$first&lastName=$last&birthDate=$birth" "two-typo lastName=$typo&firstName=$first"; do
    label=${q%% *}; query=${q#* }
    for _ in 1 2 3 4 5; do curl -sf "$base?$query" > /dev/null; done   # warm the page cache
    read -r p50 p99 _ bad1 < <(measure 1 "$base?$query")
    read -r _ _ rps bad20 < <(measure 20 "$base?$query")
    rss=$(awk '/VmRSS/ {print int($2/1024)}' "/proc/$pid/status")
    printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' "$n" "$rate" "$mb" "$per" "$label" "$p50" "$p99" "$rps" "$((bad1 + bad20))" "$rss"
  done
  kill "$pid"; wait "$pid" 2>/dev/null || true; pid=
  echo; echo "search quality at $n records:"
  cargo run --quiet --release -p edge-core --example recall -- "$dir/search.db" "$RECALL" 1
  echo
  rm -f "$dir/deces-bench.txt"
done
