//! `pan-probe`: a TCP reachability probe for end-to-end tests, run inside
//! blade network namespaces with `ip netns exec NS pan-probe ...`.
//!
//! ```text
//! pan-probe listen ADDR [--lifetime SECS]     (default 60, at most 3600)
//! pan-probe connect ADDR [--timeout-ms N]     (default 1000, at most 600000)
//! ```
//!
//! `listen` binds ADDR (e.g. `10.77.0.2:7777`), prints `listening ADDR` once
//! bound (wait for that line before probing), answers every connection with
//! the greeting `pan-probe\n` and exits 0 after its lifetime; it exits 1 if
//! it cannot bind. `connect` exits 0 and prints `ok ADDR` when it read the
//! greeting; otherwise it prints one line, `refused ADDR: ...`, `timeout
//! ADDR: ...` or `failed ADDR: ...` (unreachable, reset, wrong greeting), and
//! exits 1. Bad arguments exit 2 with the usage on stderr. Every run is
//! bounded in time: by the lifetime, or by the timeout for the whole
//! connect-and-read. Only std: no runtime, no dependencies.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// What a listener answers and a client expects.
const GREETING: &[u8] = b"pan-probe\n";
const DEFAULT_LIFETIME: Duration = Duration::from_secs(60);
const MAX_LIFETIME_SECS: u64 = 3600;
const DEFAULT_TIMEOUT: Duration = Duration::from_millis(1000);
const MAX_TIMEOUT_MS: u64 = 600_000;
/// How long a listener spends writing the greeting to one client.
const WRITE_TIMEOUT: Duration = Duration::from_secs(1);

const USAGE: &str = "usage: pan-probe listen ADDR [--lifetime SECS]\n       pan-probe connect ADDR [--timeout-ms N]\nADDR is IP:PORT; SECS 1..=3600 (default 60); N 1..=600000 (default 1000)";

#[derive(Debug, PartialEq, Eq)]
enum Mode {
    Listen {
        addr: SocketAddr,
        lifetime: Duration,
    },
    Connect {
        addr: SocketAddr,
        timeout: Duration,
    },
    Help,
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match parse(&args) {
        Ok(Mode::Help) => {
            println!("{USAGE}");
            ExitCode::SUCCESS
        }
        Ok(Mode::Listen { addr, lifetime }) => listen(addr, lifetime),
        Ok(Mode::Connect { addr, timeout }) => connect(addr, timeout),
        Err(why) => {
            eprintln!("pan-probe: {why}\n{USAGE}");
            ExitCode::from(2)
        }
    }
}

fn parse(args: &[String]) -> Result<Mode, String> {
    let mut words = args.iter().map(String::as_str);
    let mode = match words.next() {
        Some("listen") => "listen",
        Some("connect") => "connect",
        Some("-h" | "--help" | "help") => return Ok(Mode::Help),
        Some(other) => return Err(format!("unknown mode {other:?}")),
        None => return Err("missing mode".to_owned()),
    };
    let addr_text = words
        .next()
        .ok_or_else(|| format!("{mode}: missing ADDR"))?;
    let addr: SocketAddr = addr_text
        .parse()
        .map_err(|e| format!("{mode}: ADDR {addr_text:?} is not IP:PORT ({e})"))?;
    let (flag, max, default_ms) = if mode == "listen" {
        (
            "--lifetime",
            MAX_LIFETIME_SECS,
            DEFAULT_LIFETIME.as_millis() as u64,
        )
    } else {
        (
            "--timeout-ms",
            MAX_TIMEOUT_MS,
            DEFAULT_TIMEOUT.as_millis() as u64,
        )
    };
    let mut value_ms = default_ms;
    while let Some(word) = words.next() {
        let text = match word.split_once('=') {
            Some((name, value)) if name == flag => value,
            _ if word == flag => words
                .next()
                .ok_or_else(|| format!("{mode}: {flag} needs a value"))?,
            _ => return Err(format!("{mode}: unexpected argument {word:?}")),
        };
        let n: u64 = text
            .parse()
            .ok()
            .filter(|n| (1..=max).contains(n))
            .ok_or_else(|| format!("{mode}: {flag} {text:?} is not a number in 1..={max}"))?;
        value_ms = if mode == "listen" { n * 1000 } else { n };
    }
    let value = Duration::from_millis(value_ms);
    Ok(if mode == "listen" {
        Mode::Listen {
            addr,
            lifetime: value,
        }
    } else {
        Mode::Connect {
            addr,
            timeout: value,
        }
    })
}

