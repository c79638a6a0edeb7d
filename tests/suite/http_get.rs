//! `http_get HOST PORT PATH`: byte-exact responses of any size, the exact
//! request, name resolution, error paths, argument checks.

use std::fs;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener};
use std::process::Command;
use std::sync::OnceLock;
use std::thread::{self, JoinHandle};

use crate::common::*;

pub const SCENARIOS: &[Scenario] = &[
    ("http_get::file_0b_byte_exact", |i| get_file(i, 0)),
    ("http_get::file_4095b_byte_exact", |i| get_file(i, 4095)),
    ("http_get::file_4096b_byte_exact", |i| get_file(i, 4096)),
    ("http_get::file_4097b_byte_exact", |i| get_file(i, 4097)),
    ("http_get::file_5mib_with_nuls_byte_exact", |i| {
        get_file(i, 5 * 1024 * 1024)
    }),
    ("http_get::missing_path_404_exit_0", missing_path_404),
    (
        "http_get::exact_request_and_raw_response",
        exact_request_and_response,
    ),
    ("http_get::host_localhost_resolves", host_localhost),
    (
        "http_get::host_inet_aton_forms_refused_as_by_tcp_client",
        inet_aton_forms,
    ),
    ("http_get::refused", refused),
    (
        "http_get::unresolvable_name_getaddrinfo_error",
        unresolvable,
    ),
    (
        "http_get::server_closes_without_response_exit_1",
        closes_without_response,
    ),
    (
        "http_get::server_resets_mid_response_exit_1",
        resets_mid_response,
    ),
    (
        "http_get::request_of_1024_bytes_refused_exit_1",
        request_over_1023_bytes,
    ),
    (
        // http_get connects with tcp_client_connect: the same interrupted connect.
        "http_get::stop_cont_in_connect_still_times_out_at_5s",
        |i| stop_cont_in_connect_times_out(i, "http_get", &["/"]),
    ),
    ("http_get::bad_args_missing", |i| {
        usage_cases(i, &[&[], &["127.0.0.1"], &["127.0.0.1", "{P}"]])
    }),
    ("http_get::bad_args_port", |i| {
        usage_cases(
            i,
            &[
                &["127.0.0.1", "abc", "/"],
                &["127.0.0.1", "0", "/"],
                &["127.0.0.1", "65536", "/"],
            ],
        )
    }),
    (
        "http_get::bad_args_with_stderr_full_or_a_closed_pipe_exit_2",
        |i| usage_exit_2_with_broken_stderr(i, "http_get", &["127.0.0.1"]),
    ),
    ("http_get::bad_args_too_many", |i| {
        usage_cases(i, &[&["127.0.0.1", "{P}", "/", "extra"]])
    }),
    // docs/deviations.md #34: a space or CR LF would break or smuggle into the request.
    ("http_get::bad_args_host_or_path_not_visible_ascii", |i| {
        usage_cases(
            i,
            &[
                &["127.0.0.1", "{P}", "/a b"],
                &["127.0.0.1", "{P}", "/a\r\nX-Injected: 1"],
                &["127.0.0.1", "{P}", ""],
                &["bad host", "{P}", "/"],
                &["", "{P}", "/"],
            ],
        )
    }),
];

/// A static file server: Python's SimpleHTTPRequestHandler on a
/// kernel-picked port of 127.0.0.1, printing the port when ready. Its
/// server_bind skips getfqdn() so it makes no name lookups.
const PY_SERVER: &str = r#"
import functools, http.server, socketserver, sys

class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    def server_bind(self):
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]

class Handler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass

srv = Server(("127.0.0.1", 0), functools.partial(Handler, directory=sys.argv[1]))
print(srv.server_address[1], flush=True)
srv.serve_forever()
"#;

/// Starts the Python file server on `dir` and returns it with its port.
fn file_server(dir: &std::path::Path) -> Result<(Proc, u16), String> {
    need(&[Need::Tool("python3")])?;
    let mut cmd = Command::new(python3());
    cmd.arg("-c").arg(PY_SERVER).arg(dir);
    let p = Proc::spawn("python3 http.server", cmd, Input::Null, Capture::Keep)?;
    let line = p
        .stdout
        .wait_line(READY, "port line", |l| {
            !l.is_empty() && l.bytes().all(|b| b.is_ascii_digit())
        })
        .map_err(|e| {
            format!(
                "python file server: {e}\nstderr:\n{}",
                indent(&p.stderr.text())
            )
        })?;
    let port = line
        .parse()
        .map_err(|_| format!("bad port line '{line}'"))?;
    Ok((p, port))
}

