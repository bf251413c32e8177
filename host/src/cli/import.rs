//! `deces-edge import`: INSEE death files (fixed width, plain or gzipped) and NDJSON index
//! documents into the embedded search database, in batched transactions: an interrupted
//! import leaves every committed batch, and a re-run skips the records already there.

use crate::cli::sample;
use crate::manifest::{self, DatabaseConfig};
use anyhow::{anyhow, bail, Context, Result};
use edge_core::embedded::schema::DEFERRED_INDEXES;
use edge_core::embedded::{find, load, Sql};
use edge_core::insee::{self, places::Referential};
use rusqlite::Connection;
use serde_json::Value;
use std::collections::HashSet;
use std::io::{BufRead, BufReader, IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

pub const USAGE: &str = "usage: deces-edge import [--manifest spin.toml] \
[--runtime-config-file FILE] [--database default] [--opt-out FILE]... [--if-empty] \
[--sample N] [--batch N] FILE...";

/// Records per transaction.
const BATCH: usize = 20_000;

pub struct ImportArgs {
    manifest: PathBuf,
    runtime_config: Option<PathBuf>,
    database: String,
    opt_out: Vec<PathBuf>,
    if_empty: bool,
    sample: Option<u64>,
    batch: usize,
    files: Vec<PathBuf>,
}

pub fn parse_args(args: &[String]) -> Result<ImportArgs> {
    let mut out = ImportArgs {
        manifest: PathBuf::from("spin.toml"),
        runtime_config: None,
        database: "default".into(),
        opt_out: Vec::new(),
        if_empty: false,
        sample: None,
        batch: BATCH,
        files: Vec::new(),
    };
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        let mut value = || {
            rest.next()
                .cloned()
                .ok_or_else(|| anyhow!("{arg} needs a value; {USAGE}"))
        };
        match arg.as_str() {
            "--manifest" | "-f" => out.manifest = PathBuf::from(value()?),
            "--runtime-config-file" => {
                let v = value()?;
                out.runtime_config = (!v.is_empty()).then(|| PathBuf::from(v));
            }
            "--database" => out.database = value()?,
            "--opt-out" => out.opt_out.push(PathBuf::from(value()?)),
            "--if-empty" => out.if_empty = true,
            "--sample" => {
                let v = value()?;
                out.sample = Some(
                    v.parse()
                        .with_context(|| format!("invalid --sample `{v}`"))?,
                );
            }
            "--batch" => {
                let v = value()?;
                out.batch = v
                    .parse()
                    .ok()
                    .filter(|n| *n > 0)
                    .with_context(|| format!("invalid --batch `{v}`"))?;
            }
            "-h" | "--help" => bail!("{USAGE}"),
            flag if flag.starts_with("--") => bail!("unknown option `{flag}`; {USAGE}"),
            file => out.files.push(PathBuf::from(file)),
        }
    }
    if out.files.is_empty() && out.sample.is_none() {
        bail!("nothing to import; {USAGE}");
    }
    Ok(out)
}

/// The database file a label names, as `up` would open it.
fn database_path(args: &ImportArgs) -> Result<PathBuf> {
    let app_dir = manifest::app_dir(&args.manifest);
    let configs = manifest::database_configs(&app_dir, args.runtime_config.as_deref())?;
    match configs.get(&args.database) {
        Some(DatabaseConfig::File(path)) => Ok(path.clone()),
        Some(DatabaseConfig::Memory) => {
            bail!(
                "database `{}` has no path: an in-memory database cannot be imported into",
                args.database
            )
        }
        None => bail!("no database `{}` in the runtime config", args.database),
    }
}

/// Opens (creating when needed) the database file for importing.
pub fn open(path: &Path) -> Result<Connection> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    // One thread uses the connection: SQLite's own locking is not needed.
    let flags = rusqlite::OpenFlags::default() | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let mut db = Connection::open_with_flags(path, flags)
        .with_context(|| format!("cannot open {}", path.display()))?;
    db.busy_timeout(std::time::Duration::from_secs(30))?;
    db.pragma_update(None, "journal_mode", "WAL")?;
    // Without fsync: a killed import (Ctrl-C, kill -9) keeps every committed batch all the
    // same in WAL mode; only a crash of the machine itself could lose the last ones.
    db.pragma_update(None, "synchronous", "OFF")?;
    db.pragma_update(None, "cache_size", -200_000)?;
    load::create_schema(&mut db).map_err(|e| anyhow!(e))?;
    // The term index keeps 16 MB of new terms in memory before writing a segment (1 MB
    // by default): a batch's terms in one or two segments, fewer to merge.
    db.execute_batch("INSERT INTO terms (terms, rank) VALUES ('hashsize', 16000000)")?;
    Ok(db)
}

