#!/usr/bin/env bash
# Delivery benchmark: the SMTP ceiling of this machine (postfix's smtp-source into
# smtp-sink) against Breakfast sending one ~20 KB digest through its whole path (ledger,
# queue, personalisation, SMTP pool) into the same smtp-sink.
#
#   sudo bench/delivery.sh                 # N = 20 000 and 100 000 on SQLite, 3 runs each
#   PG=1 sudo bench/delivery.sh            # also on PostgreSQL (BREAKFAST_BENCH_PG admin URL),
#                                          # with one `breakfast worker` helping
#   NS="200000" RUNS=1 sudo bench/delivery.sh   # other sizes / run counts
#   SQLITE=0 PG=1 PORT=25260 sudo bench/delivery.sh   # PostgreSQL only, another port
#
# Each Breakfast run is preceded by its own ceiling run, and its ratio is to that ceiling:
# on a shared machine the ceiling moves too. Settings are the defaults (mail.pool_size=8,
# the same 8 sessions as smtp-source) unless POOL / CONC are set.
#   DKIM=1 sudo bench/delivery.sh          # also each N with DKIM RSA-2048 signing on
#   BIN=/tmp/other-breakfast sudo bench/delivery.sh   # a given build instead of building
#
# Needs: apt-get install -y postfix (smtp-sink, smtp-source), sqlite3, /usr/bin/time,
# psql for PostgreSQL, and root (smtp-sink drops to `nobody`). Builds the release binary.
set -euo pipefail

