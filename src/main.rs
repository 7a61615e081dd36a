//! `slabmerge`: the comparative report of the slab merging schemes.
//!
//! With no arguments it replays the bundled Linux 6.18 boot trace under
//! mainline, Al Viro's v3 and v1 static instances, Vlastimil Babka's primary
//! caches and `slab_nomerge`, drives the seeded memory workload through each,
//! and prints one table. See `design/report.md`.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use slabmerge::census::Census;
use slabmerge::config::MergeRules;
use slabmerge::input::InputError;
use slabmerge::input::snapshot::{Known, Snapshot, read_snapshots};
use slabmerge::report::snapshot_diff;
use slabmerge::report::views::{self, View};
use slabmerge::report::{self, Format, ReportError, ReportOptions, ReportScheme};
use slabmerge::slab_common::slabinfo::ListingSort;
use slabmerge::trace::Trace;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
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
    #[arg(global = true, long, value_name = "FILE")]
    trace: Option<PathBuf>,
    /// A slab snapshot, in any form (detected from the content): a /sys/kernel/slab
    /// directory or a `cp -a` copy, a tar or tar.gz of one, the text of `ls -l
    /// /sys/kernel/slab`, of `slabinfo -a`/-T/-S/-L (mail-quoted too), of
    /// /proc/slabinfo, or a census TSV. Several paths of one kernel combine (e.g. `ls
    /// -l` output and /proc/slabinfo); `-` is standard input. Its live object counts
    /// drive the workload, and without --trace a trace is derived from it.
    #[arg(global = true, long, alias = "sysfs", value_name = "PATH", num_args = 1..)]
    snapshot: Vec<PathBuf>,
    /// Kernel-image static instances (default: the trace's static_v3 column).
    #[arg(global = true, long = "static", value_name = "NAME[,NAME...]", value_delimiter = ',')]
    statics: Option<Vec<String>>,
    /// Static instances inside modules (default: none).
    #[arg(global = true, long, value_name = "NAME[,NAME...]", value_delimiter = ',')]
    module_static: Option<Vec<String>>,
    /// Output format [default: table]. For the report, and for `diff` of two
    /// snapshots (table or json).
    #[arg(global = true, long, value_enum)]
    format: Option<FormatArg>,
    /// Every list of names in full, and every group of the per-group memory
    /// table (otherwise long lists are cut with a count). For the report's
    /// table and Markdown forms and for `diff`.
    #[arg(global = true, short, long)]
    verbose: bool,
    /// Explain, for NAME and each scheme, why it merged or did not.
    #[arg(long, value_name = "NAME")]
    explain: Option<String>,
    /// Write a picture of the groups as SVG; with --kmem-trace, a chart of
    /// each scheme's memory over the capture's time.
    #[arg(long, value_name = "FILE")]
    svg: Option<PathBuf>,
    /// Write the summary and the picture as an HTML page.
    #[arg(long, value_name = "FILE")]
    html: Option<PathBuf>,
    /// Seed of the memory workload (decimal or 0x-prefixed hex).
    #[arg(global = true, long, value_parser = parse_seed)]
    seed: Option<u64>,
    /// Run the memory workload under N seeds (--seed and the N-1 following it)
    /// and show each memory figure as the median with its min–max range [default: 1].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=64))]
    seeds: Option<u32>,
    /// Percent of the workload's objects freed and allocated again [default: 20].
    #[arg(global = true, long, value_parser = clap::value_parser!(u32).range(0..=100))]
    churn: Option<u32>,
    /// Divide every census object count by N (rounded up) for a quicker run
    /// (raised further if the workload would not fit --memory-budget).
    #[arg(global = true, long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    workload_divisor: Option<u64>,
    /// Memory the workload may take (bytes, or with K, M, G): the live counts are
    /// divided down until it fits, and the divisor is printed [default: 256M].
    #[arg(global = true, long, value_name = "SIZE", value_parser = parse_size)]
    memory_budget: Option<u64>,
    /// Skip the memory workload (partitions only).
    #[arg(global = true, long)]
    no_memory: bool,
    /// Replay a capture of the kmem tracepoints (tracefs, trace-cmd report or
    /// perf script text; gzip read transparently; `-` for stdin) through every scheme.
    #[arg(long, value_name = "FILE")]
    kmem_trace: Option<PathBuf>,
    /// The kernel release whose slab rules every world follows: 6.1, 6.6,
    /// 6.12, 6.18 or 7.0 (design/kernels.md). A trace request using what the
    /// release lacks is replayed without it, and the notes say so.
    #[arg(global = true, long, value_name = "VERSION", default_value = "6.18", value_parser = parse_rules)]
    rules: MergeRules,
    /// The call-site attribution table for --kmem-trace (default: the bundled data/kmem-call-sites.tsv).
    #[arg(long, value_name = "FILE")]
    kmem_sites: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

