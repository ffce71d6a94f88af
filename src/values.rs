//! Chart values as helm takes them (`--values`, `--set`, `--set-string`, `--set-file`, `--set-json`), and the
//! secret ones bbgate adds (`--set-secret KEY=ENVVAR`, or a key the policy lists in `[deploy] secret_keys`).
//!
//! What verify judged is bound in the evidence by sha256 (each values file, each `--set` value); a secret is
//! never bound, printed or written anywhere but a 0600 values file helm reads and that is removed when bbgate
//! ends. Deploy may give the values verify judged, and beyond them only keys the policy allows
//! (`[deploy] settable`); it never sets a key of an image, which the post-renderer pins.

use crate::cli::ChartValues;
use crate::error::{Error, Result};
use crate::policy::sha256_hex;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// One `--set`-family value as the evidence binds it: the flag, the key, and the sha256 of the value (of the
/// file's bytes for `--set-file`). Field order alphabetical (evidence).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub(crate) struct SetRecord {
    pub(crate) flag: String,
    pub(crate) key: String,
    pub(crate) sha256: String,
}

/// The values of one render: what helm is given (files, then flags), what is bound, and the secrets' file.
pub(crate) struct Values {
    /// `--values` files in order, then the secrets' values file last.
    pub(crate) files: Vec<PathBuf>,
    /// (flag, `KEY=VALUE`) in the order given, secrets excluded.
    pub(crate) flags: Vec<(&'static str, String)>,
    /// What the evidence binds: every non-secret `--set` value by sha256, sorted.
    pub(crate) bound: Vec<SetRecord>,
    /// The keys whose values are secret (names only).
    pub(crate) secret_keys: Vec<String>,
    /// The secret values themselves, only so that bbgate can cut them out of what helm prints.
    pub(crate) secret_values: Vec<String>,
    /// Holds the secrets' values file (0600) until helm is done; removed on drop.
    _secrets: Option<tempfile::TempDir>,
}

/// `KEY=VALUE` split at the first `=`, the key checked as helm reads it (dotted path, no index).
fn split<'a>(flag: &str, kv: &'a str) -> Result<(&'a str, &'a str)> {
    let (k, v) = kv
        .split_once('=')
        .ok_or_else(|| Error::invalid(format!("{flag} {kv:?}: give KEY=VALUE")))?;
    if k.is_empty() || k.split('.').any(str::is_empty) {
        return Err(Error::invalid(format!("{flag} {k:?}: not a value key like a.b.c")));
    }
    Ok((k, v))
}

impl Values {
    /// Read the values of a render. `secret_keys`: the policy's `[deploy] secret_keys` (a `--set` or
    /// `--set-string` of one of them is a secret too). Secrets are read from the environment and written only to
    /// the 0600 values file.
    pub(crate) fn read(v: &ChartValues, secret_keys: &[String]) -> Result<Values> {
        for f in &v.values {
            if !f.is_file() {
                return Err(Error::invalid(format!("--values {}: no such file", f.display())));
            }
        }
        let mut flags = Vec::new();
        let mut bound = Vec::new();
        let mut secrets: Vec<(String, String)> = Vec::new();
        let groups: [(&'static str, &Vec<String>); 4] = [
            ("--set", &v.set),
            ("--set-string", &v.set_string),
            ("--set-file", &v.set_file),
            ("--set-json", &v.set_json),
        ];
        for (flag, list) in groups {
            for kv in list {
                let (key, value) = split(flag, kv)?;
                if secret_keys.iter().any(|s| s == key) && matches!(flag, "--set" | "--set-string") {
                    secrets.push((key.to_owned(), value.to_owned()));
                    continue;
                }
                let sha256 = if flag == "--set-file" {
                    let bytes = crate::input::read(std::path::Path::new(value), crate::input::VALUES)?;
                    sha256_hex(&bytes)
                } else {
                    sha256_hex(value.as_bytes())
                };
                bound.push(SetRecord {
                    flag: flag.to_owned(),
                    key: key.to_owned(),
                    sha256,
                });
                flags.push((flag, kv.clone()));
            }
        }
        for kv in &v.set_secret {
            let (key, var) = split("--set-secret", kv)?;
            let value = std::env::var(var).ok().filter(|s| !s.is_empty()).ok_or_else(|| {
                Error::invalid(format!(
                    "--set-secret {key}={var}: the environment variable {var} is not set (or empty): set it in the \
                     job's context"
                ))
            })?;
            secrets.push((key.to_owned(), value));
        }
        bound.sort();
        let mut files = v.values.clone();
        let mut secret_keys: Vec<String> = secrets.iter().map(|(k, _)| k.clone()).collect();
        let secret_values: Vec<String> = secrets.iter().map(|(_, v)| v.clone()).collect();
        secret_keys.sort();
        let dir = if secrets.is_empty() {
            None
        } else {
            let (dir, path) = write_secrets(&secrets)?;
            files.push(path);
            Some(dir)
        };
        Ok(Values {
            files,
            flags,
            bound,
            secret_keys,
            secret_values,
            _secrets: dir,
        })
    }

    /// The `--values` files helm is given, in order, without bbgate's own secrets file: what the evidence
    /// binds (after `seal`, the room's copies, so what is hashed is what helm reads).
    pub(crate) fn given_files(&self) -> impl Iterator<Item = &PathBuf> {
        let secrets = self._secrets.as_ref().map(|d| d.path());
        self.files
            .iter()
            .filter(move |f| secrets.is_none_or(|d| !f.starts_with(d)))
    }

    /// Copy every file helm will read (the `--values` files and `--set-file` files) into the sealed room and
    /// give helm the copies: regular files, reached through no symlink that leaves the working directory.
    pub(crate) fn seal(&mut self, room: &crate::deploy::room::Room) -> Result<()> {
        let secrets = self._secrets.as_ref().map(|d| d.path().to_owned());
        for f in self
            .files
            .iter_mut()
            .filter(|f| secrets.as_ref().is_none_or(|d| !f.starts_with(d)))
        {
            *f = room.copy_file(f, crate::input::VALUES)?;
        }
        for (flag, kv) in &mut self.flags {
            if *flag == "--set-file"
                && let Some((k, v)) = kv.split_once('=')
            {
                let copy = room.copy_file(std::path::Path::new(v), crate::input::VALUES)?;
                // The file is bound by the bytes of the copy helm reads, not of the original read earlier
                // (which the job could have changed in between).
                let sha256 = sha256_hex(&crate::input::read(&copy, crate::input::VALUES)?);
                for b in self.bound.iter_mut().filter(|b| b.flag == "--set-file" && b.key == k) {
                    b.sha256 = sha256.clone();
                }
                *kv = format!("{k}={}", copy.display());
            }
        }
        self.bound.sort();
        Ok(())
    }
}

/// The secrets as a values file (JSON, which helm reads as YAML), 0600 in a private temporary directory.
fn write_secrets(secrets: &[(String, String)]) -> Result<(tempfile::TempDir, PathBuf)> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut tree = serde_json::Map::new();
    for (key, value) in secrets {
        let mut at = &mut tree;
        let parts: Vec<&str> = key.split('.').collect();
        for p in &parts[..parts.len() - 1] {
            let next = at
                .entry((*p).to_owned())
                .or_insert_with(|| serde_json::Value::Object(Default::default()));
            if !next.is_object() {
                return Err(Error::invalid(format!(
                    "secret key {key}: {p} is both a value and a map"
                )));
            }
            at = next
                .as_object_mut()
                .ok_or_else(|| Error::invalid(format!("secret key {key}")))?;
        }
        at.insert(
            parts[parts.len() - 1].to_owned(),
            serde_json::Value::String(value.clone()),
        );
    }
    let dir = tempfile::Builder::new()
        .prefix("bbgate-values-")
        .tempdir()
        .map_err(|e| Error::Undecidable(format!("cannot create a temporary directory for secret values: {e}")))?;
    let path = dir.path().join("secrets.json");
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
        .map_err(|e| Error::write(&path, e))?;
    // Plain strings: serialising cannot fail.
    let bytes = serde_json::to_vec(&serde_json::Value::Object(tree)).unwrap_or_default();
    f.write_all(&bytes).map_err(|e| Error::write(&path, e))?;
    Ok((dir, path))
}

