//! systemd's readiness protocol (`sd_notify`): one datagram per state change to the socket
//! named by `$NOTIFY_SOCKET`, `READY=1` once the daemon polls, `WATCHDOG=1` at half the
//! unit's `WatchdogSec=`, `STOPPING=1` on shutdown. Written by hand: it is a dozen lines of
//! standard library, not worth a dependency.

use std::os::unix::net::UnixDatagram;
use std::time::Duration;

/// Where to send notifications; does nothing when not started by systemd.
#[derive(Debug)]
pub struct Notifier {
    target: Option<(UnixDatagram, Address)>,
}

#[derive(Debug)]
enum Address {
    Path(std::path::PathBuf),
    #[cfg(target_os = "linux")]
    Abstract(Vec<u8>),
}

impl Notifier {
    /// The notifier `$NOTIFY_SOCKET` asks for (a path, or `@name` for an abstract socket).
    pub fn from_env() -> Self {
        Self::for_socket(std::env::var_os("NOTIFY_SOCKET").as_deref())
    }

    /// A notifier for `socket` (`None`: notifications go nowhere).
    pub fn for_socket(socket: Option<&std::ffi::OsStr>) -> Self {
        let address = socket.and_then(|s| {
            let bytes = s.as_encoded_bytes();
            match bytes.first() {
                None => None,
                #[cfg(target_os = "linux")]
                Some(b'@') => Some(Address::Abstract(bytes[1..].to_vec())),
                Some(_) => Some(Address::Path(s.into())),
            }
        });
        // Non-blocking: a listener that stops reading must not stall the daemon's event
        // loop (a full queue then loses a ping, which is logged).
        let target = address.and_then(|a| {
            match UnixDatagram::unbound()
                .and_then(|socket| socket.set_nonblocking(true).map(|()| socket))
            {
                Ok(socket) => Some((socket, a)),
                Err(err) => {
                    tracing::warn!(error = %err, "cannot create the systemd notification socket");
                    None
                }
            }
        });
        Self { target }
    }

    /// Sends one notification, such as `READY=1`. Failures are logged, never fatal: the
    /// daemon's work does not depend on systemd hearing about it.
    pub fn notify(&self, state: &str) {
        let Some((socket, address)) = &self.target else {
            return;
        };
        let sent = match address {
            Address::Path(path) => socket.send_to(state.as_bytes(), path),
            #[cfg(target_os = "linux")]
            Address::Abstract(name) => {
                use std::os::linux::net::SocketAddrExt;
                std::os::unix::net::SocketAddr::from_abstract_name(name)
                    .and_then(|addr| socket.send_to_addr(state.as_bytes(), &addr))
            }
        };
        if let Err(err) = sent {
            tracing::warn!(error = %err, state, "cannot notify systemd");
        }
    }

    /// How often to send `WATCHDOG=1`: half of `$WATCHDOG_USEC`, when it is set for this
    /// process (`$WATCHDOG_PID` absent or ours).
    pub fn watchdog_interval() -> Option<Duration> {
        if let Some(pid) = std::env::var_os("WATCHDOG_PID") {
            if pid.to_str()?.trim().parse::<u32>().ok()? != std::process::id() {
                return None;
            }
        }
        let usec: u64 = std::env::var("WATCHDOG_USEC").ok()?.trim().parse().ok()?;
        (usec > 0).then(|| Duration::from_micros(usec / 2))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notifications_reach_a_path_socket_and_nothing_fails_without_one() {
        let dir = tempfile::TempDir::new().unwrap();
        let path = dir.path().join("notify");
        let listener = UnixDatagram::bind(&path).unwrap();
        Notifier::for_socket(Some(path.as_os_str())).notify("READY=1");
        let mut buf = [0u8; 64];
        let n = listener.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"READY=1");
        Notifier::for_socket(None).notify("READY=1");
    }
}
