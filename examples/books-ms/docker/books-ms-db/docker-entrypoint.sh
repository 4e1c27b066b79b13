#!/bin/sh
# First start of books-ms-db: initialise $PGDATA, let the linked app in, create $POSTGRES_DB.
# Later starts (the data directory is a volume) go straight to the server.
set -eu
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  echo "books-ms-db: initialising $PGDATA with database $POSTGRES_DB"
  if [ -n "${POSTGRES_PASSWORD:-}" ]; then
    pwfile=$(mktemp)
    printf '%s\n' "$POSTGRES_PASSWORD" >"$pwfile"
    initdb -D "$PGDATA" -U postgres -E UTF8 --locale=C.UTF-8 --auth-local=trust \
      --auth-host=scram-sha-256 --pwfile="$pwfile" >/dev/null
    rm -f "$pwfile"
    method=scram-sha-256
  else
    initdb -D "$PGDATA" -U postgres -E UTF8 --locale=C.UTF-8 --auth=trust >/dev/null 2>&1
    method=trust
  fi
  # The app connects over the container network, from whatever address the engine gave it.
  printf 'host all all 0.0.0.0/0 %s\nhost all all ::/0 %s\n' "$method" "$method" >>"$PGDATA/pg_hba.conf"
  # jit: the image leaves out the LLVM that the JIT needs (and the queries of books-ms are far
  # too small to gain from it).
  printf "listen_addresses = '*'\njit = off\n" >>"$PGDATA/postgresql.conf"
  # Single-user mode: nothing listens until the database exists, so the health check (and the
  # app's wait) only succeed once it is complete.
  name=$(printf '%s' "$POSTGRES_DB" | sed 's/"/""/g')
  printf 'CREATE DATABASE "%s"\n' "$name" | postgres --single -D "$PGDATA" postgres >/dev/null
  echo "books-ms-db: initialised"
fi
exec "$@"
