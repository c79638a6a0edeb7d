"""Tests of normalise.py on hand-written strace excerpts (python3 -m unittest, from tests/trace
or with `make trace-unit`). A broken port must show up as a difference; what legitimately
differs between C and Rust must not."""

import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import compare  # noqa: E402
import normalise  # noqa: E402

# The chapter's echo server, as the C runs it: one client that sends "hello\n".
C_SERVER = """\
100 execve("./echo_server", ["./echo_server", "0"], 0x7ffe /* 35 vars */) = 0
100 openat(AT_FDCWD, "/lib/x86_64-linux-gnu/libc.so.6", O_RDONLY|O_CLOEXEC) = 3
100 read(3, "\\177ELF\\2\\1\\1\\3"..., 832) = 832
100 close(3)                          = 0
100 poll([{fd=0, events=0}, {fd=1, events=0}, {fd=2, events=0}], 3, 0) = 0 (Timeout)
100 rt_sigaction(SIGPIPE, {sa_handler=SIG_IGN, sa_mask=[PIPE], sa_flags=SA_RESTORER|SA_RESTART, sa_restorer=0x7ff1}, {sa_handler=SIG_DFL, sa_mask=[], sa_flags=0}, 8) = 0
100 rt_sigaction(SIGCHLD, {sa_handler=SIG_DFL, sa_mask=[], sa_flags=SA_RESTORER|SA_NOCLDWAIT, sa_restorer=0x7ff1}, NULL, 8) = 0
100 socket(AF_INET, SOCK_STREAM, IPPROTO_IP) = 3
100 setsockopt(3, SOL_SOCKET, SO_REUSEADDR, [1], 4) = 0
100 setsockopt(3, SOL_SOCKET, SO_REUSEPORT, [1], 4) = 0
100 bind(3, {sa_family=AF_INET, sin_port=htons(0), sin_addr=inet_addr("127.0.0.1")}, 16) = 0
100 listen(3, 128)                    = 0
100 getsockname(3, {sa_family=AF_INET, sin_port=htons(45171), sin_addr=inet_addr("127.0.0.1")}, [16]) = 0
100 write(1, "TCP server listening on 127.0.0."..., 40) = 40
100 accept(3, {sa_family=AF_INET, sin_port=htons(43462), sin_addr=inet_addr("127.0.0.1")}, [16]) = 4
100 clone(child_stack=NULL, flags=CLONE_CHILD_CLEARTID|CLONE_CHILD_SETTID|SIGCHLD <unfinished ...>
101 close(3)                          = 0
100 <... clone resumed>, child_tidptr=0x7ff1) = 101
101 write(1, "Client connected from 127.0.0.1:"..., 38 <unfinished ...>
100 close(4 <unfinished ...>
101 <... write resumed>)              = 38
101 recvfrom(4,  <unfinished ...>
100 <... close resumed>)              = 0
101 <... recvfrom resumed>"hello\\n", 4096, 0, NULL, NULL) = 6
100 accept(3,  <unfinished ...>
101 sendto(4, "hello\\n", 6, MSG_NOSIGNAL, NULL, 0) = 6
101 recvfrom(4, "", 4096, 0, NULL, NULL) = 0
101 close(4)                          = 0
101 exit_group(0)                     = ?
100 <... accept resumed>0x7ffd637ad220, [16]) = ? ERESTARTSYS (To be restarted if SA_RESTART is set)
100 --- SIGCHLD {si_signo=SIGCHLD, si_code=CLD_EXITED, si_pid=101, si_uid=0, si_status=0} ---
100 accept(3,  <unfinished ...>)      = ?
100 +++ killed by SIGKILL +++
"""

