//! The helm edge: find the binary and its major version, render, install, test. Helm 3 and helm 4 differ in
//! how they wait and roll back; bbgate speaks both. helm always runs in a sealed room (`room`): an environment
//! from an allowlist, never the job's. Values given with --set are never echoed: bbgate passes only the pinned
//! image that way, and prints the key, not the value.

use crate::error::{Error, Result};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

#[derive(Debug, Clone)]
pub(crate) struct Helm {
    pub(crate) path: PathBuf,
    pub(crate) version: String,
    pub(crate) major: u8,
    /// helm's whole environment (the room's allowlist, see `room::Room::env`): the job's is never inherited.
    pub(crate) env: Vec<(OsString, OsString)>,
    /// Secret values helm may echo (a template's `fail`, an API server's refusal quoting a value): cut out of
    /// every line bbgate shows or keeps of helm's output.
    pub(crate) redact: Vec<String>,
}

/// `text` with every secret value replaced by `<secret>` (each line of a multi-line secret too).
pub(crate) fn redact(text: &str, secrets: &[String]) -> String {
    let mut out = text.to_owned();
    let mut pieces: Vec<&str> = secrets
        .iter()
        .flat_map(|s| std::iter::once(s.as_str()).chain(s.lines()))
        .map(str::trim)
        .filter(|p| p.len() >= 4)
        .collect();
    // Longest first, so a secret is never half-replaced by a piece of itself.
    pieces.sort_by_key(|p| std::cmp::Reverse(p.len()));
    for p in pieces {
        out = out.replace(p, "<secret>");
    }
    out
}

/// bbgate as helm's post-renderer: `bbgate post-render --pins FILE`.
pub(crate) struct PostRenderer {
    pub(crate) exe: PathBuf,
    pub(crate) pins: PathBuf,
    /// Where the post-renderer writes why it refused helm's install render.
    pub(crate) refusal: PathBuf,
}

/// The name of the helm 4 plugin bbgate writes for its post-renderer.
pub(crate) const PLUGIN: &str = "bbgate-pin";

pub(crate) struct Install<'a> {
    pub(crate) release: &'a str,
    pub(crate) chart: &'a Path,
    pub(crate) namespace: &'a str,
    /// Values files and `--set`-family flags (secrets only through a 0600 file).
    pub(crate) values: &'a crate::values::Values,
    /// (KEY, pinned image): passed with --set-string.
    pub(crate) set_image: &'a [(String, String)],
    pub(crate) post_renderer: Option<&'a PostRenderer>,
    pub(crate) timeout: std::time::Duration,
    pub(crate) history_max: u32,
    pub(crate) description: &'a str,
}

fn tool_error(helm: &Path, what: &str, e: std::io::Error) -> Error {
    // No helm there is the machine's configuration, not a failure a re-run mends: exit 2, with where to get it.
    if matches!(
        e.kind(),
        std::io::ErrorKind::NotFound | std::io::ErrorKind::PermissionDenied
    ) {
        return Error::invalid(format!(
            "cannot run {} to {what}: {e}. Install helm 3 or 4 (https://helm.sh/docs/intro/install/; the orb's \
             install step and the bbgate image carry it) and put it on PATH, or pass --helm PATH",
            helm.display()
        ));
    }
    Error::Undecidable(format!(
        "cannot run {} to {what}: {e} (install helm 3 or 4, or pass --helm PATH)",
        helm.display()
    ))
}

impl Helm {
    /// `helm version`, which needs no cluster, run with `env` (the room's) as its whole environment.
    pub(crate) fn detect(path: &Path, env: Vec<(OsString, OsString)>) -> Result<Helm> {
        let mut helm = Helm {
            path: path.to_owned(),
            version: String::new(),
            major: 0,
            env,
            redact: Vec::new(),
        };
        let out = helm.run(
            &["version".into(), "--template".into(), "{{.Version}}".into()],
            "read its version",
        )?;
        let version = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        let major = version
            .trim_start_matches('v')
            .split('.')
            .next()
            .and_then(|m| m.parse::<u8>().ok())
            .filter(|m| *m == 3 || *m == 4)
            .ok_or_else(|| {
                Error::Undecidable(format!(
                    "{} reports version {version:?}: bbgate drives helm 3 or helm 4",
                    path.display()
                ))
            })?;
        helm.version = version;
        helm.major = major;
        Ok(helm)
    }