/// Is this value key one of an image's (which the post-renderer pins and no value may override)?
pub(crate) fn is_image_key(key: &str) -> bool {
    let last = key.rsplit('.').next().unwrap_or(key).to_ascii_lowercase();
    ["image", "images", "repository", "tag", "digest", "registry"].contains(&last.as_str()) || last.ends_with("image")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_keys_are_recognised_whatever_their_depth() {
        for k in [
            "image",
            "adapter.image.repository",
            "global.registry",
            "x.tag",
            "waitFor.initImage",
        ] {
            assert!(is_image_key(k), "{k}");
        }
        for k in ["fin-engine.namespace", "db.password", "replicaCount", "images_count.x"] {
            assert!(!is_image_key(k), "{k}");
        }
    }

    #[test]
    fn secrets_go_to_a_private_file_and_are_never_bound() {
        let v = ChartValues {
            set: vec!["replicaCount=2".into(), "db.password=hunter2".into()],
            ..Default::default()
        };
        let values = Values::read(&v, &["db.password".into()]).unwrap();
        assert_eq!(values.flags, [("--set", "replicaCount=2".to_owned())]);
        assert_eq!(values.bound.len(), 1);
        assert_eq!(values.secret_keys, ["db.password"]);
        let file = values.files.last().unwrap().clone();
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(
            std::fs::read_to_string(&file).unwrap(),
            r#"{"db":{"password":"hunter2"}}"#
        );
        drop(values);
        assert!(!file.exists(), "removed when the values are dropped");
    }

    #[test]
    fn a_set_file_is_bound_by_the_copy_helm_reads_not_by_the_file_read_before() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("banner.txt");
        std::fs::write(&file, "judged").unwrap();
        let v = ChartValues {
            set_file: vec![format!("banner={}", file.display())],
            ..Default::default()
        };
        let mut values = Values::read(&v, &[]).unwrap();
        // The job changes the file between bbgate's read and the copy.
        assert_eq!(values.bound[0].sha256, sha256_hex(b"judged"), "read before the change");
        std::fs::write(&file, "swapped").unwrap();
        let room = crate::deploy::room::Room::new().unwrap();
        values.seal(&room).unwrap();
        let (_, kv) = &values.flags[0];
        let copy = kv.split_once('=').unwrap().1;
        assert_eq!(std::fs::read(copy).unwrap(), b"swapped", "helm reads the copy");
        assert_eq!(
            values.bound[0].sha256,
            sha256_hex(b"swapped"),
            "and the binding is the copy's"
        );
    }
}