# The same session from a Rust build: runtime start-up, other pids, fds, ports, a different
# split of the 6 bytes into recv/send calls, an EAGAIN-free loop of a different length.
RUST_SERVER = """\
8110  execve("./echo_server", ["./echo_server", "0"], 0x7ffe /* 35 vars */) = 0
8110  openat(AT_FDCWD, "/lib/x86_64-linux-gnu/libgcc_s.so.1", O_RDONLY|O_CLOEXEC) = 3
8110  read(3, "\\177ELF\\2\\1\\1\\0"..., 832) = 832
8110  close(3)                          = 0
8110  openat(AT_FDCWD, "/dev/null", O_RDWR) = 3
8110  poll([{fd=0, events=0}, {fd=1, events=0}, {fd=2, events=0}], 3, 0) = 0 (Timeout)
8110  rt_sigaction(SIGPIPE, {sa_handler=SIG_IGN, sa_mask=[PIPE], sa_flags=SA_RESTORER|SA_RESTART, sa_restorer=0x7fde}, {sa_handler=SIG_DFL, sa_mask=[], sa_flags=0}, 8) = 0
8110  getrandom("\\xa3\\xfd", 8, GRND_NONBLOCK) = 8
8110  rt_sigaction(SIGSEGV, NULL, {sa_handler=SIG_DFL, sa_mask=[], sa_flags=0}, 8) = 0
8110  sigaltstack({ss_sp=0x7fde6ffd6000, ss_flags=0, ss_size=8192}, NULL) = 0
8110  rt_sigaction(SIGSEGV, {sa_handler=0x55f4, sa_mask=[], sa_flags=SA_RESTORER|SA_ONSTACK|SA_SIGINFO, sa_restorer=0x7fde}, NULL, 8) = 0
8110  rt_sigaction(SIGBUS, {sa_handler=0x55f4, sa_mask=[], sa_flags=SA_RESTORER|SA_ONSTACK|SA_SIGINFO, sa_restorer=0x7fde}, NULL, 8) = 0
8110  rt_sigaction(SIGPIPE, {sa_handler=SIG_IGN, sa_mask=[PIPE], sa_flags=SA_RESTORER|SA_RESTART, sa_restorer=0x7fde}, {sa_handler=SIG_IGN, sa_mask=[PIPE], sa_flags=SA_RESTORER|SA_RESTART, sa_restorer=0x7fde}, 8) = 0
8110  rt_sigaction(SIGCHLD, {sa_handler=SIG_DFL, sa_mask=[], sa_flags=SA_RESTORER|SA_NOCLDWAIT, sa_restorer=0x7fde}, NULL, 8) = 0
8110  socket(AF_INET, SOCK_STREAM, IPPROTO_IP) = 5
8110  setsockopt(5, SOL_SOCKET, SO_REUSEADDR, [1], 4) = 0
8110  setsockopt(5, SOL_SOCKET, SO_REUSEPORT, [1], 4) = 0
8110  bind(5, {sa_family=AF_INET, sin_port=htons(0), sin_addr=inet_addr("127.0.0.1")}, 16) = 0
8110  listen(5, 128)                    = 0
8110  getsockname(5, {sa_family=AF_INET, sin_port=htons(39001), sin_addr=inet_addr("127.0.0.1")}, [16]) = 0
8110  write(1, "TCP server listening on 127.0.0."..., 40) = 40
8110  accept(5, {sa_family=AF_INET, sin_port=htons(55818), sin_addr=inet_addr("127.0.0.1")}, [16]) = 6
8110  clone(child_stack=NULL, flags=CLONE_CHILD_CLEARTID|CLONE_CHILD_SETTID|SIGCHLD, child_tidptr=0x7fde) = 8117
8117  set_robust_list(0x7fde6fdcaa60, 24) = 0
8117  close(5)                          = 0
8117  write(1, "Client connected from 127.0.0.1:"..., 38) = 38
8110  close(6)                          = 0
8117  recvfrom(6, "hel", 4096, 0, NULL, NULL) = 3
8117  sendto(6, "hel", 3, MSG_NOSIGNAL, NULL, 0) = 3
8117  recvfrom(6, "lo\\n", 4096, 0, NULL, NULL) = 3
8117  sendto(6, "lo\\n", 3, MSG_NOSIGNAL, NULL, 0) = 2
8117  sendto(6, "\\n", 1, MSG_NOSIGNAL, NULL, 0) = 1
8117  recvfrom(6, "", 4096, 0, NULL, NULL) = 0
8117  close(6)                          = 0
8117  sigaltstack({ss_sp=NULL, ss_flags=SS_DISABLE, ss_size=8192}, NULL) = 0
8117  exit_group(0)                     = ?
8110  accept(5,  <unfinished ...>)      = ?
8110  +++ killed by SIGKILL +++
"""


def norm(text):
    return normalise.normalise(text)


def rust_variant(old, new, count=1):
    assert old in RUST_SERVER, old
    return RUST_SERVER.replace(old, new, count)