/// Counts of an import.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    pub read: u64,
    pub loaded: u64,
    pub already: u64,
    pub opted_out: u64,
    pub malformed: u64,
}

/// Loads records in batches of `batch` per transaction, with progress on a terminal.
pub struct Importer {
    db: Connection,
    loader: load::Loader,
    batch: usize,
    in_batch: usize,
    pub counts: Counts,
    /// The records the table had before (its largest id).
    before: u64,
    started: Instant,
    progress: bool,
}

impl Importer {
    pub fn new(mut db: Connection, loader: load::Loader, batch: usize) -> Self {
        let before = db
            .query("SELECT coalesce(max(id), 0) FROM person", &[])
            .ok()
            .and_then(|r| r.first()?.first()?.as_i64())
            .unwrap_or(0);
        Importer {
            db,
            loader,
            batch,
            in_batch: 0,
            counts: Counts::default(),
            before: u64::try_from(before).unwrap_or(0),
            started: Instant::now(),
            progress: std::io::stderr().is_terminal(),
        }
    }

    fn begin_if_needed(&mut self) -> Result<()> {
        if self.in_batch == 0 {
            self.db.execute_batch("BEGIN")?;
        }
        Ok(())
    }

    fn add(&mut self, row: load::Row) -> Result<()> {
        self.begin_if_needed()?;
        let inserted = self
            .loader
            .add_row(&mut self.db, row)
            .map_err(|e| anyhow!(e))?;
        if inserted {
            self.counts.loaded += 1;
        } else {
            self.counts.already += 1;
        }
        self.in_batch += 1;
        if self.in_batch >= self.batch {
            self.commit()?;
        }
        Ok(())
    }

    fn commit(&mut self) -> Result<()> {
        if self.in_batch == 0 {
            return Ok(());
        }
        self.loader.flush(&mut self.db).map_err(|e| anyhow!(e))?;
        load::Loader::stamp(&mut self.db, &today()).map_err(|e| anyhow!(e))?;
        self.db.execute_batch("COMMIT")?;
        self.in_batch = 0;
        if self.progress {
            eprint!("\r{}", self.summary());
        }
        Ok(())
    }

    /// Stores what [`prepare`] made of one line.
    pub fn store(&mut self, prepared: Prepared) -> Result<(), String> {
        self.counts.read += 1;
        match prepared {
            Prepared::Doc(row) => self.add(row).map_err(|e| format!("{e:#}")),
            Prepared::OptedOut => {
                self.counts.opted_out += 1;
                Ok(())
            }
            Prepared::Malformed(why) => {
                self.counts.malformed += 1;
                Err(why)
            }
        }
    }

    pub fn finish(&mut self) -> Result<Counts> {
        self.commit()?;
        if self.progress {
            eprintln!();
        }
        // An import that at least doubled the table (a first one) leaves its term index in
        // one segment.
        let merge = self.counts.loaded > 0 && self.counts.loaded >= self.before;
        settle(&mut self.db, merge)?;
        Ok(self.counts)
    }

    pub fn summary(&self) -> String {
        let secs = self.started.elapsed().as_secs_f64().max(1e-6);
        let c = self.counts;
        format!(
            "read {}, loaded {}, already there {}, opted out {}, malformed {} ({:.0} records/s)",
            c.read,
            c.loaded,
            c.already,
            c.opted_out,
            c.malformed,
            c.read as f64 / secs
        )
    }
}

/// What follows loading: the vocabulary derived from the term index (when documents were
/// loaded since it last was), the term index's segments merged ([`load::merge_terms`]: in
/// one when `merge`), the UID and date indexes when a first import went without them, and
/// the log written back into the database file (its size on disk is the index's). The new
/// terms' deletion variants are made on another thread meanwhile.
fn settle(db: &mut Connection, merge: bool) -> Result<()> {
    // Building the indexes sorts every row: with a small page cache the sort spills into
    // runs that SQLite's worker threads sort and merge, about 40% faster at a million
    // records than one in-memory sort (bench/README.md).
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    db.pragma_update(None, "threads", threads as i64)?;
    db.pragma_update(None, "cache_size", -4_000)?;
    let behind = load::vocabulary_behind(db).map_err(|e| anyhow!(e))?;
    db.execute_batch("BEGIN")?;
    std::thread::scope(|scope| -> Result<()> {
        let variants = if behind {
            let new = load::derive_vocabulary(db).map_err(|e| anyhow!(e))?;
            Some(scope.spawn(move || load::variant_rows(&new)))
        } else {
            None
        };
        load::merge_terms(db, merge).map_err(|e| anyhow!(e))?;
        load::create_schema(db).map_err(|e| anyhow!(e))?;
        if let Some(variants) = variants {
            let rows = variants
                .join()
                .map_err(|_| anyhow!("making the deletion variants failed"))?;
            load::add_variants(db, rows.map_err(|e| anyhow!(e))?).map_err(|e| anyhow!(e))?;
        }
        Ok(())
    })?;
    db.execute_batch("COMMIT")?;
    db.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)")?;
    Ok(())
}

