//! The auth file's text form: one client per line (see [`Auth`](super::Auth)).

use super::credential::credential_error;
use super::{Auth, Permissions, Verifier};
use crate::{Action, ErrorKind, Result};

/// Parses an auth file's text; errors name the line.
pub(super) fn parse(text: &str) -> Result<Auth> {
    let mut auth = Auth::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or_default().trim();
        if line.is_empty() {
            continue;
        }
        let at_line = |why: String| credential_error(format!("line {}: {why}", i + 1));
        let mut words = line.split_whitespace();
        let (Some(name), Some(credential)) = (words.next(), words.next()) else {
            return Err(at_line(
                "expected a name, a credential, then permissions".into(),
            ));
        };
        if name.len() > 255 {
            return Err(at_line("a name is at most 255 bytes".into()));
        }
        if auth.contains(name) {
            return Err(at_line(format!("{name:?} is listed twice")));
        }
        let verifier = Verifier::parse(credential).map_err(|e| match e.into_kind() {
            ErrorKind::Credential(why) => at_line(why),
            other => at_line(other.to_string()),
        })?;
        let mut permissions = Permissions::none();
        for word in words {
            permissions = permission(permissions, word).map_err(at_line)?;
        }
        auth = auth.client(name, verifier, permissions);
    }
    Ok(auth)
}

/// Adds what `word` (`all`, or `action=pattern,pattern`) permits.
fn permission(permissions: Permissions, word: &str) -> Result<Permissions, String> {
    if word == "all" {
        return Ok(Permissions::all());
    }
    let Some((action, patterns)) = word.split_once('=') else {
        return Err(format!("expected `all` or `action=patterns`, not {word:?}"));
    };
    let action = Action::from_word(action)
        .ok_or_else(|| format!("unknown action {action:?} (publish, subscribe, request, rooms)"))?;
    let mut permissions = permissions;
    for pattern in patterns.split(',').filter(|p| !p.is_empty()) {
        permissions = permissions
            .allow(action, pattern)
            .map_err(|e| e.to_string())?;
    }
    Ok(permissions)
}

#[cfg(test)]
mod tests {
    use super::super::Credential;
    use super::*;

    #[test]
    fn lines_list_names_credentials_and_permissions() {
        let (cam, ops) = (
            Credential::generate().expect("a key"),
            Credential::token("s3cret"),
        );
        let text = format!(
            "# the robot's clients\n\
             \n\
             camera {} publish=camera/**,status subscribe=cmd/camera  # the arm's camera\n\
             ops    {} all\n\
             mute   {}\n",
            cam.verifier(),
            ops.verifier(),
            Credential::generate().expect("a key").verifier(),
        );
        let auth = parse(&text).expect("parses");
        assert_eq!(auth.len(), 3);
        let camera = &auth.clients["camera"].permissions;
        assert!(camera.permits(Action::Publish, "camera/left"));
        assert!(camera.permits(Action::Publish, "status"));
        assert!(camera.permits(Action::Subscribe, "cmd/camera"));
        assert!(!camera.permits(Action::Request, "$clients"));
        assert_eq!(*auth.clients["ops"].permissions, Permissions::all());
        assert_eq!(*auth.clients["mute"].permissions, Permissions::none());
    }

    #[test]
    fn a_bad_line_is_named_and_no_secret_is_quoted() {
        let key = Credential::generate().expect("a key").verifier();
        let cases = [
            ("lonely\n".to_owned(), "line 1: expected a name"),
            (
                format!("\na {key}\na {key}\n"),
                "line 3: \"a\" is listed twice",
            ),
            ("a token:s3cret\n".to_owned(), "line 1: expected `ed25519:"),
            (format!("a {key} publish=a*b\n"), "line 1: invalid channel"),
            (
                format!("a {key} write=x\n"),
                "line 1: unknown action \"write\"",
            ),
            (format!("a {key} everything\n"), "line 1: expected `all`"),
            (
                format!("{} {key}\n", "n".repeat(256)),
                "line 1: a name is at most",
            ),
        ];
        for (text, want) in cases {
            let err = parse(&text).expect_err(&text).to_string();
            assert!(err.contains(want), "{err:?} lacks {want:?}");
            assert!(!err.contains("s3cret"), "{err:?} quotes the secret");
        }
    }
}
