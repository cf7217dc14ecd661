//! The `socketengine` binary's security options, run as a user would: a
//! key made with `keygen`, a host with `--auth`, clients with `--key`, the
//! warning of a host open to the network, and TLS (`--tls-*`).

#![allow(clippy::unwrap_used)]

#[path = "util/pki.rs"]
mod pki;
#[path = "util/cli.rs"]
mod run;
mod util;

use run::{Child, assert_one_line_error, run};

#[test]
fn keygen_auth_and_key_admit_only_the_keyholder_and_warn_on_open_addresses() {
    let dir = std::env::temp_dir().join(format!("socketengine-cli-auth-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let key = dir.join("arm.key");
    let key = key.to_str().unwrap();
    let (status, line, err) = run(&["keygen", "arm", "--key", key]);
    assert!(status.success(), "{err}");
    assert!(
        line.starts_with("arm ed25519:") && line.trim_end().ends_with(" all"),
        "{line}"
    );
    let secret = std::fs::read_to_string(key).unwrap();
    let secret = secret.lines().find(|l| l.starts_with("ed25519:")).unwrap();
    assert!(
        !line.contains(secret) && !err.contains(secret),
        "the secret was printed"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(key).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "only its owner reads the key");
    }
    // Again: the file is read, not overwritten, and the line is the same.
    let (status, again, _) = run(&["keygen", "arm", "--key", key]);
    assert!(status.success());
    assert_eq!(again, line);
    let auth = dir.join("auth");
    let entry = line.trim_end().replace(" all", " publish=pose");
    std::fs::write(&auth, format!("# test\n{entry}\n")).unwrap();
    let (host, addr) = Child::host(&["--auth", auth.to_str().unwrap()]);
    assert!(host.stderr_line().contains("admitting the 1 client(s)"));
    let (status, _, err) = run(&["send", &addr, "pose", "1", "--name", "arm", "--key", key]);
    assert!(status.success(), "the keyholder sends: {err}");
    let (status, _, err) = run(&["send", &addr, "pose", "1", "--name", "arm"]);
    assert_one_line_error(status, &err, "not authorized");
    let (status, _, err) = run(&["send", &addr, "cmd", "1", "--name", "arm", "--key", key]);
    assert_one_line_error(status, &err, "not permitted to publish \"cmd\"");
    let bad = dir.join("bad-auth");
    std::fs::write(&bad, "arm token:s3cret all\n").unwrap();
    let (status, _, err) = run(&["host", ":0", "--auth", bad.to_str().unwrap()]);
    assert_one_line_error(status, &err, "line 1");
    assert!(!err.contains("s3cret"), "{err}");
    drop(host);
    // Open to the network without --auth: a warning, and it still runs.
    let open = Child::spawn(&["host", "0.0.0.0:0"]);
    assert!(open.stdout_line().starts_with("listening on 0.0.0.0:"));
    assert!(open.stderr_line().starts_with("warning: "), "warns");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Writes PEM files for a TLS host and its clients into a fresh directory
/// under the system's temporary one; removed on drop.
struct TlsFiles {
    dir: std::path::PathBuf,
    key_body: String,
}

impl TlsFiles {
    fn new(test: &str) -> TlsFiles {
        let dir = std::env::temp_dir().join(format!("socketengine-{test}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let ca = pki::Authority::new("cli ca");
        let host = ca.host();
        std::fs::write(dir.join("ca.pem"), ca.cert_pem()).unwrap();
        std::fs::write(dir.join("host.pem"), &host.cert).unwrap();
        std::fs::write(dir.join("host.key"), &host.key).unwrap();
        let key_body = host.key.lines().nth(1).unwrap().to_owned();
        TlsFiles { dir, key_body }
    }

    fn path(&self, file: &str) -> String {
        self.dir.join(file).to_string_lossy().into_owned()
    }
}

impl Drop for TlsFiles {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[test]
fn a_tls_host_relays_tls_clients_and_refuses_plain_ones_in_one_line() {
    let files = TlsFiles::new("tls-relay");
    let (cert, key, ca) = (
        files.path("host.pem"),
        files.path("host.key"),
        files.path("ca.pem"),
    );
    let (host, first) = Child::host(&["--tls-cert", &cert, "--tls-key", &key]);
    let addr = first
        .strip_suffix(" (TLS)")
        .unwrap_or_else(|| panic!("the first line says TLS: {first:?}"))
        .to_owned();
    let watch = Child::spawn(&["watch", &addr, "pose", "--count", "1", "--tls-ca", &ca]);
    assert!(watch.stderr_line().starts_with("watching "));
    let (status, _, err) = run(&["send", &addr, "pose", "x=1", "--tls-ca", &ca]);
    assert!(status.success(), "send over TLS delivers: {err}");
    let (status, out, _) = watch.finish();
    assert!(status.success());
    assert!(out.contains("\"x=1\""), "{out}");

    let (status, _, err) = run(&["send", &addr, "pose", "x=2"]);
    assert_one_line_error(status, &err, "TLS");
    drop(host);
}

#[test]
fn unusable_tls_files_are_one_line_errors_that_show_no_key() {
    let files = TlsFiles::new("tls-files");
    let (cert, key) = (files.path("host.pem"), files.path("host.key"));
    let missing = files.path("missing.pem");
    let cases: &[(&[&str], &str)] = &[
        // A certificate where the key should be, and the other way round.
        (
            &["host", ":0", "--tls-cert", &cert, "--tls-key", &cert],
            "private key file",
        ),
        (
            &["host", ":0", "--tls-cert", &key, "--tls-key", &key],
            "certificate file",
        ),
        (
            &["host", ":0", "--tls-cert", &cert, "--tls-key", &missing],
            "missing.pem",
        ),
        (
            &["send", "127.0.0.1:1", "ch", "x", "--tls-ca", &key],
            "CA file",
        ),
        (&["host", ":0", "--tls-cert", &cert], "required arguments"),
    ];
    for (args, expect) in cases {
        let (status, out, err) = run(args);
        assert_one_line_error(status, &err, expect);
        assert!(!err.contains(&files.key_body) && !out.contains(&files.key_body));
    }
}
