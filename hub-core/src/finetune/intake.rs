//! A job's data: a training or validation source (an uploaded file, or a
//! file of a dataset repo the caller may read) spooled to a temporary file,
//! validated and converted into canonical chat JSONL (`dataset`), its
//! tokens counted with the base's own tokenizer (`tokens`). A file with
//! errors is refused with each category and its line numbers.

use std::collections::BTreeMap;
use std::io::{Seek, SeekFrom, Write};
use std::sync::Arc;

use futures::StreamExt;

use super::dataset::{self, ColumnMapping, FileFormat, MIN_EXAMPLES, Options, Report};
use super::files;
use super::tokens::TokenCounter;
use crate::accounts::Actor;
use crate::billing::Payer;
use crate::error::{Error, Message, Result};
use crate::hub::Hub;
use crate::repos::access::{self, level::Read};
use crate::repos::{RepoType, content};

/// Reads a training or validation source (a file id, or a file of a
/// dataset repo) into a temporary file, then validates and converts it
/// into canonical chat JSONL. A file with errors is refused with its report.
#[allow(clippy::too_many_arguments)]
pub(super) async fn convert(
    hub: &Hub,
    actor: &Actor,
    owner: &Payer,
    source: &str,
    mapping: &BTreeMap<String, String>,
    counter: &Arc<TokenCounter>,
    max_length: u32,
    param: &'static str,
) -> Result<(Report, tempfile::NamedTempFile)> {
    let (name, mut stream) = open_source(hub, actor, owner, source, param).await?;
    let format = FileFormat::of(&name).ok_or_else(|| {
        invalid_file(
            param,
            format!("{name}: a training file is .jsonl, .json, .csv or .parquet"),
        )
    })?;
    let dir = hub.config.data_dir.join("tmp").join("finetune");
    tokio::fs::create_dir_all(&dir).await?;
    let mut raw = tempfile::tempfile_in(&dir)?;
    let mut size = 0u64;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk?;
        size += chunk.len() as u64;
        if size > hub.finetune.max_file_bytes {
            return Err(Error::too_large(format!(
                "{name} is larger than {} MiB",
                hub.finetune.max_file_bytes >> 20
            )));
        }
        raw.write_all(&chunk)?;
    }
    raw.seek(SeekFrom::Start(0))?;
    let out = tempfile::NamedTempFile::new_in(&dir)?;
    let (counter, columns) = (counter.clone(), ColumnMapping(mapping.clone()));
    let mut writer = std::io::BufWriter::new(out.reopen()?);
    let min_examples = match param {
        "training_file" => MIN_EXAMPLES,
        _ => 1,
    };
    let report = tokio::task::spawn_blocking(move || -> Result<Report> {
        let options = Options {
            columns: &columns,
            counter: Some(&counter),
            max_length,
            min_examples,
        };
        let report = dataset::convert_file(format, raw, &mut writer, &options)?;
        writer.flush()?;
        Ok(report)
    })
    .await??;
    if !report.accepted {
        return Err(invalid_file(param, format!("{name}: {}", summary(&report))));
    }
    Ok((report, out))
}

/// The errors of a refused file, each category with the lines it was
/// found on (the first few).
fn summary(report: &Report) -> String {
    report
        .errors
        .iter()
        .map(|(category, issue)| {
            let lines: Vec<String> = issue.lines.iter().map(|l| format!("line {l}")).collect();
            match lines.is_empty() {
                true => format!("{} ({})", category.describe(), issue.count),
                false => format!(
                    "{} ({}: {}{})",
                    category.describe(),
                    issue.count,
                    lines.join(", "),
                    if issue.count > lines.len() as u64 {
                        ", …"
                    } else {
                        ""
                    }
                ),
            }
        })
        .collect::<Vec<_>>()
        .join("; ")
}

fn invalid_file(param: &'static str, message: String) -> Error {
    Error::invalid(
        Message::coded("finetune.invalid_file", "{message}")
            .with("message", message)
            .with("param", param),
    )
}

/// A source's name and bytes: an uploaded file of `owner`, or
/// `datasets/{ns}/{name}/{path}[@{rev}]` that `actor` may read.
async fn open_source(
    hub: &Hub,
    actor: &Actor,
    owner: &Payer,
    source: &str,
    param: &'static str,
) -> Result<(String, content::ByteStream)> {
    if let Some(rest) = source.strip_prefix("datasets/") {
        let (path, rev) = match rest.rsplit_once('@') {
            Some((p, r)) if !r.is_empty() => (p, Some(r)),
            _ => (rest, None),
        };
        let mut parts = path.splitn(3, '/');
        let (Some(ns), Some(name), Some(file)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(invalid_file(
                param,
                format!(
                    "{source:?} is not datasets/{{namespace}}/{{name}}/{{path}}[@{{revision}}]"
                ),
            ));
        };
        let repo = access::authorize::<Read>(hub, actor, RepoType::Dataset, ns, name).await?;
        let commit = content::resolve(hub, &repo, rev.unwrap_or(&repo.default_branch)).await?;
        let entry = content::file_at(hub, &repo, &commit, file).await?;
        let stream = content::read(hub, &repo, &entry, None).await?;
        return Ok((file.rsplit('/').next().unwrap_or(file).to_owned(), stream));
    }
    let file = files::get(hub, owner, source).await?;
    let stream = files::content(hub, &file).await?;
    Ok((file.filename, stream))
}
