#!/usr/bin/env bash
# tests/demo/watch.sh tree|sockets PORT - the two live panes of `make demo`, refreshed twice a
# second: the server's process tree (fork per client; STAT Z would be a zombie) and the socket
# table of PORT..PORT+2 (LISTEN, ESTAB, TIME-WAIT). Reads only; stops with Ctrl-C.
mode=$1 port=$2
filter="( sport = :$port or dport = :$port or sport = :$((port + 1)) or dport = :$((port + 1)) or sport = :$((port + 2)) or dport = :$((port + 2)) )"
while :; do
  if [ "$mode" = tree ]; then
    pids=$(ss -Htlnp "sport = :$port" | grep -o 'pid=[0-9]*' | cut -d= -f2 | sort -u | paste -sd, -)
    out="process tree: echo_server on :$port and its children (STAT Z = zombie)"$'\n'
    if [ -n "$pids" ]; then
      out+=$(ps -o pid,ppid,stat,etime,args --forest -p "$pids" --ppid "$pids")
    else
      out+="(no server listening on :$port)"
    fi
  else
    out="ss -tan, ports $port..$((port + 2)): LISTEN, ESTAB, TIME-WAIT"$'\n'
    out+=$(ss -tan "$filter")
  fi
  clear
  printf '%s\n' "$out"
  sleep 0.5
done
