//! The scenario: two daemons and the rogue, the flood for a bounded window, and everything it
//! measured.

use super::*;

/// Everything the scenario measured.
pub(crate) struct Outcome {
    /// From the rogue's admission until the last of A's requests could arrive.
    pub(crate) counted: Duration,
    /// Anti-entropy rounds in `counted`: one every 5 s, one at admission, one in flight.
    pub(crate) rounds: u64,
    /// A's requests that reached the rogue, and those A tried (reached or failed on A's side).
    pub(crate) a_requests: u64,
    pub(crate) a_attempted: u64,
    pub(crate) a_heads: u64,
    pub(crate) a_range_announced: u64,
    pub(crate) a_range_gossiped: u64,
    pub(crate) a_range_rogue_chain: u64,
    /// Chain labels in A's metrics that are none of A's, H's or the rogue's chains.
    pub(crate) foreign_labels: Vec<String>,
    pub(crate) series_before: usize,
    pub(crate) series_peak: usize,
    /// The rogue's range requests: sent, served, answered Busy, and the bytes served.
    pub(crate) r_sent: u64,
    pub(crate) r_served: u64,
    pub(crate) r_busy: u64,
    pub(crate) served_bytes: u64,
    pub(crate) flood_secs: f64,
    pub(crate) honest: Honest,
    pub(crate) buffered_peak: i64,
    pub(crate) rss_before_kib: u64,
    pub(crate) rss_peak_kib: u64,
    pub(crate) a_exit: i32,
    pub(crate) a_panics: Vec<String>,
    pub(crate) h_exit: i32,
}

/// The scenario runs one at a time (it loads both cores).
pub(crate) static SCENARIO: Mutex<()> = Mutex::new(());

