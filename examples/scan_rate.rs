//! How fast the validating scanner reads the benchmark log on one thread, for comparison with
//! the research floor (`benches/floor/run.sh` runs it beside simdjson on the same bytes).
//!
//! `cargo run --release --example scan_rate -- FILE [MIB]` reads the first MIB MiB of FILE
//! (whole lines), then times, best and median of 7: splitting it into lines, and validating
//! every line in full (`scan_line`, no early stop: what a deleted line costs).

use std::error::Error;
use std::time::Instant;

use _core::scan::{scan_line, Scan};

fn main() -> Result<(), Box<dyn Error>> {
    let mut args = std::env::args().skip(1);
    let path = args.next().ok_or("usage: scan_rate FILE [MIB]")?;
    let mib: usize = args.next().map_or(Ok(128), |text| text.parse())?;
    let mut data = std::fs::read(&path)?;
    data.truncate(mib << 20);
    let end = data.iter().rposition(|&byte| byte == b'\n').map_or(0, |at| at + 1);
    data.truncate(end);
    report("split into lines", &data, || lines(&data).count());
    report("validate every line", &data, || {
        lines(&data).filter(|line| matches!(scan_line(line), Scan::Record(_))).count()
    });
    Ok(())
}

fn lines(data: &[u8]) -> impl Iterator<Item = &[u8]> + '_ {
    let mut start = 0;
    memchr::memchr_iter(b'\n', data).map(move |newline| {
        let line = &data[start..newline];
        start = newline + 1;
        line
    })
}

fn report(what: &str, data: &[u8], mut pass: impl FnMut() -> usize) {
    let mut seconds = Vec::new();
    let mut count = 0;
    for _ in 0..7 {
        let started = Instant::now();
        count = pass();
        seconds.push(started.elapsed().as_secs_f64());
    }
    seconds.sort_by(f64::total_cmp);
    let rate = |s: f64| data.len() as f64 / s / 1e9;
    println!(
        "mxcp-compact {what}: {} MB, {count} lines, best {:.1} ms ({:.2} GB/s), median {:.1} ms ({:.2} GB/s)",
        data.len() >> 20,
        seconds[0] * 1e3,
        rate(seconds[0]),
        seconds[3] * 1e3,
        rate(seconds[3])
    );
}