    /// helm with its sealed environment and nothing else.
    fn command(&self) -> Command {
        let mut c = Command::new(&self.path);
        c.env_clear().envs(self.env.iter().map(|(k, v)| (k, v)));
        c
    }

    fn var(&self, name: &str) -> Option<&std::ffi::OsStr> {
        self.env.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_os_str())
    }

    /// Point helm at this kubeconfig (one bbgate wrote into the room).
    pub(crate) fn set_kubeconfig(&mut self, path: &Path) {
        self.env.retain(|(k, _)| k != "KUBECONFIG");
        self.env.push(("KUBECONFIG".into(), path.as_os_str().to_owned()));
    }

    /// Write bbgate's post-renderer plugin for helm 4 into the room's plugin directory (helm 3 runs the
    /// executable directly).
    pub(crate) fn install_post_renderer(&mut self, pr: &PostRenderer) -> Result<()> {
        if self.major < 4 {
            return Ok(());
        }
        let dir = self
            .var("HELM_PLUGINS")
            .map(PathBuf::from)
            .ok_or_else(|| Error::Undecidable("helm runs without a plugin directory".to_owned()))?;
        let plugin = dir.join(PLUGIN);
        std::fs::create_dir_all(&plugin).map_err(|e| Error::write(&plugin, e))?;
        let yaml = format!(
            "apiVersion: v1\ntype: postrenderer/v1\nname: {PLUGIN}\nversion: {}\nruntime: subprocess\nruntimeConfig:\n  platformCommand:\n    - command: {}\n      args: [\"post-render\", \"--pins\", {}]\n",
            env!("CARGO_PKG_VERSION"),
            serde_json::Value::String(pr.exe.display().to_string()),
            serde_json::Value::String(pr.pins.display().to_string()),
        );
        let path = plugin.join("plugin.yaml");
        std::fs::write(&path, yaml).map_err(|e| Error::write(&path, e))?;
        Ok(())
    }

    fn common(&self, i: &Install, args: &mut Vec<OsString>) {
        args.extend([i.release.into(), i.chart.as_os_str().to_owned()]);
        args.extend(["--namespace".into(), i.namespace.into()]);
        for v in &i.values.files {
            args.extend(["--values".into(), v.as_os_str().to_owned()]);
        }
        for (flag, kv) in &i.values.flags {
            args.extend([(*flag).into(), kv.into()]);
        }
        for (k, image) in i.set_image {
            args.extend(["--set-string".into(), format!("{k}={image}").into()]);
        }
        if let Some(pr) = i.post_renderer {
            if self.major >= 4 {
                args.extend(["--post-renderer".into(), PLUGIN.into()]);
            } else {
                args.extend(["--post-renderer".into(), pr.exe.as_os_str().to_owned()]);
                for a in ["post-render".as_ref(), "--pins".as_ref(), pr.pins.as_os_str()] {
                    args.extend(["--post-renderer-args".into(), a.to_owned()]);
                }
            }
        }
    }

    /// `helm dependency build` of `chart`, its HTTP(S) repositories added to the room's repository configuration
    /// first (helm 4 fetches only from repositories it knows), `--plain-http` for loopback OCI registries.
    pub(crate) fn dependency_build(&self, chart: &Path, repos: &[String], plain_http: bool) -> Result<()> {
        for url in repos {
            // Named by the URL: a subchart built after its parent may name the same repository again.
            let name = format!("bbgate-dep-{}", &crate::policy::sha256_hex(url.as_bytes())[..12]);
            let out = self.run(
                &["repo".into(), "add".into(), name.into(), url.into()],
                "add a chart repository",
            )?;
            if !out.status.success() {
                return Err(Error::Undecidable(format!(
                    "helm repo add {url} failed: {}",
                    String::from_utf8_lossy(&out.stderr).trim()
                )));
            }
        }
        let mut args: Vec<OsString> = vec!["dependency".into(), "build".into(), chart.as_os_str().to_owned()];
        if plain_http {
            args.push("--plain-http".into());
        }
        let out = self.run(&args, "build the chart's dependencies")?;
        if out.status.success() {
            return Ok(());
        }
        let said = String::from_utf8_lossy(&out.stderr).trim().to_owned();
        // The chart's own fault (a lock out of sync, a version the repository lacks) is invalid input; a
        // repository that cannot be reached leaves nothing decided.
        let chart_fault = [
            "out of sync",
            "can't get a valid version",
            "not found",
            "no repository definition",
        ]
        .iter()
        .any(|s| said.contains(s));
        let msg = format!("helm dependency build {} failed: {said}", chart.display());
        Err(if chart_fault {
            Error::invalid(msg)
        } else {
            Error::Undecidable(msg)
        })
    }

    /// `helm template`, with CRDs included so the guard sees them (install skips them).
    pub(crate) fn template(&self, i: &Install) -> Result<String> {
        let mut args: Vec<OsString> = vec!["template".into()];
        self.common(i, &mut args);
        args.push("--include-crds".into());
        let out = self.run(&args, "render the chart")?;
        if !out.status.success() {
            return Err(Error::invalid(format!(
                "helm template {} failed: {}",
                i.chart.display(),
                redact(String::from_utf8_lossy(&out.stderr).trim(), &self.redact)
            )));
        }
        String::from_utf8(out.stdout).map_err(|_| Error::invalid("helm template printed something that is not UTF-8"))
    }

    /// What `upgrade --install` would apply, rendered by helm against the cluster (`--dry-run=server`): the
    /// same as `template` unless the chart uses `lookup` or the cluster's capabilities. Nothing is written.
    pub(crate) fn server_render(&self, i: &Install) -> Result<String> {
        let mut args: Vec<OsString> = vec!["upgrade".into(), "--install".into()];
        self.common(i, &mut args);
        args.extend(["--dry-run=server".into(), "--output".into(), "json".into()]);
        let out = self.run(&args, "render the chart against the cluster")?;
        if !out.status.success() {
            let said = redact(String::from_utf8_lossy(&out.stderr).trim(), &self.redact);
            if let Some(why) = ownership_conflict(&said, i.release) {
                return Err(Error::Denied(why));
            }
            return Err(Error::Undecidable(format!(
                "helm upgrade --install --dry-run=server failed: {said}"
            )));
        }
        let release: serde_json::Value = serde_json::from_slice(&out.stdout).map_err(|e| {
            Error::Undecidable(format!(
                "helm --dry-run=server printed something that is not a release: {e}"
            ))
        })?;
        let mut docs = vec![release["manifest"].as_str().unwrap_or("").to_owned()];
        for hook in release["hooks"].as_array().into_iter().flatten() {
            let path = hook["path"].as_str().unwrap_or("hook");
            docs.push(format!("# Source: {path}\n{}", hook["manifest"].as_str().unwrap_or("")));
        }
        Ok(docs.join("\n---\n"))
    }

    /// The `upgrade --install` arguments for this helm's major version.
    pub(crate) fn install_args(&self, i: &Install) -> Vec<OsString> {
        let mut args: Vec<OsString> = vec!["upgrade".into(), "--install".into()];
        self.common(i, &mut args);
        let timeout = format!("{}s", i.timeout.as_secs().max(1));
        args.extend(["--timeout".into(), timeout.into()]);
        args.extend(["--history-max".into(), i.history_max.to_string().into()]);
        args.extend(["--description".into(), i.description.into()]);
        // The guard refused any CRD; never let one in through crds/.
        args.push("--skip-crds".into());
        if self.major >= 4 {
            args.extend(["--rollback-on-failure".into(), "--wait=watcher".into()]);
        } else {
            args.extend(["--atomic".into(), "--wait".into()]);
        }
        args
    }

    /// The command line as printed: the pinned images (`--set-image`) shown as what they are; values are shown
    /// as given (secrets never reach the command line: they go through a 0600 values file).
    pub(crate) fn printable(&self, args: &[OsString]) -> String {
        let mut out = vec![self.path.display().to_string()];
        let mut value_next = false;
        for a in args {
            let s = a.to_string_lossy();
            if value_next && s.contains("@sha256:") {
                let key = s.split_once('=').map_or(s.as_ref(), |(k, _)| k);
                out.push(format!("{key}=<pinned image>"));
                value_next = false;
                continue;
            }
            value_next = s == "--set-string";
            out.push(if s.contains(' ') {
                format!("{s:?}")
            } else {
                s.into_owned()
            });
        }
        out.join(" ")
    }

    pub(crate) fn run(&self, args: &[OsString], what: &str) -> Result<Output> {
        let started = std::time::Instant::now();
        let out = self
            .command()
            .args(args)
            .output()
            .map_err(|e| tool_error(&self.path, what, e))?;
        self.logged(args, out.status, started);
        Ok(out)
    }

    /// `-v`: the helm run as its printable command line (no secret is on it), its exit and its time.
    fn logged(&self, args: &[OsString], status: std::process::ExitStatus, started: std::time::Instant) {
        crate::output::log(
            "helm",
            format!(
                "{} -> exit {} in {} ms",
                redact(&self.printable(args), &self.redact),
                status.code().map_or_else(|| "by signal".to_owned(), |c| c.to_string()),
                started.elapsed().as_millis()
            ),
        );
    }

    /// Run helm with its output shown as it comes (each line on stderr, prefixed `helm: `), and a line from
    /// bbgate whenever helm has been silent for `HEARTBEAT` (its wait for a rollout says nothing for minutes, and
    /// CI kills a job that prints nothing). Returns the output, as `run` does.
    pub(crate) fn run_live(&self, args: &[OsString], what: &str) -> Result<Output> {
        const HEARTBEAT: std::time::Duration = std::time::Duration::from_secs(30);
        self.run_live_every(args, what, HEARTBEAT, &mut std::io::stderr())
    }

    /// `run_live` with the silence after which bbgate speaks, and where the lines go.
    fn run_live_every(
        &self,
        args: &[OsString],
        what: &str,
        heartbeat: std::time::Duration,
        shown: &mut dyn std::io::Write,
    ) -> Result<Output> {
        use std::io::BufRead;
        use std::process::Stdio;
        use std::sync::mpsc;
        let mut child = self
            .command()
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| tool_error(&self.path, what, e))?;
        let (tx, rx) = mpsc::channel::<(bool, String)>();
        let readers: Vec<_> = [
            child
                .stdout
                .take()
                .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
            child
                .stderr
                .take()
                .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
        ]
        .into_iter()
        .enumerate()
        .filter_map(|(i, r)| r.map(|r| (i == 1, r)))
        .map(|(is_err, r)| {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for line in std::io::BufReader::new(r).lines().map_while(std::result::Result::ok) {
                    let _ = tx.send((is_err, line));
                }
            })
        })
        .collect();
        drop(tx);
        let (mut stdout, mut stderr) = (Vec::new(), Vec::new());
        let started = std::time::Instant::now();
        loop {
            match rx.recv_timeout(heartbeat) {
                Ok((is_err, line)) => {
                    let line = redact(&line, &self.redact);
                    let _ = writeln!(shown, "helm: {}", crate::output::terminal_safe(&line));
                    let buf = if is_err { &mut stderr } else { &mut stdout };
                    buf.extend_from_slice(line.as_bytes());
                    buf.push(b'\n');
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    let _ = writeln!(
                        shown,
                        "bbgate: helm is still working ({} s): {what}",
                        started.elapsed().as_secs()
                    );
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            }
        }
        for r in readers {
            let _ = r.join();
        }
        let status = child.wait().map_err(|e| tool_error(&self.path, what, e))?;
        self.logged(args, status, started);
        Ok(Output { status, stdout, stderr })
    }

    pub(crate) fn test(&self, release: &str, namespace: &str, timeout: std::time::Duration) -> Result<Output> {
        let args: Vec<OsString> = vec![
            "test".into(),
            release.into(),
            "--namespace".into(),
            namespace.into(),
            "--timeout".into(),
            format!("{}s", timeout.as_secs().max(1)).into(),
        ];
        self.run(&args, "run the chart's tests")
    }
}

