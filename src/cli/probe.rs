//! `tug probe [URL]`: GET a local HTTP endpoint and exit 0 on status 200, 1 otherwise. The
//! container health check of the controller's task (the runtime image has no shell, curl or wget).

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::process::ExitCode;
use std::time::Duration;

use super::CliError;

/// Arguments of `tug probe`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// `http://HOST:PORT/PATH` (plain HTTP only).
    #[arg(default_value = "http://127.0.0.1:9464/healthz")]
    pub url: String,
    /// Give up after this long.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "3s")]
    pub timeout: Duration,
}

/// Runs `tug probe`.
///
/// # Errors
/// A URL that is not `http://HOST:PORT/PATH` (exit 1).
pub fn run(args: &Args) -> Result<ExitCode, CliError> {
    let rest = args.url.strip_prefix("http://").ok_or_else(|| {
        CliError::Rejected(format!("{}: only http:// URLs can be probed", args.url))
    })?;
    let (authority, path) = match rest.split_once('/') {
        Some((a, p)) => (a, format!("/{p}")),
        None => (rest, "/".to_owned()),
    };
    let address = authority
        .to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
        .ok_or_else(|| CliError::Rejected(format!("{}: cannot resolve `{authority}`", args.url)))?;
    let answer = (|| -> std::io::Result<String> {
        let mut stream = TcpStream::connect_timeout(&address, args.timeout)?;
        stream.set_read_timeout(Some(args.timeout))?;
        stream.set_write_timeout(Some(args.timeout))?;
        write!(
            stream,
            "GET {path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n\r\n"
        )?;
        let mut head = [0_u8; 64];
        let n = stream.read(&mut head)?;
        Ok(String::from_utf8_lossy(&head[..n]).into_owned())
    })();
    match answer {
        Ok(head) if head.split_whitespace().nth(1) == Some("200") => Ok(ExitCode::SUCCESS),
        Ok(head) => {
            eprintln!(
                "{}: answered {}",
                args.url,
                head.lines().next().unwrap_or("nothing")
            );
            Ok(ExitCode::from(1))
        }
        Err(e) => {
            eprintln!("{}: {e}", args.url);
            Ok(ExitCode::from(1))
        }
    }
}