/// A scheme on the command line.
fn parse_scheme(text: &str) -> Result<ReportScheme, String> {
    ReportScheme::parse(text).ok_or_else(|| {
        let names: Vec<&str> = ReportScheme::ALL.iter().map(|s| s.name()).collect();
        format!("unknown scheme {text:?} (one of {})", names.join(", "))
    })
}

#[derive(Debug, Subcommand)]
enum Command {
    /// tools/mm/slabinfo's output for one scheme's world: the listing sorted by
    /// name (default), -S by size, -L by loss, -a the aliases, -T the totals.
    Slabinfo {
        /// The scheme (mainline, viro-v3, viro-v1, primary, nomerge).
        #[arg(long, default_value = "mainline", value_parser = parse_scheme)]
        scheme: ReportScheme,
        /// Aliases: each merged directory with the names linking to it.
        #[arg(short = 'a', long = "aliases", group = "mode")]
        aliases: bool,
        /// Totals over every cache.
        #[arg(short = 'T', long = "Totals", group = "mode")]
        totals: bool,
        /// The listing sorted by size, largest first.
        #[arg(short = 'S', long = "Size", group = "mode")]
        size: bool,
        /// The listing sorted by loss (slab bytes not holding objects), largest first.
        #[arg(short = 'L', long = "Loss", group = "mode")]
        loss: bool,
    },
    /// /proc/slabinfo of one scheme's world.
    ProcSlabinfo {
        /// The scheme.
        #[arg(long, default_value = "mainline", value_parser = parse_scheme)]
        scheme: ReportScheme,
    },
    /// `ls -l /sys/kernel/slab` of one scheme's world.
    Ls {
        /// The scheme.
        #[arg(long, default_value = "mainline", value_parser = parse_scheme)]
        scheme: ReportScheme,
    },
    /// Two schemes, or two snapshots, compared: groups that split or join,
    /// caches that appear or disappear, caches that gain or lose pages.
    ///
    /// `diff SCHEME SCHEME` replays the input under both schemes. `diff PATH
    /// PATH` compares two snapshots (any form --snapshot reads), one path each;
    /// `diff --before PATH... --after PATH...` takes several paths of one kernel
    /// per side (e.g. `ls -l` output and /proc/slabinfo). A word that is a
    /// scheme's name is the scheme: write a file of that name as ./NAME.
    /// Exit status 2: one snapshot has what the other lacks (live counts, the
    /// groups), so the diff printed is partial. `--format json` gives a diff
    /// of two snapshots as data.
    Diff {
        /// The first scheme or snapshot path.
        #[arg(value_name = "SCHEME|PATH")]
        a: Option<String>,
        /// The second scheme or snapshot path.
        #[arg(value_name = "SCHEME|PATH")]
        b: Option<String>,
        /// The first snapshot: one or more paths of one kernel, combined as --snapshot combines them.
        #[arg(long, value_name = "PATH", num_args = 1.., requires = "after", conflicts_with_all = ["a", "b"])]
        before: Vec<PathBuf>,
        /// The second snapshot: one or more paths of one kernel.
        #[arg(long, value_name = "PATH", num_args = 1.., requires = "before")]
        after: Vec<PathBuf>,
    },
}

/// What `slabmerge diff` compares.
enum DiffOf {
    /// Two schemes on the report's input.
    Schemes(ReportScheme, ReportScheme),
    /// Two snapshots, each one or more paths of one kernel.
    Snapshots([Vec<PathBuf>; 2]),
}

