//! Image references, read as Docker and the container runtimes read them.

/// An image reference as Docker and the container runtimes read it: `[HOST/]PATH[:TAG][@DIGEST]`. The first
/// path segment is a host only when it has a `.` or a `:` or is `localhost`; a tag follows the last `:` after
/// the last `/` (so `host:5000/repo` has no tag).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    pub host: Option<String>,
    pub path: String,
    pub tag: Option<String>,
    pub digest: Option<String>,
}

impl Reference {
    /// Split a reference. Only its shape is read here; what a use requires (a digest that is sha256, a
    /// repository grammar, a host) it checks itself.
    pub fn parse(s: &str) -> Reference {
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
    pub fn normalized(mut self) -> Reference {
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

/// A tag as registries take it (the OCI distribution grammar `[A-Za-z0-9_][A-Za-z0-9._-]{0,127}`).
pub fn is_tag(tag: &str) -> bool {
    !tag.is_empty()
        && tag.len() <= 128
        && tag.bytes().all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
        && !tag.starts_with(['.', '-'])
}

/// Why `tag` is not one, said for people: a `${VAR}` placeholder nothing expanded is named as such.
pub fn tag_problem(tag: &str) -> Option<String> {
    if is_tag(tag) {
        return None;
    }
    Some(match tag.find("${").or_else(|| tag.find('$')) {
        Some(_) => format!(
            "tag {tag:?} holds a placeholder nothing expanded: CircleCI does not expand variables in orb \
             parameters (the orb's steps substitute ${{NAME}} themselves), and bbgate never does; give the value"
        ),
        None => format!("{tag:?} is not a valid tag (letters, digits, _ . -, at most 128, not starting with . or -)"),
    })
}

/// `123456789012.dkr.ecr.eu-central-1.amazonaws.com` -> (account, region).
pub fn parse_ecr_host(host: &str) -> Option<(String, String)> {
    let rest = host
        .strip_suffix(".amazonaws.com")
        .or_else(|| host.strip_suffix(".amazonaws.com.cn"))?;
    let (account, rest) = rest.split_once('.')?;
    let region = rest
        .strip_prefix("dkr.ecr.")
        .or_else(|| rest.strip_prefix("dkr.ecr-fips."))?;
    (account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit()) && is_region(region))
        .then(|| (account.to_owned(), region.to_owned()))
}

/// `eu-central-1`, `us-gov-west-1`: lowercase words and a number, dash-separated.
pub fn is_region(r: &str) -> bool {
    let parts: Vec<&str> = r.split('-').collect();
    parts.len() >= 3
        && parts[..parts.len() - 1]
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase()))
        && parts[parts.len() - 1].parse::<u8>().is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(s: &str) -> (String, Option<String>, Option<String>) {
        let r = Reference::parse(s);
        (r.path, r.tag, r.digest)
    }

    #[test]
    fn references_name_repositories_as_ecr_does() {
        assert_eq!(
            parts("ghcr.io/aquasecurity/trivy-test-images:debian-buster"),
            (
                "aquasecurity/trivy-test-images".into(),
                Some("debian-buster".into()),
                None
            )
        );
        assert_eq!(
            parts("123456789012.dkr.ecr.eu-central-1.amazonaws.com/bb/payments/x@sha256:ab"),
            ("bb/payments/x".into(), None, Some("sha256:ab".into()))
        );
        assert_eq!(
            parts("bb/payments/x:dev"),
            ("bb/payments/x".into(), Some("dev".into()), None)
        );
        assert_eq!(parts("localhost:5000/bb/x:1"), ("bb/x".into(), Some("1".into()), None));
    }
}