cd "$(dirname "$0")/.."
NS=${NS:-"20000 100000"}
RUNS=${RUNS:-3}
PG=${PG:-0}
SQLITE=${SQLITE:-1}
PG_ADMIN=${BREAKFAST_BENCH_PG:-postgres://postgres@127.0.0.1:5432/postgres}
PORT=${PORT:-25250}
PG_LOG=${PG_LOG:-/var/log/postgresql/postgresql-15-main.log}
CEILING_MSGS=${CEILING_MSGS:-50000}
SESSIONS=${SESSIONS:-8}
export SQLX_OFFLINE=true PGOPTIONS="-c client_min_messages=warning"

for tool in smtp-sink smtp-source sqlite3 /usr/bin/time; do
  command -v "$tool" >/dev/null || { echo "missing $tool (apt-get install -y postfix sqlite3 time)"; exit 1; }
done

if [ -z "${BIN:-}" ]; then # BIN=/path/to/breakfast to measure another build
  cargo build --release --quiet --bin breakfast
  BIN=$PWD/target/release/breakfast
fi
WORK=$(mktemp -d /tmp/breakfast-bench.XXXXXX)
chmod 755 "$WORK"
SINK_PID=
cleanup() { [ -n "$SINK_PID" ] && kill "$SINK_PID" 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT

start_sink() {
  [ -n "$SINK_PID" ] && kill "$SINK_PID" 2>/dev/null && wait "$SINK_PID" 2>/dev/null || true
  smtp-sink -u nobody 127.0.0.1:$PORT 1024 &
  SINK_PID=$!
  for _ in $(seq 50); do (echo > /dev/tcp/127.0.0.1/$PORT) 2>/dev/null && return; sleep 0.1; done
  echo "smtp-sink did not start"; exit 1
}

now() { date +%s.%N; }
rate() { awk -v n="$1" -v s="$2" 'BEGIN { printf "%.0f", n / s }'; }
# CPU seconds (user + system) a process has used so far.
proc_cpu() { awk -v t="$(getconf CLK_TCK)" '{ sub(/.*\) /, ""); print ($12 + $13) / t }' "/proc/$1/stat"; }
per_msg() { awk -v s="$1" -v n="$2" 'BEGIN { printf "%.0f", s * 1e6 / n }'; } # seconds, messages -> µs each
# PostgreSQL's counters for one database: transactions, rows read and rows changed.
pg_counts() { psql -tA -F' ' "$PG_ADMIN" -c "SELECT xact_commit + xact_rollback, tup_returned + tup_fetched, tup_inserted + tup_updated + tup_deleted FROM pg_stat_database WHERE datname = '$1'"; }

# ---- the digest: ~20 KB on the wire once MIME-encoded (see bench/digest.sh) -------
. bench/digest.sh
# A pre-made message of about the same size for smtp-source.
python3 - "$WORK" <<'PY'
import sys, os
para = ("Comrades, the morning's news in brief: the tenants' union won its case, the bus "
        "drivers voted to strike, and the library stays open late on Thursdays. ")
msg = ("From: bench@example.org\r\nTo: sink@example.org\r\nSubject: ceiling\r\n\r\n"
       + (para + "\r\n") * 130)
open(os.path.join(sys.argv[1], "message.eml"), "w").write(msg)
PY
MSG_BYTES=$(wc -c < "$WORK/message.eml")

# ---- 1. the ceiling ---------------------------------------------------------------
ceiling() { # sets CEIL (msg/s)
  start_sink
  local t0 t1 secs
  local sink0 sink1 src
  sink0=$(proc_cpu "$SINK_PID")
  t0=$(now)
  /usr/bin/time -f '%U %S' -o "$WORK/source.time" \
    smtp-source -s "$SESSIONS" -m "$CEILING_MSGS" -F "$WORK/message.eml" -f bench@example.org -t sink@example.org 127.0.0.1:$PORT
  t1=$(now)
  sink1=$(proc_cpu "$SINK_PID")
  secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')
  CEIL=$(rate "$CEILING_MSGS" "$secs")
  src=$(awk '{ print $1 + $2 }' "$WORK/source.time")
  printf '%-10s %s sessions, %s x %s B: %6.1fs  %6s msg/s  CPU per message: smtp-sink %s µs, smtp-source %s µs\n' \
    ceiling "$SESSIONS" "$CEILING_MSGS" "$MSG_BYTES" "$secs" "$CEIL" \
    "$(per_msg "$(awk -v a="$sink0" -v b="$sink1" 'BEGIN { print b - a }')" "$CEILING_MSGS")" \
    "$(per_msg "$src" "$CEILING_MSGS")"
}

# ---- 2. Breakfast -----------------------------------------------------------------
run_breakfast() { # label database_url n
  local label=$1 url=$2 n=$3
  start_sink
  export BREAKFAST_DATABASE_URL=$url
  export BREAKFAST_SMTP_URL="smtp://127.0.0.1:$PORT?tls=none"
  export BREAKFAST_LOG_FORMAT=text RUST_LOG=${RUST_LOG:-warn}
  export BREAKFAST_MAIL__POOL_SIZE=${POOL:-8} BREAKFAST_MAIL__CONCURRENCY=${CONC:-32}
  "$BIN" migrate > /dev/null
  case $label in sqlite*) seed_sqlite "${url#sqlite://}" "$n" ;; *) seed_pg "$url" "$n" ;; esac
  local id
  id=$(compose_digest)
  local t0 t1 secs helper=
  case $label in postgres*)
    "$BIN" worker 2> "$WORK/worker.err" &
    helper=$!
    sleep 1 ;;
  esac
  local db= counts0=
  case $label in postgres*) db=${url##*/}; counts0=$(pg_counts "$db") ;; esac
  python3 bench/cpu.py "$WORK/cpu.txt" "$BIN" "$PORT" $db &
  local sampler=$!
  t0=$(now)
  /usr/bin/time -v -o "$WORK/time.txt" "$BIN" digest send --digest "$id" --wait > "$WORK/send.txt" 2> "$WORK/send.err" \
    || { cat "$WORK/send.err"; exit 1; }
  t1=$(now)
  [ -n "$helper" ] && { kill "$helper"; wait "$helper" 2>/dev/null || true; }
  sleep 0.3
  kill -TERM "$sampler"; wait "$sampler" || true
  secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')
  local rss sent r
  rss=$(awk -F: '/Maximum resident/ { printf "%.1f", $2 / 1024 }' "$WORK/time.txt")
  sent=$(grep -o '[0-9][0-9]* sent' "$WORK/send.txt" | head -1 | cut -d' ' -f1)
  r=$(rate "$sent" "$secs")
  local ratio
  ratio=$(awk -v a="$r" -v b="$CEIL" 'BEGIN { printf "%.2f", a / b }')
  printf '%-10s N=%-7s sent=%-7s wall=%6.1fs  %6s msg/s  ratio=%s  peak RSS=%s MB\n' \
    "$label" "$n" "$sent" "$secs" "$r" "$ratio" "$rss"
  # Where the CPU went, per message (µs of user + system time; see bench/cpu.py).
  awk -F'\t' -v n="$sent" '{ total += $2; printf "    CPU %-24s %5.0f µs/msg  (%.1f s, %d processes)\n", $1, $2 * 1e6 / n, $2, $3 }
    END { printf "    CPU %-24s %5.0f µs/msg  (%.1f s)\n", "total", total * 1e6 / n, total }' "$WORK/cpu.txt"
  if [ -n "$db" ]; then
    sleep 1 # backends publish their statistics at most once a second
    pg_counts "$db" | awk -v n="$sent" -v c0="$counts0" 'BEGIN { split(c0, a, " ") }
      { printf "    PostgreSQL per message: %.2f transactions, %.1f rows read, %.2f rows written\n", ($1 - a[1]) / n, ($2 - a[2]) / n, ($3 - a[3]) / n }'
    psql -tA -F' ' "$url" -c "SELECT relname, seq_scan, seq_tup_read, idx_scan, idx_tup_fetch, n_tup_upd, n_tup_hot_upd FROM pg_stat_user_tables WHERE seq_tup_read + idx_tup_fetch > 0 ORDER BY seq_tup_read + idx_tup_fetch DESC LIMIT 6" \
      | awk -v n="$sent" '{ printf "      %-20s seq scans %6d (%.1f rows/msg)  index scans %7d (%.1f rows/msg)  updates %.2f/msg (HOT %.2f)\n", $1, $2, $3 / n, $4, $5 / n, $6 / n, $7 / n }'
  fi
  echo "$label $n $ratio $rss" >> "$WORK/results"
}

