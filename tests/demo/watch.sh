#!/usr/bin/env bash
# tests/demo/watch.sh tree|sockets PORT [en|ko] - two live panes of `make demo`, refreshed twice a
# second: the server's process tree (fork per client; STAT Z would be a zombie) and the socket
# table of PORT..PORT+2 (LISTEN, ESTAB, TIME-WAIT), headed in the narration's language. Reads
# only; stops with Ctrl-C. (The wire pane is tests/demo/demo.py wirepane.)
mode=$1 port=$2 lang=${3:-en}
filter="( sport = :$port or dport = :$port or sport = :$((port + 1)) or dport = :$((port + 1)) or sport = :$((port + 2)) or dport = :$((port + 2)) )"
if [ "$lang" = ko ]; then
  tree_head="프로세스 트리: :$port의 echo_server와 그 자식들 (STAT Z = 좀비)"
  no_server="(:$port에서 리스닝하는 서버 없음)"
  sockets_head="ss -tan, 포트 $port..$((port + 2)): LISTEN, ESTAB, TIME-WAIT"
else
  tree_head="process tree: echo_server on :$port and its children (STAT Z = zombie)"
  no_server="(no server listening on :$port)"
  sockets_head="ss -tan, ports $port..$((port + 2)): LISTEN, ESTAB, TIME-WAIT"
fi
while :; do
  if [ "$mode" = tree ]; then
    pids=$(ss -Htlnp "sport = :$port" | grep -o 'pid=[0-9]*' | cut -d= -f2 | sort -u | paste -sd, -)
    out="$tree_head"$'\n'
    if [ -n "$pids" ]; then
      out+=$(ps -o pid,ppid,stat,etime,args --forest -p "$pids" --ppid "$pids")
    else
      out+="$no_server"
    fi
  else
    out="$sockets_head"$'\n'
    out+=$(ss -tan "$filter")
  fi
  clear
  printf '%s\n' "$out"
  sleep 0.5
done
