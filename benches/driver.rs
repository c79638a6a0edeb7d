//! `make bench`: the chapter's echo server, C (`c_reference/`) against Rust (`src/`), and the
//! chapter's performance claims re-measured (issue 4). Run by `cargo bench --bench driver`;
//! `--smoke` runs every benchmark once with tiny sizes (part of `make test`, no timing
//! asserted), `--help` lists the options.
//!
//! Each measurement starts its own server(s) on a kernel-chosen loopback port and kills them
//! (their process group) afterwards; within a benchmark the implementations alternate run by
//! run (C, Rust, C, Rust, ...) so drift on a noisy machine hits both alike. Output: a markdown
//! table on stdout (also `target/bench/bench.md`), `target/bench/results.csv` (every run),
//! `target/bench/summary.csv` (medians, min-max, Rust/C ratios) and `target/bench/bench.svg`.

#[path = "driver/load.rs"]
mod load;
#[path = "driver/server.rs"]
mod server;
#[path = "driver/stats.rs"]
mod stats;
#[path = "driver/svg.rs"]
mod svg;

use std::collections::HashMap;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use server::Server;
use stats::{Summary, summary};

const IMPLS: [(&str, &str); 2] = [("C", "c"), ("Rust", "rust")];
const BUFFER_SIZES: [usize; 3] = [1024, 4096, 65536];
const CLIENTS: [usize; 3] = [1, 8, 64];
/// The implementation name of figures the driver measures alone (no server involved).
const DRIVER: &str = "driver";

const USAGE: &str = "\
usage: cargo bench --bench driver -- [--smoke] [--runs N] [--only NAME,...] [--build DIR] [--out DIR]
  --smoke      every benchmark once, tiny sizes, echoes checked byte by byte (make bench-smoke)
  --callgrind  instead: instruction counts of each server under valgrind (make bench-callgrind)
  --runs N     runs per implementation and benchmark (default 5; smoke 1)
  --only LIST  some of: throughput,latency,connect,buffer,memory,reuseport,loopback
  --build DIR  where build/{c,rust} and build/bsN/{c,rust} are (default: build)
  --out DIR    where the CSVs, the table and the SVG go (default: target/bench)";

/// Sizes of one run; `full()` for `make bench`, `smoke()` for `make bench-smoke`.
struct Sizes {
    runs: usize,
    /// Throughput: MiB streamed by all clients together (each streams total / clients).
    stream_mib: u64,
    rounds: usize,
    conns: usize,
    req_bytes: usize,
    req_count: usize,
    req_cap: Duration,
    ceiling_mib: u64,
    sockets: usize,
    verify: bool,
}

impl Sizes {
    fn full() -> Sizes {
        Sizes {
            runs: 9,
            stream_mib: 256,
            rounds: 10_000,
            conns: 1_000,
            req_bytes: 16 * 1024,
            req_count: 20_000,
            req_cap: Duration::from_secs(2),
            ceiling_mib: 1024,
            sockets: 10_000,
            verify: false,
        }
    }

    fn smoke() -> Sizes {
        Sizes {
            runs: 1,
            stream_mib: 2,
            rounds: 200,
            conns: 16,
            req_bytes: 16 * 1024,
            req_count: 100,
            req_cap: Duration::from_secs(1),
            ceiling_mib: 8,
            sockets: 256,
            verify: true,
        }
    }
}

/// One figure from one run.
struct Rec {
    bench: &'static str,
    case: String,
    metric: &'static str,
    imp: &'static str,
    run: usize,
    value: f64,
}

struct Bench {
    sizes: Sizes,
    build: PathBuf,
    log: PathBuf,
    recs: Vec<Rec>,
}

impl Bench {
    fn push(
        &mut self,
        bench: &'static str,
        case: &str,
        metric: &'static str,
        imp: &'static str,
        run: usize,
        value: f64,
    ) {
        self.recs.push(Rec {
            bench,
            case: case.to_string(),
            metric,
            imp,
            run,
            value,
        });
    }

    fn bin(&self, dir: &str, buffer: Option<usize>) -> PathBuf {
        match buffer {
            None => self.build.join(dir).join("echo_server"),
            Some(n) => self
                .build
                .join(format!("bs{n}"))
                .join(dir)
                .join("echo_server"),
        }
    }

