//! `slabmerge`: the comparative report of the slab merging schemes.
//!
//! With no arguments it replays the bundled Linux 6.18 boot trace under
//! mainline, Al Viro's v3 and v1 static instances, Vlastimil Babka's primary
//! caches and `slab_nomerge`, drives the seeded memory workload through each,
//! and prints one table. See `design/report.md`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, ValueEnum};
use slabmerge::census::Census;
use slabmerge::report::{self, Format, ReportOptions, ReportScheme};
use slabmerge::trace::{ParseError, Trace};

#[derive(Clone, Copy, Debug, ValueEnum)]
enum FormatArg {
    Table,
    Markdown,
    Csv,
    Json,
}

impl From<FormatArg> for Format {
    fn from(f: FormatArg) -> Format {
        match f {
            FormatArg::Table => Format::Table,
            FormatArg::Markdown => Format::Markdown,
            FormatArg::Csv => Format::Csv,
            FormatArg::Json => Format::Json,
        }
    }
}

/// Compare slab cache merging under mainline, Al Viro's static instances (v3,
/// v1), Vlastimil Babka's primary caches and slab_nomerge.
#[derive(Debug, Parser)]
#[command(name = "slabmerge", version)]
struct Args {
    /// A creation trace (TSV, the bundled trace's format) instead of the bundled 6.18 trace.
    #[arg(long, value_name = "FILE")]
    trace: Option<PathBuf>,
    /// A snapshot laid out like /sys/kernel/slab: its live object counts drive the
    /// workload, and without --trace a trace is derived from it.
    #[arg(long, value_name = "DIR")]
    sysfs: Option<PathBuf>,
    /// Kernel-image static instances (default: the trace's static_v3 column).
    #[arg(long = "static", value_name = "NAME[,NAME...]", value_delimiter = ',')]
    statics: Option<Vec<String>>,
    /// Static instances inside modules (default: none).
    #[arg(long, value_name = "NAME[,NAME...]", value_delimiter = ',')]
    module_static: Option<Vec<String>>,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    format: FormatArg,
    /// Explain, for NAME and each scheme, why it merged or did not.
    #[arg(long, value_name = "NAME")]
    explain: Option<String>,
    /// Write a picture of the groups as SVG.
    #[arg(long, value_name = "FILE")]
    svg: Option<PathBuf>,
    /// Write the summary and the picture as an HTML page.
    #[arg(long, value_name = "FILE")]
    html: Option<PathBuf>,
    /// Seed of the memory workload (decimal or 0x-prefixed hex).
    #[arg(long, value_parser = parse_seed)]
    seed: Option<u64>,
    /// Percent of the workload's objects freed and allocated again.
    #[arg(long, default_value_t = report::DEFAULT_CHURN_PERCENT, value_parser = clap::value_parser!(u32).range(0..=100))]
    churn: u32,
    /// Divide every census object count by N (rounded up) for a quicker run.
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
    workload_divisor: u64,
    /// Skip the memory workload (partitions only).
    #[arg(long)]
    no_memory: bool,
    /// Replay a capture of the kmem tracepoints (tracefs, trace-cmd report or
    /// perf script text; gzip read transparently; `-` for stdin) through every scheme.
    #[arg(long, value_name = "FILE")]
    kmem_trace: Option<PathBuf>,
    /// The call-site attribution table for --kmem-trace (default: the bundled data/kmem-call-sites.tsv).
    #[arg(long, value_name = "FILE")]
    kmem_sites: Option<PathBuf>,
}

fn parse_seed(text: &str) -> Result<u64, String> {
    let parsed = match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(&hex.replace('_', ""), 16),
        None => text.replace('_', "").parse(),
    };
    parsed.map_err(|e| format!("not a 64-bit seed: {e}"))
}

/// `FILE: line N: message`; errors on line 0 (I/O, a file of a sysfs tree) already name their file.
fn located(path: &std::path::Path, e: &ParseError) -> String {
    if e.line == 0 { e.message.clone() } else { format!("{}: {e}", path.display()) }
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("slabmerge: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &Args) -> Result<(), String> {
    let census_from_sysfs = match &args.sysfs {
        Some(dir) => Some(Census::from_sysfs_dir(dir).map_err(|e| located(dir, &e))?),
        None => None,
    };
    let (trace, trace_label) = match (&args.trace, &census_from_sysfs, &args.sysfs) {
        (Some(path), _, _) => (Trace::load(path).map_err(|e| located(path, &e))?, path.display().to_string()),
        (None, Some(census), Some(dir)) => (
            report::trace_from_census(census, &Trace::bundled()),
            format!("trace derived from the snapshot {}", dir.display()),
        ),
        _ => (Trace::bundled(), "the bundled Linux 6.18 x86_64 boot trace".to_owned()),
    };
    let statics = report::static_set(&trace, args.statics.as_deref(), args.module_static.as_deref())?;

    if let Some(path) = &args.kmem_trace {
        return kmem_trace(args, path, &trace, &statics);
    }

    if let Some(name) = &args.explain {
        let explanation = report::explain(&trace, &statics, name, &ReportScheme::ALL)?;
        print!("{explanation}");
        if args.svg.is_none() && args.html.is_none() {
            return Ok(());
        }
    }

    let (census, census_label) = match (&census_from_sysfs, &args.sysfs) {
        (Some(c), Some(dir)) => (c.clone(), format!("the snapshot {}", dir.display())),
        _ => (Census::bundled(), "the bundled 6.18 census".to_owned()),
    };
    let options = ReportOptions {
        memory: !args.no_memory,
        seed: args.seed.unwrap_or(report::DEFAULT_SEED),
        churn_percent: args.churn,
        workload_divisor: args.workload_divisor,
        ..ReportOptions::default()
    };
    let input = report::ReportInput {
        trace: &trace,
        trace_label,
        statics: &statics,
        census: &census,
        census_label,
        snapshot: census_from_sysfs.as_ref(),
    };
    let result = report::run_with(&input, &options);
    if args.explain.is_none() {
        print!("{}", report::render::render(&result, args.format.into()));
    }
    if let Some(path) = &args.svg {
        std::fs::write(path, report::picture::svg(&result)).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    if let Some(path) = &args.html {
        std::fs::write(path, report::picture::html(&result)).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(())
}

fn kmem_trace(
    args: &Args,
    path: &std::path::Path,
    trace: &Trace,
    statics: &slabmerge::replay::StaticSet,
) -> Result<(), String> {
    let sites = match &args.kmem_sites {
        Some(p) => slabmerge::input::kmem_sites::SiteTable::load(p).map_err(|e| e.to_string())?,
        None => slabmerge::input::kmem_replay::bundled_sites(),
    };
    let start = std::time::Instant::now();
    let mut shown = false;
    let progress = |events: u64| {
        let t = start.elapsed().as_secs_f64();
        if t > 1.0 {
            shown = true;
            eprint!("\rslabmerge: {events} events replayed through 5 schemes ({:.0} k/s)", events as f64 / t / 1e3);
        }
    };
    let result = report::kmem::run_capture(path, trace, statics, &ReportScheme::ALL, sites, progress);
    if shown {
        eprintln!();
    }
    let result = result?;
    match args.format {
        FormatArg::Json => print!("{}", report::kmem::render_json(&result)),
        _ => print!("{}", report::kmem::render_table(&result)),
    }
    Ok(())
}
