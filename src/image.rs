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

/// An image reference as Docker and the container runtimes read it (in the core: the local scanners' reports
/// name their images too).
pub(crate) use bbgate_core::reference::Reference;

/// An image pinned by digest in a known registry: what the evidence judged and what deploy runs (and what the
/// post-renderer pins).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub(crate) struct PinnedImage {
    pub(crate) registry: String,
    pub(crate) repository: String,
    pub(crate) digest: String,
    /// The tag the image was judged under: when a release runs several tags of one repository (postgres 12 and
    /// 14 side by side), what tells a chart's `REPO:TAG` which judged digest it is. Never pinned into the chart.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) tag: Option<String>,
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
