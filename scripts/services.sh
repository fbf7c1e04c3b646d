#!/usr/bin/env bash
# Start and stop the services some tests need (Redis, PostgreSQL), on loopback only, on free ports.
# Usage (developers too): source scripts/services.sh; services_up; ...; services_down
PG_BIN=${PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# A port whose Cluster bus port (port + 10000) is free too.
free_cluster_port() {
  python3 -c '
import random, socket
while True:
    p = random.randint(20000, 50000)
    try:
        for q in (p, p + 10000):
            s = socket.socket(); s.bind(("127.0.0.1", q)); s.close()
        print(p); break
    except OSError:
        pass'
}

# A Redis Cluster of three masters on loopback (the Redis package's Cluster tests): REDIS_CLUSTER_NODES.
cluster_up() {
  local ports=() p
  for _ in 1 2 3; do
    p=$(free_cluster_port)
    mkdir -p "$SERVICES_DIR/cluster/$p"
    redis-server --port "$p" --bind 127.0.0.1 --daemonize yes --save "" --appendonly no \
      --cluster-enabled yes --cluster-config-file nodes.conf --cluster-node-timeout 5000 \
      --dir "$SERVICES_DIR/cluster/$p" --pidfile "$SERVICES_DIR/cluster/$p/redis.pid" \
      --logfile "$SERVICES_DIR/cluster/$p/redis.log"
    ports+=("$p")
  done
  for p in "${ports[@]}"; do
    for _ in $(seq 50); do redis-cli -p "$p" ping >/dev/null 2>&1 && break; sleep 0.1; done
  done
  redis-cli --cluster create "${ports[@]/#/127.0.0.1:}" --cluster-replicas 0 --cluster-yes >"$SERVICES_DIR/cluster/create.log" 2>&1
  for _ in $(seq 100); do
    redis-cli -p "${ports[0]}" cluster info 2>/dev/null | grep -q '^cluster_state:ok' && break
    sleep 0.1
  done
  redis-cli -p "${ports[0]}" cluster info | grep -q '^cluster_state:ok' || {
    echo "the Redis Cluster did not come up:" >&2
    cat "$SERVICES_DIR/cluster/create.log" >&2
    return 1
  }
  local IFS=,
  export REDIS_CLUSTER_NODES="${ports[*]/#/127.0.0.1:}"
}

# MM_PYTHON / MM_AWS: a python3 whose botocore models LicenseArn, and an AWS CLI that does.
knows_license_arn_py() {
  "$1" -c 'import botocore.session as s; m = s.get_session().get_service_model("meteringmarketplace"); assert "LicenseArn" in m.shape_for("UsageRecord").members' >/dev/null 2>&1
}
pick_real_clients() {
  local py="" cli="" c
  for c in ${MM_PYTHON:-} $(type -ap python3) /usr/local/bin/python3 /usr/bin/python3; do
    [ -x "$c" ] && knows_license_arn_py "$c" && { py=$c; break; }
  done
  for c in ${MM_AWS:-} $(type -ap aws) ${py:+"$(dirname "$py")/aws"} /usr/local/bin/aws /usr/bin/aws; do
    [ -x "$c" ] && "$c" meteringmarketplace batch-meter-usage help 2>/dev/null | grep -q LicenseArn && { cli=$c; break; }
  done
  [ -n "$py" ] && export MM_PYTHON=$py
  [ -n "$cli" ] && export MM_AWS=$cli
  [ -n "$py" ] && [ -n "$cli" ]
}

services_install() {
  local need=()
  command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
  { [ -n "${PG_BIN}" ] && [ -x "${PG_BIN}/postgres" ]; } || need+=(postgresql)
  command -v chromium >/dev/null 2>&1 || need+=(chromium)
  if [ ${#need[@]} -gt 0 ]; then
    echo "installing Debian packages: ${need[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
    PG_BIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
  fi
  export CHROMIUM_PATH=${CHROMIUM_PATH:-$(command -v chromium)}
  # The emulator is tested with clients no one here wrote: boto3 and the AWS CLI, recent enough to know
  # Concurrent Agreements (LicenseArn on usage records). Use the first python3 and aws in PATH that do;
  # else Debian's packages (older: the tests then say what is missing).
  pick_real_clients || {
    echo "installing Debian packages: python3-boto3 awscli"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3-boto3 awscli >/dev/null
    pick_real_clients || echo "warning: no boto3/AWS CLI here knows LicenseArn; the emulator's real-client tests will fail"
  }
}

services_up() {
  services_install
  SERVICES_DIR=$(mktemp -d -t mm-svc.XXXXXX)
  chmod 755 "$SERVICES_DIR" # the postgres user must traverse it (mktemp makes it 0700)
  export SERVICES_DIR
  local rport pport
  rport=$(free_port)
  redis-server --port "$rport" --bind 127.0.0.1 --daemonize yes --save "" --appendonly no \
    --dir "$SERVICES_DIR" --pidfile "$SERVICES_DIR/redis.pid" --logfile "$SERVICES_DIR/redis.log"
  for _ in $(seq 50); do redis-cli -p "$rport" ping >/dev/null 2>&1 && break; sleep 0.1; done
  export REDIS_URL="redis://127.0.0.1:$rport/0"
  cluster_up
  pport=$(free_port)
  install -d -o postgres -g postgres "$SERVICES_DIR/pg"
  su postgres -s /bin/sh -c "'$PG_BIN/initdb' -D '$SERVICES_DIR/pg/data' -U postgres --auth=trust -E UTF8 --no-locale" >/dev/null
  su postgres -s /bin/sh -c "'$PG_BIN/pg_ctl' -D '$SERVICES_DIR/pg/data' -l '$SERVICES_DIR/pg/server.log' -w -t 30 \
     -o \"-p $pport -k '$SERVICES_DIR/pg' -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off\" start" >/dev/null
  export DATABASE_URL="postgres://postgres@127.0.0.1:$pport/postgres"
  echo "services: REDIS_URL=$REDIS_URL REDIS_CLUSTER_NODES=$REDIS_CLUSTER_NODES DATABASE_URL=$DATABASE_URL CHROMIUM_PATH=$CHROMIUM_PATH MM_PYTHON=${MM_PYTHON:-} MM_AWS=${MM_AWS:-}"
}

services_down() {
  [ -n "${SERVICES_DIR:-}" ] || return 0
  if [ -f "$SERVICES_DIR/redis.pid" ]; then kill "$(cat "$SERVICES_DIR/redis.pid")" 2>/dev/null || true; fi
  local pid
  for pid in "$SERVICES_DIR"/cluster/*/redis.pid; do
    [ -f "$pid" ] && kill "$(cat "$pid")" 2>/dev/null || true
  done
  if [ -f "$SERVICES_DIR/pg/data/postmaster.pid" ]; then
    su postgres -s /bin/sh -c "'$PG_BIN/pg_ctl' -D '$SERVICES_DIR/pg/data' -m fast -w stop" >/dev/null 2>&1 || true
  fi
  rm -rf "$SERVICES_DIR"
  unset SERVICES_DIR
}
