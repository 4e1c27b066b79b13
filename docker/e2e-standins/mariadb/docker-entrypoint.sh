#!/bin/sh
set -e
# Options alone are the server's, as in the real image.
if [ "${1#-}" != "$1" ]; then
    set -- mariadbd "$@"
fi
case "$1" in
    mariadbd | mysqld)
        echo "mariadb stand-in: no SQL server here; waiting until stopped"
        trap 'exit 0' TERM INT
        sleep infinity &
        wait $!
        ;;
esac
exec "$@"
