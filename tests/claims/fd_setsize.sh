#!/usr/bin/env bash
# FD_SET() on an fd >= FD_SETSIZE (1024), for pitfall 4 / deviation 9 (not a chapter claim).
# select(2): "executing FD_CLR() or FD_SET() with a value of fd that is negative or is equal to or
# larger than FD_SETSIZE will result in undefined behavior". glibc checks it only when built with
# _FORTIFY_SOURCE (misc/sys/select.h __FD_ELT -> __fdelt_chk, which aborts). Does this machine's
# gcc turn _FORTIFY_SOURCE on by itself? Debian's does not (Ubuntu's does).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out="$here/../../build/claims"
mkdir -p "$out"
cat > "$out/fd_setsize.c" <<'C'
#include <stdio.h>
#include <string.h>
#include <sys/select.h>
int main(void)
{
    struct { fd_set set; unsigned char after[256]; } s;
    volatile int fd = 1500;                 /* what a busy process's socket fd can be */
    memset(&s, 0, sizeof(s));
    FD_SET(fd, &s.set);
    __asm__ volatile("" ::: "memory");  /* make the compiler re-read memory */
    int touched = 0;
    for (size_t i = 0; i < sizeof(s.after); i++)
        touched += s.after[i] != 0;
    printf("FD_SET(%d) on a %zu-byte fd_set returned; %d byte(s) after the fd_set changed\n", fd,
           sizeof(fd_set), touched);
    return 0;
}
C
CC=${CC:-cc}
echo "== fd_setsize: FD_SET(fd >= FD_SETSIZE) ($($CC --version | head -1))"
echo "   machine: Linux $(uname -r), nproc $(nproc)"
fortify=$(echo | $CC -O2 -dM -E -x c - | grep -c _FORTIFY_SOURCE || true)
echo "   _FORTIFY_SOURCE predefined by '$CC -O2': $([ "$fortify" -gt 0 ] && echo yes || echo no)"
$CC -std=gnu11 -O2 -o "$out/fd_setsize_plain" "$out/fd_setsize.c"
$CC -std=gnu11 -O2 -D_FORTIFY_SOURCE=2 -o "$out/fd_setsize_fortify" "$out/fd_setsize.c"
plain=$("$out/fd_setsize_plain" 2>&1) || true
set +e
fort=$("$out/fd_setsize_fortify" 2>&1); rc=$?
set -e
echo "   -O2 (this Makefile's flags):   $plain"
echo "   -O2 -D_FORTIFY_SOURCE=2:       exit $rc: $(echo "$fort" | tr '\n' ' ')"
if [ "$fortify" -eq 0 ] && echo "$plain" | grep -q "1 byte(s) after" && [ "$rc" -eq 134 ]; then
  echo "   FINDING: without _FORTIFY_SOURCE (this gcc's default) FD_SET silently writes past the fd_set; with it glibc aborts ('bit out of range 0 - FD_SETSIZE on fd_set'). Both are bugs; the guard in tcp_connect_nonblocking is needed either way"
else
  echo "   FINDING DIFFERS: the measurement differs from what the corrections say"; exit 1
fi