class Normalise(unittest.TestCase):
    def test_equal_despite_fds_ports_pids_counts_and_runtime(self):
        c, r = norm(C_SERVER), norm(RUST_SERVER)
        self.assertIsNone(normalise.first_difference(c, r), "\n" + compare.side_by_side(c, r, None))
        self.assertEqual(len(c), 2)  # the server and its one session child

    def test_keeps_the_chapter_calls(self):
        parent, child = norm(C_SERVER)
        self.assertEqual(parent[0], "poll([{fd=0, events=0}, {fd=1, events=0}, {fd=2, events=0}], "
                                    "3, 0) = POLLNVAL on []")
        self.assertEqual(parent[1], "rt_sigaction(SIGPIPE, {SIG_IGN, [PIPE], SA_RESTART})")
        self.assertIn("socket(AF_INET, SOCK_STREAM, IPPROTO_IP) = sock0", parent)
        self.assertIn("accept(sock0, {...}, [...]) = sock1", parent)
        self.assertEqual(parent[-2:], ["fork() = CHILD1", "close(sock1) = 0"])
        self.assertEqual(child, ["close(sock0) = 0",
                                 "loop {recvfrom(sock1, 0); sendto(sock1, MSG_NOSIGNAL)}",
                                 "recvfrom(sock1, 0) = 0",
                                 "close(sock1) = 0"])
        # The loader's read/close of fd 3 (a file, not a socket) is gone.
        self.assertFalse(any(line.startswith("read(") for line in parent))

    def test_std_fds_check_is_compared(self):
        # Rust's runtime checks fds 0-2 before main; a C main that does not is a drift that
        # must show (it lets socket() become fd 0, 1 or 2), not be dropped as start-up.
        unchecked = C_SERVER.replace(
            "100 poll([{fd=0, events=0}, {fd=1, events=0}, {fd=2, events=0}], 3, 0) = 0 (Timeout)\n", "")
        c, r = norm(unchecked), norm(RUST_SERVER)
        self.assertEqual(normalise.first_difference(c, r), (0, 0))
        self.assertTrue(r[0][0].startswith("poll([{fd=0, events=0}"), r[0][0])
        # ... also when it is the only start-up call kept from Rust's runtime
        self.assertNotIn("rt_sigaction(SIGSEGV", " ".join(r[0]))

    def test_std_fds_filled_the_same_way(self):
        closed = ("poll([{fd=0, events=0}, {fd=1, events=0}, {fd=2, events=0}], 3, 0) = 2 "
                  "([{fd=0, revents=POLLNVAL}, {fd=2, revents=POLLNVAL}])")
        c_fill = C_SERVER.replace(
            "100 poll([{fd=0, events=0}, {fd=1, events=0}, {fd=2, events=0}], 3, 0) = 0 (Timeout)\n",
            "100 %s\n100 openat(AT_FDCWD, \"/dev/null\", O_RDWR) = 0\n100 dup(0) = 2\n" % closed)
        r_fill = rust_variant(
            "8110  poll([{fd=0, events=0}, {fd=1, events=0}, {fd=2, events=0}], 3, 0) = 0 (Timeout)\n",
            "8110  %s\n8110  openat(AT_FDCWD, \"/dev/null\", O_RDWR) = 0\n8110  dup(0) = 2\n" % closed)
        c, r = norm(c_fill), norm(r_fill)
        self.assertIsNone(normalise.first_difference(c, r), "\n" + compare.side_by_side(c, r, None))
        self.assertTrue(c[0][0].endswith(") = POLLNVAL on [0, 2]"), c[0][0])
        # whether a stdin pipe's writer has closed yet (POLLHUP) is timing, not a difference
        hup = c_fill.replace("{fd=0, revents=POLLNVAL}, ", "{fd=1, revents=POLLHUP}, {fd=0, revents=POLLNVAL}, ")
        self.assertIsNone(normalise.first_difference(norm(hup), r))
        self.assertEqual(c[0][1:3], ['open("/dev/null", O_RDWR) = 0', "dup(0) = 2"])
        # a C that opened /dev/null twice instead of dup-ing it makes other calls
        twice = c_fill.replace("100 dup(0) = 2\n", "100 openat(AT_FDCWD, \"/dev/null\", O_RDWR) = 2\n")
        self.assertEqual(normalise.first_difference(norm(twice), r), (0, 2))

    def test_time_left_after_an_interrupted_connect(self):
        # After connect() fails with EINTR, the client waits with select() for the time left
        # until its deadline: a measured value, not a difference.
        def client(left):
            return ("5 socket(AF_INET, SOCK_STREAM, IPPROTO_IP) = 3\n"
                    "5 connect(3, {sa_family=AF_INET, sin_port=htons(9), sin_addr=inet_addr(\"127.0.0.1\")}, 16)"
                    " = -1 EINTR (Interrupted system call)\n"
                    "5 pselect6(4, NULL, [3], NULL, {tv_sec=3, tv_nsec=%d}, NULL) = 0 (Timeout)\n"
                    "5 close(3) = 0\n" % left)
        a, b = norm(client(989140000)), norm(client(987367000))
        self.assertIsNone(normalise.first_difference(a, b))
        self.assertIn("pselect6(N, NULL, [sock0], NULL, {time left}, NULL) = 0", a[0])
        # ... and with poll(), whose timeout is the milliseconds left
        def polling(left):
            return ("5 socket(AF_INET, SOCK_STREAM, IPPROTO_IP) = 3\n"
                    "5 connect(3, {sa_family=AF_INET, sin_port=htons(9), sin_addr=inet_addr(\"127.0.0.1\")}, 16)"
                    " = -1 EINTR (Interrupted system call)\n"
                    "5 poll([{fd=3, events=POLLOUT}], 1, %d) = 0 (Timeout)\n"
                    "5 close(3) = 0\n" % left)
        p, q = norm(polling(3987)), norm(polling(3991))
        self.assertIsNone(normalise.first_difference(p, q))
        self.assertIn("poll([{fd=sock0, events=POLLOUT}], 1, {time left}) = 0", p[0])
        # the non-blocking connect's select keeps its timeout: it is the caller's, converted
        nb = client(300000000).replace("= -1 EINTR (Interrupted system call)", "= -1 EINPROGRESS (x)")
        self.assertIn("{tv_sec=3, tv_nsec=300000000}", " ".join(norm(nb)[0]))

    def test_detects_swapped_setsockopt(self):
        swapped = rust_variant(
            "setsockopt(5, SOL_SOCKET, SO_REUSEADDR, [1], 4) = 0\n"
            "8110  setsockopt(5, SOL_SOCKET, SO_REUSEPORT, [1], 4) = 0",
            "setsockopt(5, SOL_SOCKET, SO_REUSEPORT, [1], 4) = 0\n"
            "8110  setsockopt(5, SOL_SOCKET, SO_REUSEADDR, [1], 4) = 0")
        c, r = norm(C_SERVER), norm(swapped)
        diff = normalise.first_difference(c, r)
        self.assertIsNotNone(diff)
        self.assertIn("SO_REUSEADDR", c[diff[0]][diff[1]])
        self.assertIn("SO_REUSEPORT", r[diff[0]][diff[1]])
        # and the readable report marks that line
        shown = compare.side_by_side(c, r, diff)
        self.assertIn(">> setsockopt(sock0, SOL_SOCKET, SO_REUSEADDR", shown)

    def test_detects_missing_reuseport(self):
        dropped = rust_variant("8110  setsockopt(5, SOL_SOCKET, SO_REUSEPORT, [1], 4) = 0\n", "")
        c, r = norm(C_SERVER), norm(dropped)
        diff = normalise.first_difference(c, r)
        self.assertEqual(diff[0], 0)
        self.assertIn("SO_REUSEPORT", c[0][diff[1]])
        self.assertNotIn("SO_REUSEPORT", " ".join(r[0]))

    def test_detects_missing_close_in_parent(self):
        # A server that ends on its own (here: accept fails) is compared in full.
        c_text = C_SERVER.replace("100 accept(3,  <unfinished ...>)      = ?\n100 +++ killed by SIGKILL +++",
                                  "100 accept(3, 0x7ffd, [16]) = -1 EMFILE (Too many open files)\n"
                                  "100 close(3) = 0\n100 +++ exited with 1 +++")
        r_text = rust_variant("8110  accept(5,  <unfinished ...>)      = ?\n8110  +++ killed by SIGKILL +++",
                              "8110  accept(5, 0x7ffd, [16]) = -1 EMFILE (Too many open files)\n"
                              "8110  close(5) = 0\n8110  +++ exited with 1 +++")
        self.assertIsNone(normalise.first_difference(norm(c_text), norm(r_text)))
        leaked = r_text.replace("8110  close(6)                          = 0\n", "")
        c, r = norm(c_text), norm(leaked)
        diff = normalise.first_difference(c, r)
        self.assertEqual(diff, (0, c[0].index("close(sock1) = 0")))

    def test_killed_process_may_stop_early(self):
        # The suite SIGKILLs the server when a scenario ends: whether its last close() ran
        # by then is timing, so a killed process need only be a prefix of the other.
        cut = rust_variant("8110  close(6)                          = 0\n", "")
        self.assertIsNone(normalise.first_difference(norm(C_SERVER), norm(cut)))
        self.assertTrue(norm(C_SERVER)[0].killed)
        self.assertFalse(norm(C_SERVER)[1].killed)

    def test_call_cut_short_by_the_kill_is_dropped(self):
        # SIGKILL while strace holds a call at its exit: strace prints "= ? <unavailable>".
        cut = rust_variant("8110  close(6)                          = 0\n",
                           "8110  close(6)                          = ? <unavailable>\n")
        self.assertIsNone(normalise.first_difference(norm(C_SERVER), norm(cut)))

    def test_killed_process_may_stop_inside_a_loop(self):
        # A session killed with the server (the restart scenario): its last send() may not be
        # in the trace, so one run shows `recvfrom = N` where the other shows the loop.
        def killed_child(calls):
            procs = [normalise.Proc(["socket(AF_INET, SOCK_STREAM, IPPROTO_IP) = sock0"], True),
                     normalise.Proc(["close(sock0) = 0"] + calls, True)]
            return procs
        whole = killed_child(["loop {recvfrom(sock1, 0); sendto(sock1, MSG_NOSIGNAL)}"])
        cut = killed_child(["recvfrom(sock1, 0) = N"])
        self.assertIsNone(normalise.first_difference(whole, cut))
        self.assertIsNone(normalise.first_difference(cut, whole))
        # Not when the process exited on its own, nor for a call the loop does not make.
        alive = [whole[0], normalise.Proc(list(cut[1]), False)]
        self.assertEqual(normalise.first_difference(whole, alive), (1, 1))
        other = killed_child(["recvfrom(sock1, MSG_DONTWAIT) = N"])
        self.assertEqual(normalise.first_difference(whole, other), (1, 1))

    def test_detects_missing_close_in_child(self):
        leaked = rust_variant("8117  close(6)                          = 0\n", "")
        c, r = norm(C_SERVER), norm(leaked)
        self.assertEqual(normalise.first_difference(c, r), (1, 3))

    def test_getaddrinfo_sockets_are_not_the_programs(self):
        text = """\
7 rt_sigaction(SIGPIPE, {sa_handler=SIG_IGN, sa_mask=[PIPE], sa_flags=SA_RESTORER|SA_RESTART, sa_restorer=0x1}, NULL, 8) = 0
7 socket(AF_UNIX, SOCK_STREAM|SOCK_CLOEXEC|SOCK_NONBLOCK, 0) = 3
7 connect(3, {sa_family=AF_UNIX, sun_path="/var/run/nscd/socket"}, 110) = -1 ENOENT (No such file or directory)
7 close(3)                          = 0
7 socket(AF_NETLINK, SOCK_RAW|SOCK_CLOEXEC, NETLINK_ROUTE) = 3
7 sendto(3, [{nlmsg_len=20}], 20, 0, {sa_family=AF_NETLINK}, 12) = 20
7 close(3)                          = 0
7 socket(AF_INET, SOCK_STREAM, IPPROTO_IP) = 3
7 connect(3, {sa_family=AF_INET, sin_port=htons(8080), sin_addr=inet_addr("127.0.0.1")}, 16) = 0
7 close(3)                          = 0
"""
        (proc0,) = norm(text)
        self.assertEqual(proc0[1:], [
            "socket(AF_INET, SOCK_STREAM, IPPROTO_IP) = sock0",
            'connect(sock0, {sa_family=AF_INET, sin_port=htons(PORT), '
            'sin_addr=inet_addr("127.0.0.1")}, 16) = 0',
            "close(sock0) = 0"])

    def test_children_compared_in_fork_order(self):
        # A second child with a missing close must be reported in process 2, not process 1.
        two = C_SERVER.replace(
            "100 accept(3,  <unfinished ...>)      = ?\n",
            "100 accept(3, {sa_family=AF_INET, sin_port=htons(1), sin_addr=inet_addr(\"127.0.0.1\")}, [16]) = 4\n"
            "100 clone(child_stack=NULL, flags=SIGCHLD, child_tidptr=0x1) = 102\n"
            "102 close(3)                          = 0\n"
            "100 close(4)                          = 0\n"
            "102 recvfrom(4, \"\", 4096, 0, NULL, NULL) = 0\n"
            "102 close(4)                          = 0\n")
        broken = two.replace("102 close(4)                          = 0\n", "")
        self.assertEqual(normalise.first_difference(norm(two), norm(broken)), (2, 2))


if __name__ == "__main__":
    unittest.main()
