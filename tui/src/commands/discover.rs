//! `panctl blade discover`: enrols every BMC in an address range through the
//! server-streaming `DiscoverBlades` call and reports progress as records
//! arrive: a progress bar on stderr when stderr is a terminal, otherwise one
//! line per BMC on stdout (table mode), then a summary. In JSON mode stdout
//! holds one compact object per record and nothing else.
//!
//! JSON (one per line): `{"total", "done", "bmc_url", "blade": "..."|null,
//! "outcome", "error": "..."|null}`; `outcome` is `enrolled`,
//! `already_enrolled` or `failed`.
//!
//! Exit code 1 when any BMC failed (after everything was printed), with an
//! `error:` line saying how many.

use super::Ctx;
use super::blade::read_password;
use crate::cli::{BladeDiscoverArgs, Format, Scheme};
use crate::error::{CliError, one_line};
use crate::output::{Table, details, opt};
use pan_api::v1::{DiscoverBladesRequest, DiscoverProgress};
use serde::Serialize;
use std::error::Error as _;
use std::io::{IsTerminal, Write};

/// Cells between the brackets of the progress bar.
const BAR_WIDTH: usize = 30;

/// One progress record as printed.
#[derive(Debug, Serialize)]
pub struct ProgressView {
    /// BMCs in the range.
    pub total: u32,
    /// BMCs reported so far, this one included.
    pub done: u32,
    pub bmc_url: String,
    /// The blade enrolled (or found) for this BMC.
    pub blade: Option<String>,
    /// `enrolled`, `already_enrolled` or `failed`.
    pub outcome: String,
    pub error: Option<String>,
}

impl From<&DiscoverProgress> for ProgressView {
    fn from(p: &DiscoverProgress) -> Self {
        ProgressView {
            total: p.total,
            done: p.done,
            bmc_url: p.bmc_url.clone(),
            blade: opt(&p.blade),
            outcome: p.outcome.clone(),
            error: opt(&p.error),
        }
    }
}

/// How many BMCs ended which way.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub enrolled: u32,
    pub already: u32,
    pub failed: u32,
}

/// Everything reported so far.
#[derive(Debug, Default)]
pub struct Tally {
    pub total: u32,
    pub done: u32,
    pub counts: Counts,
    /// `(bmc_url, error)` of every failed BMC, in the order reported.
    pub failures: Vec<(String, String)>,
}

impl Tally {
    /// Adds one record.
    pub fn record(&mut self, p: &ProgressView) {
        self.total = self.total.max(p.total);
        self.done = self.done.max(p.done);
        match p.outcome.as_str() {
            "enrolled" => self.counts.enrolled += 1,
            "already_enrolled" => self.counts.already += 1,
            "failed" => {
                self.counts.failed += 1;
                let error = p.error.as_deref().unwrap_or("no reason given");
                self.failures.push((p.bmc_url.clone(), one_line(error)));
            }
            _ => {}
        }
    }

    /// The summary printed at the end in table mode: the counts, then the
    /// failed BMCs with their errors.
    pub fn summary(&self) -> String {
        let bmcs = if self.done < self.total {
            format!("{} of {} reported", self.done, self.total)
        } else {
            self.total.to_string()
        };
        let mut text = details(&[
            ("bmcs", bmcs),
            ("enrolled", self.counts.enrolled.to_string()),
            ("already enrolled", self.counts.already.to_string()),
            ("failed", self.counts.failed.to_string()),
        ]);
        if !self.failures.is_empty() {
            let mut table = Table::new(&["FAILED BMC", "ERROR"]);
            for (url, error) in &self.failures {
                table.push(vec![url.clone(), error.clone()]);
            }
            text.push('\n');
            text.push_str(&table.render());
        }
        text
    }
}

