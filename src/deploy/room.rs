//! The sealed room helm runs in: a private directory (0700, removed when the room is dropped) holding helm's
//! home and caches, the kubeconfig bbgate wrote, and copies of every file helm may read (the chart, its values
//! and `--set-file` files) as regular files only. helm and every process it starts get an environment built
//! from an allowlist, never the job's: a chart cannot read the deploy job's secrets through a symlink to
//! `/proc/self/environ`, and the job's `HELM_*`, `KUBECONFIG` or proxy variables cannot steer helm.

use crate::error::{Error, Result};
use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// The proxy variables helm may be given: verify passes them (a dependency build behind a proxy), deploy only
/// those the admins allow by name (`--allow-env`).
pub(crate) const PROXIES: &[&str] = &[
    "HTTPS_PROXY",
    "https_proxy",
    "HTTP_PROXY",
    "http_proxy",
    "NO_PROXY",
    "no_proxy",
];

/// The PATH helm runs with: the system's directories, never the job's PATH.
const PATH: &str = "/usr/local/bin:/usr/bin:/bin";
/// Directories a symlink may never point into, even from inside the chart.
const SYSTEM: &[&str] = &["/proc", "/dev", "/sys"];
/// How many files and how deep a tree may be before it is refused as no chart.
const LIMITS: (usize, usize) = (20_000, 32);

pub(crate) struct Room {
    dir: tempfile::TempDir,
    /// Variables the admins let through by name (`deploy --allow-env`), or the proxies verify's dependency
    /// builds need; added to the allowlist.
    passed: Vec<(OsString, OsString)>,
}

fn io(what: &str, e: std::io::Error) -> Error {
    Error::Undecidable(format!("cannot {what} in bbgate's private directory: {e}"))
}

impl Room {
    /// A new room under the system's temporary directory, readable by its owner only.
    pub(crate) fn new() -> Result<Room> {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::Builder::new()
            .prefix("bbgate-room-")
            .permissions(std::fs::Permissions::from_mode(0o700))
            .tempdir()
            .map_err(|e| io("create a private directory", e))?;
        for sub in ["home", "tmp", "config", "cache", "data", "files"] {
            std::fs::create_dir(dir.path().join(sub)).map_err(|e| io("create a directory", e))?;
        }
        Ok(Room {
            dir,
            passed: Vec::new(),
        })
    }

    pub(crate) fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Let these variables of bbgate's own environment through to helm (by name; unset ones are skipped).
    pub(crate) fn pass<S: AsRef<str>>(&mut self, names: &[S]) {
        for name in names.iter().map(AsRef::as_ref) {
            if let Some(v) = std::env::var_os(name) {
                self.passed.push((name.into(), v));
            }
        }
    }

    /// helm's whole environment: a fixed PATH, the room's home, XDG and helm directories, the given kubeconfig
    /// (or none: a path that does not exist), and the variables passed by name. Nothing else of the job's.
    pub(crate) fn env(&self, kubeconfig: Option<&Path>) -> Vec<(OsString, OsString)> {
        let at = |sub: &str| self.path().join(sub).into_os_string();
        let mut env: Vec<(OsString, OsString)> = vec![
            ("PATH".into(), PATH.into()),
            ("HOME".into(), at("home")),
            ("TMPDIR".into(), at("tmp")),
            ("LANG".into(), "C.UTF-8".into()),
            ("XDG_CONFIG_HOME".into(), at("config")),
            ("XDG_CACHE_HOME".into(), at("cache")),
            ("XDG_DATA_HOME".into(), at("data")),
            ("HELM_CONFIG_HOME".into(), at("config/helm")),
            ("HELM_CACHE_HOME".into(), at("cache/helm")),
            ("HELM_DATA_HOME".into(), at("data/helm")),
            ("HELM_PLUGINS".into(), at("data/helm/plugins")),
            ("HELM_REGISTRY_CONFIG".into(), at("config/helm/registry/config.json")),
            ("HELM_REPOSITORY_CONFIG".into(), at("config/helm/repositories.yaml")),
            ("HELM_REPOSITORY_CACHE".into(), at("cache/helm/repository")),
            ("HELM_DRIVER".into(), "secret".into()),
            (
                "KUBECONFIG".into(),
                kubeconfig.map_or_else(|| at("no-kubeconfig"), |k| k.as_os_str().to_owned()),
            ),
        ];
        env.extend(self.passed.iter().cloned());
        env
    }

