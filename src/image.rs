//! One image vocabulary: how a reference is read (`--image`, `--to`, and every image a chart runs), the
//! manifest media types bbgate reads and writes, and the digest of bytes. Each use adds its own rules on top
//! (an ECR host for `--image`, a tag for `--to`), never its own grammar.

use crate::policy::sha256_hex;

pub(crate) const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub(crate) const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub(crate) const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub(crate) const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub(crate) const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub(crate) const OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar";
pub(crate) const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
/// The manifest types a registry may answer a pull with, indexes first.
pub(crate) const MANIFEST_TYPES: [&str; 4] = [OCI_INDEX, DOCKER_LIST, OCI_MANIFEST, DOCKER_MANIFEST];

/// `sha256:<hex>` of some bytes: a blob's or a manifest's digest.
pub(crate) fn sha256_digest(bytes: &[u8]) -> String {
    format!("sha256:{}", sha256_hex(bytes))
}

/// `sha256:` and 64 hex digits: the core's check, the one every digest is held to.
pub(crate) use crate::findings::ecr::is_sha256_digest;

/// An image reference as Docker and the container runtimes read it: `[HOST/]PATH[:TAG][@DIGEST]`. The first
/// path segment is a host only when it has a `.` or a `:` or is `localhost`; a tag follows the last `:` after
/// the last `/` (so `host:5000/repo` has no tag).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Reference {
    pub(crate) host: Option<String>,
    pub(crate) path: String,
    pub(crate) tag: Option<String>,
    pub(crate) digest: Option<String>,
}

impl Reference {
    /// Split a reference. Only its shape is read here; what a use requires (a digest that is sha256, a
    /// repository grammar, a host) it checks itself.
    pub(crate) fn parse(s: &str) -> Reference {
        let (name, digest) = match s.split_once('@') {
            Some((n, d)) => (n, Some(d.to_owned())),
            None => (s, None),
        };
        let last_slash = name.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match name[last_slash..].rfind(':') {
            Some(i) => (&name[..last_slash + i], Some(name[last_slash + i + 1..].to_owned())),
            None => (name, None),
        };
        let (host, path) = match name.split_once('/') {
            Some((host, rest)) if host.contains('.') || host.contains(':') || host == "localhost" => {
                (Some(host.to_owned()), rest.to_owned())
            }
            _ => (None, name.to_owned()),
        };
        Reference {
            host,
            path,
            tag,
            digest,
        }
    }

    /// As a runtime pulls it: Docker Hub when no host is named, and `library/` for its official images.
    pub(crate) fn normalized(mut self) -> Reference {
        if self.host.is_none() {
            self.host = Some("docker.io".to_owned());
            if !self.path.contains('/') {
                self.path = format!("library/{}", self.path);
            }
        }
        self
    }
}

impl std::fmt::Display for Reference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(h) = &self.host {
            write!(f, "{h}/")?;
        }
        f.write_str(&self.path)?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

/// An image pinned by digest in a known registry: what the evidence judged and what deploy runs (and what the
/// post-renderer pins).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub(crate) struct PinnedImage {
    pub(crate) registry: String,
    pub(crate) repository: String,
    pub(crate) digest: String,
}

impl PinnedImage {
    pub(crate) fn reference(&self) -> String {
        format!("{}/{}@{}", self.registry, self.repository, self.digest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_split_as_runtimes_split_them() {
        let r = |s: &str| {
            let r = Reference::parse(s);
            (r.host, r.path, r.tag, r.digest)
        };
        let s = |v: &str| Some(v.to_owned());
        assert_eq!(r("busybox"), (None, "busybox".into(), None, None));
        assert_eq!(r("bb/payments/x:1.0"), (None, "bb/payments/x".into(), s("1.0"), None));
        assert_eq!(r("localhost:5000/a/b"), (s("localhost:5000"), "a/b".into(), None, None));
        assert_eq!(r("localhost/a:1"), (s("localhost"), "a".into(), s("1"), None));
        assert_eq!(
            r("1.dkr.ecr.eu-central-1.amazonaws.com/bb/x:t@sha256:ab"),
            (
                s("1.dkr.ecr.eu-central-1.amazonaws.com"),
                "bb/x".into(),
                s("t"),
                s("sha256:ab")
            )
        );
        assert_eq!(
            r("org/app"),
            (None, "org/app".into(), None, None),
            "org/app: the first segment is no host"
        );
        for text in ["busybox", "localhost:5000/a/b:1", "h.io/a@sha256:ab", "a:1@sha256:cd"] {
            assert_eq!(Reference::parse(text).to_string(), text);
        }
        assert_eq!(
            Reference::parse("busybox:1").normalized().to_string(),
            "docker.io/library/busybox:1"
        );
        assert_eq!(
            Reference::parse("org/app").normalized().to_string(),
            "docker.io/org/app"
        );
        assert_eq!(Reference::parse("quay.io/a/b").normalized().to_string(), "quay.io/a/b");
        assert_eq!(
            sha256_digest(b""),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }
}