/// A line made ready to store (the part of an import that runs beside the database work).
pub enum Prepared {
    Doc(load::Row),
    OptedOut,
    Malformed(String),
}

/// What turns lines into documents: the referentials and the opt-out triples.
pub struct Preparer {
    refs: Referential,
    opt_out: HashSet<(String, String, String)>,
}

impl Preparer {
    pub fn new(opt_out: HashSet<(String, String, String)>) -> Self {
        Preparer {
            refs: Referential::vendored(),
            opt_out,
        }
    }

    /// One line of a file: an NDJSON index document when it starts with `{`, otherwise a
    /// raw INSEE line (`source` from the file name, `line` 1-based).
    pub fn prepare(&self, bytes: &[u8], source: &str, line: u64) -> Prepared {
        if bytes.first() == Some(&b'{') {
            return match serde_json::from_slice::<Value>(bytes) {
                Ok(Value::Object(o)) => match load::Row::of(&o) {
                    Ok(row) => Prepared::Doc(row),
                    Err(why) => Prepared::Malformed(why),
                },
                Ok(_) => {
                    Prepared::Malformed("not an index document (a JSON object with a UID)".into())
                }
                Err(e) => Prepared::Malformed(format!("invalid JSON: {e}")),
            };
        }
        let raw = match insee::parse_line(&insee::latin1(bytes)) {
            Ok(r) => r,
            Err(e) => return Prepared::Malformed(e.to_string()),
        };
        let key = (
            raw.date_deces.clone(),
            raw.code_insee_deces.clone(),
            raw.num_deces(),
        );
        if self.opt_out.contains(&key) {
            return Prepared::OptedOut;
        }
        match load::Row::of(&insee::document(&raw, source, line, &self.refs)) {
            Ok(row) => Prepared::Doc(row),
            Err(why) => Prepared::Malformed(why),
        }
    }
}

/// `yyyyMMdd` of today (UTC).
fn today() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    insee::date_of_unix_day(secs as i64 / 86_400)
}

/// A file's bytes, gunzipped when its name ends in `.gz`.
fn reader(path: &Path) -> Result<Box<dyn BufRead>> {
    let file =
        std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let inner: Box<dyn Read> = if path.extension().is_some_and(|e| e == "gz") {
        Box::new(flate2::read::MultiGzDecoder::new(file))
    } else {
        Box::new(file)
    };
    Ok(Box::new(BufReader::with_capacity(1 << 20, inner)))
}

/// The opt-out triples of INSEE's opposition files (`;`-separated, with a header).
pub fn read_opt_out(paths: &[PathBuf]) -> Result<HashSet<(String, String, String)>> {
    let mut out = HashSet::new();
    for path in paths {
        let mut csv = csv::ReaderBuilder::new()
            .delimiter(b';')
            .flexible(true)
            .from_reader(reader(path)?);
        let headers = csv.headers()?.clone();
        let column = |name: &str| {
            headers
                .iter()
                .position(|h| h.trim().trim_start_matches('\u{feff}') == name)
                .with_context(|| format!("{}: no column `{name}`", path.display()))
        };
        let (date, code, act) = (
            column("Date de décès")?,
            column("Code du lieu de décès")?,
            column("Numéro d'acte de décès")?,
        );
        for record in csv.records() {
            let record = record.with_context(|| format!("{}", path.display()))?;
            let get = |i: usize| record.get(i).unwrap_or("").trim().to_string();
            out.insert((get(date), get(code), get(act)));
        }
    }
    Ok(out)
}

/// Lines handed from the reader to the preparing threads at a time.
const CHUNK: usize = 2_000;

/// Numbered lines (1-based), without their line ends.
type Chunk = Vec<(u64, Vec<u8>)>;

/// Chunks read ahead of the one being stored (prepared or being prepared).
const READ_AHEAD: u64 = 16;

