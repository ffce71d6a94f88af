//! Every file bbgate reads, read the same bounded way: a regular file (a FIFO would hang the gate, a device
//! like /dev/zero would fill memory), no larger than what such a file can be, and an error that names the file
//! and says what to give instead. Nothing allocates from a size an untrusted header claims.

use crate::error::{Error, Result};
use std::io::Read;
use std::path::Path;

/// What a file is, with the largest size bbgate accepts for it.
#[derive(Debug, Clone, Copy)]
pub struct Kind {
    pub what: &'static str,
    pub limit: u64,
}

const MIB: u64 = 1 << 20;

const fn kind(what: &'static str, limit: u64) -> Kind {
    Kind { what, limit }
}

/// One page of `describe-image-scan-findings` (1000 enhanced findings are about 2 MB).
pub const FINDINGS_PAGE: Kind = kind("findings page", 64 * MIB);
/// A test-harness report (the GovStack identity run is 1 MB as messages).
pub const API_REPORT: Kind = kind("API test report", 256 * MIB);
pub const POLICY: Kind = kind("policy", 4 * MIB);
pub const SIGNOFFS: Kind = kind("sign-off file", 16 * MIB);
pub const REGO: Kind = kind("Rego module", 4 * MIB);
pub const EVIDENCE: Kind = kind("evidence file", 256 * MIB);
pub const ATTESTATION: Kind = kind("attestation", 16 * MIB);
/// `bbgate verify --format json` output read back (`signoffs request --decision`): as large as evidence.
pub const DECISION: Kind = kind("verify decision (JSON)", 256 * MIB);
/// An OpenVEX document (`signoffs request --vex`).
pub const VEX: Kind = kind("VEX document", 64 * MIB);
pub const KEY: Kind = kind("public key", MIB);
/// verify's Markdown summary (`bbgate comment`); GitHub takes 64 K characters of it.
pub const SUMMARY: Kind = kind("Markdown summary", 16 * MIB);
/// An OCI index, manifest or config blob (registries refuse manifests over 4 MiB).
pub const MANIFEST: Kind = kind("image manifest", 16 * MIB);
/// A file of a Helm chart (templates, values, Chart.yaml, a vendored dependency's .tgz).
pub const CHART_FILE: Kind = kind("chart file", 64 * MIB);
/// A file put into a Secret (`deploy --secret-from-file`): Kubernetes caps a Secret at 1 MiB.
pub const SECRET_FILE: Kind = kind("secret file", MIB);
/// A values file given to helm.
pub const VALUES: Kind = kind("values file", 16 * MIB);
/// A tool binary deploy hashes before it runs it (helm is about 60 MB).
pub const TOOL: Kind = kind("tool binary", 512 * MIB);
/// A layer or a docker-archive member held in memory.
pub const LAYER: Kind = kind("image layer", 8 << 30);

/// Refuse anything but a regular file (symlinks are followed: what they point at must be one).
pub fn regular_file(path: &Path, kind: Kind) -> Result<std::fs::Metadata> {
    let meta = std::fs::metadata(path).map_err(|e| Error::read(path, e))?;
    if !meta.is_file() {
        let ft = meta.file_type();
        use std::os::unix::fs::FileTypeExt;
        let what = if ft.is_dir() {
            "a directory"
        } else if ft.is_fifo() {
            "a FIFO (a pipe would be read without end)"
        } else if ft.is_char_device() || ft.is_block_device() {
            "a device"
        } else if ft.is_socket() {
            "a socket"
        } else {
            "not a regular file"
        };
        return Err(Error::invalid(format!(
            "{}: {what}: give the {} as a regular file",
            path.display(),
            kind.what
        )));
    }
    if meta.len() > kind.limit {
        return Err(too_large(path, kind));
    }
    Ok(meta)
}

fn too_large(path: &Path, kind: Kind) -> Error {
    Error::invalid(format!(
        "{}: larger than {} MiB, more than any {} is: check that this is the right file",
        path.display(),
        kind.limit / MIB,
        kind.what
    ))
}

/// Read a whole file, bounded.
pub fn read(path: &Path, kind: Kind) -> Result<Vec<u8>> {
    let mut buf = Vec::new();
    read_into(path, kind, &mut buf)?;
    Ok(buf)
}

/// Read a whole file into `buf` (cleared first), bounded: a file that grows while read is cut at the limit.
pub fn read_into(path: &Path, kind: Kind, buf: &mut Vec<u8>) -> Result<()> {
    regular_file(path, kind)?;
    buf.clear();
    let f = std::fs::File::open(path).map_err(|e| Error::read(path, e))?;
    f.take(kind.limit + 1)
        .read_to_end(buf)
        .map_err(|e| Error::read(path, e))?;
    if buf.len() as u64 > kind.limit {
        return Err(too_large(path, kind));
    }
    Ok(())
}

/// Read a whole file as UTF-8 text, bounded.
pub fn read_text(path: &Path, kind: Kind) -> Result<String> {
    String::from_utf8(read(path, kind)?).map_err(|e| {
        Error::invalid(format!(
            "{}: not UTF-8 text (at byte {}): save the {} as UTF-8",
            path.display(),
            e.utf8_error().valid_up_to(),
            kind.what
        ))
    })
}

/// Read at most `kind.limit` bytes from a reader whose length is not trusted (a tar member).
pub fn read_stream(mut r: impl Read, label: &str, kind: Kind) -> Result<Vec<u8>> {
    let mut buf = Vec::new();
    (&mut r)
        .take(kind.limit + 1)
        .read_to_end(&mut buf)
        .map_err(|e| Error::invalid(format!("{label}: cannot read: {e}")))?;
    if buf.len() as u64 > kind.limit {
        return Err(Error::invalid(format!(
            "{label}: larger than {} MiB, more than any {} is",
            kind.limit / MIB,
            kind.what
        )));
    }
    Ok(buf)
}