/// helm's refusal to take over an object that exists and is not this release's (`KIND "NAME" in namespace "NS"
/// exists and cannot be imported into the current release`, helm 3 and 4): the chart's fault or the namespace's,
/// never the cluster's, so a refusal naming the object and the way out, not "could not decide".
pub(crate) fn ownership_conflict(said: &str, release: &str) -> Option<String> {
    const MARK: &str = " exists and cannot be imported into the current release";
    let line = said.lines().find(|l| l.contains(MARK))?;
    let before = &line[..line.find(MARK)?];
    // The object as helm names it: from the kind before `"NAME" in namespace "NS"`.
    let object = before.rfind(": ").map_or(before, |i| &before[i + 2..]).trim();
    // helm's own words: `key "meta.helm.sh/release-name" must equal "R": current value is "OWNER"`.
    let owner = line
        .split("\"meta.helm.sh/release-name\" must equal ")
        .nth(1)
        .and_then(|rest| rest.split("current value is \"").nth(1))
        .and_then(|rest| rest.split('"').next())
        .map(|o| format!(" (it belongs to release {o:?})"))
        .unwrap_or_else(|| {
            if line.contains("missing key \"meta.helm.sh/release-name\"") {
                " (no release owns it)".to_owned()
            } else {
                String::new()
            }
        });
    Some(format!(
        "{object} already exists and is not release {release:?}'s{owner}: helm will not take it over; delete it \
     (kubectl delete), rename it in the chart, or deploy under the release that owns it"
    ))
}