if [ "${DKIM:-0}" = 1 ]; then # a fresh RSA-2048 key, signing every message
  "$BIN" dkim generate --selector bench --domain example.org --out "$WORK/dkim.pem" > /dev/null
  printf '[[mail.dkim]]\ndomain = "example.org"\nselector = "bench"\nprivate_key_file = "%s"\n' "$WORK/dkim.pem" > "$WORK/dkim.toml"
fi

for n in $NS; do
  [ "$SQLITE" = 1 ] || break
  for run in $(seq "$RUNS"); do
    db="$WORK/sqlite-$n.db"
    ceiling
    run_breakfast sqlite "sqlite://$db" "$n"
    rm -f "$db"*
    if [ "${DKIM:-0}" = 1 ]; then
      BREAKFAST_CONFIG="$WORK/dkim.toml" run_breakfast sqlite+dkim "sqlite://$db" "$n"
      rm -f "$db"*
    fi
  done
done

if [ "$PG" = 1 ]; then
  base=${PG_ADMIN%/*}
  for n in $NS; do
    for run in $(seq "$RUNS"); do
      name="breakfast_bench_${n}_$$"
      psql -q "$PG_ADMIN" -c "DROP DATABASE IF EXISTS $name" -c "CREATE DATABASE $name"
      if [ "${PG_LOG_STATEMENTS:-0}" = 1 ]; then # count the statements (heavy: a short run)
        psql -q "$PG_ADMIN" -c "ALTER DATABASE $name SET log_min_duration_statement = 0"
        log_from=$(stat -c %s "$PG_LOG")
      fi
      ceiling
      run_breakfast postgres "$base/$name" "$n"
      if [ "${PG_LOG_STATEMENTS:-0}" = 1 ]; then
        sent=$(grep -o '[0-9][0-9]* sent' "$WORK/send.txt" | head -1 | cut -d' ' -f1)
        tail -c +"$((log_from + 1))" "$PG_LOG" | python3 -c '
import re, sys, collections
db, n = sys.argv[1], int(sys.argv[2])
counts, ms = collections.Counter(), collections.Counter()
for line in sys.stdin:
    if f"@{db} " not in line:
        continue
    m = re.search(r"LOG:  duration: ([0-9.]+) ms  (?:statement|execute [^:]*): (.*)", line)
    if m:
        key = " ".join(m.group(2).split())[:100]
        counts[key] += 1
        ms[key] += float(m.group(1))
total = sum(counts.values())
print(f"    statements: {total} for {n} messages, {total / n:.3f} per message, {sum(ms.values()):.0f} ms in all")
for text, t in ms.most_common(20):
    print(f"    {counts[text] / n:7.3f}/msg {counts[text]:7d} {t:8.0f} ms  {text}")
' "$name" "$sent"
      fi
      psql -q "$PG_ADMIN" -c "DROP DATABASE IF EXISTS $name"
    done
  done
fi

echo "== best and worst ratio to the ceiling, and peak RSS, per database and N"
sort -k1,1 -k2,2n "$WORK/results" | awk '
  { key = $1 " N=" $2; if (!(key in best) || $3 > best[key]) best[key] = $3
    if (!(key in worst) || $3 < worst[key]) worst[key] = $3
    if (!(key in rss) || $4 > rss[key]) rss[key] = $4; order[key] = NR }
  END { for (k in best) printf "%-22s best %s  worst %s  max peak RSS %s MB\n", k, best[k], worst[k], rss[k] }' | sort
