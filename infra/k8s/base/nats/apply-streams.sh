#!/bin/sh
# Creates, or brings up to date, every JetStream stream defined by a /streams/<NAME>.json file (the JetStream
# API's stream configuration, as `nats stream info NAME -j | jq .config` prints it). Idempotent; run by the
# nats-streams Job with nats-box. The services also create these streams at boot with the same limits.
set -eu
: "${NATS_URL:?NATS_URL is required}"
for file in /streams/*.json; do
  name=$(basename "$file" .json)
  if nats --server "$NATS_URL" stream info "$name" >/dev/null 2>&1; then
    echo "updating stream $name from $file"
    nats --server "$NATS_URL" stream edit "$name" --config "$file" --force
  else
    echo "creating stream $name from $file"
    nats --server "$NATS_URL" stream add "$name" --config "$file"
  fi
done
nats --server "$NATS_URL" stream ls