/// A bare program name (`helm`, the default) found on the caller's PATH, as a shell finds it, for verify, `chart
/// check` and publish: helm itself runs in a room whose PATH is the system's only, where a helm the user installed
/// in `~/.local/bin` is not. Never at deploy, which looks a bare name up in the system's directories only.
pub(crate) fn on_path(program: &Path) -> std::path::PathBuf {
    use std::os::unix::fs::PermissionsExt;
    if program.components().count() != 1 || program.to_string_lossy().contains('/') {
        return program.to_owned();
    }
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .filter(|dir| dir.is_absolute())
        .map(|dir| dir.join(program))
        .find(|c| {
            c.metadata()
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
        .unwrap_or_else(|| program.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn helm(major: u8) -> Helm {
        Helm {
            path: "helm".into(),
            version: format!("v{major}.0.0"),
            major,
            env: Vec::new(),
            redact: Vec::new(),
        }
    }

    #[test]
    fn install_flags_follow_the_major_version() {
        let values = crate::values::Values::read(&Default::default(), &[]).unwrap();
        let images = vec![("image.ref".to_owned(), "r/x@sha256:ab".to_owned())];
        let i = Install {
            release: "emu",
            chart: Path::new("chart"),
            namespace: "payments",
            values: &values,
            set_image: &images,
            post_renderer: None,
            timeout: std::time::Duration::from_secs(300),
            history_max: 10,
            description: "bbgate evidence sha256:1",
        };
        let three: Vec<String> = helm(3)
            .install_args(&i)
            .iter()
            .map(|a| a.to_string_lossy().into())
            .collect();
        assert!(
            three.contains(&"--atomic".into()) && three.contains(&"--wait".into()),
            "{three:?}"
        );
        assert!(!three.iter().any(|a| a == "--create-namespace"));
        let four: Vec<String> = helm(4)
            .install_args(&i)
            .iter()
            .map(|a| a.to_string_lossy().into())
            .collect();
        assert!(four.contains(&"--rollback-on-failure".into()) && four.contains(&"--wait=watcher".into()));
        let shown = helm(4).printable(&helm(4).install_args(&i));
        assert!(
            shown.contains("image.ref=<pinned image>") && !shown.contains("sha256:ab"),
            "{shown}"
        );
    }

    #[test]
    fn a_silent_helm_is_reported_as_still_working_and_its_lines_are_shown_as_they_come() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let fake = dir.path().join("helm");
        // Speaks, is silent for longer than three heartbeats, speaks again on stderr, fails.
        std::fs::write(
            &fake,
            "#!/bin/sh\necho waiting for rollout\nsleep 1\necho rolled back >&2\nexit 1\n",
        )
        .unwrap();
        std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
        let h = Helm { path: fake, ..helm(3) };
        let mut shown = Vec::new();
        let out = h
            .run_live_every(
                &[],
                "install the release",
                std::time::Duration::from_millis(250),
                &mut shown,
            )
            .unwrap();
        let shown = String::from_utf8(shown).unwrap();
        let lines: Vec<&str> = shown.lines().collect();
        assert_eq!(lines.first(), Some(&"helm: waiting for rollout"), "{shown}");
        assert_eq!(lines.last(), Some(&"helm: rolled back"), "{shown}");
        let beats = lines
            .iter()
            .filter(|l| l.starts_with("bbgate: helm is still working (") && l.ends_with("): install the release"))
            .count();
        assert!(
            (2..=5).contains(&beats),
            "a line per silent heartbeat, between helm's two lines: {shown}"
        );
        assert_eq!(out.stdout, b"waiting for rollout\n");
        assert_eq!(out.stderr, b"rolled back\n");
        assert_eq!(out.status.code(), Some(1), "helm's exit status is kept");
    }
}
