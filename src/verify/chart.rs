//! `verify --chart`: the release a BB's chart runs. The chart is rendered offline (`helm template`, its
//! vendored dependencies, hooks and tests included), every container image is listed and located (the BB's
//! own in ECR, third-party ones through the pull-through cache), and each is judged: online from ECR, or from
//! the saved pages of its image (`--findings`), so the local dry run replays CI exactly.

use super::online::{self, Wanted};
use crate::cli::VerifyArgs;
use crate::deploy::helm::{Helm, Install};
use crate::deploy::manifest::{self, Manifest};
use crate::diag::Diagnostic;
use crate::error::{Error, Result};
use crate::policy::{Policy, sha256_hex};
use crate::release::{self, ChartImage, Located};
use crate::report::{ChartRecord, FileDigest, Judged};
use std::path::Path;

/// The chart's release: its images judged, the ones that cannot be, and what the chart was.
pub(super) struct Release {
    pub(super) images: Vec<Judged>,
    pub(super) release_problems: Vec<Diagnostic>,
    pub(super) chart: ChartRecord,
}

/// The chart rendered: its objects and the record of what was rendered.
pub(crate) struct Rendered {
    pub(crate) manifests: Vec<Manifest>,
    pub(crate) record: ChartRecord,
}

/// What a chart's renders share: helm, the chart's name and version, its values, and what it is made of (all
/// read once, however many times it is rendered).
struct Prepared {
    /// The sealed room helm runs in, with the copies of the chart and its files (removed when dropped).
    _room: crate::deploy::room::Room,
    /// The chart's copy in the room: what helm renders and what is hashed.
    copy: std::path::PathBuf,
    helm: Helm,
    meta: crate::deploy::seal::ChartMeta,
    values: crate::values::Values,
    value_files: Vec<FileDigest>,
    content: release::ChartContent,
}

