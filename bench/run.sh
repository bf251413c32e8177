#!/usr/bin/env bash
# Healthcheck throughput and latency of the host, against nginx serving a static
# body in the same run (same load tool, same machine). Loopback only, bounded.
#   bash bench/run.sh            # 3 rounds of 10 s per target, 50 connections
#   ROUNDS=1 DURATION=5 bash bench/run.sh
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-10}
CONNECTIONS=${CONNECTIONS:-50}
THREADS=${THREADS:-2}

need() { command -v "$1" >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq "$2" >/dev/null; }; }
need wrk wrk
need nginx nginx-light
need curl curl

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 1 300); do (echo >/dev/tcp/127.0.0.1/$1) 2>/dev/null && return 0; sleep 0.1; done; echo "port $1 never opened" >&2; return 1; }

work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

# The host, with a SQLite store in the scratch directory and its log discarded.
host_port=$(free_port)
printf '[key_value_store.default]\ntype = "spin"\npath = "%s/kv.db"\n' "$work" > "$work/rc.toml"
target/release/deces-edge up --manifest spin.toml --listen "127.0.0.1:$host_port" \
  --runtime-config-file "$work/rc.toml" > /dev/null 2>&1 &
pids+=($!)

# nginx: two workers (as many as cores), one static JSON body.
nginx_port=$(free_port)
mkdir -p "$work/nginx"
cat > "$work/nginx/nginx.conf" <<CONF
worker_processes 2;
pid $work/nginx/nginx.pid;
error_log /dev/null;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $work/nginx;
  proxy_temp_path $work/nginx;
  fastcgi_temp_path $work/nginx;
  uwsgi_temp_path $work/nginx;
  scgi_temp_path $work/nginx;
  server {
    listen 127.0.0.1:$nginx_port;
    location / { default_type application/json; return 200 '{"msg":"OK"}'; }
  }
}
CONF
nginx -c "$work/nginx/nginx.conf" -g 'daemon off;' &
pids+=($!)
wait_port "$host_port"
wait_port "$nginx_port"

path=/deces/api/v1/healthcheck
curl -fsS "http://127.0.0.1:$host_port$path" | grep -q '"OK"'

# Prints "req_per_s p50_ms p99_ms" for one wrk run.
measure() {
  wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" --latency "$1" | awk '
    function ms(v) { if (v ~ /us$/) return v/1000; if (v ~ /ms$/) return v+0; if (v ~ /s$/) return v*1000; return v }
    /^ +50%/ { p50 = ms($2) } /^ +99%/ { p99 = ms($2) } /^Requests\/sec/ { rps = $2 }
    END { printf "%.0f %.3f %.3f\n", rps, p50, p99 }'
}
median() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }

declare -A rps p50 p99
for target in host nginx; do
  url="http://127.0.0.1:$host_port$path"
  [ "$target" = nginx ] && url="http://127.0.0.1:$nginx_port$path"
  wrk -t1 -c10 -d2s "$url" > /dev/null   # warm-up
  : > "$work/$target.runs"
  for _ in $(seq 1 "$ROUNDS"); do measure "$url" >> "$work/$target.runs"; done
  rps[$target]=$(cut -d' ' -f1 "$work/$target.runs" | median)
  p50[$target]=$(cut -d' ' -f2 "$work/$target.runs" | median)
  p99[$target]=$(cut -d' ' -f3 "$work/$target.runs" | median)
done

echo "GET $path, wrk -t$THREADS -c$CONNECTIONS, median of $ROUNDS x ${DURATION}s, $(nproc) cores"
printf '%-28s %10s %9s %9s %9s\n' target 'req/s' 'p50 ms' 'p99 ms' 'vs nginx'
for target in host nginx; do
  name=$target
  [ "$target" = host ] && name="deces-edge (search.wasm)"
  [ "$target" = nginx ] && name="nginx static body"
  ratio=$(awk -v a="${rps[$target]}" -v b="${rps[nginx]}" 'BEGIN { printf "%.2f", a / b }')
  printf '%-28s %10s %9s %9s %9s\n' "$name" "${rps[$target]}" "${p50[$target]}" "${p99[$target]}" "$ratio"
done
