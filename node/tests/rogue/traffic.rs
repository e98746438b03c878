//! The honest side, on threads of its own while the flood runs: records written on each node and
//! timed until the other serves them, and A's memory and metrics sampled.

use super::*;

/// How long records took to cross, each way, and A's write latencies.
#[derive(Default, Debug)]
pub(crate) struct Honest {
    pub(crate) h_to_a: Vec<Duration>,
    pub(crate) a_to_h: Vec<Duration>,
    pub(crate) a_writes: Vec<Duration>,
    pub(crate) lost: Vec<String>,
}

/// Writes on H and on A in turn until `until`, timing each record until the other node
/// serves it (each wait bounded by twice [`HONEST_BOUND`], so a failure is measured too).
pub(crate) fn honest_traffic(a: (String, String), h: (String, String), until: Instant) -> Honest {
    let mut honest = Honest::default();
    let mut i = 0u64;
    while Instant::now() < until {
        i += 1;
        let from_h = i % 2 == 1;
        let ((src, src_token), (dst, dst_token)) = if from_h { (&h, &a) } else { (&a, &h) };
        let began = Instant::now();
        let record = match write(src, src_token, "MRN-HONEST", i) {
            Ok(record) => record,
            Err(refusal) => {
                let node = if from_h { "H" } else { "A" };
                honest
                    .lost
                    .push(format!("write on {node} refused: {refusal}"));
                std::thread::sleep(Duration::from_millis(500));
                continue;
            }
        };
        if !from_h {
            honest.a_writes.push(began.elapsed());
        }
        let written = Instant::now();
        loop {
            if held(dst, dst_token, &record) {
                let took = written.elapsed();
                if from_h {
                    honest.h_to_a.push(took);
                } else {
                    honest.a_to_h.push(took);
                }
                break;
            }
            if written.elapsed() > 2 * HONEST_BOUND {
                honest.lost.push(format!(
                    "{record} ({})",
                    if from_h { "H to A" } else { "A to H" }
                ));
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    honest
}

/// A's resident memory and buffered blocks, sampled until `until`.
#[derive(Default, Debug)]
pub(crate) struct Samples {
    pub(crate) rss_kib: Vec<u64>,
    pub(crate) buffered: Vec<i64>,
    pub(crate) series: Vec<usize>,
    pub(crate) heap_mib: Vec<i64>,
}

pub(crate) fn sample(pid: u32, api: String, token: String, until: Instant) -> Samples {
    let mut samples = Samples::default();
    while Instant::now() < until {
        samples.rss_kib.push(vm_rss_kib(pid));
        let scraped = scrape(&api, &token);
        samples.buffered.push(scraped.buffered);
        samples.series.push(scraped.series);
        samples.heap_mib.push(scraped.heap_allocated >> 20);
        std::thread::sleep(Duration::from_millis(500));
    }
    samples
}

pub(crate) fn max_of(durations: &[Duration]) -> Duration {
    durations.iter().copied().max().unwrap_or_default()
}

pub(crate) fn median(durations: &[Duration]) -> Duration {
    let mut sorted = durations.to_vec();
    sorted.sort();
    sorted.get(sorted.len() / 2).copied().unwrap_or_default()
}
