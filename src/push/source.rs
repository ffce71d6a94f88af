//! Where an image to push comes from: an OCI image layout (`oci:DIR[:TAG]`) or a `docker save` archive
//! (`docker-archive:FILE`). Both become the same thing: blobs whose bytes were checked against their digests,
//! and manifests to push children first, the tagged one last. Layer bytes are never rewritten, so the pushed
//! digest is the same on every push of the same source.

use crate::error::{Error, Result};
use crate::image::{
    DOCKER_LIST, DOCKER_MANIFEST, OCI_CONFIG, OCI_INDEX, OCI_LAYER, OCI_LAYER_GZIP, OCI_MANIFEST, sha256_digest,
};
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::path::Path;

/// A blob whose bytes matched its digest when it was read.
#[derive(Debug, Clone)]
pub(crate) struct Blob {
    pub(crate) digest: String,
    pub(crate) data: BlobData,
}

/// Where a blob's bytes are: a stretch of a file (a layout's blob, or a docker-archive member in place: streamed
/// to the registry, never held whole in memory), or memory (a small archive member).
#[derive(Debug, Clone)]
pub(crate) enum BlobData {
    File {
        path: std::path::PathBuf,
        offset: u64,
        size: u64,
    },
    Memory(bytes::Bytes),
}

impl BlobData {
    pub(crate) fn size(&self) -> u64 {
        match self {
            BlobData::File { size, .. } => *size,
            BlobData::Memory(b) => b.len() as u64,
        }
    }

    /// The bytes, for the small blobs read whole (manifests and configs).
    fn bytes(&self) -> Result<bytes::Bytes> {
        match self {
            BlobData::Memory(b) => Ok(b.clone()),
            BlobData::File { path, offset, size } => {
                if *size > crate::input::MANIFEST.limit {
                    return Err(Error::invalid(format!(
                        "{} at {offset}: {size} bytes, more than a manifest or config may hold",
                        path.display()
                    )));
                }
                let mut f = std::fs::File::open(path).map_err(|e| Error::read(path, e))?;
                std::io::Seek::seek(&mut f, std::io::SeekFrom::Start(*offset)).map_err(|e| Error::read(path, e))?;
                let mut buf = vec![0u8; usize::try_from(*size).unwrap_or(0)];
                f.read_exact(&mut buf).map_err(|e| Error::read(path, e))?;
                Ok(buf.into())
            }
        }
    }
}

/// A docker-archive member: small ones read into memory, large ones (layers) left in the archive, hashed as they
/// were read and streamed from their place when pushed.
#[derive(Debug)]
enum Member {
    Bytes(Vec<u8>),
    Range {
        offset: u64,
        size: u64,
        sha256: String,
        gzip: bool,
    },
}

/// Members up to this size are held in memory; larger ones stay in the archive.
const IN_MEMORY: u64 = 1 << 20;

const MAX_INDEX_DEPTH: usize = 8;

/// `dir/rel`, which must stay inside `dir` once symlinks are resolved: a layout's blob linked to a file
/// elsewhere (or to /dev/zero) is not part of the image.
fn inside(dir: &Path, rel: &str) -> Result<std::path::PathBuf> {
    let path = dir.join(rel);
    let real = std::fs::canonicalize(&path).map_err(|e| Error::read(&path, e))?;
    let root = std::fs::canonicalize(dir).map_err(|e| Error::read(dir, e))?;
    if !real.starts_with(&root) {
        return Err(Error::invalid(format!(
            "{}: links outside the layout (to {}): a layout's files must be its own",
            path.display(),
            real.display()
        )));
    }
    Ok(path)
}

/// Where a layout's files are: a directory, or the members of a Docker 25+ archive (and the archive's path).
enum Store<'a> {
    Dir(&'a Path),
    Members(&'a HashMap<String, Member>, &'a Path),
}

