#!/usr/bin/env bash
# A root master with --user www-data on a socket in a 0700 directory (only root may connect);
# an unprivileged user (nobody) watches /proc/net/unix during a SIGUSR2 and talks FastCGI to
# the trial's worker on its "private" abstract socket. Exits 1 if it got through.
# Usage (as root): tests/upgrade/trial_socket_race.sh build/cppapi
# Registered in ctest as Upgrade.TrialWorkerUnreachableByOtherUsers (label integration).
set -u
# In a network namespace of its own: abstract sockets (and /proc/net/unix) are per namespace,
# so the watcher sees only this master's, not those of tests running beside it.
if [[ -z ${CPPAPI_RACE_NETNS:-} ]]; then exec unshare --net env CPPAPI_RACE_NETNS=1 "$0" "$@"; fi
bin=${1:?binary}
d=$(mktemp -d /tmp/cppapi-race.XXXXXX); chmod 0700 "$d"
"$bin" serve --listen "unix:$d/cppapi.sock" --processes 1 --threads 2 --user www-data >"$d/cppapi.log" 2>&1 &
master=$!
for i in $(seq 100); do [[ -S $d/cppapi.sock ]] && break; sleep 0.1; done
sleep 1
# The watcher runs from a folder nobody can read whatever the checkout's permissions are.
w=$(mktemp -d /tmp/cppapi-snoop.XXXXXX); chmod 0755 "$w"; cp "$(dirname "$0")/trial_socket_snoop.py" "$w/"
setpriv --reuid=nobody --regid=nogroup --clear-groups /usr/bin/python3 "$w/trial_socket_snoop.py" 20 >"$d/snoop.out" 2>&1 &
snoop=$!
sleep 1
for i in 1 2 3 4 5; do kill -USR2 $master; sleep 3; done
wait $snoop
echo "--- snoop (as nobody):"; cat "$d/snoop.out"
echo "--- master log:"; grep -E "upgrade|trial|master:" "$d/cppapi.log" | tail -n 12
kill -TERM $master; wait $master
status=0
if (( $(id -u) != 0 )); then echo "FAIL: run as root (the master starts workers as www-data)"; status=1; fi
if ! grep -q "upgraded in place" "$d/cppapi.log"; then echo "FAIL: no upgrade succeeded: nothing was tried"; status=1; fi
if ! grep -q "^uid 65534 watching" "$d/snoop.out"; then echo "FAIL: the watcher did not run as nobody"; status=1; fi
if grep -q CONNECTED "$d/snoop.out"; then echo "FAIL: an unprivileged user reached the upgrade trial's worker"; status=1; fi
rm -rf "$d" "$w"
exit $status
