//! `bbgate push`: put an image built earlier in the pipeline into a registry through the distribution API
//! (no Docker daemon), and report the digest that verify and deploy then use. The registry client is
//! `oci-client`; bbgate adds the source formats, the policy check, the credentials and a read-back of the digest.

pub(crate) mod auth;
pub mod source;

use crate::aws::{self, CallCounter};
use crate::cli::{Format, PushArgs, RegistryAuthMode};
use crate::error::{Error, Result, exit};
use crate::policy::Policy;
use futures_util::StreamExt;
use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::errors::OciDistributionError;
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};
use source::{BlobData, Image};

/// `HOST/REPO:TAG`: where the image goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Target {
    pub(crate) host: String,
    pub(crate) repository: String,
    pub(crate) tag: String,
}

impl std::str::FromStr for Target {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        let bad = |why: &str| Error::invalid(format!("--to {s:?}: {why}"));
        let r = crate::image::Reference::parse(s);
        let host = r
            .host
            .ok_or_else(|| bad("give a full reference HOST/REPOSITORY:TAG, with the registry host"))?;
        if r.digest.is_some() {
            return Err(bad(
                "push to a tag (HOST/REPOSITORY:TAG); the digest is what the push reports",
            ));
        }
        let repository = r.path;
        let tag = r
            .tag
            .ok_or_else(|| bad("name a tag (HOST/REPOSITORY:TAG); bbgate does not assume :latest"))?;
        if let Some(why) = bbgate_core::reference::tag_problem(&tag) {
            return Err(bad(&why));
        }
        if !crate::findings::ecr::is_repository_name(&repository) {
            return Err(bad(&format!(
                "{repository:?} is not a repository name (lowercase path segments of letters and digits joined by \
                 . _ -)"
            )));
        }
        Ok(Target { host, repository, tag })
    }
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}:{}", self.host, self.repository, self.tag)
    }
}

pub(crate) use crate::report::acquisition::PushReport;

/// How to reach the registry: its address (`host[:port]`) and whether it speaks plain HTTP.
#[derive(Debug, Clone)]
pub(crate) struct Endpoint {
    pub(crate) address: String,
    pub(crate) plain_http: bool,
}

fn is_loopback(address: &str) -> bool {
    let host = address.rsplit_once(':').map_or(address, |(h, p)| {
        if p.bytes().all(|b| b.is_ascii_digit()) {
            h
        } else {
            address
        }
    });
    matches!(host, "127.0.0.1" | "localhost" | "[::1]")
}

impl Endpoint {
    /// `--registry-url` (a mirror, VPC alias or test registry) or the reference's own host; plain HTTP only on
    /// loopback.
    pub(crate) fn resolve(target_host: &str, registry_url: Option<&str>, plain_http: bool) -> Result<Endpoint> {
        let (address, plain_http) = match registry_url {
            Some(url) => match url.split_once("://") {
                Some(("http", rest)) => (rest.trim_end_matches('/').to_owned(), true),
                Some(("https", rest)) => (rest.trim_end_matches('/').to_owned(), plain_http),
                _ => {
                    return Err(Error::invalid(format!(
                        "--registry-url {url:?}: give http(s)://HOST[:PORT]"
                    )));
                }
            },
            None => (target_host.to_owned(), plain_http),
        };
        if plain_http && !is_loopback(&address) {
            return Err(Error::invalid(format!(
                "plain HTTP to {address} refused: --plain-http (or an http:// registry URL) is only for test \
                 registries on 127.0.0.1; real registries are reached over HTTPS"
            )));
        }
        Ok(Endpoint { address, plain_http })
    }

    pub(crate) fn client(&self) -> Client {
        Client::new(ClientConfig {
            protocol: if self.plain_http {
                ClientProtocol::Http
            } else {
                ClientProtocol::Https
            },
            connect_timeout: Some(std::time::Duration::from_secs(10)),
            read_timeout: Some(std::time::Duration::from_secs(120)),
            max_concurrent_upload: 2,
            ..Default::default()
        })
    }
}