/// The operands of `diff`: two scheme names, two paths, or `--before`/`--after`.
/// A word that is a scheme's name is the scheme (`./mainline` is a path).
fn diff_of(command: &Command) -> Result<Option<DiffOf>, CliError> {
    let Command::Diff { a, b, before, after } = command else {
        return Ok(None);
    };
    if !before.is_empty() {
        return Ok(Some(DiffOf::Snapshots([before.clone(), after.clone()])));
    }
    let schemes: Vec<&str> = ReportScheme::ALL.iter().map(|s| s.name()).collect();
    let (Some(a), Some(b)) = (a, b) else {
        return Err(CliError::refused(format!(
            "diff compares two schemes ({}), two snapshot paths, or --before PATH... --after PATH... \
             (--snapshot gives the input of a diff of two schemes)",
            schemes.join(", ")
        )));
    };
    match (ReportScheme::parse(a), ReportScheme::parse(b)) {
        (Some(sa), Some(sb)) => Ok(Some(DiffOf::Schemes(sa, sb))),
        (None, None) => Ok(Some(DiffOf::Snapshots([vec![PathBuf::from(a)], vec![PathBuf::from(b)]]))),
        (Some(_), None) | (None, Some(_)) => {
            let (scheme, other) = if ReportScheme::parse(a).is_some() { (a, b) } else { (b, a) };
            Err(CliError::refused(format!(
                "diff compares two schemes or two snapshots: `{scheme}` is a scheme and `{other}` is not one of {} \
                 (a file named like a scheme is given as ./{scheme})",
                schemes.join(", ")
            )))
        }
    }
}

/// A kernel release on the command line.
fn parse_rules(text: &str) -> Result<MergeRules, String> {
    MergeRules::parse(text).ok_or_else(|| {
        let names: Vec<&str> = MergeRules::ALL.iter().map(|r| r.name()).collect();
        format!("unknown kernel release {text:?} (one of {})", names.join(", "))
    })
}

fn parse_seed(text: &str) -> Result<u64, String> {
    let parsed = match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(&hex.replace('_', ""), 16),
        None => text.replace('_', "").parse(),
    };
    parsed.map_err(|e| format!("not a 64-bit seed: {e}"))
}

fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let (digits, shift) = match t.char_indices().last() {
        Some((i, 'k' | 'K')) => (&t[..i], 10),
        Some((i, 'm' | 'M')) => (&t[..i], 20),
        Some((i, 'g' | 'G')) => (&t[..i], 30),
        _ => (t, 0),
    };
    let n: u64 = digits.parse().map_err(|e| format!("not a size (bytes, or a number with K, M or G): {e}"))?;
    let bytes = n.checked_mul(1 << shift).ok_or("size too large")?;
    if bytes < 1 << 20 {
        return Err("the memory budget must be at least 1M".to_owned());
    }
    Ok(bytes)
}

/// How a run that did its work ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Outcome {
    /// Everything asked for was printed: exit status 0.
    Complete,
    /// A diff of two snapshots one of which lacks what the other has
    /// (counts, groups): the comparison printed is partial, exit status
    /// [`EXIT_PARTIAL`].
    Partial,
}

/// Why a run stops: the command line's error, over the report's.
#[derive(Debug)]
enum CliError {
    /// The report, an input or the options refused: `slabmerge: MESSAGE`, exit status 1.
    Report(ReportError),
    /// One side of a diff of two snapshots could not be read: the message
    /// names the side (`diff A:`), then the file; `hint` says why a word
    /// was read as a path, where it was.
    DiffSide { side: &'static str, error: InputError, hint: String },
    /// The reader of standard output went away (`| head`): nothing more to
    /// say, exit status 0.
    StdoutClosed,
}

impl CliError {
    /// An option or operand refused, in words.
    fn refused(text: impl Into<String>) -> CliError {
        CliError::Report(ReportError::refused(text))
    }
}

impl std::fmt::Display for CliError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CliError::Report(e) => e.fmt(f),
            CliError::DiffSide { side, error, hint } => write!(f, "diff {side}: {error}{hint}"),
            CliError::StdoutClosed => f.write_str("standard output closed"),
        }
    }
}

impl std::error::Error for CliError {}

impl<E: Into<ReportError>> From<E> for CliError {
    fn from(error: E) -> CliError {
        CliError::Report(error.into())
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(Outcome::Complete) | Err(CliError::StdoutClosed) => ExitCode::SUCCESS,
        Ok(Outcome::Partial) => ExitCode::from(EXIT_PARTIAL),
        Err(e) => {
            eprintln!("slabmerge: {e}");
            ExitCode::FAILURE
        }
    }
}