/// The response inside `HTTP Response:\n` ... `\n`, split into the head
/// (status line and headers) and the body. Anything printed before
/// `HTTP Response:` fails, but only after the caller has checked the body
/// ([`nothing_before_response`]), so a stray line does not hide a wrong body.
fn split_output(out: &Outcome) -> Result<(String, Vec<u8>), String> {
    let raw = out.stdout.bytes();
    let start = raw
        .windows(15)
        .position(|w| w == b"HTTP Response:\n")
        .ok_or_else(|| out.fail("no 'HTTP Response:' line on stdout"))?;
    let inner = raw[start + 15..]
        .strip_suffix(b"\n".as_slice())
        .ok_or_else(|| out.fail("stdout is not 'HTTP Response:\\n' + response + '\\n'"))?;
    let sep = inner
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| out.fail("no end of headers (CRLF CRLF) in the response"))?;
    let head = String::from_utf8_lossy(&inner[..sep]).into_owned();
    Ok((head, inner[sep + 4..].to_vec()))
}

/// stdout starts with `HTTP Response:` (the `Connected to` line belongs on stderr).
fn nothing_before_response(out: &Outcome) -> TestResult {
    if !out.stdout.bytes().starts_with(b"HTTP Response:\n") {
        return Err(out.fail("stdout has something before 'HTTP Response:'"));
    }
    Ok(())
}

fn get_file(imp: &Impl, len: usize) -> TestResult {
    let file = data_file(len)?;
    let expected =
        fs::read(&file.path).map_err(|e| format!("read {}: {e}", file.path.display()))?;
    let dir = file.path.parent().ok_or("data file has no directory")?;
    let name = file
        .path
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or("bad data file name")?;
    let (_server, port) = file_server(dir)?;
    let p = port.to_string();
    let out = run(
        imp,
        "http_get",
        &["127.0.0.1", &p, &format!("/{name}")],
        Input::Null,
        secs(30),
    )?;
    out.expect_code(0)?;
    let (head, body) = split_output(&out)?;
    let status = head.lines().next().unwrap_or("");
    if !status.starts_with("HTTP/1.0 200 ") {
        return Err(out.fail(&format!("status line '{status}', expected 200")));
    }
    let length = format!("content-length: {len}");
    if !head.lines().any(|l| l.eq_ignore_ascii_case(&length)) {
        return Err(out.fail(&format!("no 'Content-Length: {len}' header in:\n{head}")));
    }
    if body != expected {
        return Err(format!(
            "body differs: expected {len} bytes (sha256 {}), got {} bytes (sha256 {})",
            file.sha256,
            body.len(),
            sha256_hex(&body)
        ));
    }
    nothing_before_response(&out)?;
    out.expect_stderr_line(&format!("Connected to 127.0.0.1:{port}"))
}

fn missing_path_404(imp: &Impl) -> TestResult {
    let dir = fresh_dir("www")?;
    let (_server, port) = file_server(&dir)?;
    let p = port.to_string();
    let out = run(
        imp,
        "http_get",
        &["127.0.0.1", &p, "/no/such/file.txt"],
        Input::Null,
        secs(30),
    )?;
    out.expect_code(0)?;
    let (head, _body) = split_output(&out)?;
    if !head.starts_with("HTTP/1.0 404 ") {
        return Err(out.fail("expected a 404 status line"));
    }
    nothing_before_response(&out)
}

/// Reads a request up to the end of its head (CRLF CRLF) or EOF; the bytes read.
fn read_request_head(s: &mut std::net::TcpStream) -> Result<Vec<u8>, String> {
    let mut req = Vec::new();
    let mut buf = [0u8; 4096];
    while !req.windows(4).any(|w| w == b"\r\n\r\n") {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => req.extend_from_slice(&buf[..n]),
            Err(e) => return Err(format!("reading the request: {e}")),
        }
    }
    Ok(req)
}

/// A one-shot HTTP peer in a thread: accepts one connection, reads the
/// request head, sends `response` (in three writes) or nothing, closes, and
/// hands back the request bytes.
struct Responder {
    port: u16,
    handle: JoinHandle<Result<Vec<u8>, String>>,
}