/// The progress bar: `[#####.....] 37/64 enrolled 30, already 5, failed 2`,
/// with `width` cells between the brackets.
pub fn render_bar(done: u32, total: u32, counts: &Counts, width: usize) -> String {
    let filled = if total == 0 {
        0
    } else {
        let done = u64::from(done.min(total));
        let cells = done * width as u64 / u64::from(total);
        usize::try_from(cells).unwrap_or(width).min(width)
    };
    format!(
        "[{}{}] {done}/{total} enrolled {}, already {}, failed {}",
        "#".repeat(filled),
        ".".repeat(width - filled),
        counts.enrolled,
        counts.already,
        counts.failed
    )
}

/// The line printed for one record in table mode when there is no bar:
/// `enrolled  blade-003  http://127.0.0.1:8403` or
/// `failed  http://127.0.0.1:8405  connection refused`.
pub fn progress_line(p: &ProgressView) -> String {
    let outcome = p.outcome.replace('_', " ");
    let parts = [Some(outcome), p.blade.clone(), Some(p.bmc_url.clone())]
        .into_iter()
        .chain(std::iter::once(p.error.as_deref().map(one_line)))
        .flatten()
        .filter(|part| !part.is_empty());
    crate::output::clean_cell(&parts.collect::<Vec<_>>().join("  "))
}

/// The bar on stderr, redrawn in place; does nothing when stderr is not a
/// terminal. Failing to draw it is not worth failing the command for.
struct Bar {
    enabled: bool,
    drawn: bool,
}

impl Bar {
    fn new(enabled: bool) -> Self {
        Bar {
            enabled,
            drawn: false,
        }
    }

    fn show(&mut self, text: &str) {
        if self.enabled {
            let mut stderr = std::io::stderr().lock();
            // Back to the line start and clear it, then the new text.
            let _ = write!(stderr, "\r\x1b[K{text}").and_then(|()| stderr.flush());
            self.drawn = true;
        }
    }

    /// Ends the bar's line so what follows starts on a fresh one.
    fn finish(&mut self) {
        if self.drawn {
            let _ = writeln!(std::io::stderr());
            self.drawn = false;
        }
    }
}

/// The scheme to send: `--scheme`, or the one typed as the range's URL
/// prefix, or https. The two must agree when both are given.
fn scheme(args: &BladeDiscoverArgs) -> Result<Scheme, CliError> {
    match (args.scheme, args.bmc_range.scheme) {
        (Some(flag), Some(prefix)) if flag != prefix => Err(CliError::Usage(format!(
            "--bmc-range starts with {}:// but --scheme is {}; give the scheme once",
            prefix.as_str(),
            flag.as_str()
        ))),
        (flag, prefix) => Ok(flag.or(prefix).unwrap_or(Scheme::Https)),
    }
}

/// The `blade discover` request.
fn discover_request(
    args: BladeDiscoverArgs,
    scheme: Scheme,
    password: String,
) -> DiscoverBladesRequest {
    DiscoverBladesRequest {
        bmc_range: args.bmc_range.range,
        bmc_user: args.user,
        bmc_password: password,
        pool: args.pool.unwrap_or_default(),
        scheme: scheme.as_str().to_string(),
        insecure_tls: args.insecure_tls,
    }
}

