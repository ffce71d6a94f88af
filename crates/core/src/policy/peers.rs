//! `[[building_block.peers]]`: the other namespaces a building block talks to, and on which ports. GovStack BBs
//! call each other through the Information Mediator's security servers, so the IM's namespace admits the BBs'
//! namespaces on its ports, and each BB reaches the IM on them. Nothing else crosses a namespace: the namespace
//! kit renders one NetworkPolicy per direction from these entries, and the guard and `namespace check` admit a
//! NetworkPolicy rule that names another namespace only when an entry lists that namespace, that direction and
//! every port the rule opens (a rule with no ports opens them all, and is refused).

use serde::Deserialize;
use std::ops::Range;
use toml::Spanned;

/// Which way traffic may cross to or from a peer namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// The peer's pods may connect to this building block's pods.
    Ingress,
    /// This building block's pods may connect to the peer's.
    Egress,
    Both,
}

impl Direction {
    pub fn ingress(self) -> bool {
        matches!(self, Direction::Ingress | Direction::Both)
    }
    pub fn egress(self) -> bool {
        matches!(self, Direction::Egress | Direction::Both)
    }
}

/// One peer namespace, the TCP ports traffic may use, and which way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peer {
    pub namespace: String,
    pub ports: Vec<u16>,
    pub direction: Direction,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPeer {
    namespace: Spanned<String>,
    ports: Spanned<Vec<Spanned<i64>>>,
    direction: Spanned<Direction>,
}

/// Read and check one building block's peers: a namespace name other than its own, at least one port in
/// 1..=65535, each namespace once per direction.
pub(super) fn read(
    bb: &str,
    own_namespace: &str,
    raw: Vec<RawPeer>,
    bad: &mut impl FnMut(Range<usize>, String),
) -> Vec<Peer> {
    let mut out: Vec<Peer> = Vec::new();
    for p in raw {
        let ns = p.namespace.get_ref().clone();
        if !super::is_dns_label(&ns) {
            bad(
                p.namespace.span(),
                format!("[[building_block]] {bb:?}: peer namespace {ns:?} is not a Kubernetes namespace name"),
            );
        }
        if ns == own_namespace {
            bad(
                p.namespace.span(),
                format!("[[building_block]] {bb:?}: peer namespace {ns:?} is the building block's own"),
            );
        }
        let span = p.ports.span();
        let mut ports = Vec::new();
        for port in p.ports.into_inner() {
            match u16::try_from(*port.get_ref()) {
                Ok(n) if n > 0 => ports.push(n),
                _ => bad(
                    port.span(),
                    format!(
                        "[[building_block]] {bb:?}: peer {ns}: port {} is not in 1..65535",
                        port.get_ref()
                    ),
                ),
            }
        }
        if ports.is_empty() {
            bad(
                span,
                format!(
                    "[[building_block]] {bb:?}: peer {ns} lists no port: name the ports the traffic uses (a peer on \
                     every port is a namespace opened)"
                ),
            );
        }
        ports.sort_unstable();
        ports.dedup();
        let direction = *p.direction.get_ref();
        if out.iter().any(|o| {
            o.namespace == ns
                && (o.direction.ingress() && direction.ingress() || o.direction.egress() && direction.egress())
        }) {
            bad(
                p.direction.span(),
                format!("[[building_block]] {bb:?}: peer {ns} is listed twice for one direction"),
            );
        }
        out.push(Peer {
            namespace: ns,
            ports,
            direction,
        });
    }
    out
}

/// May traffic cross between this building block and `namespace`, this way, on every one of `ports`? `ports`
/// empty means every port: never admitted.
pub fn admits(peers: &[Peer], namespace: &str, ingress: bool, ports: &[u16]) -> bool {
    !ports.is_empty()
        && ports.iter().all(|port| {
            peers.iter().any(|p| {
                p.namespace == namespace
                    && (if ingress {
                        p.direction.ingress()
                    } else {
                        p.direction.egress()
                    })
                    && p.ports.contains(port)
            })
        })
}
