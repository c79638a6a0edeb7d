#!/usr/bin/env bash
# glibc's perror() and errno, for pitfall 8 / deviation 21 (not a chapter claim).
# glibc stdio-common/perror.c: while stderr has no orientation yet (nothing written to it through
# stdio), perror writes through a temporary stream, fdopen(dup(2), "w+"), "so as not to change the
# orientation of stderr" (C11 7.21.10.4 forbids perror to change it). fdopen with "w+" needs a
# descriptor open for reading and writing; for a write-only fd 2 (a pipe, `2>file`) it fails with
# EINVAL, perror falls back to stderr itself (which orients it) and leaves errno = EINVAL.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out="$here/../../build/claims"
mkdir -p "$out"
cat > "$out/perror_errno.c" <<'C'
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>
int main(void)
{
    for (int i = 1; i <= 3; i++) {
        errno = EADDRINUSE;
        perror("bind");
        printf("%s%s", i > 1 ? ", " : "", strerrorname_np(errno));
    }
    printf("\n");
    return 0;
}
C
${CC:-cc} -std=c11 -O2 -Wall -Wextra -Werror -o "$out/perror_errno" "$out/perror_errno.c"

echo "== perror_errno: does perror() keep errno? (glibc $(ldd --version | head -1 | awk '{print $NF}'))"
echo "   machine: Linux $(uname -r), nproc $(nproc)"
pipe=$("$out/perror_errno" 2>&1 >/dev/tty 2>/dev/null || true)
pipe=$( { "$out/perror_errno" 2>&1 1>&3 | cat >/dev/null; } 3>&1 )
file=$("$out/perror_errno" 2>"$out/perror_errno.err")
rdwr=$("$out/perror_errno" 2<>"$out/perror_errno.err")
echo "   errno after perror #1, #2, #3 (each call starts with EADDRINUSE):"
echo "     stderr a pipe:                  $pipe"
echo "     stderr 2>file (O_WRONLY):       $file"
echo "     stderr 2<>file (O_RDWR, a tty): $rdwr"
if command -v strace >/dev/null; then
  { strace -e trace=dup,fcntl,close,write -o "$out/perror_errno.trace" "$out/perror_errno" 2>&1 1>&3 | cat >/dev/null; } 3>/dev/null
  echo "   strace, stderr a pipe (first perror):"
  awk '/^dup\(2\)/ {p = 1} p' "$out/perror_errno.trace" | head -4 | sed 's/^/     /'
fi
if [ "$pipe" = "EINVAL, EADDRINUSE, EADDRINUSE" ] && [ "$file" = "$pipe" ] &&
   [ "$rdwr" = "EADDRINUSE, EADDRINUSE, EADDRINUSE" ]; then
  echo "   FINDING: the first perror() of a process whose stderr is write-only leaves errno = EINVAL (its fdopen(dup(2), \"w+\") failed); later ones, and any perror on a read-write stderr, keep errno. The dup is there to leave stderr's orientation alone, not to set it"
else
  echo "   FINDING DIFFERS: the measurement differs from what the corrections say"; exit 1
fi
