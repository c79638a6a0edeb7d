#!/usr/bin/env bash
# make claims: every experiment of tests/claims/, in the order of the chapter (docs/claims.md),
# then the three that back our own docs (perror, FD_SETSIZE, the TCP states of docs/tcp-states.md). Each prints what it
# measured and a VERDICT line per claim; it exits 1 when the kernel disagrees with docs/claims.md.
set -u
cd "$(dirname "$0")"
PYTHON=${PYTHON:-python3}
export PYTHONDONTWRITEBYTECODE=1          # no __pycache__ in the source tree
EXPERIMENTS=(
  socket_basics.py time_wait.py reuse_restart.py restart_gap.py reuseport.py thundering_herd.py
  accept_bottleneck.py addresses.py backlog.py buffer_size.py recv_flags.py signals.py errors.py partial_send.py
  close_fin_rst.py accept_reset.py connect_timeout.py nonblocking_connect.py
  perror_errno.sh fd_setsize.sh tcp_states.py
)
echo "make claims: $(date -u '+%Y-%m-%d %H:%M UTC'), Linux $(uname -r), nproc $(nproc)," \
     "load average $(cut -d' ' -f1-3 /proc/loadavg)"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
failed=()
for t in "${EXPERIMENTS[@]}"; do
  start=$(date +%s%N)
  if [[ $t == *.py ]]; then "$PYTHON" "$t"; else bash "$t"; fi 2>&1 | tee -a "$log"
  rc=${PIPESTATUS[0]}
  ms=$(( ($(date +%s%N) - start) / 1000000 ))
  echo "   ($t: $(( ms / 1000 )).$(( ms % 1000 / 100 )) s, exit $rc)"
  [ "$rc" -eq 0 ] || failed+=("$t")
done
echo
echo "verdicts: $(grep -c 'VERDICT holds' "$log") holds, $(grep -c 'VERDICT wrong on Linux' "$log")" \
     "wrong on Linux, $(grep -c 'VERDICT cannot be checked' "$log") cannot be checked" \
     "(lines printed by the experiments; docs/claims.md has the full list)"
if [ ${#failed[@]} -gt 0 ]; then
  echo "claims: ${#EXPERIMENTS[@]} experiments, ${#failed[@]} disagree with docs/claims.md: ${failed[*]}"
  exit 1
fi
echo "claims: ${#EXPERIMENTS[@]} experiments, all agree with docs/claims.md"
