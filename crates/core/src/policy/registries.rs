//! `[[building_block.registries]]`: a building block's own images kept outside the sandbox's ECR, judged as its
//! own. Two kinds, told by the registry named:
//! - a vendor's ECR registry (`ACCOUNT.dkr.ecr.REGION.amazonaws.com`, Mifos' payment hub images): verify reads
//!   the scans there with its own role (the vendor's repository policy must let it), the images are the building
//!   block's in that account only, and deploy lets this building block's release pull from it;
//! - a registry the pull-through cache serves (`ghcr.io`), for the building block's own organisation there
//!   (`openimis/*`): still judged and run as the cache's copy (`ghcr/openimis/…`), but as the building block's
//!   own images: they name the building block, and another building block's release may not run them.

use globset::{GlobBuilder, GlobSet, GlobSetBuilder};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::ops::Range;
use toml::Spanned;

/// Where a [`Registry`] is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// A vendor's ECR registry.
    Ecr { account: String, region: String },
    /// An upstream registry the pull-through cache serves under `cache_prefix`.
    Upstream { cache_prefix: String },
}

/// One registry and the repositories of it the building block owns.
#[derive(Debug, Clone)]
pub struct Registry {
    /// The host, as images name it.
    pub registry: String,
    /// Repository patterns (`*` within a path segment, `**` across), as the registry names them.
    pub repositories: Vec<String>,
    pub kind: Kind,
    matcher: GlobSet,
}

impl Registry {
    /// Is the image `repository` of ECR account `account` (the scan's `registryId`) one of this entry's? For an
    /// upstream registry, `repository` is the cache's copy (`ghcr/openimis/openimis-be`), in any account.
    pub fn owns(&self, account: Option<&str>, repository: &str) -> bool {
        match &self.kind {
            Kind::Ecr { account: a, .. } => account == Some(a.as_str()) && self.matcher.is_match(repository),
            Kind::Upstream { cache_prefix } => repository
                .strip_prefix(cache_prefix.as_str())
                .and_then(|rest| rest.strip_prefix('/'))
                .is_some_and(|path| self.matcher.is_match(path)),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRegistry {
    registry: Spanned<String>,
    repositories: Spanned<Vec<Spanned<String>>>,
}

/// Read and check one building block's registries: an ECR host or a registry `[images] pull_through` maps, each
/// once, with at least one valid repository pattern.
pub(super) fn read(
    bb: &str,
    raw: Vec<RawRegistry>,
    pull_through: &BTreeMap<String, String>,
    bad: &mut impl FnMut(Range<usize>, String),
) -> Vec<Registry> {
    let mut out: Vec<Registry> = Vec::new();
    for r in raw {
        let host = r.registry.get_ref().clone();
        let kind = if let Some((account, region)) = crate::reference::parse_ecr_host(&host) {
            Some(Kind::Ecr { account, region })
        } else if let Some(prefix) = pull_through.get(&host) {
            Some(Kind::Upstream {
                cache_prefix: prefix.clone(),
            })
        } else {
            let cached: Vec<&str> = pull_through.keys().map(String::as_str).collect();
            bad(
                r.registry.span(),
                format!(
                    "[[building_block]] {bb:?}: registry {host:?} is neither an ECR registry \
                     (ACCOUNT.dkr.ecr.REGION.amazonaws.com) nor one the pull-through cache serves ({}; [images] \
                     pull_through): images elsewhere cannot be scanned by ECR",
                    if cached.is_empty() {
                        "none".to_owned()
                    } else {
                        cached.join(", ")
                    }
                ),
            );
            None
        };
        if out.iter().any(|o| o.registry == host) {
            bad(
                r.registry.span(),
                format!("[[building_block]] {bb:?}: registry {host:?} is listed twice; list its repositories once"),
            );
        }
        let span = r.repositories.span();
        let mut set = GlobSetBuilder::new();
        let mut repositories = Vec::new();
        for p in r.repositories.into_inner() {
            let ok_name = !p.get_ref().is_empty()
                && !p.get_ref().starts_with('/')
                && p.get_ref()
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-/*".contains(&b));
            match GlobBuilder::new(p.get_ref()).literal_separator(true).build() {
                Ok(g) if ok_name => {
                    set.add(g);
                }
                Ok(_) => bad(
                    p.span(),
                    format!(
                        "[[building_block]] {bb:?}: registry {host}: repository pattern {:?} is not a repository path \
                         (lowercase letters, digits, . _ - / and * wildcards)",
                        p.get_ref()
                    ),
                ),
                Err(e) => bad(
                    p.span(),
                    format!(
                        "[[building_block]] {bb:?}: registry {host}: repository pattern {:?} is not a valid glob: {e}",
                        p.get_ref()
                    ),
                ),
            }
            repositories.push(p.into_inner());
        }
        if repositories.is_empty() {
            bad(
                span,
                format!(
                    "[[building_block]] {bb:?}: registry {host}: repositories is empty: list the building block's \
                     repositories there (for ghcr.io, its organisation: \"ORG/*\")"
                ),
            );
        }
        if let Some(kind) = kind {
            out.push(Registry {
                registry: host,
                repositories,
                kind,
                matcher: set.build().unwrap_or_else(|_| GlobSet::empty()),
            });
        }
    }
    out
}