/// The registry's failure in plain words: exit 3, never with a credential in it.
pub(crate) fn registry_error(endpoint: &Endpoint, what: &str, auth_label: &str, e: OciDistributionError) -> Error {
    let host = &endpoint.address;
    let unauthorised = match &e {
        OciDistributionError::AuthenticationFailure(_) | OciDistributionError::UnauthorizedError { .. } => true,
        OciDistributionError::ServerError { code, .. } => *code == 401 || *code == 403,
        OciDistributionError::RequestError(r) => r.status().is_some_and(|s| s == 401 || s == 403),
        OciDistributionError::RegistryError { envelope, .. } => {
            let text = format!("{envelope:?}");
            text.contains("Unauthorized") || text.contains("Denied")
        }
        _ => false,
    };
    if unauthorised {
        return Error::Undecidable(format!(
            "registry {host} refused the credentials ({auth_label}) while {what}: check the login for {host} \
             (`docker login {host}`, or the role's ecr:* permissions for ECR) and re-run"
        ));
    }
    let cause = match &e {
        OciDistributionError::RequestError(r) => crate::error::chain(r),
        other => other.to_string(),
    };
    Error::Undecidable(format!(
        "registry {host} failed while {what}: {cause}; nothing was tagged. Re-run: blobs already in the \
         registry are skipped"
    ))
}

/// Upload what the registry lacks (HEAD first), children before parents, the tag last; then read the tag's
/// digest back and require it to be the one pushed.
pub(crate) async fn push_image(
    image: &Image,
    target: &Target,
    endpoint: &Endpoint,
    auth: &RegistryAuth,
    auth_label: &str,
) -> Result<PushReport> {
    let client = endpoint.client();
    let by_tag = Reference::with_tag(endpoint.address.clone(), target.repository.clone(), target.tag.clone());
    let fail = |what: String, e| registry_error(endpoint, &what, auth_label, e);
    client
        .auth(&by_tag, auth, oci_client::RegistryOperation::Push)
        .await
        .map_err(|e| fail(format!("logging in for {}", target.repository), e))?;
    let mut report = PushReport {
        auth: auth_label.to_owned(),
        blobs_skipped: 0,
        blobs_uploaded: 0,
        bytes_uploaded: 0,
        digest: image.digest().to_owned(),
        manifests: image.manifests.len() as u32,
        reference: format!("{}/{}@{}", target.host, target.repository, image.digest()),
    };
    let (uploaded, skipped, bytes) = upload_blobs(&client, &by_tag, image, endpoint, auth_label).await?;
    report.blobs_uploaded = uploaded;
    report.blobs_skipped = skipped;
    report.bytes_uploaded = bytes;
    // `source::load` never returns an Image without its top manifest.
    let (top, children) = image.manifests.split_last().expect("an image has a manifest");
    for m in children {
        let by_digest = Reference::with_digest(endpoint.address.clone(), target.repository.clone(), m.digest.clone());
        push_manifest(&client, &by_digest, m)
            .await
            .map_err(|e| fail(format!("pushing manifest {}", m.digest), e))?;
    }
    push_manifest(&client, &by_tag, top)
        .await
        .map_err(|e| fail(format!("pushing manifest {} as {}", top.digest, target.tag), e))?;
    let read_back = client
        .fetch_manifest_digest(&by_tag, auth)
        .await
        .map_err(|e| fail(format!("reading back {}", target.tag), e))?;
    if read_back != top.digest {
        return Err(Error::Undecidable(format!(
            "registry {} holds {read_back} under {}, not the pushed {}: another push raced this one, or the \
             registry rewrote the manifest; do not verify by tag, re-run the push",
            endpoint.address, target.tag, top.digest
        )));
    }
    Ok(report)
}