/// What a snapshot gave and what it did not, for the report's notes.
fn snapshot_notes(s: &Snapshot) -> Vec<String> {
    let formats: Vec<String> = s
        .sources
        .iter()
        .map(|src| format!("{} ({})", src.label, src.formats.iter().map(|f| f.name()).collect::<Vec<_>>().join(", ")))
        .collect();
    let c = &s.coverage;
    let mut notes = vec![format!(
        "snapshot read from {}; coverage: merged groups {}, single-name groups {}, every instance {}",
        formats.join("; "),
        if c.multi_name_groups { "yes" } else { "no" },
        if c.single_name_groups { "yes" } else { "no" },
        if c.instances { "yes" } else { "no" },
    )];
    notes.extend(s.notes.iter().map(|n| format!("snapshot: {n}")));
    notes
}

/// Writes to standard output; a reader that went away (`| head`) ends the
/// run quietly, any other failure (`> /dev/full`) is an error.
fn emit(text: &str) -> Result<(), CliError> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Err(CliError::StdoutClosed),
        Err(e) => Err(ReportError::Write { path: "standard output".to_owned(), source: e }.into()),
    }
}

/// Writes an output file (`--svg`, `--html`).
fn write_file(path: &std::path::Path, contents: String) -> Result<(), CliError> {
    std::fs::write(path, contents).map_err(|e| ReportError::write(path, e).into())
}

