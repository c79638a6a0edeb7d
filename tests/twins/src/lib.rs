//! Function-level twins: the chapter's C functions, compiled from
//! `c_reference/` by `build.rs`, and the Rust port's, behind one interface, so each test in
//! `tests/twins.rs` is written once and runs against both.
//!
//! * [`c`]: the C functions, declared with their exact C signatures;
//! * [`rust`]: the `tcp_chapter` functions of the same names;
//! * [`Chapter`]: the seven chapter functions (and util's `write_all`) as one trait,
//!   implemented by [`C`] and [`Rust`].

use libc::{c_char, c_int, sockaddr_in};

/// The chapter's C, from `c_reference/` (server.c, client.c, http.c, util.c), linked in as
/// the static library `chapter_c`.
pub mod c {
    use libc::{c_char, c_int, sockaddr_in};

    unsafe extern "C" {
        /// `void setup_signal_handlers(void);`
        pub fn setup_signal_handlers();
        /// `int create_tcp_server(const char *addr, uint16_t port);`
        pub fn create_tcp_server(addr: *const c_char, port: u16) -> c_int;
        /// `void handle_client(int client_fd, struct sockaddr_in *client_addr);`
        pub fn handle_client(client_fd: c_int, client_addr: *mut sockaddr_in);
        /// `void tcp_server_loop(int server_fd);`
        pub fn tcp_server_loop(server_fd: c_int);
        /// `int tcp_client_connect(const char *server_addr, uint16_t server_port);`
        pub fn tcp_client_connect(server_addr: *const c_char, server_port: u16) -> c_int;
        /// `int tcp_connect_nonblocking(const char *server_addr, uint16_t server_port,
        /// int timeout_ms);`
        pub fn tcp_connect_nonblocking(
            server_addr: *const c_char,
            server_port: u16,
            timeout_ms: c_int,
        ) -> c_int;
        /// `int simple_http_client(const char *host, uint16_t port, const char *path);`
        pub fn simple_http_client(host: *const c_char, port: u16, path: *const c_char) -> c_int;
        /// `int write_all(int fd, const void *buf, size_t len);` (util.c)
        #[link_name = "write_all"]
        fn c_write_all(fd: c_int, buf: *const libc::c_void, len: usize) -> c_int;
    }

    /// util.c's `write_all`, taking a slice as the Rust twin does.
    ///
    /// # Errors
    /// Returns -1 with `errno` set by the `write` that failed.
    ///
    /// # Safety
    /// `fd` is an open fd the caller may write to.
    pub unsafe fn write_all(fd: c_int, buf: &[u8]) -> c_int {
        // SAFETY: `buf` is a live slice and its length is passed with it.
        unsafe { c_write_all(fd, buf.as_ptr().cast(), buf.len()) }
    }
}

/// The Rust port's functions (`src/`), under the same names as in [`c`].
pub mod rust {
    pub use tcp_chapter::client::{tcp_client_connect, tcp_connect_nonblocking};
    pub use tcp_chapter::http::simple_http_client;
    pub use tcp_chapter::server::{
        create_tcp_server, handle_client, setup_signal_handlers, tcp_server_loop,
    };
    pub use tcp_chapter::util::write_all;
}

/// The seven chapter functions, plus `write_all`. A twin test is generic over this trait and is instantiated
/// once with [`C`] and once with [`Rust`].
///
/// # Safety
///
/// Each function has the contract of the chapter function it forwards to (valid
/// NUL-terminated strings or null where allowed, fds the caller owns).
pub trait Chapter {
    /// `"c"` or `"rust"`: how the re-executed child processes are told which one to run.
    const NAME: &'static str;

    /// `setup_signal_handlers()`.
    ///
    /// # Safety
    /// Changes process-wide signal dispositions.
    unsafe fn setup_signal_handlers();
    /// `create_tcp_server(addr, port)`.
    ///
    /// # Safety
    /// `addr` is null or a NUL-terminated string.
    unsafe fn create_tcp_server(addr: *const c_char, port: u16) -> c_int;
    /// `handle_client(fd, addr)`.
    ///
    /// # Safety
    /// `fd` is a connected stream socket the call takes over (and closes); `addr` is valid.
    unsafe fn handle_client(fd: c_int, addr: *mut sockaddr_in);
    /// `tcp_server_loop(fd)`.
    ///
    /// # Safety
    /// `fd` is a listening socket; the call forks, so the process must be single-threaded
    /// (the child runs stdio and allocation; the twin tests call it in a child role only).
    unsafe fn tcp_server_loop(fd: c_int);
    /// `tcp_client_connect(addr, port)`.
    ///
    /// # Safety
    /// `addr` is a NUL-terminated string.
    unsafe fn tcp_client_connect(addr: *const c_char, port: u16) -> c_int;
    /// `tcp_connect_nonblocking(addr, port, timeout_ms)`.
    ///
    /// # Safety
    /// `addr` is a NUL-terminated string.
    unsafe fn tcp_connect_nonblocking(addr: *const c_char, port: u16, timeout_ms: c_int) -> c_int;
    /// `simple_http_client(host, port, path)`.
    ///
    /// # Safety
    /// `host` and `path` are NUL-terminated strings; the response goes to fd 1.
    unsafe fn simple_http_client(host: *const c_char, port: u16, path: *const c_char) -> c_int;
    /// `write_all(fd, buf)`: not a chapter function, the helper the programs share (util).
    ///
    /// # Safety
    /// `fd` is an open fd the caller may write to.
    unsafe fn write_all(fd: c_int, buf: &[u8]) -> c_int;
}

/// The C implementation (`c_reference/`).
pub struct C;

/// The Rust port (`src/`).
pub struct Rust;

/// Implements [`Chapter`] for `$ty` by forwarding each function to module `$m`.
macro_rules! forward {
    ($ty:ty, $name:literal, $m:ident, $addr_ptr:ty) => {
        impl Chapter for $ty {
            const NAME: &'static str = $name;

            unsafe fn setup_signal_handlers() {
                // SAFETY: the caller upholds the contract (see the trait).
                unsafe { $m::setup_signal_handlers() }
            }
            unsafe fn create_tcp_server(addr: *const c_char, port: u16) -> c_int {
                // SAFETY: as above.
                unsafe { $m::create_tcp_server(addr, port) }
            }
            unsafe fn handle_client(fd: c_int, addr: *mut sockaddr_in) {
                // SAFETY: as above.
                unsafe { $m::handle_client(fd, addr as $addr_ptr) }
            }
            unsafe fn tcp_server_loop(fd: c_int) {
                // SAFETY: as above.
                unsafe { $m::tcp_server_loop(fd) }
            }
            unsafe fn tcp_client_connect(addr: *const c_char, port: u16) -> c_int {
                // SAFETY: as above.
                unsafe { $m::tcp_client_connect(addr, port) }
            }
            unsafe fn tcp_connect_nonblocking(
                addr: *const c_char,
                port: u16,
                timeout_ms: c_int,
            ) -> c_int {
                // SAFETY: as above.
                unsafe { $m::tcp_connect_nonblocking(addr, port, timeout_ms) }
            }
            unsafe fn simple_http_client(
                host: *const c_char,
                port: u16,
                path: *const c_char,
            ) -> c_int {
                // SAFETY: as above.
                unsafe { $m::simple_http_client(host, port, path) }
            }
            unsafe fn write_all(fd: c_int, buf: &[u8]) -> c_int {
                // SAFETY: as above.
                unsafe { $m::write_all(fd, buf) }
            }
        }
    };
}

forward!(C, "c", c, *mut sockaddr_in);
forward!(Rust, "rust", rust, *const sockaddr_in);