impl Responder {
    fn start(response: Option<Vec<u8>>) -> Result<Responder, String> {
        let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| format!("bind: {e}"))?;
        Responder::on(listener, response)
    }

    fn on(listener: TcpListener, response: Option<Vec<u8>>) -> Result<Responder, String> {
        let port = listener.local_addr().map_err(|e| e.to_string())?.port();
        let handle = thread::spawn(move || {
            let mut s = accept_timeout(&listener, secs(20))?;
            let req = read_request_head(&mut s)?;
            if let Some(resp) = response {
                for chunk in resp.chunks(resp.len() / 3 + 1) {
                    s.write_all(chunk)
                        .map_err(|e| format!("responder: send: {e}"))?;
                }
            }
            let _ = s.shutdown(Shutdown::Write);
            Ok(req)
        });
        Ok(Responder { port, handle })
    }

    fn request(self) -> Result<Vec<u8>, String> {
        self.handle
            .join()
            .map_err(|_| "responder thread panicked".to_owned())?
    }
}

/// A response with NUL bytes, bare LFs and no Content-Length: it ends
/// when the connection closes.
fn odd_response() -> Vec<u8> {
    let mut r =
        b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nX-Note: no length\r\n\r\n"
            .to_vec();
    r.extend_from_slice(b"\0\0binary\0body\nwith\r\nline ends\0");
    r.extend(random_bytes(10_000, 42));
    r.extend_from_slice(b"\0end");
    r
}

fn expect_request(req: &[u8], path: &str, host: &str) -> TestResult {
    let want = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    if req != want.as_bytes() {
        return Err(format!(
            "request differs\n  expected: {:?}\n  got:      {:?}",
            want,
            String::from_utf8_lossy(req)
        ));
    }
    Ok(())
}

fn expect_exact_stdout(out: &Outcome, response: &[u8]) -> TestResult {
    let mut want = b"HTTP Response:\n".to_vec();
    want.extend_from_slice(response);
    want.push(b'\n');
    if out.stdout.bytes() != want {
        return Err(out.fail(&format!(
            "stdout is not 'HTTP Response:\\n' + the {} response bytes + '\\n'",
            response.len()
        )));
    }
    Ok(())
}

/// `http_get HOST PORT PATH` against a responder that records the request and answers
/// `response`: exit 0, the `Connected` line, the exact request (Host `HOST:PORT`) and stdout.
fn get_from_responder(imp: &Impl, host: &str, path: &str, response: Vec<u8>) -> TestResult {
    let responder = Responder::start(Some(response.clone()))?;
    let port = responder.port;
    let p = port.to_string();
    let out = run(imp, "http_get", &[host, &p, path], Input::Null, secs(20))?;
    out.expect_code(0)?; // before waiting for the request: a failed program sends none
    let req = responder.request()?;
    expect_request(&req, path, &format!("{host}:{port}"))?;
    expect_exact_stdout(&out, &response)?;
    out.expect_stderr_line(&format!("Connected to 127.0.0.1:{port}"))
}

fn exact_request_and_response(imp: &Impl) -> TestResult {
    get_from_responder(imp, "127.0.0.1", "/some/path?x=1&y=%20", odd_response())
}

fn host_localhost(imp: &Impl) -> TestResult {
    let response = b"HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\nhi\n".to_vec();
    get_from_responder(imp, "localhost", "/", response)
}

fn refused(imp: &Impl) -> TestResult {
    let closed = closed_port()?;
    let port = closed.port.to_string();
    let out = run(
        imp,
        "http_get",
        &["127.0.0.1", &port, "/"],
        Input::Null,
        secs(10),
    )?;
    out.expect_only_line(1, "connect: Connection refused")
}

/// Can we run a program in a fresh network namespace (no interfaces up)?
fn have_unshare_net() -> bool {
    static OK: OnceLock<bool> = OnceLock::new();
    *OK.get_or_init(|| {
        on_path("unshare")
            && Command::new("unshare")
                .args(["-n", "true"])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .status()
                .map(|s| s.success())
                .unwrap_or(false)
    })
}

fn unresolvable(imp: &Impl) -> TestResult {
    // glibc rejects an empty label before building a query: this name sends
    // no DNS packet (checked with strace -f -e trace=network). Where possible
    // the program also runs without a network, so nothing could leave anyway.
    const NAME: &str = "bad..name";
    let launcher: &[&str] = if have_unshare_net() {
        &["unshare", "-n"]
    } else {
        &[]
    };
    let cmd = imp.command_via(launcher, "http_get", &[NAME, "80", "/"])?;
    let out = Proc::spawn("http_get", cmd, Input::Null, Capture::Keep)?.finish(secs(20))?;
    // glibc's gai_strerror(EAI_NONAME), the same text in C and Rust.
    out.expect_only_line(1, "getaddrinfo: bad..name: Name or service not known")
}

