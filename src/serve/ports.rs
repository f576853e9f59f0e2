//! Self-healing port allocation: the preferred port, then the next 16, then an ephemeral one.
//! The policy is pure (`candidates`, `refusal`); `bind_with_fallback` applies it to any bind
//! function, so tests inject bind results and the servers pass `bind_exclusive`, a listening
//! socket no other program can share (`SO_EXCLUSIVEADDRUSE` on Windows).

use std::io;
use std::net::{IpAddr, SocketAddr};

/// How many ports after the preferred one are tried before asking for an ephemeral port.
pub const NEXT_PORTS: u16 = 16;

/// Ports to try, in order; `0` means "any free port" and comes last.
pub fn candidates(preferred: u16) -> Vec<u16> {
    let mut ports = vec![];
    if preferred != 0 {
        ports.push(preferred);
        ports.extend((1..=NEXT_PORTS).filter_map(|i| preferred.checked_add(i)));
    }
    ports.push(0);
    ports
}

/// Winsock's codes, by number, so the mapping is the same (and tested) on every OS.
mod wsa {
    /// A port in one of Windows' excluded ranges (Hyper-V, WinNAT, WSL reserve blocks of ports,
    /// often 50000 and up and sometimes the 500s), or a socket held with `SO_EXCLUSIVEADDRUSE`.
    pub const EACCES: i32 = 10013;
    pub const EADDRINUSE: i32 = 10048;
    pub const EADDRNOTAVAIL: i32 = 10049;
}

/// Whether a bind error means "this port, not this server" (try the next one), and which kind
/// of refusal it is: in use, forbidden (a privileged port, or on Windows an excluded port range:
/// `WSAEACCES`), or an address this host does not have. Other errors stop the server.
pub fn refusal(e: &io::Error) -> Option<io::ErrorKind> {
    use io::ErrorKind::*;
    match e.raw_os_error() {
        Some(wsa::EACCES) => return Some(PermissionDenied),
        Some(wsa::EADDRINUSE) => return Some(AddrInUse),
        Some(wsa::EADDRNOTAVAIL) => return Some(AddrNotAvailable),
        _ => {}
    }
    matches!(e.kind(), AddrInUse | PermissionDenied | AddrNotAvailable).then(|| e.kind())
}

/// Why a port was passed over, for the log line.
pub fn refusal_text(kind: io::ErrorKind) -> &'static str {
    match kind {
        io::ErrorKind::AddrInUse => "in use",
        io::ErrorKind::PermissionDenied if cfg!(windows) => {
            "reserved: in an excluded port range, see `netsh interface ipv4 show excludedportrange protocol=tcp`"
        }
        io::ErrorKind::PermissionDenied => "not permitted: a privileged port",
        io::ErrorKind::AddrNotAvailable => "address not available",
        _ => "refused",
    }
}

/// Binds the first candidate that works. Returns the value and every port that was refused
/// (with why), for the log line. Other errors stop at once.
pub fn bind_with_fallback<T>(
    ip: IpAddr,
    preferred: u16,
    mut bind: impl FnMut(SocketAddr) -> io::Result<T>,
) -> io::Result<(T, Vec<(u16, io::ErrorKind)>)> {
    let mut refused = Vec::new();
    let mut last = None;
    for port in candidates(preferred) {
        match bind(SocketAddr::new(ip, port)) {
            Ok(v) => return Ok((v, refused)),
            Err(e) => match refusal(&e) {
                Some(kind) => {
                    refused.push((port, kind));
                    last = Some(e);
                }
                None => return Err(e),
            },
        }
    }
    Err(last.unwrap_or_else(|| io::Error::other("no port to try")))
}

/// A real listening TCP socket for tokio, by the fallback policy. Binds synchronously (no
/// runtime needed); the caller registers it with `tokio::net::TcpListener::from_std`.
pub fn bind_tcp(
    ip: IpAddr,
    preferred: u16,
) -> io::Result<(std::net::TcpListener, Vec<(u16, io::ErrorKind)>)> {
    bind_with_fallback(ip, preferred, bind_exclusive)
}