fn run(args: &Args) -> Result<Outcome, CliError> {
    // `--snapshot` takes every path that follows it, so a subcommand named after
    // it becomes a path; say so instead of reporting a missing file.
    if args.command.is_none()
        && let Some(p) = args.snapshot.iter().find(|p| {
            ["slabinfo", "proc-slabinfo", "ls", "diff"].contains(&p.to_string_lossy().as_ref()) && !p.exists()
        })
    {
        return Err(CliError::refused(format!(
            "`{}` was read as a --snapshot path: put the subcommand first (slabmerge {} ... --snapshot PATH...)",
            p.display(),
            p.display()
        )));
    }
    refuse_ignored(args)?;
    if let Some(command) = &args.command
        && let Some(DiffOf::Snapshots(paths)) = diff_of(command)?
    {
        return diff_snapshots(&paths, args.verbose, args.format == Some(FormatArg::Json));
    }
    let snapshot = if args.snapshot.is_empty() { None } else { Some(read_snapshots(&args.snapshot)?) };
    let snapshot_label = args.snapshot.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(" + ");
    let census_from_snapshot = snapshot.as_ref().map(|s| s.census.clone());
    let mut input_notes = snapshot.as_ref().map(snapshot_notes).unwrap_or_default();
    let (trace, trace_label) = match (&args.trace, &census_from_snapshot) {
        (Some(path), _) => (Trace::load(path).map_err(|e| e.in_file(path))?, path.display().to_string()),
        (None, Some(census)) => {
            let (trace, notes) = report::trace_from_census_noted(census, &Trace::bundled());
            input_notes.extend(notes);
            if trace.rows.is_empty() {
                return Err(CliError::refused(format!(
                    "{snapshot_label}: no cache could be derived from the snapshot"
                )));
            }
            (trace, format!("trace derived from the snapshot {snapshot_label}"))
        }
        _ => (Trace::bundled(), "the bundled Linux 6.18 x86_64 boot trace".to_owned()),
    };
    let statics = report::static_set(&trace, args.statics.as_deref(), args.module_static.as_deref())?;

    if let Some(path) = &args.kmem_trace {
        if args.rules != MergeRules::default() {
            return Err(CliError::refused(format!(
                "--kmem-trace replays a capture under the 6.18 rules only, not --rules {}",
                args.rules
            )));
        }
        return kmem_trace(args, path, &trace, &statics).map(|()| Outcome::Complete);
    }

    if let Some(name) = &args.explain {
        let explanation = report::explain_under(&trace, &statics, name, &ReportScheme::ALL, args.rules)?;
        match args.format.unwrap_or(FormatArg::Table) {
            FormatArg::Json => emit(&explanation.to_json())?,
            FormatArg::Table => emit(&explanation.to_string())?,
            other => {
                return Err(CliError::refused(format!(
                    "--explain prints text or JSON, not {other:?} (--format table or json)"
                )));
            }
        }
        if args.svg.is_none() && args.html.is_none() {
            return Ok(Outcome::Complete);
        }
    }

    let mut memory = !args.no_memory;
    // Why no memory workload runs, for refusing the options that only shape it.
    let mut no_memory_because = args.no_memory.then(|| "with --no-memory".to_owned());
    let (census, census_label) = match &census_from_snapshot {
        Some(c) => {
            if memory && !c.caches().any(|r| r.known.contains(Known::OBJECTS)) {
                no_memory_because = Some(format!(
                    "with --snapshot {snapshot_label}: it has no live object counts, so no memory workload runs"
                ));
                input_notes.push(
                    "live object counts absent from the snapshot, so no memory workload \
                     (give /proc/slabinfo or a sysfs copy alongside for counts)"
                        .to_owned(),
                );
                memory = false;
            }
            (c.clone(), format!("the snapshot {snapshot_label}"))
        }
        None if args.trace.is_some() => {
            if memory {
                no_memory_because =
                    Some("with --trace and no --snapshot: no memory workload runs without live counts".to_owned());
                input_notes.push(
                    "no census for a custom --trace, so no memory workload (the bundled census's counts are not \
                     borrowed by name; give --snapshot for counts)"
                        .to_owned(),
                );
                memory = false;
            }
            (Census::default(), "no census".to_owned())
        }
        None => (Census::bundled(), "the bundled 6.18 census".to_owned()),
    };
    if let Some(because) = &no_memory_because {
        let shaping = [
            ("--seeds", args.seeds.is_some()),
            ("--seed", args.seed.is_some()),
            ("--churn", args.churn.is_some()),
            ("--workload-divisor", args.workload_divisor.is_some()),
            ("--memory-budget", args.memory_budget.is_some()),
        ];
        if let Some((option, _)) = shaping.iter().find(|(_, given)| *given) {
            return Err(CliError::refused(format!(
                "{option} shapes the memory workload, which does not run {because}"
            )));
        }
    }
    let options = ReportOptions {
        memory,
        seed: args.seed.unwrap_or(report::DEFAULT_SEED),
        churn_percent: args.churn.unwrap_or(report::DEFAULT_CHURN_PERCENT),
        workload_divisor: args.workload_divisor.unwrap_or(1),
        memory_budget: Some(args.memory_budget.unwrap_or(report::DEFAULT_MEMORY_BUDGET)),
        rules: args.rules,
        ..ReportOptions::default()
    };
    let input = report::ReportInput {
        trace: &trace,
        trace_label,
        statics: &statics,
        census: &census,
        census_label,
        snapshot: census_from_snapshot.as_ref(),
        notes: input_notes,
    };
    if let Some(command) = &args.command {
        return subcommand(command, &input, &options, args.verbose).map(|()| Outcome::Complete);
    }
    let nr_seeds = args.seeds.unwrap_or(1);
    let result = if nr_seeds > 1 {
        let seeds: Vec<u64> = (0..u64::from(nr_seeds)).map(|i| options.seed.wrapping_add(i)).collect();
        report::run_seeds(&input, &options, &seeds)
    } else {
        report::run_with(&input, &options)
    };
    if args.explain.is_none() {
        let text = report::render::TextOptions { verbose: args.verbose };
        emit(&report::render::render_with(&result, args.format.unwrap_or(FormatArg::Table).into(), text))?;
    }
    // --verbose draws every group that shares storage, not only those that differ.
    let picture = report::picture::PictureOptions { all_groups: args.verbose };
    if let Some(path) = &args.svg {
        write_file(path, report::picture::svg_with(&result, picture))?;
    }
    if let Some(path) = &args.html {
        write_file(path, report::picture::html_with(&result, picture))?;
    }
    Ok(Outcome::Complete)
}

/// The name of a subcommand on the command line.
fn command_name(command: &Command) -> &'static str {
    match command {
        Command::Slabinfo { .. } => "slabinfo",
        Command::ProcSlabinfo { .. } => "proc-slabinfo",
        Command::Ls { .. } => "ls",
        Command::Diff { .. } => "diff",
    }
}