    /// Write a file only the owner can read (0600) into the room.
    pub(crate) fn write_private(&self, name: &str, bytes: &[u8]) -> Result<PathBuf> {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let path = self.path().join(name);
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&path)
            .map_err(|e| io("write a file", e))?;
        f.write_all(bytes).map_err(|e| io("write a file", e))?;
        Ok(path)
    }

    /// Copy a chart directory into the room as regular files (see [`copy_tree`]); returns the copy's path.
    pub(crate) fn copy_chart(&self, chart: &Path) -> Result<PathBuf> {
        let name = chart
            .canonicalize()
            .map_err(|e| Error::read(chart, e))?
            .file_name()
            .map_or_else(|| "chart".into(), |n| n.to_string_lossy().into_owned());
        let dest = self.path().join("charts").join(name);
        std::fs::create_dir_all(&dest).map_err(|e| io("create a directory", e))?;
        copy_tree(chart, &dest)?;
        Ok(dest)
    }

    /// Copy a file the command line names (a values file, a `--set-file` file) into the room: a regular file,
    /// reached through no symlink that leaves the working directory or points into /proc, /dev or /sys.
    pub(crate) fn copy_file(&self, path: &Path, kind: crate::input::Kind) -> Result<PathBuf> {
        let real = in_working_dir(path)?;
        let bytes = crate::input::read(&real, kind)?;
        let n = std::fs::read_dir(self.path().join("files")).map_or(0, |d| d.count());
        let file = path
            .file_name()
            .map_or_else(|| "file".into(), |f| f.to_string_lossy().into_owned());
        let dest = self.path().join("files").join(format!("{n}-{file}"));
        std::fs::write(&dest, bytes).map_err(|e| io("copy a file", e))?;
        Ok(dest)
    }
}

/// The entries of a directory, in name order (so copies and scans are the same on every machine); an entry that
/// cannot be read is an error, not skipped.
pub(crate) fn sorted_entries(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| Error::read(dir, e))?
        .map(|e| e.map(|e| e.path()).map_err(|e| Error::read(dir, e)))
        .collect::<Result<_>>()?;
    entries.sort();
    Ok(entries)
}

/// A file the command line names, where it really is: refused when a symlink on the way leaves the working
/// directory (the job's credentials, /proc/self/environ), as for every file given to helm.
pub(crate) fn in_working_dir(path: &Path) -> Result<PathBuf> {
    let cwd = std::env::current_dir().map_err(|e| Error::read(Path::new("."), e))?;
    confined(path, &cwd, "the working directory")
}

/// Where `path` really is, refused when a symlink on the way leads outside `root` (whose name `within` gives)
/// or into /proc, /dev or /sys.
fn confined(path: &Path, root: &Path, within: &str) -> Result<PathBuf> {
    let real = path.canonicalize().map_err(|e| Error::read(path, e))?;
    let root = root.canonicalize().map_err(|e| Error::read(root, e))?;
    let linked = path
        .ancestors()
        .any(|p| std::fs::symlink_metadata(p).is_ok_and(|m| m.file_type().is_symlink()));
    if let Some(sys) = SYSTEM.iter().find(|s| real.starts_with(s)) {
        return Err(Error::invalid(format!(
            "{}: leads into {sys} ({}): a chart or a file given to helm may only hold files of its own",
            path.display(),
            real.display()
        )));
    }
    if linked && !real.starts_with(&root) {
        return Err(Error::invalid(format!(
            "{}: a symlink that leaves {within} (to {}): copy the file in instead",
            path.display(),
            real.display()
        )));
    }
    Ok(real)
}