/// Upload every blob the registry lacks (HEAD first), a few at a time: (uploaded, skipped, bytes uploaded).
async fn upload_blobs(
    client: &Client,
    by_tag: &Reference,
    image: &Image,
    endpoint: &Endpoint,
    auth_label: &str,
) -> Result<(u32, u32, u64)> {
    let fail = |what: String, e| registry_error(endpoint, &what, auth_label, e);
    // The blobs go up a few at a time (a registry takes parallel uploads; one layer no longer waits for
    // another), each said on stderr as it ends.
    // On a terminal, a progress bar per blob being uploaded; in a CI log, the plain lines alone.
    let bars = {
        use std::io::IsTerminal;
        std::io::stderr().is_terminal().then(indicatif::MultiProgress::new)
    };
    let say = |line: String| match &bars {
        Some(b) => {
            let _ = b.println(line);
        }
        None => eprintln!("{line}"),
    };
    let uploads = image.blobs.values().map(|blob| {
        let (fail, bars, say) = (&fail, &bars, &say);
        async move {
            let started = std::time::Instant::now();
            let exists = client
                .blob_exists(by_tag, &blob.digest)
                .await
                .map_err(|e| fail(format!("checking blob {}", blob.digest), e))?;
            let size = blob.data.size();
            if exists {
                say(format!(
                    "bbgate: blob {} ({}) is in the registry already",
                    blob.digest,
                    human_size(size)
                ));
                return Ok::<_, Error>(None);
            }
            let bar = bars.as_ref().map(|b| b.add(progress_bar(&blob.digest, size)));
            let pushed = match &blob.data {
                BlobData::Memory(bytes) => {
                    let r = client.push_blob(by_tag, bytes.clone(), &blob.digest).await;
                    if let Some(b) = &bar {
                        b.inc(size);
                    }
                    r
                }
                BlobData::File { path, offset, .. } => {
                    let mut file = std::fs::File::open(path)
                        .map_err(|e| Error::Undecidable(format!("{}: cannot read: {e}", path.display())))?;
                    std::io::Seek::seek(&mut file, std::io::SeekFrom::Start(*offset))
                        .map_err(|e| Error::Undecidable(format!("{}: cannot read: {e}", path.display())))?;
                    let ticks = bar.clone();
                    let chunks = file_chunks(file, size).inspect(move |c| {
                        if let (Some(b), Ok(bytes)) = (&ticks, c) {
                            b.inc(bytes.len() as u64);
                        }
                    });
                    client.push_blob_stream(by_tag, chunks, &blob.digest, Some(size)).await
                }
            };
            if let Some(b) = &bar {
                b.finish_and_clear();
            }
            pushed.map_err(|e| fail(format!("uploading blob {} ({size} bytes)", blob.digest), e))?;
            let secs = started.elapsed().as_secs_f64().max(0.001);
            say(format!(
                "bbgate: blob {} ({}) uploaded in {secs:.1} s ({}/s)",
                blob.digest,
                human_size(size),
                human_size((size as f64 / secs) as u64)
            ));
            Ok(Some(size))
        }
    });
    let results: Vec<Result<Option<u64>>> = futures_util::stream::iter(uploads)
        .buffer_unordered(CONCURRENT_UPLOADS)
        .collect()
        .await;
    let (mut uploaded, mut skipped, mut bytes) = (0, 0, 0);
    for r in results {
        match r? {
            Some(size) => {
                uploaded += 1;
                bytes += size;
            }
            None => skipped += 1,
        }
    }
    Ok((uploaded, skipped, bytes))
}

/// A terminal's progress bar for one blob's upload.
fn progress_bar(digest: &str, size: u64) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(size);
    if let Ok(style) = indicatif::ProgressStyle::with_template("{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec}")
    {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(digest.chars().take(19).collect::<String>());
    bar
}

/// How many blobs are uploaded at once.
const CONCURRENT_UPLOADS: usize = 3;

/// `12.3 MB`, for people.
fn human_size(bytes: u64) -> String {
    let b = bytes as f64;
    if b >= 1e9 {
        format!("{:.2} GB", b / 1e9)
    } else if b >= 1e6 {
        format!("{:.1} MB", b / 1e6)
    } else if b >= 1e3 {
        format!("{:.1} kB", b / 1e3)
    } else {
        format!("{bytes} B")
    }
}

/// `size` bytes of a file from where it stands, as a stream of 4 MiB chunks (the registry checks the digest when
/// the upload is closed).
fn file_chunks(
    file: std::fs::File,
    size: u64,
) -> impl futures_util::Stream<Item = std::result::Result<bytes::Bytes, OciDistributionError>> + Send + 'static {
    use std::io::Read;
    futures_util::stream::unfold(Some(file.take(size)), |file| async move {
        let mut file = file?;
        let mut buf = vec![0u8; 4 << 20];
        let mut filled = 0;
        while filled < buf.len() {
            match std::io::Read::read(&mut file, &mut buf[filled..]) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) => return Some((Err(OciDistributionError::IoError(e)), None)),
            }
        }
        if filled == 0 {
            return None;
        }
        buf.truncate(filled);
        Some((Ok(bytes::Bytes::from(buf)), Some(file)))
    })
}

async fn push_manifest(
    client: &Client,
    reference: &Reference,
    m: &source::Manifest,
) -> std::result::Result<(), OciDistributionError> {
    let content_type = m
        .media_type
        .parse()
        .map_err(|_| OciDistributionError::UnsupportedMediaTypeError(m.media_type.clone()))?;
    client
        .push_manifest_raw(reference, m.bytes.clone(), content_type)
        .await
        .map(|_| ())
}