    fn start(&self, dir: &str, buffer: Option<usize>) -> Result<Server, String> {
        Server::start(&self.bin(dir, buffer), 0, &self.log)
    }

    /// Runs `f` for run 0..runs, C then Rust within each run, one fresh server each time.
    fn alternate(
        &mut self,
        buffer: Option<usize>,
        mut f: impl FnMut(&mut Bench, &Server, &'static str, usize) -> Result<(), String>,
    ) -> Result<(), String> {
        for run in 0..self.sizes.runs {
            for (imp, dir) in IMPLS {
                let srv = self.start(dir, buffer)?;
                f(self, &srv, imp, run).map_err(|e| format!("{imp} run {run}: {e}"))?;
            }
        }
        Ok(())
    }

    fn throughput(&mut self) -> Result<(), String> {
        let verify = self.sizes.verify;
        for clients in CLIENTS {
            let each = (self.sizes.stream_mib << 20) / clients as u64;
            let case = format!("{clients} client{}", if clients == 1 { "" } else { "s" });
            self.alternate(None, |b, srv, imp, run| {
                let v = load::throughput(srv.port, clients, each, verify)?;
                b.push("throughput", &case, "MiB/s", imp, run, v);
                Ok(())
            })?;
        }
        Ok(())
    }

    fn latency(&mut self) -> Result<(), String> {
        let rounds = self.sizes.rounds;
        let case = format!("64 B ping-pong x{rounds}");
        self.alternate(None, |b, srv, imp, run| {
            let (p50, p99) = load::latency(srv.port, rounds, 64)?;
            b.push("latency", &case, "p50 us", imp, run, p50);
            b.push("latency", &case, "p99 us", imp, run, p99);
            Ok(())
        })
    }

    fn connect(&mut self) -> Result<(), String> {
        let conns = self.sizes.conns;
        for (case, par) in [("sequential", 1), ("8 at a time", 8)] {
            self.alternate(None, |b, srv, imp, run| {
                let v = load::conn_rate(srv.port, conns, par)?;
                b.push("connect+echo+close", case, "conn/s", imp, run, v);
                Ok(())
            })?;
        }
        Ok(())
    }

    fn buffer(&mut self) -> Result<(), String> {
        let (req, count, cap) = (
            self.sizes.req_bytes,
            self.sizes.req_count,
            self.sizes.req_cap,
        );
        for quickack in [false, true] {
            let bench = if quickack {
                "buffer (client QUICKACK)"
            } else {
                "buffer"
            };
            for n in BUFFER_SIZES {
                let case = format!("BUFFER_SIZE {n}");
                self.alternate(Some(n), |b, srv, imp, run| {
                    let (rps, mibs) = load::requests(srv.port, req, count, cap, quickack)?;
                    b.push(bench, &case, "req/s", imp, run, rps);
                    b.push(bench, &case, "MiB/s", imp, run, mibs);
                    Ok(())
                })?;
            }
        }
        Ok(())
    }

    fn memory(&mut self) -> Result<(), String> {
        self.alternate(None, |b, srv, imp, run| {
            let parent_hwm = server::status_kib(srv.pid, "VmHWM").ok_or("no VmHWM")?;
            let parent_rss = server::status_kib(srv.pid, "VmRSS").ok_or("no VmRSS")?;
            // One client that has echoed 64 KiB, so its child has run every line it will run.
            let mut s =
                std::net::TcpStream::connect(("127.0.0.1", srv.port)).map_err(|e| e.to_string())?;
            let data = vec![5u8; 64 * 1024];
            let mut back = vec![0u8; data.len()];
            {
                use std::io::{Read, Write};
                s.write_all(&data).map_err(|e| e.to_string())?;
                s.read_exact(&mut back).map_err(|e| e.to_string())?;
            }
            let kids = server::children(srv.pid);
            let [child] = kids[..] else {
                return Err(format!("expected one server child, found {kids:?}"));
            };
            let c_hwm = server::status_kib(child, "VmHWM").ok_or("no child VmHWM")?;
            let c_rss = server::status_kib(child, "VmRSS").ok_or("no child VmRSS")?;
            let c_priv = server::private_kib(child).ok_or("no child smaps_rollup")?;
            b.push("memory", "server parent", "VmHWM KiB", imp, run, parent_hwm);
            b.push("memory", "server parent", "VmRSS KiB", imp, run, parent_rss);
            b.push("memory", "one child", "VmHWM KiB", imp, run, c_hwm);
            b.push("memory", "one child", "VmRSS KiB", imp, run, c_rss);
            b.push("memory", "one child", "private KiB", imp, run, c_priv);
            drop(s);
            Ok(())
        })
    }

    /// SO_REUSEPORT: one server process against two bound to the same port.
    fn reuseport(&mut self) -> Result<(), String> {
        let conns = self.sizes.conns;
        let each = (self.sizes.stream_mib << 20) / 8;
        for run in 0..self.sizes.runs {
            for (imp, dir) in IMPLS {
                let mut per = [[0.0; 2]; 2];
                for (k, procs) in [1usize, 2].into_iter().enumerate() {
                    let first = self.start(dir, None)?;
                    let second = if procs == 2 {
                        Some(Server::start(&self.bin(dir, None), first.port, &self.log)?)
                    } else {
                        None
                    };
                    let case = if procs == 1 {
                        "1 process"
                    } else {
                        "2 processes"
                    };
                    let err = |e: String| format!("{imp} run {run} {case}: {e}");
                    per[k][0] = load::conn_rate(first.port, conns, 8).map_err(err)?;
                    per[k][1] =
                        load::throughput(first.port, 8, each, self.sizes.verify).map_err(err)?;
                    self.push(
                        "SO_REUSEPORT",
                        case,
                        "conn/s (8 at a time)",
                        imp,
                        run,
                        per[k][0],
                    );
                    self.push(
                        "SO_REUSEPORT",
                        case,
                        "MiB/s (8 clients)",
                        imp,
                        run,
                        per[k][1],
                    );
                    drop(second);
                }
                self.push(
                    "SO_REUSEPORT",
                    "gain 2/1",
                    "conn/s x",
                    imp,
                    run,
                    per[1][0] / per[0][0],
                );
                self.push(
                    "SO_REUSEPORT",
                    "gain 2/1",
                    "MiB/s x",
                    imp,
                    run,
                    per[1][1] / per[0][1],
                );
            }
        }
        Ok(())
    }

    /// The driver alone: the loopback ceiling, the cost of socket() and the kernel's slab
    /// objects per socket, measured once per run like the servers.
    fn loopback(&mut self) -> Result<(), String> {
        for run in 0..self.sizes.runs {
            let v = load::loopback_ceiling(self.sizes.ceiling_mib << 20)?;
            self.push(
                "loopback ceiling",
                "1 stream, 1 MiB writes",
                "MiB/s",
                DRIVER,
                run,
                v,
            );
            let us = load::socket_cost(self.sizes.sockets)?;
            self.push(
                "socket()",
                "AF_INET, SOCK_STREAM",
                "us/call",
                DRIVER,
                run,
                us,
            );
            // The kernel's own objects per TCP socket (slab object sizes; root reads slabinfo).
            if let Some(bytes) = load::slab_bytes(&["TCP", "sock_inode_cache"]) {
                self.push(
                    "kernel memory",
                    "TCP + sock_inode_cache slab objects",
                    "bytes/socket",
                    DRIVER,
                    run,
                    bytes,
                );
            }
        }
        Ok(())
    }
}

/// `--callgrind`: each implementation's server under `valgrind --tool=callgrind`, one fresh
/// server per workload; instructions (Ir) of the parent and of all its children (each counted
/// from its entry into `handle_client`). Instruction
/// counts repeat to a fraction of a percent on a loaded machine, where timings do not.
fn callgrind(b: &Bench, out: &Path) -> Result<String, String> {
    let conns = 200;
    let workloads: [(&str, usize); 4] = [
        ("start + stop, no client", 0),
        ("1 client streams 16 MiB", 1),
        ("64 B ping-pong x2000", 1),
        ("connect+echo+close x200", conns),
    ];
    let mut md = String::from(
        "| workload | C parent Ir | Rust parent Ir | Rust/C | C children Ir | Rust children Ir | Rust/C |\n|---|---|---|---|---|---|---|\n",
    );
    for (w, (name, _)) in workloads.iter().enumerate() {
        let mut ir = [[0u64; 2]; 2]; // [impl][parent, children]
        for (k, (imp, dir)) in IMPLS.into_iter().enumerate() {
            let dir_out = out.join("callgrind").join(format!("{dir}-{w}"));
            let _ = fs::remove_dir_all(&dir_out);
            fs::create_dir_all(&dir_out).map_err(|e| e.to_string())?;
            let wrapper = [
                "valgrind".to_string(),
                "--tool=callgrind".into(),
                format!("--callgrind-out-file={}/%p.out", dir_out.display()),
                // A child inherits its parent's counts at fork: zero them where the child's
                // own work starts, so "children" is handle_client and exit only.
                "--zero-before=*handle_client*".into(),
            ];
            let mut srv = Server::start_under(&wrapper, &b.bin(dir, None), 0, &b.log)
                .map_err(|e| format!("{imp}: {e} (is valgrind installed?)"))?;
            let res = match w {
                0 => Ok(()),
                1 => load::throughput(srv.port, 1, 16 << 20, false).map(|_| ()),
                2 => load::latency(srv.port, 2000, 64).map(|_| ()),
                _ => load::conn_rate(srv.port, conns, 1).map(|_| ()),
            };
            res.map_err(|e| format!("{imp} {name}: {e}"))?;
            // Children write their profile as they exit: wait for the last one.
            let t = Instant::now();
            while !server::children(srv.pid).is_empty() && t.elapsed() < Duration::from_secs(60) {
                std::thread::sleep(Duration::from_millis(50));
            }
            let parent = srv.pid;
            srv.terminate();
            drop(srv);
            for e in fs::read_dir(&dir_out).map_err(|e| e.to_string())?.flatten() {
                let text = fs::read_to_string(e.path()).unwrap_or_default();
                let total: u64 = text
                    .lines()
                    .find_map(|l| {
                        l.strip_prefix("totals:")
                            .or_else(|| l.strip_prefix("summary:"))
                    })
                    .and_then(|v| v.split_whitespace().next()?.parse().ok())
                    .unwrap_or(0);
                let is_parent = e.file_name().to_string_lossy() == format!("{parent}.out");
                ir[k][usize::from(!is_parent)] += total;
            }
        }
        let ratio = |r: u64, c: u64| {
            if c == 0 {
                "–".to_string()
            } else {
                format!("{:.3}", r as f64 / c as f64)
            }
        };
        let _ = writeln!(
            md,
            "| {name} | {} | {} | {} | {} | {} | {} |",
            ir[0][0],
            ir[1][0],
            ratio(ir[1][0], ir[0][0]),
            ir[0][1],
            ir[1][1],
            ratio(ir[1][1], ir[0][1])
        );
        eprintln!("bench: callgrind {name} done");
    }
    Ok(md)
}

/// A table row: (bench, case, metric), in the order first measured.
type Key = (&'static str, String, &'static str);

fn rows(recs: &[Rec]) -> Vec<Key> {
    let mut keys: Vec<Key> = Vec::new();
    for r in recs {
        let k = (r.bench, r.case.clone(), r.metric);
        if !keys.contains(&k) {
            keys.push(k);
        }
    }
    keys
}

fn values(recs: &[Rec], k: &Key, imp: &str) -> Vec<(usize, f64)> {
    recs.iter()
        .filter(|r| r.bench == k.0 && r.case == k.1 && r.metric == k.2 && r.imp == imp)
        .map(|r| (r.run, r.value))
        .collect()
}

/// Rust/C per run (the same run index: measured one right after the other).
fn ratios(c: &[(usize, f64)], rust: &[(usize, f64)]) -> Vec<f64> {
    let by_run: HashMap<usize, f64> = c.iter().copied().collect();
    rust.iter()
        .filter_map(|(run, v)| by_run.get(run).map(|cv| v / cv))
        .collect()
}

fn fmt(v: f64) -> String {
    if v.abs() >= 1000.0 {
        format!("{v:.0}")
    } else if v.abs() >= 100.0 {
        format!("{v:.1}")
    } else if v.abs() >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}

fn cell(s: Option<Summary>) -> String {
    match s {
        Some(s) => format!("{} ({}–{})", fmt(s.median), fmt(s.min), fmt(s.max)),
        None => "–".into(),
    }
}

fn only_values(v: &[(usize, f64)]) -> Vec<f64> {
    v.iter().map(|x| x.1).collect()
}

struct Report {
    markdown: String,
    summary_csv: String,
}

fn report(recs: &[Rec], runs: usize) -> Report {
    let ceiling = summary(&only_values(&values(
        recs,
        &("loopback ceiling", "1 stream, 1 MiB writes".into(), "MiB/s"),
        DRIVER,
    )))
    .map(|s| s.median);
    let mut md = String::new();
    let mut csv = String::from(
        "bench,case,metric,c_median,c_min,c_max,rust_median,rust_min,rust_max,ratio_median,ratio_min,ratio_max,driver_median,driver_min,driver_max\n",
    );
    let _ = writeln!(
        md,
        "Median (min–max) over {runs} run(s) per implementation; Rust/C: the median (min–max) of the per-run ratios (for rates above 1 means Rust faster; for latencies and memory, Rust slower or larger).\n\
         \"of loopback\": the C median as a fraction of the driver's own one-way loopback stream (an echo carries every byte twice).\n"
    );
    let _ = writeln!(
        md,
        "| benchmark | case | metric | C | Rust | Rust/C | C of loopback |"
    );
    let _ = writeln!(md, "|---|---|---|---|---|---|---|");
    let mut driver_md =
        String::from("\n| driver alone | case | metric | median (min–max) |\n|---|---|---|---|\n");
    for k in rows(recs) {
        let c = values(recs, &k, "C");
        let r = values(recs, &k, "Rust");
        let d = values(recs, &k, DRIVER);
        let (cs, rs, ds) = (
            summary(&only_values(&c)),
            summary(&only_values(&r)),
            summary(&only_values(&d)),
        );
        let ratio = summary(&ratios(&c, &r));
        let opt = |s: Option<Summary>| -> [String; 3] {
            s.map(|s| [s.median, s.min, s.max].map(|v| format!("{v:.4}")))
                .unwrap_or_else(|| [String::new(), String::new(), String::new()])
        };
        let mut line = format!("{},{},{}", k.0, k.1, k.2);
        for s in [cs, rs, ratio, ds] {
            for f in opt(s) {
                line.push(',');
                line.push_str(&f);
            }
        }
        csv.push_str(&line);
        csv.push('\n');
        if ds.is_some() {
            let _ = writeln!(driver_md, "| {} | {} | {} | {} |", k.0, k.1, k.2, cell(ds));
            continue;
        }
        let frac = match (k.2.starts_with("MiB/s"), cs, ceiling) {
            (true, Some(c), Some(l)) if !k.2.ends_with('x') => {
                format!("{:.0}%", 100.0 * c.median / l)
            }
            _ => String::new(),
        };
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} | {} | {} |",
            k.0,
            k.1,
            k.2,
            cell(cs),
            cell(rs),
            cell(ratio),
            frac
        );
    }
    md.push_str(&driver_md);
    Report {
        markdown: md,
        summary_csv: csv,
    }
}

