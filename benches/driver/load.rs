//! The workloads: clients of the echo server, and the driver's own loopback measurements.
//! Every loop is bounded (a byte, round-trip or connection count, and a time cap where a slow
//! server could otherwise make a run drag); every echo is checked by length, and by content
//! when `verify` is set (the smoke run).

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use crate::stats::percentile;

const MIB: f64 = 1024.0 * 1024.0;
const CHUNK: usize = 64 * 1024;
/// No single read or write may block longer than this: a stuck server fails the run.
const IO_TIMEOUT: Duration = Duration::from_secs(20);

fn connect(port: u16) -> Result<TcpStream, String> {
    let s = TcpStream::connect(("127.0.0.1", port)).map_err(|e| format!("connect: {e}"))?;
    s.set_read_timeout(Some(IO_TIMEOUT))
        .map_err(|e| e.to_string())?;
    s.set_write_timeout(Some(IO_TIMEOUT))
        .map_err(|e| e.to_string())?;
    Ok(s)
}

/// Byte `i` of every stream: a pattern that a lost or reordered chunk would break.
fn pattern(i: u64) -> u8 {
    (i % 251) as u8
}

/// `clients` connections at once, each streaming `bytes` through the server while reading the
/// echo back concurrently (a writer and a reader thread per connection). Returns MiB/s of
/// echoed data, all clients together, from the start signal to the last byte back.
pub fn throughput(port: u16, clients: usize, bytes: u64, verify: bool) -> Result<f64, String> {
    let streams: Vec<TcpStream> = (0..clients)
        .map(|_| connect(port))
        .collect::<Result<_, _>>()?;
    let start = Arc::new(Barrier::new(2 * clients + 1));
    let mut readers = Vec::new();
    let mut writers = Vec::new();
    for s in streams {
        let mut w = s.try_clone().map_err(|e| e.to_string())?;
        let mut r = s;
        let b = Arc::clone(&start);
        writers.push(thread::spawn(move || -> Result<Instant, String> {
            let mut buf = vec![0u8; CHUNK];
            let mut sent = 0u64;
            b.wait();
            let t0 = Instant::now();
            while sent < bytes {
                let n = (bytes - sent).min(CHUNK as u64) as usize;
                if verify {
                    for (k, x) in buf[..n].iter_mut().enumerate() {
                        *x = pattern(sent + k as u64);
                    }
                }
                w.write_all(&buf[..n]).map_err(|e| format!("send: {e}"))?;
                sent += n as u64;
            }
            w.shutdown(Shutdown::Write).map_err(|e| e.to_string())?;
            Ok(t0)
        }));
        let b = Arc::clone(&start);
        readers.push(thread::spawn(move || -> Result<Instant, String> {
            let mut buf = vec![0u8; CHUNK];
            let mut got = 0u64;
            b.wait();
            loop {
                let n = r.read(&mut buf).map_err(|e| format!("recv: {e}"))?;
                if n == 0 {
                    break;
                }
                if verify
                    && buf[..n]
                        .iter()
                        .enumerate()
                        .any(|(k, &x)| x != pattern(got + k as u64))
                {
                    return Err(format!("echo differs near byte {got}"));
                }
                got += n as u64;
            }
            if got != bytes {
                return Err(format!("echoed {got} of {bytes} bytes"));
            }
            Ok(Instant::now())
        }));
    }
    // From the first byte sent to the last byte back, as the clients' own clocks saw it (the
    // main thread may be scheduled late on a busy 2-core machine).
    start.wait();
    let mut last = None::<Instant>;
    for h in readers {
        let t = h.join().map_err(|_| "reader panicked")??;
        last = Some(last.map_or(t, |l| l.max(t)));
    }
    let mut first = None::<Instant>;
    for h in writers {
        let t = h.join().map_err(|_| "writer panicked")??;
        first = Some(first.map_or(t, |f| f.min(t)));
    }
    let secs = match (first, last) {
        (Some(f), Some(l)) => l.duration_since(f).as_secs_f64(),
        _ => return Err("no clients".into()),
    };
    Ok(clients as f64 * bytes as f64 / MIB / secs)
}