fn closes_without_response(imp: &Impl) -> TestResult {
    let responder = Responder::start(None)?;
    let port = responder.port;
    let p = port.to_string();
    let out = run(
        imp,
        "http_get",
        &["127.0.0.1", &p, "/"],
        Input::Null,
        secs(20),
    )?;
    responder.request()?;
    out.expect_code(1)?;
    let want =
        format!("Connected to 127.0.0.1:{port}\nrecv: connection closed before any response\n");
    if out.stderr_text() != want {
        return Err(out.fail(&format!("expected stderr to be exactly {want:?}")));
    }
    Ok(())
}

/// A path that makes the request 1024 bytes: refused before connecting (the server sees no
/// connection), with a message that names the argument to shorten, PATH.
fn request_over_1023_bytes(imp: &Impl) -> TestResult {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| format!("bind: {e}"))?;
    let port = listener.local_addr().map_err(|e| e.to_string())?.port();
    let p = port.to_string();
    let head = format!("GET  HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n");
    let path = format!("/{}", "a".repeat(1024 - head.len() - 1));
    let out = run(
        imp,
        "http_get",
        &["127.0.0.1", &p, &path],
        Input::Null,
        secs(20),
    )?;
    out.expect_only_line(
        1,
        "PATH too long: the request would be 1024 bytes, at most 1023",
    )?;
    if !out.stdout.bytes().is_empty() {
        return Err(out.fail("a refused request must print nothing on stdout"));
    }
    expect_no_connection(&listener).map_err(|e| out.fail(&e))
}

/// The old `inet_aton` spellings of 127.0.0.1 (short forms, hex, octal, one number), which
/// `getaddrinfo` accepts and `inet_pton` does not: refused as `tcp_client` refuses them, before
/// any connection (a leading 0 means octal there, so `010.1.1.1` would go to 8.1.1.1 while the
/// Host header says `010.1.1.1`). Only loopback forms are tried. A name (`localhost`) is still
/// resolved: [`host_localhost`].
fn inet_aton_forms(imp: &Impl) -> TestResult {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| format!("bind: {e}"))?;
    let port = listener.local_addr().map_err(|e| e.to_string())?.port();
    let p = port.to_string();
    all_cases(&["127.1", "0x7f.1", "0177.0.0.1", "2130706433"], |host| {
        let out = run(imp, "http_get", &[host, &p, "/"], Input::Null, secs(20))?;
        out.expect_only_line(1, &format!("inet_pton: invalid IPv4 address '{host}'"))?;
        expect_no_connection(&listener).map_err(|e| out.fail(&e))
    })
}

/// http_get's usage line, the whole of stderr on bad arguments.
const USAGE: &str =
    "usage: http_get HOST PORT PATH   (PORT 1-65535, PATH e.g. /index.html, no spaces)";

/// Each case runs with `{P}` replaced by a port nobody listens on.
fn usage_cases(imp: &Impl, cases: &[&[&str]]) -> TestResult {
    let closed = closed_port()?;
    let port = closed.port.to_string();
    all_cases(cases, |args| {
        let args: Vec<&str> = args
            .iter()
            .map(|a| if *a == "{P}" { port.as_str() } else { a })
            .collect();
        run(imp, "http_get", &args, Input::Null, secs(10))?.expect_only_line(2, USAGE)
    })
}

/// The server sends the head and part of the body, then resets the connection: the error is
/// reported (`recv: Connection reset by peer`, exit 1), not taken for the end of the response.
fn resets_mid_response(imp: &Impl) -> TestResult {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| format!("bind: {e}"))?;
    let port = listener.local_addr().map_err(|e| e.to_string())?.port();
    let peer = thread::spawn(move || -> TestResult {
        let mut s = accept_timeout(&listener, secs(20))?;
        read_request_head(&mut s)?;
        s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\nonly part of it")
            .map_err(|e| format!("peer: send: {e}"))?;
        set_linger_zero(&s)?; // close() now sends RST
        Ok(())
    });
    let p = port.to_string();
    let out = run(
        imp,
        "http_get",
        &["127.0.0.1", &p, "/"],
        Input::Null,
        secs(20),
    )?;
    peer.join()
        .map_err(|_| "peer thread panicked".to_owned())??;
    out.expect_code(1)?;
    out.expect_stderr_line("recv: Connection reset by peer")
}
