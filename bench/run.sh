#!/usr/bin/env bash
# Throughput and latency of the host, against nginx in the same run (same load tool, same
# machine). Loopback only, bounded.
#  - healthcheck: GET /healthcheck on the host vs nginx answering the same static body;
#  - search: GET /search on the host, whose Elasticsearch is nginx answering a static
#    20-person search answer, vs that stub asked directly (its own time); and the same
#    search on a host whose index answers with no person (the fixed cost of a search).
#   bash bench/run.sh                       # 3 rounds of 10 s per target, 50 connections,
#                                           # round-robin over the targets
#   ROUNDS=1 DURATION=5 bash bench/run.sh
#   TARGETS="auth_sqlite auth1_sqlite" bash bench/run.sh   # a subset
#   BASELINE_BIN=/path/to/other/deces-edge TARGETS="search search_base" bash bench/run.sh
#                                           # the same search on another build of the host
#                                           # (an A/B in the same run)
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

# nginx, twice: the web server the healthcheck is compared with (two workers, as many as
# cores), and the Elasticsearch stub (one worker: at these rates one is enough, and on two
# cores shared with the load generator and the host a second worker only adds switches
# between processes). Both serve a static JSON body, and a static Elasticsearch search
# answer (the first 20 fixture records) for any POST to /deces/_search (and an answer with
# no record for /deces_empty/_search, and the goldens' own answer to
# `GET /search?lastName=Dupont` for /deces_golden/_search).
nginx_port=$(free_port)
stub_port=$(free_port)
mkdir -p "$work/static/deces" "$work/static/deces_empty" "$work/static/deces_golden"
python3 - "$work/static/deces/_search" "$work/static/deces_empty/_search" "$work/static/deces_golden/_search" <<'PY'
import json, sys
golden_url = "/deces/api/v1/search?lastName=Dupont"
# Shaped as Elasticsearch answers the search (as in the goldens): each hit holds the record
# fields the search asks for (its `_source` list) and its sort value.
fields = next(case["es_requests"][0]["body"]["_source"]
              for case in map(json.loads, open("tests/data/goldens/visible.jsonl"))
              if case["family"] == "search_get" and case["es_requests"])
records = json.load(open("tests/data/goldens/fixtures/records.json"))
hits = [{"_index": "deces", "_id": r["UID"], "_score": 10.0 - i / 10,
         "_source": {k: v for k, v in r.items() if k in fields}, "sort": [10.0 - i / 10]}
        for i, r in enumerate(records[:20])]
shards = {"total": 1, "successful": 1, "skipped": 0, "failed": 0}
answer = {"took": 3, "timed_out": False, "_shards": shards,
          "hits": {"total": {"value": len(records), "relation": "eq"}, "max_score": 10.0, "hits": hits}}
text = json.dumps(answer, ensure_ascii=False, separators=(",", ":"))
open(sys.argv[1], "w").write(text)
empty = {"took": 1, "timed_out": False, "_shards": shards,
         "hits": {"total": {"value": 0, "relation": "eq"}, "max_score": None, "hits": []}}
open(sys.argv[2], "w").write(json.dumps(empty, separators=(",", ":")))
golden = next(case["es_fixture"][0]["body"]
              for case in map(json.loads, open("tests/data/goldens/visible.jsonl"))
              if case["http"]["url"] == golden_url and case["es_fixture"])