/// Sets up A and H, lets the rogue loose on A for the window, measures, stops everything.
pub(crate) fn scenario() -> Outcome {
    let _one_at_a_time = SCENARIO.lock().unwrap_or_else(|p| p.into_inner());
    let test_began = Instant::now();
    let window = window();
    let ca = Ca::new(BIN);
    let a_setup = ca.node("a", "provider", "Hospital A", &[]);
    let mut a = start_verbose(&a_setup);
    let h_setup = ca.node("h", "provider", "Hospital H", std::slice::from_ref(&a.p2p));
    let mut h = start(&h_setup);
    let (a_api, a_token) = (a.api.clone(), a_setup.token.clone());
    let (h_api, h_token) = (h.api.clone(), h_setup.token.clone());
    let a_pid = a.child.id();
    wait_writable(&a_api, &a_token);
    wait_writable(&h_api, &h_token);

    // A's chain: blocks of about 1 MiB each, so a range of it is a large answer.
    let blob = "x".repeat(48 << 10);
    for b in 0..PRELOAD_BLOCKS {
        let records: Vec<String> = (0..20)
            .map(|r| {
                format!(
                    r#"{{"kind":"create","patient":"MRN-{b}","payload":{{"resourceType":"Observation","n":{r},"blob":"{blob}"}},"actor":"dr-1"}}"#
                )
            })
            .collect();
        let body = format!(r#"{{"records":[{}]}}"#, records.join(","));
        let (status, text) = http(&a_api, "POST", "/v1/records/batch", &a_token, Some(&body));
        assert_eq!(status, 200, "{}", &text[..text.len().min(500)]);
        assert!(
            text.contains("\"failed\":0"),
            "{}",
            &text[..text.len().min(500)]
        );
    }
    let h_first = write(&h_api, &h_token, "MRN-H", 0).unwrap();
    let (a_chain, a_height) = chain_of_org(&a_api, &a_token, "Hospital A");
    let deadline = Instant::now() + Duration::from_secs(60);
    while chains(&h_api, &h_token)
        .iter()
        .all(|(_, chain, height)| *chain != a_chain || *height < a_height)
        || !held(&a_api, &a_token, &h_first)
    {
        assert!(
            Instant::now() < deadline,
            "A and H did not replicate within 60 s"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let (h_chain, _) = chain_of_org(&a_api, &a_token, "Hospital H");
    let before = scrape(&a_api, &a_token);
    let rss_before = vm_rss_kib(a_pid);
    let setup_took = test_began.elapsed();

    // The rogue joins, with a certificate of the same CA.
    let config = std::fs::read_to_string(&a_setup.config).unwrap();
    let config: toml::Value = toml::from_str(&config).unwrap();
    let network = config["node"]["network"].as_str().unwrap().to_owned();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let rogue = start_rogue(&runtime, &ca, &network, &a.p2p);
    let deadline = Instant::now() + Duration::from_secs(30);
    while !rogue.a_admitted.load(Ordering::SeqCst) {
        assert!(
            Instant::now() < deadline,
            "A did not admit the rogue within 30 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    // The flood. The rogue's answers (made-up heads, junk blocks) and its gossip of blocks A
    // cannot judge run for the whole window; the range flood and the gossip A rejects run in
    // its second half: 64 requests in flight take A's streams with the rogue (16 per
    // connection), so A's own requests to the rogue are counted in the first half mostly.
    let flood_began = Instant::now();
    let half = flood_began + window / 2;
    let until = flood_began + window;
    let mut tasks = vec![runtime.spawn(rogue.clone().gossip(half))];
    let sampler = {
        let (api, token) = (a_api.clone(), a_token.clone());
        std::thread::spawn(move || sample(a_pid, api, token, until))
    };
    let honest = {
        let a = (a_api.clone(), a_token.clone());
        let h = (h_api.clone(), h_token.clone());
        std::thread::spawn(move || honest_traffic(a, h, until))
    };
    std::thread::sleep(half.saturating_duration_since(Instant::now()));
    for _ in 0..IN_FLIGHT {
        tasks.push(runtime.spawn(rogue.clone().request_ranges(a_chain, a_height)));
    }
    let samples = sampler.join().unwrap();
    rogue.stop.store(true, Ordering::SeqCst);
    let flood_took = flood_began.elapsed();
    let honest = honest.join().unwrap();
    // The flood's requests in flight end with their answers (or the rogue's 10 s timeout).
    runtime.block_on(async {
        for task in tasks {
            let _ = tokio::time::timeout(Duration::from_secs(15), task).await;
        }
    });
    let counted_until = Instant::now();
    let after = scrape(&a_api, &a_token);
    let rss_after = vm_rss_kib(a_pid);
    let _ = runtime.block_on(rogue.client.shutdown());
    // Once the rogue is gone, what A held for it should go too.
    std::thread::sleep(Duration::from_secs(3));
    let heap_gone = scrape(&a_api, &a_token).heap_allocated >> 20;
    let rss_gone = vm_rss_kib(a_pid);

    // ----- the numbers
    let s = &rogue.stats;
    let counted = counted_until.duration_since(rogue.started);
    let rounds = counted.as_secs() / ROUND_SECS + 2;
    let a_requests = n(&s.a_total);
    let made_up_asked = s.asked.lock().unwrap().len();
    let (first_half, per_round) = {
        let times = s.a_times.lock().unwrap();
        let first_half = times.iter().filter(|t| **t < half).count() as u64;
        let buckets = counted_until.duration_since(flood_began).as_secs() / ROUND_SECS + 1;
        let mut per = vec![0u64; buckets as usize];
        for t in times.iter() {
            let i = t.saturating_duration_since(flood_began).as_secs() / ROUND_SECS;
            let last = per.len() - 1;
            per[(i as usize).min(last)] += 1;
        }
        (first_half, per)
    };
    let rss_peak = samples
        .rss_kib
        .iter()
        .copied()
        .max()
        .unwrap_or(0)
        .max(rss_after);
    let buffered_peak = samples
        .buffered
        .iter()
        .copied()
        .max()
        .unwrap_or(0)
        .max(after.buffered);
    let series_peak = samples
        .series
        .iter()
        .copied()
        .max()
        .unwrap_or(0)
        .max(after.series);
    let served_bytes = n(&s.r_served_bytes);
    let flood_secs = (flood_took - window / 2).as_secs_f64();
    let served_mib_s = served_bytes as f64 / f64::from(1 << 20) / flood_secs;
    let busy = n(&s.r_busy_slots) + n(&s.r_busy_budget) + n(&s.r_busy_other);
    println!(
        "rogue: setup {setup_took:.1?}; window {flood_took:.1?} (range flood in the second half); A's requests counted over {counted:.1?} from admission ({rounds} anti-entropy rounds)"
    );
    println!(
        "rogue: A -> rogue sync requests arrived: {a_requests} ({first_half} in the first half): {} heads, {} ranges of announced made-up chains, {} of gossiped made-up chains, {} of the rogue's chain, {} other, {} payload, {} evidence; {made_up_asked} distinct made-up chains asked for; per {ROUND_SECS} s of the window: {per_round:?}",
        n(&s.a_heads),
        n(&s.a_range_announced),
        n(&s.a_range_gossiped),
        n(&s.a_range_rogue_chain),
        n(&s.a_range_other),
        n(&s.a_payload),
        n(&s.a_evidence),
    );
    println!(
        "rogue: rogue -> A range requests ({IN_FLIGHT} in flight for {flood_secs:.1} s): {} sent; {} served ({} empty, {:.1} MiB, {served_mib_s:.1} MiB/s); Busy {busy} ({} two-in-progress, {} byte budget, {} other); {} bad request (limit over 256); {} other answers; {} failed {:?}",
        n(&s.r_sent),
        n(&s.r_served),
        n(&s.r_served_empty),
        served_bytes as f64 / f64::from(1 << 20),
        n(&s.r_busy_slots),
        n(&s.r_busy_budget),
        n(&s.r_busy_other),
        n(&s.r_bad_request),
        n(&s.r_other_answer),
        n(&s.r_failed),
        s.r_failures.lock().unwrap(),
    );
    println!(
        "rogue: gossip published: {} own-chain ahead of a gap, {} made-up ahead of a gap ({} more at new positions, {} more with 2 MiB of payloads), {} badly signed, {} junk, {} 2 MiB junk; {} publish failures {:?}; oversized: {}",
        n(&s.g_ahead_own),
        n(&s.g_ahead_made_up),
        n(&s.g_ahead_fresh),
        n(&s.g_ahead_heavy),
        n(&s.g_bad_signature),
        n(&s.g_junk),
        n(&s.g_large_junk),
        n(&s.g_failed),
        s.g_failures.lock().unwrap(),
        s.g_oversized
            .lock()
            .unwrap()
            .as_deref()
            .unwrap_or("not sent"),
    );
    let known: HashSet<String> = [a_chain, h_chain, rogue.chain]
        .iter()
        .map(ChainId::to_hex)
        .collect();
    let foreign_labels: Vec<String> = after.chain_labels.difference(&known).cloned().collect();
    println!(
        "rogue: A metric series {} before, {series_peak} peak, {} after; {} chain labels, {} of them none of A's, H's or the rogue's",
        before.series,
        after.series,
        after.chain_labels.len(),
        foreign_labels.len(),
    );
    println!(
        "rogue: A VmRSS {} MiB before, {} MiB peak, {} MiB after (every 0.5 s: {:?}); buffered blocks peak {buffered_peak}",
        rss_before / 1024,
        rss_peak / 1024,
        rss_after / 1024,
        samples.rss_kib.iter().map(|k| k / 1024).collect::<Vec<_>>(),
    );
    println!(
        "rogue: A heap allocated (jemalloc), MiB every 0.5 s: {:?}; 3 s after the rogue left: heap {heap_gone} MiB, VmRSS {} MiB",
        samples.heap_mib,
        rss_gone / 1024
    );
    println!(
        "rogue: honest H -> A {} records, median {:.2?}, max {:.2?}; A -> H {} records, median {:.2?}, max {:.2?}; A write latency median {:.2?}, max {:.2?}; not crossed {:?}",
        honest.h_to_a.len(),
        median(&honest.h_to_a),
        max_of(&honest.h_to_a),
        honest.a_to_h.len(),
        median(&honest.a_to_h),
        max_of(&honest.a_to_h),
        median(&honest.a_writes),
        max_of(&honest.a_writes),
        honest.lost,
    );

    // ----- A and H stop; A's log says what A tried to send the rogue, and whether it panicked
    let (a_exit, a_log) = stop(&mut a);
    let a_panics: Vec<String> = a_log
        .iter()
        .filter(|l| l.to_lowercase().contains("panic"))
        .cloned()
        .collect();
    if let Ok(path) = std::env::var("MEDCHAIN_ROGUE_LOG") {
        std::fs::write(&path, a_log.join("\n")).unwrap();
        println!("rogue: A's log written to {path}");
    }
    let (a_failed, a_busy) = requests_in_log(&a_log, &rogue.client.peer_id().to_string());
    let a_failed_total: u64 = a_failed.values().sum();
    let a_attempted = a_requests + a_failed_total;
    println!(
        "rogue: A's log: {a_failed_total} of A's sync requests to the rogue failed on A's side {a_failed:?}, so A tried {a_attempted}; A's network layer answered {a_busy} of the rogue's requests Busy (two in progress)"
    );
    let (h_exit, _) = stop(&mut h);
    drop(runtime);
    println!(
        "rogue: A exit status {a_exit}, {} log lines, {} mention a panic; H exit status {h_exit}; scenario ran {:.1?}",
        a_log.len(),
        a_panics.len(),
        test_began.elapsed()
    );
    Outcome {
        counted,
        rounds,
        a_requests,
        a_attempted,
        a_heads: n(&s.a_heads),
        a_range_announced: n(&s.a_range_announced),
        a_range_gossiped: n(&s.a_range_gossiped),
        a_range_rogue_chain: n(&s.a_range_rogue_chain),
        foreign_labels,
        series_before: before.series,
        series_peak,
        r_sent: n(&s.r_sent),
        r_served: n(&s.r_served),
        r_busy: busy,
        served_bytes,
        flood_secs,
        honest,
        buffered_peak,
        rss_before_kib: rss_before,
        rss_peak_kib: rss_peak,
        a_exit,
        a_panics,
        h_exit,
    }
}