/// ECR credentials (good for every registry the principal may use), and the caller's own registry host.
pub(crate) async fn ecr_auth(client: &aws_sdk_ecr::Client) -> Result<(RegistryAuth, String)> {
    let out = client.get_authorization_token().send().await.map_err(|e| {
        Error::Undecidable(format!(
            "ECR GetAuthorizationToken failed: {} (the role needs ecr:GetAuthorizationToken)",
            aws::ecr::describe_sdk_error(&e)
        ))
    })?;
    let data = out
        .authorization_data()
        .first()
        .ok_or_else(|| Error::Undecidable("ECR GetAuthorizationToken returned no authorization data".into()))?;
    let token = data
        .authorization_token()
        .ok_or_else(|| Error::Undecidable("ECR GetAuthorizationToken returned no token".into()))?;
    let host = data
        .proxy_endpoint()
        .map(|p| p.trim_start_matches("https://").trim_end_matches('/').to_owned())
        .unwrap_or_default();
    Ok((auth::from_ecr_token(token)?, host))
}

/// The credentials for `host` the mode asks for (auto: ECR's token for an ECR host, else Docker's config), and
/// their label for messages (never the secret).
pub(crate) async fn registry_auth(
    host: &str,
    mode: RegistryAuthMode,
    identity: &crate::cli::AwsIdentity,
) -> Result<(RegistryAuth, String)> {
    let ecr_host = aws::parse_ecr_host(host);
    let mode = match mode {
        RegistryAuthMode::Auto if ecr_host.is_some() => RegistryAuthMode::Ecr,
        RegistryAuthMode::Auto => RegistryAuthMode::DockerConfig,
        m => m,
    };
    match mode {
        RegistryAuthMode::Anonymous => Ok((RegistryAuth::Anonymous, "anonymous".to_owned())),
        RegistryAuthMode::DockerConfig | RegistryAuthMode::Auto => auth::from_docker_config(host),
        RegistryAuthMode::Ecr => {
            let region = aws::region(ecr_host.as_ref().map(|(_, r)| r.as_str()))?;
            let calls = CallCounter::default();
            let (client, _) = aws::ecr_client(
                &region,
                identity.role_arn.as_deref(),
                identity.session_name.as_deref(),
                &calls,
            )
            .await?;
            let (auth, _) = ecr_auth(&client).await?;
            Ok((auth, "ECR authorization token".to_owned()))
        }
    }
}

pub fn run(args: &PushArgs) -> Result<u8> {
    let target: Target = args.to.parse()?;
    let policy = Policy::load(args.policy.as_deref(), crate::cli::policy_pin().as_deref())?;
    let bb = policy.select_building_block(args.building_block.as_deref(), &target.repository)?;
    if let Some(refusal) = bb.refuse_foreign(&target.repository) {
        return Err(Error::Denied(refusal));
    }
    let reg = &args.registry;
    let endpoint = Endpoint::resolve(&target.host, reg.registry_url.as_deref(), reg.plain_http)?;
    let image = source::load(&args.from)?;
    let rt = aws::runtime()?;
    let report = rt.block_on(async {
        let (auth, label) = registry_auth(&target.host, reg.auth, &reg.aws).await?;
        push_image(&image, &target, &endpoint, &auth, &label).await
    })?;
    let out = match args.format {
        // Strings and numbers only: serialising cannot fail.
        Format::Json => serde_json::to_string_pretty(&report).unwrap_or_default(),
        Format::Human => format!(
            "pushed {} ({}): {} blobs uploaded ({} bytes), {} already there, {} manifest(s); auth: {}",
            report.reference,
            target,
            report.blobs_uploaded,
            report.bytes_uploaded,
            report.blobs_skipped,
            report.manifests,
            report.auth
        ),
    };
    crate::output::human(&out)?;
    Ok(exit::PASS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_need_a_host_and_a_tag() {
        let t: Target = "127.0.0.1:5000/bb/payments/x:1.0".parse().unwrap();
        assert_eq!(
            (t.host.as_str(), t.repository.as_str(), t.tag.as_str()),
            ("127.0.0.1:5000", "bb/payments/x", "1.0")
        );
        assert!("bb/payments/x:1".parse::<Target>().is_err(), "no host");
        assert!("localhost:5000/x".parse::<Target>().is_err(), "no tag");
        assert!("localhost:5000/x@sha256:ab".parse::<Target>().is_err(), "digest");
        assert!("localhost:5000/X:1".parse::<Target>().is_err(), "uppercase");
    }

    #[test]
    fn plain_http_only_on_loopback() {
        assert!(Endpoint::resolve("127.0.0.1:5000", None, true).is_ok());
        assert!(Endpoint::resolve("registry.example.org", None, true).is_err());
        assert!(Endpoint::resolve("x.dkr.ecr", Some("http://10.0.0.1:5000"), false).is_err());
        let e = Endpoint::resolve("x", Some("http://127.0.0.1:5000"), false).unwrap();
        assert!(e.plain_http && e.address == "127.0.0.1:5000");
    }
}