impl Store<'_> {
    fn read(&self, rel: &str) -> Result<Vec<u8>> {
        match self {
            Store::Dir(dir) => crate::input::read(&inside(dir, rel)?, crate::input::MANIFEST),
            Store::Members(..) => Ok(self.blob(rel)?.1.bytes()?.to_vec()),
        }
    }

    /// The blob at `rel` with its sha256: a file is hashed as it is read, 1 MiB at a time.
    fn blob(&self, rel: &str) -> Result<(String, BlobData)> {
        match self {
            Store::Dir(dir) => {
                use sha2::Digest;
                let path = inside(dir, rel)?;
                crate::input::regular_file(&path, crate::input::LAYER)?;
                let mut f = std::fs::File::open(&path).map_err(|e| Error::read(&path, e))?;
                let mut hasher = sha2::Sha256::new();
                let mut buf = vec![0u8; 1 << 20];
                let mut size = 0u64;
                loop {
                    let n = f.read(&mut buf).map_err(|e| Error::read(&path, e))?;
                    if n == 0 {
                        break;
                    }
                    hasher.update(&buf[..n]);
                    size += n as u64;
                }
                Ok((
                    format!("sha256:{}", hex::encode(hasher.finalize())),
                    BlobData::File { path, offset: 0, size },
                ))
            }
            Store::Members(m, archive) => match m.get(rel) {
                Some(Member::Bytes(data)) => Ok((sha256_digest(data), BlobData::Memory(data.clone().into()))),
                Some(Member::Range {
                    offset, size, sha256, ..
                }) => Ok((
                    sha256.clone(),
                    BlobData::File {
                        path: archive.to_path_buf(),
                        offset: *offset,
                        size: *size,
                    },
                )),
                None => Err(Error::invalid(format!("the archive's OCI layout has no {rel}"))),
            },
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Manifest {
    pub(crate) digest: String,
    pub(crate) media_type: String,
    pub(crate) bytes: bytes::Bytes,
}

/// Everything to push, in push order: the blobs, then the manifests children first; the last one is tagged.
#[derive(Debug)]
pub struct Image {
    pub(crate) blobs: BTreeMap<String, Blob>,
    pub(crate) manifests: Vec<Manifest>,
}

impl Image {
    /// `load` returns an Image only after adding its top manifest, so there is always one.
    pub(crate) fn digest(&self) -> &str {
        &self.manifests.last().expect("an image has a manifest").digest
    }
}

/// `oci:DIR[:TAG]` or `docker-archive:FILE`.
pub fn load(source: &str) -> Result<Image> {
    if let Some(rest) = source.strip_prefix("oci:") {
        // DIR may itself hold ':' only if no tag follows; a tag is the part after the last ':' when DIR exists
        // without it.
        let (dir, tag) = match rest.rsplit_once(':') {
            Some((d, t)) if Path::new(d).is_dir() && !t.contains('/') => (d, Some(t)),
            _ => (rest, None),
        };
        return oci_layout(source, Path::new(dir), tag);
    }
    if let Some(file) = source.strip_prefix("docker-archive:") {
        return docker_archive(source, Path::new(file));
    }
    Err(Error::invalid(format!(
        "--from {source:?}: name the source as oci:DIR[:TAG] (an OCI image layout, e.g. from umoci, buildah or \
         `skopeo copy`) or docker-archive:FILE (from `docker save`)"
    )))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Descriptor {
    media_type: Option<String>,
    digest: String,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ManifestDoc {
    media_type: Option<String>,
    config: Option<Descriptor>,
    #[serde(default)]
    layers: Vec<Descriptor>,
    manifests: Option<Vec<Descriptor>>,
}

fn oci_layout(source: &str, dir: &Path, tag: Option<&str>) -> Result<Image> {
    if !dir.join("oci-layout").is_file() {
        return Err(Error::invalid(format!(
            "{source}: {} is not an OCI image layout (no oci-layout file); build one with `umoci init`, or \
             `skopeo copy docker-archive:IMG.tar oci:{}`",
            dir.display(),
            dir.display()
        )));
    }
    layout(source, &dir.display().to_string(), &Store::Dir(dir), tag)
}

/// An OCI layout: a directory, or the members of a Docker 25+ archive.
fn layout(source: &str, label: &str, store: &Store, tag: Option<&str>) -> Result<Image> {
    let bad = |why: String| Error::invalid(format!("{source}: {why}"));
    let index_bytes = store.read("index.json")?;
    let index: ManifestDoc =
        serde_json::from_slice(&index_bytes).map_err(|e| bad(format!("{label}/index.json: not an OCI index: {e}")))?;
    let entries = index.manifests.unwrap_or_default();
    let name_of = |d: &Descriptor| d.annotations.get("org.opencontainers.image.ref.name").cloned();
    let chosen = match tag {
        Some(t) => entries.iter().find(|d| name_of(d).as_deref() == Some(t)),
        None if entries.len() == 1 => entries.first(),
        None => None,
    };
    let Some(top) = chosen else {
        let names: Vec<String> = entries.iter().filter_map(name_of).collect();
        return Err(bad(match tag {
            Some(t) => format!(
                "no image tagged {t:?} in {label}/index.json (tags: {})",
                names.join(", ")
            ),
            None => format!(
                "{label}/index.json holds {} images: name one as oci:{label}:TAG (tags: {})",
                entries.len(),
                names.join(", ")
            ),
        }));
    };
    let mut image = Image {
        blobs: BTreeMap::new(),
        manifests: Vec::new(),
    };
    let read_blob = |digest: &str| -> Result<BlobData> {
        let hex = digest
            .strip_prefix("sha256:")
            .filter(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()))
            .ok_or_else(|| {
                bad(format!(
                    "digest {digest:?} is not sha256:<64 hex>; only sha256 is supported"
                ))
            })?;
        let rel = format!("blobs/sha256/{hex}");
        let (actual, data) = store.blob(&rel)?;
        if actual != digest {
            return Err(bad(format!(
                "{label}/{rel} is corrupt: its bytes hash to {actual}, not {digest}; rebuild the layout"
            )));
        }
        Ok(data)
    };
    let read_manifest = |digest: &str| -> Result<bytes::Bytes> { read_blob(digest)?.bytes() };
    add_manifest(
        &mut image,
        0,
        &top.digest,
        top.media_type.as_deref(),
        &read_manifest,
        &read_blob,
        source,
    )?;
    Ok(image)
}

/// Add a manifest (and, for an index, its children first) with all its blobs, checked.
fn add_manifest(
    image: &mut Image,
    depth: usize,
    digest: &str,
    media_type: Option<&str>,
    read_manifest: &dyn Fn(&str) -> Result<bytes::Bytes>,
    read_blob: &dyn Fn(&str) -> Result<BlobData>,
    source: &str,
) -> Result<()> {
    // An index of indexes is legal, but never deep: a deeper one (or a cycle) is refused, not recursed into.
    if depth > MAX_INDEX_DEPTH {
        return Err(Error::invalid(format!(
            "{source}: indexes nested more than {MAX_INDEX_DEPTH} deep (at {digest}): not an image layout bbgate pushes"
        )));
    }
    let bytes = read_manifest(digest)?;
    let doc: ManifestDoc = serde_json::from_slice(&bytes)
        .map_err(|e| Error::invalid(format!("{source}: manifest {digest} is not JSON: {e}")))?;
    let media_type = media_type
        .map(str::to_owned)
        .or(doc.media_type.clone())
        .unwrap_or_else(|| {
            if doc.manifests.is_some() {
                OCI_INDEX
            } else {
                OCI_MANIFEST
            }
            .to_owned()
        });
    match media_type.as_str() {
        OCI_INDEX | DOCKER_LIST => {
            for child in doc.manifests.as_deref().unwrap_or_default() {
                add_manifest(
                    image,
                    depth + 1,
                    &child.digest,
                    child.media_type.as_deref(),
                    read_manifest,
                    read_blob,
                    source,
                )?;
            }
        }
        OCI_MANIFEST | DOCKER_MANIFEST => {
            let config = doc
                .config
                .as_ref()
                .ok_or_else(|| Error::invalid(format!("{source}: manifest {digest} has no config")))?;
            for d in std::iter::once(config).chain(&doc.layers) {
                if !image.blobs.contains_key(&d.digest) {
                    let data = read_blob(&d.digest)?;
                    image.blobs.insert(
                        d.digest.clone(),
                        Blob {
                            digest: d.digest.clone(),
                            data,
                        },
                    );
                }
            }
        }
        other => {
            return Err(Error::invalid(format!(
                "{source}: manifest {digest} has media type {other:?}; bbgate pushes OCI and Docker v2 images and indexes"
            )));
        }
    }
    image.manifests.push(Manifest {
        digest: digest.to_owned(),
        media_type,
        bytes,
    });
    Ok(())
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ArchiveEntry {
    config: String,
    layers: Vec<String>,
    #[serde(default)]
    repo_tags: Option<Vec<String>>,
}

/// The regular files of a tar archive by name, and its symbolic links resolved one level (older `docker save`
/// archives link <id>/layer.tar to the real file).
type Members = (HashMap<String, Member>, HashMap<String, String>);

fn archive_members(source: &str, file: &Path) -> Result<Members> {
    let bad = |why: String| Error::invalid(format!("{source}: {why}"));
    let f = std::fs::File::open(file).map_err(|e| Error::read(file, e))?;
    let mut members: HashMap<String, Member> = HashMap::new();
    let mut links: HashMap<String, String> = HashMap::new();
    let mut archive = tar::Archive::new(f);
    let entries = archive.entries().map_err(|e| bad(format!("not a tar archive: {e}")))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| bad(format!("unreadable tar entry: {e}")))?;
        let name = entry
            .path()
            .map_err(|e| bad(format!("bad tar entry name: {e}")))?
            .to_string_lossy()
            .trim_start_matches("./")
            .to_owned();
        if entry.header().entry_type().is_symlink() {
            if let Ok(Some(target)) = entry.link_name() {
                let base = Path::new(&name).parent().unwrap_or(Path::new(""));
                let mut parts: Vec<String> = base.iter().map(|p| p.to_string_lossy().into_owned()).collect();
                for c in target.iter() {
                    match c.to_string_lossy().as_ref() {
                        ".." => {
                            parts.pop();
                        }
                        "." => {}
                        other => parts.push(other.to_owned()),
                    }
                }
                links.insert(name, parts.join("/"));
            }
            continue;
        }
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let size = entry
            .header()
            .size()
            .map_err(|e| bad(format!("{name}: bad size: {e}")))?;
        let member = if size <= IN_MEMORY {
            // The header's size is a claim: memory grows with the bytes actually there, up to the limit.
            Member::Bytes(crate::input::read_stream(
                &mut entry,
                &format!("{source}: {name}"),
                crate::input::LAYER,
            )?)
        } else {
            // A layer stays where it is: hashed now as it streams by, pushed later from its place.
            use sha2::Digest;
            let offset = entry.raw_file_position();
            let mut hasher = sha2::Sha256::new();
            let mut buf = vec![0u8; 1 << 20];
            let (mut read, mut head) = (0u64, [0u8; 2]);
            loop {
                let n = entry
                    .read(&mut buf)
                    .map_err(|e| bad(format!("{name}: unreadable: {e}")))?;
                if n == 0 {
                    break;
                }
                if read == 0 && n >= 2 {
                    head = [buf[0], buf[1]];
                }
                hasher.update(&buf[..n]);
                read += n as u64;
            }
            if read != size {
                return Err(bad(format!(
                    "{name}: the header says {size} bytes, the archive holds {read}"
                )));
            }
            Member::Range {
                offset,
                size,
                sha256: format!("sha256:{}", hex::encode(hasher.finalize())),
                gzip: head == [0x1f, 0x8b],
            }
        };
        members.insert(name, member);
    }
    Ok((members, links))
}

fn docker_archive(source: &str, file: &Path) -> Result<Image> {
    let bad = |why: String| Error::invalid(format!("{source}: {why}"));
    crate::input::regular_file(
        file,
        crate::input::Kind {
            what: "docker-archive",
            limit: u64::MAX,
        },
    )?;
    let (members, links) = archive_members(source, file)?;
    let store = Store::Members(&members, file);
    let member = |name: &str| -> Result<(String, BlobData)> {
        let real = links.get(name).map_or(name, String::as_str);
        store
            .blob(real)
            .map_err(|_| bad(format!("the archive has no {name}; was it written by `docker save`?")))
    };
    let take = |name: &str| -> Result<Vec<u8>> { Ok(member(name)?.1.bytes()?.to_vec()) };
    // Docker 25+ writes an OCI layout inside the archive: push it as one, manifests untouched.
    if members.contains_key("oci-layout") && members.contains_key("index.json") {
        return layout(source, &file.display().to_string(), &store, None);
    }
    let manifest_json = take("manifest.json")?;
    let entries: Vec<ArchiveEntry> =
        serde_json::from_slice(&manifest_json).map_err(|e| bad(format!("manifest.json: {e}")))?;
    let [entry] = entries.as_slice() else {
        return Err(bad(format!(
            "manifest.json lists {} images; save one image per archive",
            entries.len()
        )));
    };
    let _ = &entry.repo_tags;
    let mut blobs = BTreeMap::new();
    let config = take(&entry.config)?;
    let config_digest = sha256_digest(&config);
    // skopeo and docker name the config by its digest: a name that disagrees means a corrupt archive.
    let named = entry
        .config
        .trim_start_matches("blobs/sha256/")
        .trim_end_matches(".json");
    if named.len() == 64 && named.bytes().all(|b| b.is_ascii_hexdigit()) && config_digest != format!("sha256:{named}") {
        return Err(bad(format!(
            "{} is corrupt: its bytes hash to {config_digest}",
            entry.config
        )));
    }
    let mut layers = Vec::new();
    for name in &entry.layers {
        let (digest, data) = member(name)?;
        let gzip = match &data {
            BlobData::Memory(b) => b.starts_with(&[0x1f, 0x8b]),
            BlobData::File { .. } => {
                let real = links.get(name.as_str()).map_or(name.as_str(), String::as_str);
                matches!(members.get(real), Some(Member::Range { gzip: true, .. }))
            }
        };
        let media_type = if gzip { OCI_LAYER_GZIP } else { OCI_LAYER };
        layers.push(serde_json::json!({"mediaType": media_type, "digest": digest, "size": data.size()}));
        blobs.insert(digest.clone(), Blob { digest, data });
    }
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": config_digest, "size": config.len()},
        "layers": layers,
    });
    // A Value with string keys always serialises.
    let bytes = serde_json::to_vec(&manifest).expect("a JSON value serialises");
    blobs.insert(
        config_digest.clone(),
        Blob {
            digest: config_digest,
            data: BlobData::Memory(config.into()),
        },
    );
    Ok(Image {
        blobs,
        manifests: vec![Manifest {
            digest: sha256_digest(&bytes),
            media_type: OCI_MANIFEST.to_owned(),
            bytes: bytes.into(),
        }],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_source_kinds_are_refused() {
        let e = load("docker://x").unwrap_err().to_string();
        assert!(e.contains("oci:DIR[:TAG]"), "{e}");
    }

    #[test]
    fn a_corrupt_blob_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
        let blobs = dir.path().join("blobs/sha256");
        std::fs::create_dir_all(&blobs).unwrap();
        let manifest = br#"{"schemaVersion":2,"config":{"digest":"sha256:00"},"layers":[]}"#;
        let digest = crate::policy::sha256_hex(manifest);
        std::fs::write(blobs.join(&digest), b"tampered").unwrap();
        std::fs::write(
            dir.path().join("index.json"),
            format!(r#"{{"schemaVersion":2,"manifests":[{{"mediaType":"{OCI_MANIFEST}","digest":"sha256:{digest}","size":1}}]}}"#),
        )
        .unwrap();
        let e = load(&format!("oci:{}", dir.path().display())).unwrap_err().to_string();
        assert!(e.contains("is corrupt"), "{e}");
    }
}
