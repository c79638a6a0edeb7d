#!/usr/bin/env python3
"""Addresses: inet_pton against inet_addr, htons, INADDR_ANY, the size of the address spaces.

Chapter: "inet_addr() 대신 사용 (더 안전한 변환)", "htons(): ... (little endian → big endian)",
"INADDR_ANY: 시스템의 모든 네트워크 인터페이스", "AF_INET: 32bit 주소, 40억 개", "AF_INET6: 128bit".
References: inet_pton(3), inet_addr(3) (inet(3)), byteorder(3), ip(7); glibc <netinet/in.h>.
"""
import ctypes
import socket
import struct
import sys

from claimlib import done, libc, show, title, verdict

title("addresses", "inet_pton is the safer inet_addr; htons converts little to big endian")

libc.inet_addr.restype = ctypes.c_uint32
libc.inet_addr.argtypes = [ctypes.c_char_p]
libc.inet_pton.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_void_p]


def pton(text):
    buf = ctypes.create_string_buffer(4)
    rc = libc.inet_pton(socket.AF_INET, text.encode(), buf)
    return socket.inet_ntoa(buf.raw) if rc == 1 else f"rc {rc} (not an address)"


def addr(text):
    v = libc.inet_addr(text.encode())
    return "INADDR_NONE (error)" if v == 0xFFFFFFFF else socket.inet_ntoa(struct.pack("I", v))


rows = ["255.255.255.255", "1.2.3", "010.0.0.1", "0x7f.1", "999.1.1.1", "localhost"]
show(f"{'text':>17} | {'inet_addr()':>20} | inet_pton(AF_INET)")
for t in rows:
    show(f"{t:>17} | {addr(t):>20} | {pton(t)}")
verdict(addr("255.255.255.255") == "INADDR_NONE (error)" and addr("010.0.0.1") == "8.0.0.1"
        and pton("1.2.3").startswith("rc 0") and pton("010.0.0.1").startswith("rc 0"), "holds",
        "prefer inet_pton, but not for 'security': inet_addr cannot tell the valid 255.255.255.255 "
        "from an error (both INADDR_NONE) and accepts short and octal/hex forms (1.2.3, 010.0.0.1 "
        "= 8.0.0.1); inet_pton accepts only four decimal parts and says 0 for anything else")

port = 8080
net = struct.pack("H", socket.htons(port))      # the bytes as they sit in sin_port
show(f"this CPU: {sys.byteorder}-endian; htons({port}) = 0x{socket.htons(port):04x}, in memory "
     f"{net.hex(' ')} (big-endian 0x{port:04x})")
show("/usr/include/netinet/in.h: '# if __BYTE_ORDER == __BIG_ENDIAN' ... "
     "'# define htons(x) __uint16_identity (x)' (a no-op there)")
verdict(net == port.to_bytes(2, "big"), "holds",
        "htons puts the port in network (big-endian) byte order; on this little-endian x86-64 that "
        "swaps the bytes, on a big-endian CPU it does nothing")

show(f"IPv4: 2^32 = {2**32:,} addresses; IPv6: 2^128 = {2**128:.3e}")
verdict(True, "holds", "'40억 개': 2^32 is about 4.3 billion (struct in_addr is 32 bits); 2^128 for "
        "IPv6 (struct in6_addr, 16 bytes)")

show("/usr/include/netinet/in.h: '#define INADDR_ANY ((in_addr_t) 0x00000000)'")
verdict(socket.INADDR_ANY == 0, "holds",
        "INADDR_ANY (0.0.0.0) binds every local address, including ones added later (ip(7)); "
        "the suite shows it: echo_server::bind_0_0_0_0_reachable_via_loopback")
done()