open(sys.argv[3], "w").write(json.dumps(golden, ensure_ascii=False, separators=(",", ":")))
PY
chmod a+x "$work" && chmod -R a+rX "$work/static"   # nginx workers run unprivileged
nginx_conf() { # nginx_conf NAME PORT WORKERS: writes the config, starts nginx
mkdir -p "$work/$1"
cat > "$work/$1/nginx.conf" <<CONF
worker_processes $3;
pid $work/$1/nginx.pid;
error_log $work/$1/error.log;
events { worker_connections 1024; }
http {
  access_log off;
  keepalive_requests 1000000;
  # A fast stub: the answer files stay open and leave from the page cache, sent by the
  # kernel together with their headers.
  sendfile on;
  tcp_nopush on;
  open_file_cache max=16;
  open_file_cache_valid 1h;
  client_body_temp_path $work/$1;
  proxy_temp_path $work/$1;
  fastcgi_temp_path $work/$1;
  uwsgi_temp_path $work/$1;
  scgi_temp_path $work/$1;
  server {
    listen 127.0.0.1:$2;
    # A static file; POST is answered through the 405 -> GET internal redirect.
    location ~ ^/(deces|deces_empty|deces_golden)/_search\$ {
      root $work/static; default_type application/json;
      add_header x-elastic-product Elasticsearch always;
      error_page 405 =200 \$uri;
    }
    location / { default_type application/json; return 200 '{"msg":"OK"}'; }
  }
}
CONF
nginx -c "$work/$1/nginx.conf" -g 'daemon off;' &
pids+=($!)
}
nginx_conf nginx "$nginx_port" 2
nginx_conf stub "$stub_port" 1

# A private Redis (no persistence) for the second host.
need redis-server redis-server
redis_port=$(free_port)
redis-server --port "$redis_port" --bind 127.0.0.1 --save '' --appendonly no > /dev/null &
pids+=($!)
wait_port "$redis_port"

# Hosts (logs discarded) on a SQLite store in the scratch directory and on that Redis: with
# the rate limits and quota off (the load would be refused otherwise), and with them on but
# never reached (every request is counted, none refused) to measure what the check costs.
export SPIN_VARIABLE_ES_URL="http://127.0.0.1:$stub_port"
export SPIN_VARIABLE_SEARCH_BACKEND=elasticsearch
export SPIN_VARIABLE_TOKEN_SECRET="bench-secret-bench-secret-bench-secret"
printf '[key_value_store.default]\ntype = "spin"\npath = "%s/kv.db"\n' "$work" > "$work/rc.toml"
printf '[key_value_store.default]\ntype = "redis"\nurl = "redis://127.0.0.1:%s"\n' "$redis_port" > "$work/redis.toml"
declare -A host_pid
HOST_BIN=${HOST_BIN:-target/release/deces-edge}
serve() { # serve PORT RUNTIME_CONFIG on|off [ES_INDEX] [MATCHING_SCORE] [BINARY]
  local value=0 burst=0
  [ "$3" = on ] && value=1000000 && burst=1000000000
  ( for f in SEARCH AGG ACCOUNTS OTHER BULK; do for w in PER_CLIENT GLOBAL; do
      export "SPIN_VARIABLE_${f}_RATE_${w}=$value" "SPIN_VARIABLE_${f}_BURST_${w}=$burst"; done; done
    export SPIN_VARIABLE_ANONYMOUS_QUOTA_MAX=$burst
    [ -n "${4:-}" ] && export SPIN_VARIABLE_ES_INDEX="$4"
    [ -n "${5:-}" ] && export SPIN_VARIABLE_MATCHING_SCORE="$5"
    exec "${6:-$HOST_BIN}" up --manifest spin.toml --listen "127.0.0.1:$1" \
      --runtime-config-file "$2" > /dev/null 2>&1 ) &
  pids+=($!)
  host_pid[$1]=$!
}
host_port=$(free_port);         serve "$host_port" "$work/rc.toml" off
redis_host_port=$(free_port);   serve "$redis_host_port" "$work/redis.toml" off
limited_port=$(free_port);      serve "$limited_port" "$work/rc.toml" on
limited_redis_port=$(free_port); serve "$limited_redis_port" "$work/redis.toml" on
empty_port=$(free_port);        serve "$empty_port" "$work/rc.toml" off deces_empty
if [ -n "${BASELINE_BIN:-}" ]; then
  base_port=$(free_port);       serve "$base_port" "$work/rc.toml" off "" "" "$BASELINE_BIN"
fi
golden_port=$(free_port);       serve "$golden_port" "$work/rc.toml" off deces_golden
# The same 20-person search without the matching score: what scoring costs, in one run.
raw_port=$(free_port);          serve "$raw_port" "$work/rc.toml" off deces false
for p in "$host_port" "$redis_host_port" "$limited_port" "$limited_redis_port" "$empty_port" "$golden_port" "$raw_port" ${base_port:-}; do wait_port "$p"; done
wait_port "$nginx_port"
wait_port "$stub_port"

