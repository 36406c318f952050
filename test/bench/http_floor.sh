#!/usr/bin/env bash
# test/bench/http_floor.sh: what a libcurl client with no database work at
# all (http_floor.c, driven as src/deliver.c drives curl) reaches against
# each HTTP sink of the notification benchmark, next to the benchmark's
# baseline, curl --parallel-max 8: the ceiling of the worker's HTTP ratio
# against that sink. Rates, and the CPU a request of the client and of the
# sink (from /proc), 20,000 POSTs a side, the sides taking turns.
#
#   bash test/bench/http_floor.sh          # BENCH_ROUNDS (3), BENCH_POSTS (20000)
set -euo pipefail
BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PEERS=$BENCH_DIR/../peers
ROUNDS=${BENCH_ROUNDS:-3}
POSTS=${BENCH_POSTS:-20000}
WORK=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$WORK"' EXIT

gcc -O2 -Wall -o "$WORK/http_floor" "$BENCH_DIR/http_floor.c" -lcurl
# An SMS body of the benchmark's size (a rendered assignment).
printf '{"to": "+37060000011", "text": "TD-000001 Boiler knocks: assigned to you (Eli Engineer). Priority: normal. https://desk.test/t/TD-000001"}' >"$WORK/body.json"

port_of() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

nginx_port=$(port_of)
mkdir -p "$WORK/nginx"
sed -e "s|@PORT@|$nginx_port|" -e "s|@DIR@|$WORK/nginx|" -e "s|@LOG@|$WORK/nginx.jsonl|" \
	"$PEERS/nginx_sink.conf.in" >"$WORK/nginx/nginx.conf"
/usr/sbin/nginx -p "$WORK/nginx" -e "$WORK/nginx/error.log" -c "$WORK/nginx/nginx.conf" &
nginx_pid=$!
python_port=$(port_of)
/usr/bin/python3 "$PEERS/http_sink.py" --port "$python_port" --out "$WORK/python.jsonl" >/dev/null &
python_pid=$!
sleep 1

# One side: rate, client and sink CPU per request.
side() {
	local name=$1 sink_pid=$2
	shift 2
	local s0 s1 t0 t1
	s0=$(ticks "$sink_pid")
	t0=$(date +%s.%N)
	/usr/bin/time -f "%U %S" -o "$WORK/time" "$@" >/dev/null 2>&1
	t1=$(date +%s.%N)
	s1=$(ticks "$sink_pid")
	python3 - "$name" "$t0" "$t1" "$s0" "$s1" "$(tail -1 "$WORK/time")" "$POSTS" "$(getconf CLK_TCK)" <<'PY'
import sys
name, t0, t1, s0, s1, times, n, hz = sys.argv[1:]
n, hz = int(n), int(hz)
user, system = (float(x) for x in times.split())
print(f"  {name:28s} {n / (float(t1) - float(t0)):8.0f} posts/s   client {(user + system) / n * 1e6:5.1f} us a POST"
      f"   sink {(int(s1) - int(s0)) / hz / n * 1e6:5.1f} us a POST")
PY
}

for sink in nginx python; do
	port_var=${sink}_port pid_var=${sink}_pid
	port=${!port_var} pid=${!pid_var}
	url="http://127.0.0.1:$port"
	# A first burst that neither side counts: both meet a warm sink.
	curl -s --no-progress-meter -o /dev/null --parallel --parallel-max 8 -H "Content-Type: application/json" \
		-d @"$WORK/body.json" "$url/warmup_[1-3000]"
	echo "sink: $sink"
	for r in $(seq 1 "$ROUNDS"); do
		side "curl --parallel-max 8" "$pid" curl -s --no-progress-meter -o /dev/null --parallel --parallel-max 8 \
			-H "Content-Type: application/json" -d @"$WORK/body.json" "$url/base_[1-$POSTS]"
		side "http_floor (no database)" "$pid" "$WORK/http_floor" "$url/sms" "$WORK/body.json" "$POSTS" 8
	done
done
