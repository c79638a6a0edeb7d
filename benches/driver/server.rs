//! Starting and stopping an `echo_server` for one measurement, and reading its memory from
//! `/proc`. Each server runs in its own process group, so killing the group ends the parent
//! and every forked child at once, and nothing the driver did not start.

use std::fs::{self, File, OpenOptions};
use std::io::{BufRead, BufReader, Read};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::thread::JoinHandle;

/// A running server: its parent pid (also its process-group id) and the port it listens on.
pub struct Server {
    child: Child,
    pub pid: i32,
    pub port: u16,
    drain: Option<JoinHandle<()>>,
}

impl Server {
    /// Starts `bin PORT 127.0.0.1` (PORT 0: the kernel picks) and waits for its
    /// `TCP server listening on 127.0.0.1:PORT` line. Its stderr is appended to `log`.
    pub fn start(bin: &Path, port: u16, log: &Path) -> Result<Server, String> {
        Server::start_under(&[], bin, port, log)
    }

    /// As [`Server::start`], run under `wrapper` (e.g. `valgrind --tool=callgrind ...`).
    pub fn start_under(
        wrapper: &[String],
        bin: &Path,
        port: u16,
        log: &Path,
    ) -> Result<Server, String> {
        let err = OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .map_err(|e| format!("{}: {e}", log.display()))?;
        let mut cmd = match wrapper.split_first() {
            Some((first, rest)) => {
                let mut c = Command::new(first);
                c.args(rest).arg(bin);
                c
            }
            None => Command::new(bin),
        };
        let mut child = cmd
            .arg(port.to_string())
            .arg("127.0.0.1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(err)
            .process_group(0)
            .spawn()
            .map_err(|e| format!("{}: {e}", bin.display()))?;
        let pid = child.id() as i32;
        let mut out = BufReader::new(child.stdout.take().expect("stdout is piped"));
        let mut line = String::new();
        let got = out.read_line(&mut line);
        let port = line
            .trim_end()
            .strip_prefix("TCP server listening on 127.0.0.1:")
            .and_then(|p| p.parse::<u16>().ok());
        let Some(port) = port.filter(|_| got.is_ok()) else {
            kill_group(pid);
            let _ = child.wait();
            return Err(format!(
                "{}: no listening line (got {line:?})",
                bin.display()
            ));
        };
        // The server prints a line per client (line-buffered in both languages): drain them,
        // or a full pipe would stall it. EOF comes when the whole group is gone.
        let drain = std::thread::spawn(move || {
            let mut sink = [0u8; 8192];
            while matches!(out.get_mut().read(&mut sink), Ok(n) if n > 0) {}
        });
        Ok(Server {
            child,
            pid,
            port,
            drain: Some(drain),
        })
    }
}

impl Server {
    /// SIGTERM to the parent alone, and wait for it: under valgrind, the tool writes its
    /// results on the way out (a SIGKILL would lose them). Drop then kills the group.
    pub fn terminate(&mut self) {
        // SAFETY: plain syscall; `self.pid` is the server this driver spawned.
        unsafe { libc::kill(self.pid, libc::SIGTERM) };
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        kill_group(self.pid);
        let _ = self.child.wait();
        if let Some(d) = self.drain.take() {
            let _ = d.join();
        }
    }
}

/// SIGKILL to the process group `pgid` (a server we started, with its children).
fn kill_group(pgid: i32) {
    // SAFETY: plain syscall; `pgid` is the group of a child this driver spawned with
    // `process_group(0)`, so only that server and its forked children are signalled.
    unsafe { libc::kill(-pgid, libc::SIGKILL) };
}

/// A `kB` field of `/proc/PID/status` (`VmHWM`, `VmRSS`, ...), in KiB.
pub fn status_kib(pid: i32, field: &str) -> Option<f64> {
    kib_field(
        &fs::read_to_string(format!("/proc/{pid}/status")).ok()?,
        field,
    )
}

/// Private memory of `pid` (Private_Clean + Private_Dirty of `/proc/PID/smaps_rollup`), KiB:
/// what this process alone costs, the pages it shares with its parent after `fork` left out.
pub fn private_kib(pid: i32) -> Option<f64> {
    let text = fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).ok()?;
    Some(kib_field(&text, "Private_Clean")? + kib_field(&text, "Private_Dirty")?)
}

fn kib_field(text: &str, field: &str) -> Option<f64> {
    text.lines().find_map(|l| {
        let rest = l.strip_prefix(field)?.strip_prefix(':')?;
        rest.trim().trim_end_matches("kB").trim().parse().ok()
    })
}

/// The pids whose parent is `pid` (from `/proc/PID/task/PID/children`, else a scan of /proc).
pub fn children(pid: i32) -> Vec<i32> {
    if let Ok(s) = fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")) {
        return s
            .split_whitespace()
            .filter_map(|p| p.parse().ok())
            .collect();
    }
    let mut kids = Vec::new();
    for e in fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(p) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        let mut stat = String::new();
        if File::open(format!("/proc/{p}/stat"))
            .and_then(|mut f| f.read_to_string(&mut stat))
            .is_err()
        {
            continue;
        }
        // "pid (comm) state ppid ...": comm may hold spaces, so split after the last ')'.
        let ppid = stat
            .rsplit_once(')')
            .and_then(|(_, r)| r.split_whitespace().nth(1))
            .and_then(|s| s.parse::<i32>().ok());
        if ppid == Some(pid) {
            kids.push(p);
        }
    }
    kids
}
