//! Running the `socketengine` binary in the CLI tests: a [`Child`] guard
//! that kills and reaps it on drop, its output read line by line on
//! threads, and one-line error checks. Every wait is bounded by [`TIMEOUT`].

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread::{self, JoinHandle};
use std::time::Instant;

use super::util::TIMEOUT;

/// The binary under test.
pub(crate) fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_socketengine"))
}

/// A running child with its stdout and stderr read line by line on threads.
pub(crate) struct Child {
    child: std::process::Child,
    stdout: Receiver<String>,
    stderr: Receiver<String>,
    readers: Vec<JoinHandle<()>>,
}

impl Child {
    pub(crate) fn spawn(args: &[&str]) -> Child {
        let mut child = bin()
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the binary starts");
        let (stdout, out_reader) = lines(child.stdout.take().unwrap());
        let (stderr, err_reader) = lines(child.stderr.take().unwrap());
        Child {
            child,
            stdout,
            stderr,
            readers: vec![out_reader, err_reader],
        }
    }

    /// The next line on stdout, within [`TIMEOUT`].
    pub(crate) fn stdout_line(&self) -> String {
        next_line(&self.stdout, "stdout")
    }

    /// The next line on stderr, within [`TIMEOUT`].
    pub(crate) fn stderr_line(&self) -> String {
        next_line(&self.stderr, "stderr")
    }

    /// A host started as `host :0 extra…`, and its address from its first line.
    pub(crate) fn host(extra: &[&str]) -> (Child, String) {
        let host = Child::spawn(&[&["host", ":0"], extra].concat());
        let first = host.stdout_line();
        let addr = first
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("first line names the address: {first:?}"))
            .to_owned();
        (host, addr)
    }

    /// Waits for the child to close its output (it has exited then) and returns
    /// its status and the rest of its stdout and stderr.
    pub(crate) fn finish(mut self) -> (ExitStatus, String, String) {
        let out = rest(&self.stdout);
        let err = rest(&self.stderr);
        let status = self.child.wait().unwrap();
        (status, out, err)
    }

    /// Sends SIGTERM (through `kill`, as an operator would).
    pub(crate) fn terminate(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success(), "kill -TERM works");
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        for reader in self.readers.drain(..) {
            let _ = reader.join();
        }
    }
}

/// A thread sending each line of `pipe` down a channel, until end of file.
pub(crate) fn lines(pipe: impl Read + Send + 'static) -> (Receiver<String>, JoinHandle<()>) {
    let (tx, rx) = mpsc::channel();
    let reader = thread::spawn(move || {
        for line in BufReader::new(pipe).lines() {
            let Ok(line) = line else { return };
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    (rx, reader)
}

pub(crate) fn next_line(rx: &Receiver<String>, what: &str) -> String {
    rx.recv_timeout(TIMEOUT)
        .unwrap_or_else(|e| panic!("no line on {what} within {TIMEOUT:?}: {e}"))
}

/// Every line until end of file, within [`TIMEOUT`] in all.
pub(crate) fn rest(rx: &Receiver<String>) -> String {
    let deadline = Instant::now() + TIMEOUT;
    let mut text = String::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => {
                text.push_str(&line);
                text.push('\n');
            }
            Err(RecvTimeoutError::Disconnected) => return text,
            Err(RecvTimeoutError::Timeout) => panic!("output still open after {TIMEOUT:?}: {text}"),
        }
    }
}

/// Runs the binary to completion (bounded), returning status, stdout, stderr.
pub(crate) fn run(args: &[&str]) -> (ExitStatus, String, String) {
    Child::spawn(args).finish()
}

/// Asserts a failed run reported its error on the first line of stderr,
/// starting with `error:`, and no panic. Runtime errors are that one line;
/// clap's usage errors (exit status 2) may add a usage hint below it.
pub(crate) fn assert_one_line_error(status: ExitStatus, err: &str, expect: &str) {
    assert!(!status.success(), "fails: {err}");
    assert!(
        !err.contains("panicked") && !err.contains("backtrace"),
        "{err}"
    );
    let first = err.lines().next().unwrap_or_default();
    assert!(first.starts_with("error: "), "one-line error: {err:?}");
    assert!(first.contains(expect), "{first:?} mentions {expect:?}");
    if status.code() != Some(2) {
        assert_eq!(err.lines().count(), 1, "nothing else on stderr: {err:?}");
    }
}