/// Refuses every combination in which an option would have no effect,
/// naming the option and what makes it void. (Options that only shape the
/// memory workload are checked once it is known whether the workload runs.)
fn refuse_ignored(args: &Args) -> Result<(), CliError> {
    let first = |options: &[(&'static str, bool)]| options.iter().find(|(_, given)| *given).map(|(o, _)| *o);
    let format = args.format.map(|f| match f {
        FormatArg::Table => "--format table",
        FormatArg::Markdown => "--format markdown",
        FormatArg::Csv => "--format csv",
        FormatArg::Json => "--format json",
    });
    let workload = [
        ("--seeds", args.seeds.is_some()),
        ("--seed", args.seed.is_some()),
        ("--churn", args.churn.is_some()),
        ("--workload-divisor", args.workload_divisor.is_some()),
        ("--memory-budget", args.memory_budget.is_some()),
        ("--no-memory", args.no_memory),
    ];
    if let Some(command) = &args.command {
        let name = command_name(command);
        let snapshots = matches!(diff_of(command)?, Some(DiffOf::Snapshots(_)));
        let report_only = [
            ("--explain", args.explain.is_some()),
            ("--svg", args.svg.is_some()),
            ("--html", args.html.is_some()),
            ("--kmem-trace", args.kmem_trace.is_some()),
            ("--kmem-sites", args.kmem_sites.is_some()),
            // A diff of two snapshots prints a table or JSON; checked below.
            ("--format", args.format.is_some() && !snapshots),
            ("--seeds", args.seeds.is_some()),
        ];
        if let Some(option) = first(&report_only) {
            // A diff of two snapshots takes --format: say so, not only where it is void.
            let (and, not) = if matches!(command, Command::Diff { .. }) && option == "--format" {
                (" and to a diff of two snapshots", "a diff of two schemes".to_owned())
            } else {
                ("", format!("`slabmerge {name}`"))
            };
            return Err(CliError::refused(format!("{option} belongs to the comparative report{and}, not to {not}")));
        }
        if snapshots {
            let replay_only = [
                ("--snapshot", !args.snapshot.is_empty()),
                ("--trace", args.trace.is_some()),
                ("--static", args.statics.is_some()),
                ("--module-static", args.module_static.is_some()),
                ("--rules", args.rules != MergeRules::default()),
            ];
            if let Some(option) = first(&replay_only).or_else(|| first(&workload)) {
                return Err(CliError::refused(format!(
                    "{option} has no effect on a diff of two snapshots, which compares what they hold and replays \
                     nothing"
                )));
            }
            if let Some(f @ ("--format csv" | "--format markdown")) = format {
                return Err(CliError::refused(format!(
                    "{f} has no effect on a diff of two snapshots, which prints a table or JSON (--format json)"
                )));
            }
            if args.verbose && format == Some("--format json") {
                return Err(CliError::refused(
                    "--verbose has no effect with --format json, which always carries every name",
                ));
            }
        }
        if args.verbose && !matches!(command, Command::Diff { .. }) {
            return Err(CliError::refused(format!(
                "--verbose has no effect on `slabmerge {name}`, which prints the kernel's own text in full"
            )));
        }
        return Ok(());
    }
    if args.kmem_sites.is_some() && args.kmem_trace.is_none() {
        return Err(CliError::refused("--kmem-sites has no effect without --kmem-trace FILE"));
    }
    if args.kmem_trace.is_some() {
        let void =
            [("--explain", args.explain.is_some()), ("--html", args.html.is_some()), ("--verbose", args.verbose)];
        if let Some(option) = first(&void).or_else(|| first(&workload)) {
            return Err(CliError::refused(format!(
                "{option} has no effect with --kmem-trace, which replays the capture instead of the report's workload"
            )));
        }
        if let Some(f @ ("--format csv" | "--format markdown")) = format {
            return Err(CliError::refused(format!(
                "{f} has no effect with --kmem-trace, which prints a table or JSON (--format json)"
            )));
        }
        return Ok(());
    }
    if args.explain.is_some() {
        if args.verbose {
            return Err(CliError::refused("--verbose has no effect with --explain, which prints every candidate"));
        }
        if args.svg.is_none()
            && args.html.is_none()
            && let Some(option) = first(&workload)
        {
            return Err(CliError::refused(format!(
                "{option} has no effect with --explain, which runs no memory workload (unless --svg or --html \
                 asks for the report too)"
            )));
        }
    }
    if args.verbose
        && let Some(f @ ("--format csv" | "--format json")) = format
    {
        return Err(CliError::refused(format!("--verbose has no effect with {f}, which always carries every name")));
    }
    Ok(())
}

/// Runs a view or a diff on the inputs the report would use.
fn subcommand(
    command: &Command,
    input: &report::ReportInput<'_>,
    options: &ReportOptions,
    verbose: bool,
) -> Result<(), CliError> {
    let (text, notes) = match *command {
        Command::Slabinfo { scheme, aliases, totals, size, loss } => {
            let v = if aliases {
                View::Aliases
            } else if totals {
                View::Totals
            } else if size {
                View::Listing(ListingSort::Size)
            } else if loss {
                View::Listing(ListingSort::Loss)
            } else {
                View::Listing(ListingSort::Name)
            };
            views::view(input, options, scheme, v)
        }
        Command::ProcSlabinfo { scheme } => views::view(input, options, scheme, View::ProcSlabinfo),
        Command::Ls { scheme } => views::view(input, options, scheme, View::Ls),
        Command::Diff { .. } => {
            let Some(DiffOf::Schemes(a, b)) = diff_of(command)? else {
                unreachable!("a diff of snapshots runs before any replay")
            };
            if a == b {
                return Err(CliError::refused(format!("diff of {a} with itself: give two different schemes")));
            }
            let d = views::diff(input, options, a, b);
            (views::render_diff(&d, options.memory, verbose), Vec::new())
        }
    };
    emit(&text)?;
    // The view's text stays exactly the kernel's; what it was made from goes to stderr.
    for n in notes {
        eprintln!("slabmerge: {n}");
    }
    Ok(())
}

/// Exit status of a diff of two snapshots one of which lacks what the other
/// has (counts, groups): the comparison printed is partial.
const EXIT_PARTIAL: u8 = 2;

/// `slabmerge diff` of two snapshots: read both, compare, print (as JSON
/// with `json`). A lopsided comparison is printed whole and is
/// [`Outcome::Partial`].
fn diff_snapshots(paths: &[Vec<PathBuf>; 2], verbose: bool, json: bool) -> Result<Outcome, CliError> {
    let label = |p: &[PathBuf]| p.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(" + ");
    let read = |side: &'static str, p: &[PathBuf]| {
        read_snapshots(p).map_err(|e| {
            let hint = match p {
                [one] if !one.exists() && !one.to_string_lossy().contains('/') => {
                    let names: Vec<&str> = ReportScheme::ALL.iter().map(|s| s.name()).collect();
                    format!(" (`{}` is neither a file nor a scheme: {})", one.display(), names.join(", "))
                }
                _ => String::new(),
            };
            CliError::DiffSide { side, error: e.into(), hint }
        })
    };
    let (a, b) = (read("A", &paths[0])?, read("B", &paths[1])?);
    let d = snapshot_diff::snapshot_diff(&label(&paths[0]), &a, &label(&paths[1]), &b);
    if json {
        emit(&snapshot_diff::render_snapshot_diff_json(&d))?;
    } else {
        emit(&snapshot_diff::render_snapshot_diff(&d, verbose))?;
    }
    if !d.lopsided() {
        return Ok(Outcome::Complete);
    }
    eprintln!(
        "slabmerge: partial comparison: the two snapshots do not give the same things (see {}); exit status \
         {EXIT_PARTIAL}",
        if json { "\"partial\" in the JSON" } else { "\"partial comparison\" above" }
    );
    Ok(Outcome::Partial)
}

fn kmem_trace(
    args: &Args,
    path: &std::path::Path,
    trace: &Trace,
    statics: &slabmerge::replay::StaticSet,
) -> Result<(), CliError> {
    let sites = match &args.kmem_sites {
        Some(p) => slabmerge::input::kmem_sites::SiteTable::load(p)?,
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
    match args.format.unwrap_or(FormatArg::Table) {
        FormatArg::Json => emit(&report::kmem::render_json(&result))?,
        _ => emit(&report::kmem::render_table(&result))?,
    }
    if let Some(path) = &args.svg {
        write_file(path, report::kmem::render_svg(&result))?;
    }
    Ok(())
}
