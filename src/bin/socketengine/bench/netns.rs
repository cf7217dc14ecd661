//! `--listen-netns`: the far side of every pair in another network
//! namespace, entered by the thread that creates its listeners.

use std::fs::File;
use std::io;
use std::net::IpAddr;

use anyhow::Context;

use super::harness::place::{self, Far};

/// Where `ip netns add NAME` keeps the namespace.
const NETNS_DIR: &str = "/run/netns";

/// Puts the listening side of every pair in namespace `name`, bound to `ip`.
pub(crate) fn place_far(name: &str, ip: IpAddr) -> anyhow::Result<()> {
    if name.contains('/') || name.is_empty() {
        anyhow::bail!("--listen-netns takes a namespace's name, not a path: {name:?}");
    }
    let path = format!("{NETNS_DIR}/{name}");
    // Opened now, so a missing namespace or a missing right is one clear
    // error before any pair starts.
    let ns = File::open(&path).with_context(|| format!("open the network namespace {path}"))?;
    let enter = move || enter(&ns);
    place::set_far(Far {
        ip,
        enter: Box::new(enter),
    })?;
    Ok(())
}

#[cfg(target_os = "linux")]
fn enter(ns: &File) -> io::Result<()> {
    use nix::sched::{CloneFlags, setns};
    setns(ns, CloneFlags::CLONE_NEWNET)
        .map_err(|e| io::Error::other(format!("enter the network namespace (root needed): {e}")))
}

#[cfg(not(target_os = "linux"))]
fn enter(_: &File) -> io::Result<()> {
    Err(io::Error::other("--listen-netns needs Linux"))
}
