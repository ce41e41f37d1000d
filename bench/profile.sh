#!/usr/bin/env bash
# Instructions per message on the send path, counted by valgrind's callgrind (stable on a
# shared machine, unlike wall time): `breakfast digest send --wait` to N1 and then N2
# imported subscribers into postfix's smtp-sink, on SQLite; the difference divided by
# N2 - N1 takes start-up and fan-out set-up away. Prints the per-message total and where
# it goes (inclusive instructions of the main steps, per message, from the N2 run).
#
#   sudo bench/profile.sh                 # N1=500 N2=2500, the release binary
#   BIN=/tmp/old-breakfast sudo bench/profile.sh   # another build, for before/after
#   DKIM=1 sudo bench/profile.sh          # every message DKIM-signed with a fresh RSA-2048 key
#   DKIM=ed25519 sudo bench/profile.sh    # … or RSA-2048 plus a second Ed25519 signature
#
# Needs: valgrind, postfix (smtp-sink), sqlite3, root (smtp-sink runs as nobody).
set -euo pipefail
cd "$(dirname "$0")/.."
N1=${N1:-500}
N2=${N2:-2500}
PORT=${PORT:-25251}
export SQLX_OFFLINE=true
if [ -z "${BIN:-}" ]; then
  cargo build --release --quiet --bin breakfast
  BIN=$PWD/target/release/breakfast
fi
WORK=$(mktemp -d /tmp/breakfast-profile.XXXXXX)
chmod 755 "$WORK"
smtp-sink -u nobody 127.0.0.1:$PORT 1024 &
SINK=$!
trap 'kill $SINK 2>/dev/null; rm -rf "$WORK"' EXIT
sleep 0.5

if [ "${DKIM:-0}" != 0 ]; then # signing on: a fresh key from `breakfast dkim generate`
  "$BIN" dkim generate --selector bench --domain example.org --out "$WORK/rsa.pem" > /dev/null
  printf '[[mail.dkim]]\ndomain = "example.org"\nselector = "bench"\nprivate_key_file = "%s"\n' "$WORK/rsa.pem" > "$WORK/dkim.toml"
  if [ "$DKIM" = ed25519 ]; then
    "$BIN" dkim generate --selector bench-ed --algorithm ed25519 --domain example.org --out "$WORK/ed.pem" > /dev/null
    printf '[[mail.dkim]]\ndomain = "example.org"\nselector = "bench-ed"\nprivate_key_file = "%s"\n' "$WORK/ed.pem" >> "$WORK/dkim.toml"
  fi
  export BREAKFAST_CONFIG=$WORK/dkim.toml
fi

. bench/digest.sh

profile() { # n -> prints total instructions, leaves $WORK/cg.$n
  local n=$1 db=$WORK/p$1.db
  export BREAKFAST_DATABASE_URL=sqlite://$db BREAKFAST_SMTP_URL="smtp://127.0.0.1:$PORT?tls=none"
  export BREAKFAST_SECRET=profile-secret-0123456789 RUST_LOG=error
  "$BIN" migrate > /dev/null
  seed_sqlite "$db" "$n"
  local id; id=$(compose_digest)
  valgrind --tool=callgrind --callgrind-out-file="$WORK/cg.$n" "$BIN" digest send --digest "$id" --wait \
    > /dev/null 2> "$WORK/vg.$n"
  callgrind_annotate "$WORK/cg.$n" 2>/dev/null | awk '/PROGRAM TOTALS/ && !done { gsub(",", "", $1); print $1; done = 1 }'
}

I1=$(profile "$N1")
I2=$(profile "$N2")
PER=$(( (I2 - I1) / (N2 - N1) ))
echo "instructions: N=$N1 $I1, N=$N2 $I2 => $PER per message"
echo "== inclusive instructions per message (N=$N2 run), main steps"
callgrind_annotate --inclusive=yes --auto=no "$WORK/cg.$N2" 2>/dev/null \
  | grep -E "claim_deliveries|render_for|reader_copy|EncodedTemplate.*fill|TokenSigner.*sign|to_message|into_message|Message.*formatted|SmtpPool.*send|AsyncSmtpConnection.*send|mark_sent|record_loop|Mailer.*send|dkim|ring::|ring_core|sha256_block|spawn_blocking|sqlite3VdbeExec|deliver_one|send_one" \
  | awk -v n="$N2" '{ v = $1; gsub(",", "", v); printf "%12d  %s\n", v / n, substr($0, index($0, $2)) }'
