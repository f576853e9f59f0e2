//! Self-healing port allocation: the preferred port, then the next 16, then an ephemeral one.
//! The policy is pure (`candidates`, `falls_back`); `bind_with_fallback` applies it to any bind
//! function, so tests inject bind results and the servers pass a real `TcpListener::bind`.

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

/// Errors that mean "this port, not this server": try the next one.
pub fn falls_back(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::AddrInUse
            | io::ErrorKind::PermissionDenied
            | io::ErrorKind::AddrNotAvailable
    )
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
            Err(e) if falls_back(&e) => {
                refused.push((port, e.kind()));
                last = Some(e);
            }
            Err(e) => return Err(e),
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
    bind_with_fallback(ip, preferred, |addr| {
        let l = std::net::TcpListener::bind(addr)?;
        l.set_nonblocking(true)?;
        Ok(l)
    })
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