/// Imports lines: numbered chunks are prepared on other threads (normalisation, documents)
/// while this one reads the next and stores the prepared ones in order; malformed lines
/// are reported with `name:line`. Preparing goes on while a batch commits.
fn import_lines(
    importer: &mut Importer,
    preparer: &Arc<Preparer>,
    name: &str,
    source: &str,
    mut next_chunk: impl FnMut() -> Result<Option<Chunk>>,
) -> Result<()> {
    // One core stores; the others prepare.
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .saturating_sub(1)
        .clamp(1, 8);
    let (jobs, job_queue) = std::sync::mpsc::channel::<(u64, Chunk)>();
    let job_queue = std::sync::Mutex::new(job_queue);
    let (done_tx, done) = std::sync::mpsc::channel();
    std::thread::scope(|scope| -> Result<()> {
        // Moved in: whatever way this returns, the queue closes and the workers stop.
        let jobs = jobs;
        for _ in 0..workers {
            let done_tx = done_tx.clone();
            let job_queue = &job_queue;
            std::thread::Builder::new()
                .name("prepare".into())
                .spawn_scoped(scope, move || loop {
                    let job = job_queue.lock().map(|q| q.recv());
                    let Ok(Ok((n, chunk))) = job else { return };
                    let prepared: Vec<(u64, Prepared)> = chunk
                        .into_iter()
                        .map(|(line, bytes)| (line, preparer.prepare(&bytes, source, line)))
                        .collect();
                    if done_tx.send((n, prepared)).is_err() {
                        return;
                    }
                })?;
        }
        drop(done_tx);
        let (mut sent, mut stored, mut end) = (0u64, 0u64, false);
        let mut ready = std::collections::BTreeMap::new();
        loop {
            while !end && sent - stored < READ_AHEAD {
                match next_chunk()? {
                    Some(chunk) => {
                        jobs.send((sent, chunk))?;
                        sent += 1;
                    }
                    None => end = true,
                }
            }
            if stored == sent {
                return Ok(());
            }
            while !ready.contains_key(&stored) {
                let (n, prepared) = done
                    .recv()
                    .map_err(|_| anyhow!("a preparing thread stopped"))?;
                ready.insert(n, prepared);
            }
            for (line, p) in ready.remove(&stored).unwrap_or_default() {
                if let Err(why) = importer.store(p) {
                    eprintln!("{name}:{line}: skipped: {why}");
                }
            }
            stored += 1;
        }
    })
}

/// Imports one file (plain or gzipped), line by line.
fn import_file(importer: &mut Importer, preparer: &Arc<Preparer>, path: &Path) -> Result<()> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let source = insee::source_of(&name);
    let mut input = reader(path)?;
    let mut line = 0u64;
    let next_chunk = || -> Result<Option<Chunk>> {
        let mut chunk = Vec::with_capacity(CHUNK);
        while chunk.len() < CHUNK {
            let mut bytes = Vec::with_capacity(180);
            if input.read_until(b'\n', &mut bytes)? == 0 {
                break;
            }
            line += 1;
            while bytes.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
                bytes.pop();
            }
            if !bytes.iter().all(u8::is_ascii_whitespace) {
                chunk.push((line, bytes));
            }
        }
        Ok((!chunk.is_empty()).then_some(chunk))
    };
    import_lines(
        importer,
        preparer,
        &path.display().to_string(),
        &source,
        next_chunk,
    )
}

pub fn run(args: ImportArgs) -> Result<()> {
    let path = database_path(&args)?;
    let mut db = open(&path)?;
    if args.if_empty && !find::is_empty(&mut db) {
        let n = db
            .query("SELECT count(*) FROM person", &[])
            .ok()
            .and_then(|r| r.first()?.first()?.as_i64())
            .unwrap_or(0);
        eprintln!(
            "deces-edge: {} already holds {n} records; nothing imported",
            path.display()
        );
        // An interrupted import's vocabulary is completed all the same.
        return settle(&mut db, false);
    }
    let empty = find::is_empty(&mut db);
    if empty {
        // A first import builds the UID and date indexes once at the end rather than
        // row by row (an interrupted one gets them back from the next run's schema).
        for index in DEFERRED_INDEXES {
            db.execute_batch(&format!("DROP INDEX IF EXISTS {index}"))?;
        }
        load::defer_merging(&mut db).map_err(|e| anyhow!(e))?;
    }
    let preparer = Arc::new(Preparer::new(read_opt_out(&args.opt_out)?));
    let loader = if empty {
        load::Loader::into_empty()
    } else {
        load::Loader::new()
    };
    let mut importer = Importer::new(db, loader, args.batch);
    if let Some(n) = args.sample {
        eprintln!(
            "deces-edge: importing a sample of {n} synthetic records into {}",
            path.display()
        );
        let mut text = Vec::new();
        sample::write(n, 1, &mut text)?;
        let mut lines = text
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .zip(1u64..);
        let next_chunk = || -> Result<Option<Chunk>> {
            let chunk: Chunk = lines
                .by_ref()
                .take(CHUNK)
                .map(|(l, i)| (i, l.to_vec()))
                .collect();
            Ok((!chunk.is_empty()).then_some(chunk))
        };
        import_lines(&mut importer, &preparer, "sample", "sample", next_chunk)?;
    }
    for file in &args.files {
        import_file(&mut importer, &preparer, file)?;
    }
    importer.finish()?;
    let summary = importer.summary();
    let mut err = std::io::stderr();
    let _ = writeln!(err, "deces-edge: import into {}: {summary}", path.display());
    Ok(())
}
