#!/usr/bin/env bash
# The crash tests at the issue's full size: 10 rounds of `kill -9` of `breakfast serve` at
# a random moment, 2 000 recipients each, on SQLite and PostgreSQL, then the three-process
# test. CI runs the same tests with 2 rounds (tests/it/crash.rs); this runs all ten and
# prints each round's kill point, duplicates and time to finish after the restart.
#
#   bench/crash.sh                      # ROUNDS=10 RECIPIENTS=2000
#
# Needs PostgreSQL on 127.0.0.1:5432 and python3 with aiosmtpd, as the tests do.
set -euo pipefail
cd "$(dirname "$0")/.."
export SQLX_OFFLINE=true BREAKFAST_TEST_REQUIRE_PG=1 BREAKFAST_TEST_REQUIRE_SMTP=1
export BREAKFAST_CRASH_ROUNDS=${ROUNDS:-10} BREAKFAST_CRASH_RECIPIENTS=${RECIPIENTS:-2000}
cargo test --test it crash:: -- --nocapture --test-threads 1 2>&1 \
  | grep -E "round|shares|second digest|test result|panicked|FAILED"