health=/deces/api/v1/healthcheck
search='/deces/api/v1/search?firstName=Jean&lastName=Dupont'
curl -fsS "http://127.0.0.1:$host_port$health" | grep -q '"OK"'
curl -sS "http://127.0.0.1:$host_port$search" | grep -q "\"persons\"" || { curl -sS "http://127.0.0.1:$host_port$search"; cat "$work/stub/error.log"; exit 1; }
curl -sS "http://127.0.0.1:$empty_port$search" | grep -q '"persons":\[\]' || { curl -sS "http://127.0.0.1:$empty_port$search"; cat "$work/stub/error.log"; exit 1; }
golden_search='/deces/api/v1/search?lastName=Dupont'
curl -sS "http://127.0.0.1:$golden_port$golden_search" | grep -q '"total":5,' || { curl -sS "http://127.0.0.1:$golden_port$golden_search"; exit 1; }
curl -sS -X POST -H "content-type: application/json" -d '{"user":"a@example.org","password":"1"}' "http://127.0.0.1:$redis_host_port/deces/api/v1/auth" | grep -q "Wrong username" || { echo "auth on Redis does not answer" >&2; exit 1; }
# What the host sends Elasticsearch for that search, replayed against the stub directly.
cat > "$work/es.lua" <<'LUA'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"size":20,"from":0,"query":{"match_all":{}}}'
LUA

# POST /auth with a wrong password (one store read), and POST /register with a new
# address each time (outbox mode: code record and mail written to the store).
cat > "$work/auth.lua" <<'LUA'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"user":"nobody@example.org","password":"123456"}'
LUA
cat > "$work/register.lua" <<'LUA'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local n = 0
request = function()
  n = n + 1
  return wrk.format(nil, nil, nil, string.format('{"user":"bench%d.%d@example.org"}', math.random(1, 1000000000), n))
end
LUA

# POST /compare with the contract's example (pure computation in the search component).
cat > "$work/compare.lua" <<'LUA'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"personA":{"firstName":"georges","lastName":"pompidous","birthDate":"19691101","birthCity":"Paris"},"personB":{"firstName":"Georges","lastName":"Pompidou","sex":"M","birthDate":"19691101","birthCity":"Paris"}}'
LUA

# Prints "req_per_s p50_ms p99_ms requests" for one wrk run: measure URL CONNECTIONS [LUA].
measure() {
  local script=()
  [ -n "${3:-}" ] && script=(-s "$3")
  local threads=$THREADS
  [ "$2" -lt "$threads" ] && threads=$2
  wrk -t"$threads" -c"$2" -d"${DURATION}s" --latency "${script[@]}" "$1" | awk '
    function ms(v) { if (v ~ /us$/) return v/1000; if (v ~ /ms$/) return v+0; if (v ~ /s$/) return v*1000; return v }
    /^ +50%/ { p50 = ms($2) } /^ +99%/ { p99 = ms($2) } /^Requests\/sec/ { rps = $2 }
    / requests in / { n = $1 }
    END { printf "%.0f %.3f %.3f %d\n", rps, p50, p99, n }'
}
median() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }

# CPU time (user + system, in clock ticks) a host has used so far.
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
declare -A url conns lua rps p50 p99 cpu ticks
targets=${TARGETS:-"health nginx search search_raw search0 golden compare stub search1 stub1 auth_sqlite auth_redis auth1_sqlite auth1_redis register_sqlite register_redis off_sqlite on_sqlite off_redis on_redis"}
url[health]="http://127.0.0.1:$host_port$health";     conns[health]=$CONNECTIONS
url[nginx]="http://127.0.0.1:$nginx_port$health";     conns[nginx]=$CONNECTIONS
url[search]="http://127.0.0.1:$host_port$search";     conns[search]=$CONNECTIONS
url[search0]="http://127.0.0.1:$empty_port$search";   conns[search0]=$CONNECTIONS
url[search_raw]="http://127.0.0.1:$raw_port$search";  conns[search_raw]=$CONNECTIONS
[ -n "${base_port:-}" ] && { url[search_base]="http://127.0.0.1:$base_port$search"; conns[search_base]=$CONNECTIONS; }
url[golden]="http://127.0.0.1:$golden_port$golden_search"; conns[golden]=$CONNECTIONS
url[stub]="http://127.0.0.1:$stub_port/deces/_search"; conns[stub]=$CONNECTIONS; lua[stub]=$work/es.lua
url[compare]="http://127.0.0.1:$host_port/deces/api/v1/compare"; conns[compare]=$CONNECTIONS; lua[compare]=$work/compare.lua
url[search1]=${url[search]};                           conns[search1]=1
url[stub1]=${url[stub]};                               conns[stub1]=1; lua[stub1]=$work/es.lua
url[auth_sqlite]="http://127.0.0.1:$host_port/deces/api/v1/auth";       conns[auth_sqlite]=$CONNECTIONS; lua[auth_sqlite]=$work/auth.lua
url[auth_redis]="http://127.0.0.1:$redis_host_port/deces/api/v1/auth";  conns[auth_redis]=$CONNECTIONS; lua[auth_redis]=$work/auth.lua
url[auth1_sqlite]=${url[auth_sqlite]}; conns[auth1_sqlite]=1; lua[auth1_sqlite]=$work/auth.lua
url[auth1_redis]=${url[auth_redis]};   conns[auth1_redis]=1;  lua[auth1_redis]=$work/auth.lua
# A cheap limited route (family "other", refused by validation without reaching ES).
cheap=/deces/api/v1/id/x
url[off_sqlite]="http://127.0.0.1:$host_port$cheap";           conns[off_sqlite]=1
url[on_sqlite]="http://127.0.0.1:$limited_port$cheap";         conns[on_sqlite]=1
url[off_redis]="http://127.0.0.1:$redis_host_port$cheap";      conns[off_redis]=1
url[on_redis]="http://127.0.0.1:$limited_redis_port$cheap";    conns[on_redis]=1
url[register_sqlite]="http://127.0.0.1:$host_port/deces/api/v1/register";      conns[register_sqlite]=$CONNECTIONS; lua[register_sqlite]=$work/register.lua
url[register_redis]="http://127.0.0.1:$redis_host_port/deces/api/v1/register"; conns[register_redis]=$CONNECTIONS; lua[register_redis]=$work/register.lua
# Rounds go round-robin over the targets (every target once per round), so that the
# machine's drift over minutes weighs on all of them alike, and the pairs compared below
# (host and nginx, host and stub, limits on and off) are measured minutes apart at most.
for t in $targets; do
  wrk -t1 -c10 -d2s ${lua[$t]:+-s ${lua[$t]}} "${url[$t]}" > /dev/null   # warm-up
  : > "$work/$t.runs"
  ticks[$t]=0