fn prepare(chart: &Path, r: &crate::cli::ChartRender) -> Result<Prepared> {
    let meta = crate::deploy::seal::ChartMeta::read(chart)?;
    let mut values = crate::values::Values::read(&r.values, &[])?;
    // helm reads only copies, in a room of its own, with none of the job's environment but the proxies a
    // dependency build may need to reach its chart repositories.
    let mut room = crate::deploy::room::Room::new()?;
    room.pass(crate::deploy::room::PROXIES);
    let copy = room.copy_chart(chart)?;
    values.seal(&room)?;
    let helm = Helm::detect(&crate::deploy::helm::on_path(&r.helm), room.env(None))?;
    // The dependencies as Chart.lock pins them, built before the chart is hashed: they are part of it.
    if let Some(done) = crate::dependencies::build(&helm, &copy, chart)? {
        eprintln!("bbgate: {}: {done}", chart.display());
    }
    // Each values file by the name it was given, hashed from the room's copy helm reads.
    let value_files = r
        .values
        .values
        .iter()
        .zip(values.given_files())
        .map(|(given, copy)| {
            let bytes = crate::input::read(copy, crate::input::VALUES)?;
            Ok(FileDigest {
                path: given.display().to_string(),
                sha256: sha256_hex(&bytes),
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Prepared {
        content: release::chart_content(&copy)?,
        _room: room,
        copy,
        helm,
        meta,
        values,
        value_files,
    })
}

/// The release name a chart's own name gives when none is given: helm refuses names that are not DNS labels
/// (GovStack's `PaymentBBEmulator`), so it is lowercased, every other character made a '-', and cut to helm's
/// 53 characters. Deploy takes the release name from the admins and never guesses it.
pub(crate) fn release_from(chart_name: &str) -> String {
    let mut out = String::new();
    for c in chart_name.chars() {
        let c = c.to_ascii_lowercase();
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            out.push(c);
        } else if !out.is_empty() && !out.ends_with('-') {
            out.push('-');
        }
    }
    out.truncate(53);
    let out = out.trim_end_matches('-');
    if out.is_empty() {
        "release".to_owned()
    } else {
        out.to_owned()
    }
}

/// `helm template` of the chart as a release of `namespace`, with the values given.
fn render(chart: &Path, r: &crate::cli::ChartRender, p: &Prepared, namespace: &str) -> Result<Rendered> {
    let release = r.release.clone().unwrap_or_else(|| release_from(&p.meta.name));
    let install = Install {
        release: &release,
        chart: &p.copy,
        namespace,
        values: &p.values,
        set_image: &[],
        post_renderer: None,
        timeout: std::time::Duration::from_secs(300),
        history_max: 10,
        description: "",
    };
    let text = p.helm.template(&install)?;
    Ok(Rendered {
        manifests: manifest::parse(&text)?,
        record: ChartRecord {
            content_sha256: p.content.sha256.clone(),
            files: p.content.files.clone(),
            manifests_sha256: sha256_hex(text.as_bytes()),
            name: p.meta.name.clone(),
            path: chart.display().to_string(),
            values: p.value_files.clone(),
            sets: p.values.bound.clone(),
            version: p.meta.version.clone(),
        },
    })
}

/// The building block the chart belongs to and its render under that building block's namespace: the named
/// one, else the one owning the chart's own images (rendered a second time when the first guess differs).
pub(crate) fn render_for<'p>(
    chart: &Path,
    r: &crate::cli::ChartRender,
    policy: &'p Policy,
    building_block: Option<&str>,
) -> Result<(&'p crate::policy::BuildingBlock, Rendered)> {
    let p = prepare(chart, r)?;
    if let Some(name) = building_block {
        let bb = policy.select_building_block(Some(name), "")?;
        return Ok((bb, render(chart, r, &p, &bb.namespace)?));
    }
    let first = render(chart, r, &p, "default")?;
    let located: Vec<Located> = release::images_of(&first.manifests)
        .iter()
        .filter_map(|i| release::locate(&i.reference, policy).ok())
        .collect();
    let accounts: Vec<Option<String>> = located.iter().map(Located::account).collect();
    let images: Vec<(Option<&str>, &str)> = located
        .iter()
        .zip(&accounts)
        .map(|(l, a)| (a.as_deref(), l.repository.as_str()))
        .collect();
    let bb = policy.select_for_release(None, &images)?;
    let rendered = if bb.namespace == "default" {
        first
    } else {
        render(chart, r, &p, &bb.namespace)?
    };
    Ok((bb, rendered))
}

/// Render, locate and judge every image of the chart.
pub(super) fn judge(args: &VerifyArgs, policy: &Policy, chart: &Path) -> Result<Release> {
    let (bb, rendered) = render_for(chart, &args.render, policy, args.building_block.as_deref())?;
    // Deploy's guard without a cluster (as `chart check`), the Pod Security level included: a verdict on the
    // chart covers what deploy would refuse in it. Its warnings are the guard's; they stay with `chart check`.
    let rules = crate::deploy::guard::Rules::of(policy, bb, &bb.namespace);
    let mut release_problems = crate::deploy::judge(&rendered.manifests, &rules, policy)?.problems;
    let mut wanted: Vec<(ChartImage, Located)> = Vec::new();
    for image in release::images_of(&rendered.manifests) {
        match release::locate(&image.reference, policy) {
            // Two spellings of one image (`postgres:16`, `docker.io/library/postgres:16`) are one image.
            Ok(at) => match wanted.iter_mut().find(|(_, w)| w.spec() == at.spec()) {
                Some((first, _)) => first.used_by.extend(image.used_by),
                None => wanted.push((image, at)),
            },
            Err(why) => release_problems.push(
                Diagnostic::error(
                    "foreign-repository",
                    format!("{why} (run by {})", image.used_by.join(", ")),
                )
                .at(&image.reference),
            ),
        }
    }
    let images = if args.findings.is_empty() {
        fetch(args, &wanted)?
    } else {
        let pages = super::expand(&args.findings).and_then(|p| super::read_page_files(&p, None))?;
        let saved = super::judge_saved(pages, args.registry.as_deref())?;
        match_saved(saved, &wanted)?
    };
    Ok(Release {
        images,
        release_problems,
        chart: rendered.record,
    })
}

/// Online: every located image read from ECR, concurrently; `--save-findings DIR` keeps one folder per image.
fn fetch(args: &VerifyArgs, wanted: &[(ChartImage, Located)]) -> Result<Vec<Judged>> {
    let mut list = Vec::new();
    for (image, at) in wanted {
        let spec: crate::aws::ImageSpec = at.spec().parse().map_err(|e: Error| e.within(&image.reference))?;
        let folder = at.spec().replace(['/', ':', '@'], "_");
        list.push(Wanted {
            reference: image.reference.clone(),
            spec,
            save_to: args.save_findings.as_ref().map(|d| d.join(folder)),
        });
    }
    online::fetch(args, list, None)
}

/// Offline: each image of the chart is the saved image of its repository (and digest, or tag, when the scan
/// names one). Every chart image needs its pages, and every saved image must be one the chart runs.
fn match_saved(saved: Vec<Judged>, wanted: &[(ChartImage, Located)]) -> Result<Vec<Judged>> {
    let mut saved: Vec<Option<Judged>> = saved.into_iter().map(Some).collect();
    let mut out = Vec::new();
    let mut problems = Vec::new();
    for (image, at) in wanted {
        // An image the chart names in an ECR account is that account's: pages of another account do not fit.
        let account = at.account();
        let fits = |j: &Judged| {
            j.scan.image.repository == at.repository
                && at.digest.as_deref().is_none_or(|d| d == j.scan.image.digest)
                && account
                    .as_deref()
                    .is_none_or(|a| j.scan.image.registry_id.as_deref().is_none_or(|r| r == a))
        };
        let candidates: Vec<usize> = (0..saved.len())
            .filter(|&i| saved[i].as_ref().is_some_and(fits))
            .collect();
        let by_tag: Vec<usize> = candidates
            .iter()
            .copied()
            .filter(|&i| {
                saved[i]
                    .as_ref()
                    .is_some_and(|j| j.scan.image.tag.is_some() && j.scan.image.tag == at.tag)
            })
            .collect();
        let pick = match (by_tag.as_slice(), candidates.as_slice()) {
            ([one], _) | ([], [one]) => Some(*one),
            _ => None,
        };
        match pick.and_then(|i| saved[i].take()) {
            Some(mut j) => {
                j.reference = image.reference.clone();
                // The registry the chart names (a vendor's), else --registry.
                if at.host.is_some() {
                    j.registry = at.host.clone();
                }
                if j.scan.image.tag.is_none() {
                    j.scan.image.tag = at.tag.clone();
                }
                out.push(j);
            }
            None if candidates.len() > 1 => problems.push(format!(
                "{}: the saved pages hold {} images of repository {} and none is tagged {}: give the pages of the one \
                 the chart runs",
                image.reference,
                candidates.len(),
                at.repository,
                at.tag.as_deref().unwrap_or("(no tag)")
            )),
            None => problems.push(format!(
                "{}: no saved findings pages of repository {}{}{} among --findings: save them with verify --chart \
                 --save-findings, or add them",
                image.reference,
                at.repository,
                at.digest.as_deref().map(|d| format!("@{d}")).unwrap_or_default(),
                account
                    .as_deref()
                    .map(|a| format!(" in account {a}"))
                    .unwrap_or_default()
            )),
        }
    }
    for j in saved.into_iter().flatten() {
        problems.push(format!(
            "--findings holds the pages of {}@{}, which the chart does not run: give only the pages of the \
             chart's images",
            j.scan.image.repository, j.scan.image.digest
        ));
    }
    if problems.is_empty() {
        Ok(out)
    } else {
        Err(Error::Invalid(problems))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_chart_name_gives_a_release_name_helm_takes() {
        for (name, release) in [
            ("PaymentBBEmulator", "paymentbbemulator"),
            ("im_x-road umbrella", "im-x-road-umbrella"),
            ("--", "release"),
            ("payments", "payments"),
        ] {
            assert_eq!(super::release_from(name), release);
        }
        let long = super::release_from(&"A".repeat(80));
        assert_eq!(long.len(), 53);
        assert!(crate::policy::is_dns_label(&super::release_from("x_.-Ünï-9-")));
    }
}