/// Copy the tree at `src` into `dest` with every file a regular file: a symlink is replaced by what it points at
/// when that lies inside `src` (and not in /proc, /dev or /sys), and refused otherwise; FIFOs, sockets and
/// devices are refused; file sizes, counts and depth are bounded. helm then reads only the copy.
pub(crate) fn copy_tree(src: &Path, dest: &Path) -> Result<()> {
    let root = src.canonicalize().map_err(|e| Error::read(src, e))?;
    let mut count = 0;
    copy_dir(&root, src, dest, 0, &mut count)
}

fn copy_dir(root: &Path, dir: &Path, dest: &Path, depth: usize, count: &mut usize) -> Result<()> {
    if depth > LIMITS.1 {
        return Err(Error::invalid(format!(
            "{}: nested deeper than {} directories: not a chart",
            dir.display(),
            LIMITS.1
        )));
    }
    for path in sorted_entries(dir)? {
        let name = path.file_name().map(ToOwned::to_owned).unwrap_or_default();
        let target = dest.join(&name);
        let meta = std::fs::symlink_metadata(&path).map_err(|e| Error::read(&path, e))?;
        let real = if meta.file_type().is_symlink() {
            confined(&path, root, "the chart")?
        } else {
            path.clone()
        };
        let meta = std::fs::metadata(&real).map_err(|e| Error::read(&path, e))?;
        *count += 1;
        if *count > LIMITS.0 {
            return Err(Error::invalid(format!(
                "{}: more than {} files: not a chart",
                root.display(),
                LIMITS.0
            )));
        }
        if meta.is_dir() {
            std::fs::create_dir(&target).map_err(|e| io("create a directory", e))?;
            copy_dir(root, &real, &target, depth + 1, count)?;
        } else {
            // Refuses FIFOs, sockets and devices, and files larger than any chart file.
            let bytes = crate::input::read(&real, crate::input::CHART_FILE)
                .map_err(|e| e.within(&path.display().to_string()))?;
            std::fs::write(&target, bytes).map_err(|e| io("copy a chart file", e))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn a_chart_is_copied_as_regular_files_and_symlinks_out_of_it_are_refused() {
        let src = tempfile::tempdir().unwrap();
        let chart = src.path().join("c");
        std::fs::create_dir_all(chart.join("templates")).unwrap();
        std::fs::write(chart.join("Chart.yaml"), "name: c\n").unwrap();
        std::fs::write(chart.join("templates/a.yaml"), "a: 1\n").unwrap();
        symlink("a.yaml", chart.join("templates/b.yaml")).unwrap();
        let room = Room::new().unwrap();
        let copy = room.copy_chart(&chart).unwrap();
        let b = copy.join("templates/b.yaml");
        assert!(!std::fs::symlink_metadata(&b).unwrap().file_type().is_symlink());
        assert_eq!(std::fs::read_to_string(b).unwrap(), "a: 1\n");
        for (link, why) in [("/proc/self/environ", "/proc"), ("../../outside", "leaves the chart")] {
            std::fs::write(src.path().join("outside"), "secret").unwrap();
            let bad = chart.join("templates/leak.yaml");
            let _ = std::fs::remove_file(&bad);
            symlink(link, &bad).unwrap();
            let e = Room::new().unwrap().copy_chart(&chart).unwrap_err().to_string();
            assert!(e.contains("leak.yaml") && e.contains(why), "{e}");
        }
    }

    #[test]
    fn helms_environment_is_the_allowlist_and_nothing_of_the_jobs() {
        let mut room = Room::new().unwrap();
        room.pass(&["PATH", "BBGATE_SURELY_UNSET"]);
        let env = room.env(None);
        let names: Vec<String> = env.iter().map(|(k, _)| k.to_string_lossy().into_owned()).collect();
        assert!(names.iter().all(|n| !n.starts_with("AWS_") && !n.starts_with("CIRCLE")));
        assert!(
            env.iter()
                .any(|(k, v)| k == "HOME" && Path::new(v).starts_with(room.path()))
        );
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(room.path()).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);
    }
}
