# Sourced by bench/delivery.sh and bench/profile.sh: the subscribers and the digest a
# send benchmark mails. Subscribers and a feed's articles go straight into the tables
# (importing and fetching are not under test); the digest is composed from those
# articles by Breakfast's own composer (`breakfast digest preview`), so that the send
# takes the path every real digest takes: the composer's template, personalised per
# reader. ARTICLES (default 4) sizes the digest: ~19.5 KB per message (file outbox).
# Needs $BIN (the breakfast binary) and $WORK (a scratch folder).

ARTICLES=${ARTICLES:-4}
BENCH_DATE=2026-11-28
PARA="Comrades, the morning''s news in brief: the tenants'' union won its case, the bus drivers voted to strike, and the library stays open late on Thursdays." # SQL-quoted

# The rows, in SQL both databases speak; $1 and $2 are the row sources of 1..N for the
# subscribers and the articles (a recursive CTE on SQLite, generate_series on PostgreSQL).
seed_sql() { # subscribers-source articles-source now-ms
  cat <<SQL
INSERT INTO subscribers (email, email_key, name, status, source, created_at, status_changed_at, confirmed_at)
SELECT 'reader' || i || '@example.org', 'reader' || i || '@example.org', 'Reader ' || i, 'confirmed', 'import', 0, 0, 0 $1;
INSERT INTO feeds (url, name, section, created_at) VALUES ('https://example.org/feed.xml', 'The Paper', 'News', $3);
INSERT INTO articles (feed_id, dedup_key, link, title, published_at, summary_html, summary_text, section, first_seen_at, updated_at)
SELECT (SELECT MAX(id) FROM feeds), 'story-' || i, 'https://example.org/a/' || i,
       'Story ' || i || ': the tenants'' union wins its case', $3 - i * 60000,
       '<p>$PARA $PARA</p>', '$PARA $PARA', 'News', $3, $3 $2;
SQL
}

now_ms() { echo $(( $(date +%s) * 1000 )); }

seed_sqlite() { # db n
  local now; now=$(now_ms)
  { echo "PRAGMA journal_mode = WAL;"
    echo "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $2)"
    seed_sql "FROM n" "FROM (WITH RECURSIVE m(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM m WHERE i < $ARTICLES) SELECT i FROM m)" "$now"
  } | sqlite3 "$1" > /dev/null
}

seed_pg() { # url n
  local now; now=$(now_ms)
  seed_sql "FROM generate_series(1, $2) AS i" "FROM generate_series(1, $ARTICLES) AS i" "$now" | psql -q "$1"
}

# Composes the day's digest with Breakfast's composer; prints its id.
compose_digest() {
  "$BIN" digest preview --date "$BENCH_DATE" --out "$WORK/preview" > /dev/null
  case $BREAKFAST_DATABASE_URL in
    sqlite://*) sqlite3 "${BREAKFAST_DATABASE_URL#sqlite://}" "SELECT id FROM digests WHERE issue_date = '$BENCH_DATE'" ;;
    *) psql -tA "$BREAKFAST_DATABASE_URL" -c "SELECT id FROM digests WHERE issue_date = '$BENCH_DATE'" ;;
  esac
}