done
for _ in $(seq 1 "$ROUNDS"); do
  for t in $targets; do
    port=${url[$t]#http://127.0.0.1:}; port=${port%%/*}
    pid=${host_pid[$port]:-}
    [ -n "$pid" ] && before=$(cpu_ticks "$pid")
    measure "${url[$t]}" "${conns[$t]}" "${lua[$t]:-}" >> "$work/$t.runs"
    [ -n "$pid" ] && ticks[$t]=$(( ${ticks[$t]} + $(cpu_ticks "$pid") - before ))
  done
done
for t in $targets; do
  # The host's CPU time per request over all rounds: steadier than req/s on a noisy machine.
  port=${url[$t]#http://127.0.0.1:}; port=${port%%/*}
  [ -n "${host_pid[$port]:-}" ] && cpu[$t]=$(awk -v t="${ticks[$t]}" -v hz="$(getconf CLK_TCK)" \
    '{ n += $4 } END { printf "%.0f", t / hz * 1e6 / n }' "$work/$t.runs")
  rps[$t]=$(cut -d' ' -f1 "$work/$t.runs" | median)
  p50[$t]=$(cut -d' ' -f2 "$work/$t.runs" | median)
  p99[$t]=$(cut -d' ' -f3 "$work/$t.runs" | median)
done
# Median over rounds of a figure of two targets measured in the same round:
# paired A B FIELD ratio|difference.
paired() {
  [ -s "$work/$1.runs" ] && [ -s "$work/$2.runs" ] || return 1
  paste -d' ' "$work/$1.runs" "$work/$2.runs" | awk -v f="$3" -v op="$4" '
    { a = $f; b = $(f + 4); print (op == "ratio" ? a / b : a - b) }' | median
}

echo "wrk -t$THREADS, median of $ROUNDS x ${DURATION}s, $(nproc) cores"
printf '%-44s %5s %9s %8s %8s %11s\n' target conns 'req/s' 'p50 ms' 'p99 ms' 'host CPU us'
row() { [ -n "${rps[$1]:-}" ] || return 0; printf '%-44s %5s %9s %8s %8s %11s\n' "$2" "${conns[$1]}" "${rps[$1]}" "${p50[$1]}" "${p99[$1]}" "${cpu[$1]:--}"; }
row health "GET /healthcheck, deces-edge (search.wasm)"
row nginx  "GET /healthcheck, nginx static body"
row search "GET /search, deces-edge -> ES stub"
row search_raw "GET /search, matching score off"
row search_base "GET /search, baseline host (BASELINE_BIN)"
row search0 "GET /search, deces-edge -> no person"
row golden "GET /search?lastName=Dupont, golden (5)"
row stub   "POST /deces/_search, ES stub alone"
row compare "POST /compare, deces-edge"
row search1 "GET /search, deces-edge -> ES stub"
row stub1  "POST /deces/_search, ES stub alone"
row auth_sqlite "POST /auth (wrong password), SQLite"
row auth_redis "POST /auth (wrong password), Redis"
row auth1_sqlite "POST /auth (wrong password), SQLite"
row auth1_redis "POST /auth (wrong password), Redis"
row register_sqlite "POST /register (outbox), SQLite"
row register_redis "POST /register (outbox), Redis"
row off_sqlite "GET /id/x, limits off, SQLite"
row on_sqlite "GET /id/x, limits on, SQLite"
row off_redis "GET /id/x, limits off, Redis"
row on_redis "GET /id/x, limits on, Redis"
if ratio=$(paired health nginx 1 ratio) && added=$(paired search1 stub1 2 difference); then
  printf 'healthcheck vs nginx: %.2f; median time added to the stub by /search (1 connection): %.3f ms\n' "$ratio" "$added"
fi
if a=$(paired on_sqlite off_sqlite 2 difference) && b=$(paired on_redis off_redis 2 difference); then
  printf 'median cost of the rate-limit check (1 connection): %.3f ms on SQLite, %.3f ms on Redis\n' "$a" "$b"
fi
if [ -n "${cpu[search]:-}" ] && [ -n "${cpu[search0]:-}" ]; then
  # The 20-person answer against the empty one: the fixed cost of a search, and each person's.
  awk -v a="${cpu[search]}" -v b="${cpu[search0]}" 'BEGIN {
    printf "host CPU per search: %d us with no person in the answer, %.1f us more per person\n", b, (a - b) / 20 }'
fi
if [ -n "${cpu[search]:-}" ] && [ -n "${cpu[search_raw]:-}" ]; then
  awk -v a="${cpu[search]}" -v b="${cpu[search_raw]}" 'BEGIN {
    printf "host CPU the matching score adds to a 20-person search: %d us (%d with, %d without)\n", a - b, a, b }'
fi
if [ -n "${cpu[search]:-}" ] && [ -n "${cpu[search_base]:-}" ]; then
  awk -v a="${cpu[search]}" -v b="${cpu[search_base]}" 'BEGIN {
    printf "host CPU per search: %d us on this host, %d us on the baseline (%+.1f%%)\n", a, b, (a - b) * 100 / b }'
fi
echo "(ratios and differences: medians over the rounds of the two targets measured in the same round)"
true