/// One client, `size`-byte ping-pong, `rounds` round trips (TCP_NODELAY on the client).
/// Returns (p50, p99) in microseconds.
pub fn latency(port: u16, rounds: usize, size: usize) -> Result<(f64, f64), String> {
    let mut s = connect(port)?;
    s.set_nodelay(true).map_err(|e| e.to_string())?;
    let mut out = vec![0u8; size];
    let mut back = vec![0u8; size];
    let mut rtt = Vec::with_capacity(rounds);
    for i in 0..rounds {
        out.fill(pattern(i as u64));
        let t = Instant::now();
        s.write_all(&out).map_err(|e| format!("send: {e}"))?;
        s.read_exact(&mut back).map_err(|e| format!("recv: {e}"))?;
        rtt.push(t.elapsed().as_secs_f64() * 1e6);
        if back != out {
            return Err(format!("round trip {i}: echo differs"));
        }
    }
    Ok((percentile(&rtt, 50.0), percentile(&rtt, 99.0)))
}

/// connect + 1-byte echo + close, `total` times, by `parallel` threads at once.
/// Returns connections per second (each one is an accept and a fork in the server).
pub fn conn_rate(port: u16, total: usize, parallel: usize) -> Result<f64, String> {
    let per = total.div_ceil(parallel);
    let start = Arc::new(Barrier::new(parallel + 1));
    let workers: Vec<_> = (0..parallel)
        .map(|_| {
            let b = Arc::clone(&start);
            thread::spawn(move || -> Result<(), String> {
                b.wait();
                for _ in 0..per {
                    let mut s = connect(port)?;
                    s.write_all(b"x").map_err(|e| format!("send: {e}"))?;
                    let mut one = [0u8; 1];
                    s.read_exact(&mut one).map_err(|e| format!("recv: {e}"))?;
                    if one != *b"x" {
                        return Err("1-byte echo differs".into());
                    }
                }
                Ok(())
            })
        })
        .collect();
    start.wait();
    let t0 = Instant::now();
    for w in workers {
        w.join().map_err(|_| "connector panicked")??;
    }
    Ok((per * parallel) as f64 / t0.elapsed().as_secs_f64())
}

/// One client sending `req`-byte requests and reading each echo whole before the next, up to
/// `count` requests or `cap` of time. Returns (requests/s, MiB/s).
///
/// `quickack`: the client sets `TCP_QUICKACK` before every read, so it acknowledges each
/// segment at once. Without it, a request larger than the server's buffer meets Nagle's
/// algorithm in the server (no `TCP_NODELAY`: its second `send`, smaller than the MSS, waits
/// while the first is unacknowledged; `tcp_nagle_check`, net/ipv4/tcp_output.c) and the
/// client's delayed ACK (at least 40 ms on Linux, `TCP_DELACK_MIN`, up to `TCP_DELACK_MAX`,
/// 200 ms; include/net/tcp.h): a stall per request.
pub fn requests(
    port: u16,
    req: usize,
    count: usize,
    cap: Duration,
    quickack: bool,
) -> Result<(f64, f64), String> {
    let mut s = connect(port)?;
    s.set_nodelay(true).map_err(|e| e.to_string())?;
    let out: Vec<u8> = (0..req as u64).map(pattern).collect();
    let mut back = vec![0u8; req];
    let t0 = Instant::now();
    let mut done = 0usize;
    while done < count && (done == 0 || t0.elapsed() < cap) {
        s.write_all(&out).map_err(|e| format!("send: {e}"))?;
        let mut got = 0;
        while got < req {
            if quickack {
                set_quickack(&s)?;
            }
            match s.read(&mut back[got..]) {
                Ok(0) => return Err("server closed early".into()),
                Ok(n) => got += n,
                Err(e) => return Err(format!("recv: {e}")),
            }
        }
        if back != out {
            return Err(format!("request {done}: echo differs"));
        }
        done += 1;
    }
    let secs = t0.elapsed().as_secs_f64();
    Ok((done as f64 / secs, (done * req) as f64 / MIB / secs))
}