/// A non-blocking listening socket on `addr` that no other socket can share. On Windows a plain
/// bind lets another program bind the same port with `SO_REUSEADDR` (or a more specific
/// address) and take connections meant for us: `SO_EXCLUSIVEADDRUSE` forbids that. On Unix,
/// `SO_REUSEADDR` only allows a restart over connections in TIME_WAIT (as std does), never two
/// listeners.
pub fn bind_exclusive(addr: SocketAddr) -> io::Result<std::net::TcpListener> {
    use socket2::{Domain, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    #[cfg(windows)]
    exclusive_address_use(&socket)?;
    #[cfg(not(windows))]
    socket.set_reuse_address(true)?;
    socket.bind(&addr.into())?;
    socket.listen(1024)?;
    socket.set_nonblocking(true)?;
    Ok(socket.into())
}

#[cfg(windows)]
fn exclusive_address_use(socket: &socket2::Socket) -> io::Result<()> {
    use std::os::windows::io::AsRawSocket;
    use windows_sys::Win32::Networking::WinSock::{
        SO_EXCLUSIVEADDRUSE, SOCKET, SOCKET_ERROR, SOL_SOCKET, WSAGetLastError, setsockopt,
    };
    let on: i32 = 1;
    // SAFETY: a valid socket, and a 4-byte BOOL that outlives the call.
    let rc = unsafe {
        setsockopt(
            socket.as_raw_socket() as SOCKET,
            SOL_SOCKET,
            SO_EXCLUSIVEADDRUSE,
            (&on as *const i32).cast(),
            std::mem::size_of::<i32>() as i32,
        )
    };
    if rc == SOCKET_ERROR {
        // SAFETY: no arguments; reads this thread's last Winsock error.
        return Err(io::Error::from_raw_os_error(unsafe { WSAGetLastError() }));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use io::ErrorKind::*;

    fn run(
        preferred: u16,
        refuse: &[(u16, io::ErrorKind)],
    ) -> io::Result<(u16, Vec<(u16, io::ErrorKind)>)> {
        bind_with_fallback(IpAddr::from([127, 0, 0, 1]), preferred, |a| {
            match refuse.iter().find(|(p, _)| *p == a.port()) {
                Some((_, kind)) => Err(io::Error::from(*kind)),
                None => Ok(if a.port() == 0 { 40000 } else { a.port() }),
            }
        })
    }

    #[test]
    fn bind_errors_are_mapped_by_kind_and_by_winsock_code() {
        let raw = io::Error::from_raw_os_error;
        for (what, e, want) in [
            ("in use", io::Error::from(AddrInUse), Some(AddrInUse)),
            (
                "EACCES",
                io::Error::from(PermissionDenied),
                Some(PermissionDenied),
            ),
            (
                "not here",
                io::Error::from(AddrNotAvailable),
                Some(AddrNotAvailable),
            ),
            ("WSAEACCES", raw(10013), Some(PermissionDenied)),
            ("WSAEADDRINUSE", raw(10048), Some(AddrInUse)),
            ("WSAEADDRNOTAVAIL", raw(10049), Some(AddrNotAvailable)),
            ("WSAEMFILE", raw(10024), None),
            ("WSAEINVAL", raw(10022), None),
            ("out of memory", io::Error::from(OutOfMemory), None),
            ("other", io::Error::other("x"), None),
        ] {
            assert_eq!(refusal(&e), want, "{what}");
        }
        #[cfg(unix)]
        for (code, want) in [
            (libc::EADDRINUSE, Some(AddrInUse)),
            (libc::EACCES, Some(PermissionDenied)),
            (libc::EADDRNOTAVAIL, Some(AddrNotAvailable)),
            (libc::EMFILE, None),
        ] {
            assert_eq!(refusal(&raw(code)), want, "errno {code}");
        }
    }

    #[test]
    fn an_excluded_port_range_on_windows_falls_back() {
        let got = bind_with_fallback(IpAddr::from([127, 0, 0, 1]), 555, |a| match a.port() {
            555 | 556 => Err(io::Error::from_raw_os_error(10013)),
            p => Ok(p),
        });
        let (port, refused) = got.unwrap();
        assert_eq!(port, 557);
        assert_eq!(
            refused,
            vec![(555, PermissionDenied), (556, PermissionDenied)]
        );
    }

    #[test]
    fn a_bound_port_is_never_shared() {
        let first = bind_exclusive("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = first.local_addr().unwrap();
        let again = bind_exclusive(addr).unwrap_err();
        assert_eq!(refusal(&again), Some(AddrInUse), "{again}");
        // Nor by a plain bind on the wildcard address (allowed on Windows without exclusivity).
        let wildcard = SocketAddr::new(IpAddr::from([0, 0, 0, 0]), addr.port());
        assert!(std::net::TcpListener::bind(wildcard).is_err());
    }

    #[test]
    fn candidate_order() {
        let c = candidates(8555);
        assert_eq!(c.len(), 18);
        assert_eq!((c[0], c[1], c[16], c[17]), (8555, 8556, 8571, 0));
        assert_eq!(candidates(65535), vec![65535, 0]);
        assert_eq!(candidates(0), vec![0]);
    }

    #[test]
    fn table() {
        let all_taken: Vec<_> = (555..=571).map(|p| (p, AddrInUse)).collect();
        type Case = (
            &'static str,
            u16,
            Vec<(u16, io::ErrorKind)>,
            Result<u16, io::ErrorKind>,
        );
        let cases: Vec<Case> = vec![
            ("free", 8555, vec![], Ok(8555)),
            ("in use", 8555, vec![(8555, AddrInUse)], Ok(8556)),
            ("forbidden", 555, vec![(555, PermissionDenied)], Ok(556)),
            (
                "unavailable",
                555,
                vec![(555, AddrNotAvailable), (556, AddrInUse)],
                Ok(557),
            ),
            ("all 17 taken", 555, all_taken, Ok(40000)),
            (
                "hard error stops",
                555,
                vec![(555, InvalidInput)],
                Err(InvalidInput),
            ),
            (
                "even ephemeral fails",
                65535,
                vec![(65535, AddrInUse), (0, AddrInUse)],
                Err(AddrInUse),
            ),
        ];
        for (name, preferred, refuse, want) in cases {
            let got = run(preferred, &refuse)
                .map(|(p, _)| p)
                .map_err(|e| e.kind());
            assert_eq!(got, want, "{name}");
        }
        let (_, refused) = run(8555, &[(8555, AddrInUse)]).unwrap();
        assert_eq!(refused, vec![(8555, AddrInUse)]);
    }

    #[test]
    fn real_socket_taken_falls_back() {
        let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = taken.local_addr().unwrap().port();
        let (l, refused) = bind_tcp(IpAddr::from([127, 0, 0, 1]), port).unwrap();
        assert_ne!(l.local_addr().unwrap().port(), port);
        assert_eq!(refused[0], (port, AddrInUse));
    }
}
