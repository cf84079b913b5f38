#!/usr/bin/env bash
# What the test suite needs besides Python packages: Redis on 127.0.0.1:6379 (the Celery path)
# and Debian's chromium (browser tests). Starts or installs what is missing. The embedded
# PostgreSQL needs nothing here: the settings start it on first use.
set -euo pipefail

redis_up() { (exec 3<>/dev/tcp/127.0.0.1/6379 && printf 'PING\r\n' >&3 && head -c 5 <&3 | grep -q PONG) 2>/dev/null; }

if ! redis_up; then
  if ! command -v redis-server >/dev/null; then
    echo "Installing redis-server (apt-get)…"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null
  fi
  echo "Starting redis-server on 127.0.0.1:6379…"
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no \
    --dir /tmp --logfile /tmp/tally-redis.log
  for _ in $(seq 50); do redis_up && break; sleep 0.1; done
  redis_up || { echo "redis-server did not come up; see /tmp/tally-redis.log" >&2; exit 1; }
fi

if [ ! -x /usr/bin/chromium ]; then
  echo "Installing Debian's chromium for the browser tests (apt-get)…"
  if [ "$(id -u)" -ne 0 ]; then
    echo "chromium is missing and this is not root: run 'sudo apt-get install chromium'" >&2
    exit 1
  fi
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