fn listen(addr: SocketAddr, lifetime: Duration) -> ExitCode {
    let listener = match TcpListener::bind(addr) {
        Ok(l) => l,
        Err(e) => {
            println!("failed {addr}: cannot listen: {e}");
            return ExitCode::from(1);
        }
    };
    println!("listening {addr}");
    let _ = std::io::stdout().flush();
    // The bound on the listener's life (not synchronization): whatever the
    // accept loop is doing, the process ends after `lifetime`.
    std::thread::spawn(move || {
        std::thread::sleep(lifetime);
        std::process::exit(0);
    });
    for stream in listener.incoming() {
        match stream {
            Ok(mut stream) => {
                let _ = stream.set_write_timeout(Some(WRITE_TIMEOUT));
                let _ = stream.write_all(GREETING);
            }
            // A client that went away before accept; keep serving.
            Err(_) => continue,
        }
    }
    ExitCode::SUCCESS
}

fn is_timeout(e: &std::io::Error) -> bool {
    matches!(e.kind(), ErrorKind::TimedOut | ErrorKind::WouldBlock)
}

/// Connects and reads the greeting, all within `timeout`; the one line to
/// print when it fails.
fn probe(addr: SocketAddr, timeout: Duration) -> Result<(), String> {
    let deadline = Instant::now() + timeout;
    let mut stream = TcpStream::connect_timeout(&addr, timeout).map_err(|e| match e.kind() {
        ErrorKind::ConnectionRefused => format!("refused {addr}: connection refused"),
        _ if is_timeout(&e) => format!("timeout {addr}: no connection within {timeout:?}"),
        _ => format!("failed {addr}: {e}"),
    })?;
    let mut got = Vec::with_capacity(GREETING.len());
    let mut buf = [0u8; 64];
    let no_greeting = || format!("timeout {addr}: connected, but no greeting within {timeout:?}");
    while got.len() < GREETING.len() {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(no_greeting());
        }
        stream
            .set_read_timeout(Some(left))
            .map_err(|e| format!("failed {addr}: {e}"))?;
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) if is_timeout(&e) => return Err(no_greeting()),
            Err(e) => return Err(format!("failed {addr}: connected, then {e}")),
        }
    }
    if got.starts_with(GREETING) {
        Ok(())
    } else {
        Err(format!(
            "failed {addr}: connected, but the answer {:?} is not the pan-probe greeting",
            String::from_utf8_lossy(&got)
        ))
    }
}

fn connect(addr: SocketAddr, timeout: Duration) -> ExitCode {
    match probe(addr, timeout) {
        Ok(()) => {
            println!("ok {addr}");
            ExitCode::SUCCESS
        }
        Err(line) => {
            println!("{line}");
            ExitCode::from(1)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(words: &[&str]) -> Vec<String> {
        words.iter().map(|w| (*w).to_owned()).collect()
    }

    #[test]
    fn parses_modes_flags_and_defaults() {
        let addr: SocketAddr = "10.0.0.1:7777".parse().unwrap();
        assert_eq!(
            parse(&args(&["listen", "10.0.0.1:7777"])),
            Ok(Mode::Listen {
                addr,
                lifetime: DEFAULT_LIFETIME
            })
        );
        assert_eq!(
            parse(&args(&["listen", "10.0.0.1:7777", "--lifetime", "5"])),
            Ok(Mode::Listen {
                addr,
                lifetime: Duration::from_secs(5)
            })
        );
        assert_eq!(
            parse(&args(&["connect", "10.0.0.1:7777", "--timeout-ms=250"])),
            Ok(Mode::Connect {
                addr,
                timeout: Duration::from_millis(250)
            })
        );
        assert_eq!(parse(&args(&["--help"])), Ok(Mode::Help));
    }

    #[test]
    fn refuses_bad_arguments() {
        for bad in [
            &[][..],
            &["ping", "1.2.3.4:1"],
            &["listen"],
            &["listen", "localhost"],
            &["listen", "1.2.3.4:1", "--lifetime"],
            &["listen", "1.2.3.4:1", "--lifetime", "0"],
            &["listen", "1.2.3.4:1", "--lifetime", "3601"],
            &["listen", "1.2.3.4:1", "--timeout-ms", "5"],
            &["connect", "1.2.3.4:1", "--timeout-ms", "-1"],
            &["connect", "1.2.3.4:1", "extra"],
        ] {
            assert!(parse(&args(bad)).is_err(), "{bad:?}");
        }
    }
}