/// Runs `panctl blade discover`.
pub async fn run(args: BladeDiscoverArgs, ctx: &mut Ctx) -> anyhow::Result<()> {
    let scheme = scheme(&args)?;
    let password = read_password(&args.password_file)?;
    let range = args.bmc_range.range.clone();
    let request = discover_request(args, scheme, password);
    let mut bar = Bar::new(std::io::stderr().is_terminal());
    bar.show(&format!(
        "discovering BMCs in {}://{range} ...",
        scheme.as_str()
    ));
    let stream = ctx
        .manager
        .call(
            request,
            |mut c, r| async move { c.discover_blades(r).await },
        )
        .await;
    let mut stream = match stream {
        Ok(stream) => stream,
        Err(err) => {
            bar.finish();
            return Err(err.into());
        }
    };
    let mut tally = Tally::default();
    let ended = loop {
        let addr = ctx.manager.current_addr().to_string();
        let cut = |tally: &Tally| CliError::DiscoveryCut {
            addr: addr.clone(),
            done: tally.done,
            total: tally.total,
        };
        match stream.message().await {
            Ok(Some(record)) => {
                let view = ProgressView::from(&record);
                tally.record(&view);
                bar.show(&render_bar(
                    tally.done,
                    tally.total,
                    &tally.counts,
                    BAR_WIDTH,
                ));
                let line = match ctx.format {
                    Format::Json => Some(serde_json::to_string(&view)?),
                    Format::Table if !bar.enabled => Some(progress_line(&view)),
                    Format::Table => None,
                };
                if let Some(line) = line
                    && let Err(err) = ctx.print(&line)
                {
                    bar.finish();
                    return Err(err);
                }
            }
            Ok(None) if tally.done < tally.total => break Err(cut(&tally)),
            Ok(None) => break Ok(()),
            // Made here from a transport error: the connection broke.
            Err(status) if status.source().is_some() => break Err(cut(&tally)),
            Err(status) => break Err(CliError::Api { addr, status }),
        }
    };
    bar.finish();
    if ctx.format == Format::Table {
        // A blank line between the per-BMC lines and the summary.
        let gap = if bar.enabled || tally.done == 0 {
            ""
        } else {
            "\n"
        };
        ctx.print(&format!("{gap}{}", tally.summary()))?;
    }
    ended?;
    if tally.counts.failed > 0 {
        return Err(CliError::DiscoveryFailed {
            failed: tally.counts.failed,
            total: tally.total,
        }
        .into());
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::args::BmcRange;
    use serde_json::json;

    /// Three records: enrolled, already enrolled, failed.
    pub(crate) fn sample() -> Vec<ProgressView> {
        let record = |done: u32, url: &str, blade: &str, outcome: &str, error: &str| {
            ProgressView::from(&DiscoverProgress {
                total: 3,
                done,
                bmc_url: url.into(),
                blade: blade.into(),
                outcome: outcome.into(),
                error: error.into(),
            })
        };
        vec![
            record(1, "http://127.0.0.1:8403", "blade-003", "enrolled", ""),
            record(2, "http://127.0.0.1:8401", "", "already_enrolled", ""),
            record(
                3,
                "http://127.0.0.1:8402",
                "",
                "failed",
                "cannot reach the BMC:\nconnection refused",
            ),
        ]
    }

    pub(crate) fn tally(records: &[ProgressView]) -> Tally {
        let mut tally = Tally::default();
        for record in records {
            tally.record(record);
        }
        tally
    }

    #[test]
    fn the_bar_fills_in_proportion() {
        let counts = Counts {
            enrolled: 30,
            already: 5,
            failed: 2,
        };
        assert_eq!(
            render_bar(37, 64, &counts, 10),
            "[#####.....] 37/64 enrolled 30, already 5, failed 2"
        );
        assert_eq!(
            render_bar(0, 64, &Counts::default(), 4),
            "[....] 0/64 enrolled 0, already 0, failed 0"
        );
        assert_eq!(
            render_bar(64, 64, &counts, 4),
            "[####] 64/64 enrolled 30, already 5, failed 2"
        );
        // 1/3 of 10 cells rounds down; nearly done is not yet full.
        assert!(render_bar(1, 3, &counts, 10).starts_with("[###.......] 1/3"));
        assert!(render_bar(63, 64, &counts, 10).starts_with("[#########.] 63/64"));
    }

    #[test]
    fn the_bar_survives_odd_numbers() {
        let counts = Counts::default();
        assert!(render_bar(0, 0, &counts, 5).starts_with("[.....] 0/0 "));
        // More done than total (a confused manager) stays full, not wider.
        assert!(render_bar(9, 4, &counts, 5).starts_with("[#####] 9/4 "));
        assert!(render_bar(u32::MAX, u32::MAX, &counts, 5).starts_with("[#####]"));
        assert_eq!(
            render_bar(1, 2, &counts, 0),
            "[] 1/2 enrolled 0, already 0, failed 0"
        );
    }

    #[test]
    fn records_print_as_json_lines_with_nulls() {
        let records = sample();
        let lines: Vec<serde_json::Value> = records
            .iter()
            .map(|r| {
                let line = serde_json::to_string(r).unwrap();
                assert!(!line.contains('\n'));
                serde_json::from_str(&line).unwrap()
            })
            .collect();
        assert_eq!(
            lines[0],
            json!({
                "total": 3,
                "done": 1,
                "bmc_url": "http://127.0.0.1:8403",
                "blade": "blade-003",
                "outcome": "enrolled",
                "error": null
            })
        );
        assert_eq!(lines[1]["blade"], json!(null));
        assert_eq!(lines[1]["outcome"], "already_enrolled");
        assert_eq!(
            lines[2]["error"],
            "cannot reach the BMC:\nconnection refused"
        );
    }

    #[test]
    fn records_print_as_plain_lines() {
        let lines: Vec<String> = sample().iter().map(progress_line).collect();
        assert_eq!(
            lines,
            [
                "enrolled  blade-003  http://127.0.0.1:8403",
                "already enrolled  http://127.0.0.1:8401",
                "failed  http://127.0.0.1:8402  cannot reach the BMC: connection refused",
            ]
        );
    }

    #[test]
    fn the_tally_counts_outcomes_and_keeps_failures() {
        let tally = tally(&sample());
        assert_eq!((tally.done, tally.total), (3, 3));
        assert_eq!(
            tally.counts,
            Counts {
                enrolled: 1,
                already: 1,
                failed: 1
            }
        );
        assert_eq!(
            tally.failures,
            [(
                "http://127.0.0.1:8402".to_string(),
                "cannot reach the BMC: connection refused".to_string()
            )]
        );
        let partial = super::tests::tally(&sample()[..1]);
        assert!(
            partial
                .summary()
                .starts_with("bmcs              1 of 3 reported\n")
        );
        assert!(!partial.summary().contains("FAILED BMC"));
    }

    fn args(range: &str, scheme: Option<Scheme>) -> BladeDiscoverArgs {
        BladeDiscoverArgs {
            bmc_range: crate::args::parse_bmc_range(range).unwrap(),
            user: "root".into(),
            password_file: "pw".into(),
            pool: None,
            scheme,
            insecure_tls: false,
        }
    }

    #[test]
    fn the_scheme_comes_from_the_flag_or_the_range_prefix() {
        assert_eq!(scheme(&args("h:1-2", None)).unwrap(), Scheme::Https);
        assert_eq!(
            scheme(&args("h:1-2", Some(Scheme::Http))).unwrap(),
            Scheme::Http
        );
        assert_eq!(scheme(&args("http://h:1-2", None)).unwrap(), Scheme::Http);
        assert_eq!(
            scheme(&args("http://h:1-2", Some(Scheme::Http))).unwrap(),
            Scheme::Http
        );
        let err = scheme(&args("http://h:1-2", Some(Scheme::Https))).unwrap_err();
        assert_eq!(err.exit_code(), 2);
        assert!(err.to_string().contains("--scheme"), "{err}");
    }

    #[test]
    fn the_request_carries_the_bare_range() {
        let mut given = args("http://127.0.0.1:8401-8416", None);
        given.pool = Some("spares".into());
        given.insecure_tls = true;
        assert_eq!(
            given.bmc_range,
            BmcRange {
                scheme: Some(Scheme::Http),
                range: "127.0.0.1:8401-8416".into()
            }
        );
        let request = discover_request(given, Scheme::Http, "pw".into());
        assert_eq!(
            request,
            DiscoverBladesRequest {
                bmc_range: "127.0.0.1:8401-8416".into(),
                bmc_user: "root".into(),
                bmc_password: "pw".into(),
                pool: "spares".into(),
                scheme: "http".into(),
                insecure_tls: true,
            }
        );
    }
}