/// The loopback ceiling: sender and receiver both in the driver, 1 MiB application buffers,
/// one stream of `bytes` one way. Returns MiB/s.
pub fn loopback_ceiling(bytes: u64) -> Result<f64, String> {
    let l = TcpListener::bind("127.0.0.1:0").map_err(|e| format!("bind: {e}"))?;
    let port = l.local_addr().map_err(|e| e.to_string())?.port();
    let sender = thread::spawn(move || -> Result<(), String> {
        let mut s = connect(port)?;
        let buf = vec![7u8; 1 << 20];
        let mut sent = 0u64;
        while sent < bytes {
            let n = (bytes - sent).min(buf.len() as u64) as usize;
            s.write_all(&buf[..n]).map_err(|e| format!("send: {e}"))?;
            sent += n as u64;
        }
        Ok(())
    });
    let (mut r, _) = l.accept().map_err(|e| format!("accept: {e}"))?;
    r.set_read_timeout(Some(IO_TIMEOUT))
        .map_err(|e| e.to_string())?;
    let mut buf = vec![0u8; 1 << 20];
    let mut got = 0u64;
    let t0 = Instant::now();
    loop {
        let n = r.read(&mut buf).map_err(|e| format!("recv: {e}"))?;
        if n == 0 {
            break;
        }
        got += n as u64;
    }
    let secs = t0.elapsed().as_secs_f64();
    sender.join().map_err(|_| "sender panicked")??;
    if got != bytes {
        return Err(format!("loopback carried {got} of {bytes} bytes"));
    }
    Ok(bytes as f64 / MIB / secs)
}

/// The cost of `socket(AF_INET, SOCK_STREAM, 0)` alone (the chapter: "10-50 us"): `n` calls,
/// timed without their `close`. Returns microseconds per call.
pub fn socket_cost(n: usize) -> Result<f64, String> {
    const BATCH: usize = 256; // stay far below the fd limit
    let mut fds = Vec::with_capacity(BATCH);
    let mut spent = Duration::ZERO;
    let mut made = 0;
    while made < n {
        let k = BATCH.min(n - made);
        let t = Instant::now();
        for _ in 0..k {
            // SAFETY: plain syscall with constant arguments; the fd is closed below.
            let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_STREAM, 0) };
            fds.push(fd);
        }
        spent += t.elapsed();
        for fd in fds.drain(..) {
            if fd < 0 {
                return Err("socket() failed".into());
            }
            // SAFETY: `fd` was returned by socket() above and is closed once.
            unsafe { libc::close(fd) };
        }
        made += k;
    }
    Ok(spent.as_secs_f64() * 1e6 / n as f64)
}

/// `setsockopt(TCP_QUICKACK, 1)`: ACK at once (Linux resets it by itself, so set per read).
fn set_quickack(s: &TcpStream) -> Result<(), String> {
    let one: libc::c_int = 1;
    // SAFETY: `s` owns a live socket fd; `one` is a live c_int and its size is passed.
    let rc = unsafe {
        libc::setsockopt(
            s.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_QUICKACK,
            (&raw const one).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc < 0 {
        return Err(format!("TCP_QUICKACK: {}", std::io::Error::last_os_error()));
    }
    Ok(())
}

/// Sum of the slab object sizes of `caches` in `/proc/slabinfo` (bytes), or `None` when the
/// file is not readable (it is root's) or a cache is missing.
pub fn slab_bytes(caches: &[&str]) -> Option<f64> {
    let text = std::fs::read_to_string("/proc/slabinfo").ok()?;
    let mut sum = 0.0;
    for c in caches {
        // "name active_objs num_objs objsize ...": the fourth field.
        let line = text
            .lines()
            .find(|l| l.split_whitespace().next() == Some(c))?;
        sum += line.split_whitespace().nth(3)?.parse::<f64>().ok()?;
    }
    Some(sum)
}
