#!/usr/bin/env bash
set -Eeuo pipefail
# No command, or a first argument that is an option: the options are bash's.
if [ "$#" -eq 0 ] || [ "${1#-}" != "$1" ]; then
	set -- bash "$@"
fi
exec "$@"