fn plot(recs: &[Rec], runs: usize) -> String {
    let get = |bench: &'static str, case: String, metric: &'static str, imp: &str| {
        summary(&only_values(&values(recs, &(bench, case, metric), imp)))
    };
    let mut panels = Vec::new();
    let groups: Vec<_> = CLIENTS
        .iter()
        .filter_map(|&n| {
            let case = format!("{n} client{}", if n == 1 { "" } else { "s" });
            Some((
                case.clone(),
                get("throughput", case.clone(), "MiB/s", "C")?,
                get("throughput", case, "MiB/s", "Rust")?,
            ))
        })
        .collect();
    if !groups.is_empty() {
        panels.push(svg::Panel {
            title: "Echo throughput vs clients (BUFFER_SIZE 4096)".into(),
            y_label: "MiB/s echoed".into(),
            groups,
            line: get(
                "loopback ceiling",
                "1 stream, 1 MiB writes".into(),
                "MiB/s",
                DRIVER,
            )
            .map(|s| (s.median, format!("loopback ceiling {:.0} MiB/s", s.median))),
        });
    }
    for (bench, title) in [
        ("buffer", "Request echo vs BUFFER_SIZE (as is)"),
        (
            "buffer (client QUICKACK)",
            "... client ACKs at once (QUICKACK)",
        ),
    ] {
        let groups: Vec<_> = BUFFER_SIZES
            .iter()
            .filter_map(|&n| {
                let case = format!("BUFFER_SIZE {n}");
                Some((
                    format!("{n} B"),
                    get(bench, case.clone(), "MiB/s", "C")?,
                    get(bench, case, "MiB/s", "Rust")?,
                ))
            })
            .collect();
        if !groups.is_empty() {
            panels.push(svg::Panel {
                title: title.into(),
                y_label: "MiB/s (16 KiB requests, 1 client)".into(),
                groups,
                line: None,
            });
        }
    }
    svg::render(
        &panels,
        &format!("bars: median of {runs} runs; whiskers: min–max"),
    )
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut sizes = Sizes::full();
    let mut runs = None;
    let mut only: Option<Vec<String>> = None;
    let mut callgrind_only = false;
    let mut build = root.join("build");
    let mut out = root.join("target").join("bench");
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--bench" => {} // cargo bench passes it to every bench target
            "--smoke" => sizes = Sizes::smoke(),
            "--callgrind" => callgrind_only = true,
            "--runs" => {
                runs = Some(
                    args.next()
                        .and_then(|n| n.parse().ok())
                        .filter(|&n| n > 0)
                        .ok_or(USAGE)?,
                )
            }
            "--only" => {
                only = Some(
                    args.next()
                        .ok_or(USAGE)?
                        .split(',')
                        .map(str::to_string)
                        .collect(),
                )
            }
            "--build" => build = PathBuf::from(args.next().ok_or(USAGE)?),
            "--out" => out = PathBuf::from(args.next().ok_or(USAGE)?),
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(());
            }
            other => return Err(format!("unknown argument {other:?}\n{USAGE}")),
        }
    }
    if let Some(n) = runs {
        sizes.runs = n;
    }
    let runs = sizes.runs;
    fs::create_dir_all(&out).map_err(|e| format!("{}: {e}", out.display()))?;
    let log = out.join("servers.stderr");
    let _ = fs::remove_file(&log);
    let mut b = Bench {
        sizes,
        build,
        log: log.clone(),
        recs: Vec::new(),
    };
    for (_, dir) in IMPLS {
        for buf in [None, Some(1024), Some(4096), Some(65536)] {
            let bin = b.bin(dir, buf);
            if !bin.is_file() {
                return Err(format!(
                    "{} missing: run `make bench-builds` (or make bench)",
                    bin.display()
                ));
            }
        }
    }
    if callgrind_only {
        let md = callgrind(&b, &out)?;
        println!("{md}");
        let p = out.join("callgrind.md");
        fs::write(&p, &md).map_err(|e| format!("{}: {e}", p.display()))?;
        return Ok(());
    }
    type Step = fn(&mut Bench) -> Result<(), String>;
    let steps: [(&str, Step); 7] = [
        ("loopback", Bench::loopback),
        ("throughput", Bench::throughput),
        ("latency", Bench::latency),
        ("connect", Bench::connect),
        ("buffer", Bench::buffer),
        ("memory", Bench::memory),
        ("reuseport", Bench::reuseport),
    ];
    let t0 = Instant::now();
    for (name, step) in steps {
        if only.as_ref().is_some_and(|o| !o.iter().any(|x| x == name)) {
            continue;
        }
        let t = Instant::now();
        step(&mut b).map_err(|e| format!("{name}: {e}"))?;
        eprintln!("bench: {name} done in {:.1} s", t.elapsed().as_secs_f64());
    }
    eprintln!("bench: all done in {:.1} s", t0.elapsed().as_secs_f64());

    let rep = report(&b.recs, runs);
    println!("{}", rep.markdown);
    let mut all = String::from("bench,case,metric,impl,run,value\n");
    for r in &b.recs {
        let _ = writeln!(
            all,
            "{},{},{},{},{},{}",
            r.bench, r.case, r.metric, r.imp, r.run, r.value
        );
    }
    let write = |name: &str, text: &str| {
        let p = out.join(name);
        fs::write(&p, text).map_err(|e| format!("{}: {e}", p.display()))
    };
    write("results.csv", &all)?;
    write("summary.csv", &rep.summary_csv)?;
    write("bench.md", &rep.markdown)?;
    write("bench.svg", &plot(&b.recs, runs))?;
    if let Ok(errs) = fs::read_to_string(&log)
        && !errs.is_empty()
    {
        eprintln!(
            "bench: the servers wrote to stderr (see {}):",
            log.display()
        );
        for l in errs.lines().take(5) {
            eprintln!("  {l}");
        }
    }
    eprintln!(
        "bench: wrote {}/{{results.csv,summary.csv,bench.md,bench.svg}}",
        out.display()
    );
    Ok(())
}
