//! Payloads the verifier or a read found damaged or missing, to fetch by hash from peers,
//! each with its own backoff (the network glue's payload repair drains it).

use std::sync::Mutex;

use super::integrity::lock;

/// Most payloads waiting to be fetched by hash; more are found again by the next scan.
pub const MAX_WANTED_PAYLOADS: usize = 4096;
/// Attempts before a payload is given up on until a scan names it again.
pub const MAX_PAYLOAD_ATTEMPTS: u32 = 8;
/// The first wait before asking again for a payload no peer gave; doubled each time (capped).
const FIRST_RETRY: std::time::Duration = std::time::Duration::from_secs(5);
const LONGEST_RETRY: std::time::Duration = std::time::Duration::from_secs(600);

/// Payloads the verifier found damaged or missing, to fetch by hash from peers, each with its
/// own backoff: a payload no peer holds is asked for less and less often and then dropped (the
/// next scan names it again), so repair never loops.
#[derive(Debug, Default)]
pub struct WantedPayloads {
    wanted: Mutex<std::collections::BTreeMap<medchain_protocol::PayloadHash, Attempts>>,
    last_all_due: Mutex<Option<std::time::Instant>>,
}

#[derive(Clone, Copy, Debug)]
struct Attempts {
    tries: u32,
    next_at: std::time::Instant,
}

impl WantedPayloads {
    /// Adds payloads a scan or a read found damaged or missing: due at once, those already
    /// wanted too (their count of tries stays, so repair still ends). Answers how many did not
    /// fit under [`MAX_WANTED_PAYLOADS`] (the next scan names them again).
    pub fn add(&self, hashes: impl IntoIterator<Item = medchain_protocol::PayloadHash>) -> usize {
        self.insert(hashes, MAX_WANTED_PAYLOADS, true)
    }

    /// Adds a payload a read found damaged: those already wanted keep their backoff (a client
    /// reading it again and again must not make every peer be asked again and again). Answers
    /// how many did not fit.
    pub fn add_read_damage(
        &self,
        hashes: impl IntoIterator<Item = medchain_protocol::PayloadHash>,
    ) -> usize {
        self.insert(hashes, MAX_WANTED_PAYLOADS, false)
    }

    /// Adds payloads the peer that relayed their block did not give: those already wanted keep
    /// their backoff, and they may fill only half of the set, so that they never crowd out what
    /// a scan found. Answers how many did not fit (the next scan finds them).
    pub fn add_not_relayed(
        &self,
        hashes: impl IntoIterator<Item = medchain_protocol::PayloadHash>,
    ) -> usize {
        self.insert(hashes, MAX_WANTED_PAYLOADS / 2, false)
    }

    fn insert(
        &self,
        hashes: impl IntoIterator<Item = medchain_protocol::PayloadHash>,
        bound: usize,
        due_now: bool,
    ) -> usize {
        let now = std::time::Instant::now();
        let mut wanted = lock(&self.wanted);
        let mut left_out = 0;
        for hash in hashes {
            let full = wanted.len() >= bound;
            match wanted.get_mut(&hash) {
                Some(attempts) if due_now => attempts.next_at = now,
                Some(_) => {}
                None if full => left_out += 1,
                None => {
                    wanted.insert(
                        hash,
                        Attempts {
                            tries: 0,
                            next_at: now,
                        },
                    );
                }
            }
        }
        left_out
    }

    /// Every wanted payload is due at once (their counts of tries stay): a peer was just
    /// admitted, perhaps the author that was down while the payload was asked for.
    /// At most once per [`FIRST_RETRY`]: a peer that keeps reconnecting cannot make every peer
    /// be asked every round.
    pub fn all_due_now(&self) {
        let now = std::time::Instant::now();
        {
            let mut last = lock(&self.last_all_due);
            if last.is_some_and(|at| now.duration_since(at) < FIRST_RETRY) {
                return;
            }
            *last = Some(now);
        }
        for attempts in lock(&self.wanted).values_mut() {
            attempts.next_at = attempts.next_at.min(now);
        }
    }

    /// Up to `max` payloads due to be asked for at `now`.
    pub fn due(&self, now: std::time::Instant, max: usize) -> Vec<medchain_protocol::PayloadHash> {
        lock(&self.wanted)
            .iter()
            .filter(|(_, a)| a.next_at <= now)
            .map(|(hash, _)| *hash)
            .take(max)
            .collect()
    }

    /// The payload is back.
    pub fn fetched(&self, hash: &medchain_protocol::PayloadHash) {
        lock(&self.wanted).remove(hash);
    }

    /// No peer gave it this time: wait longer, or give up after [`MAX_PAYLOAD_ATTEMPTS`].
    pub fn failed(&self, hash: &medchain_protocol::PayloadHash, now: std::time::Instant) {
        let mut wanted = lock(&self.wanted);
        let Some(attempts) = wanted.get_mut(hash) else {
            return;
        };
        attempts.tries += 1;
        if attempts.tries >= MAX_PAYLOAD_ATTEMPTS {
            wanted.remove(hash);
            return;
        }
        let wait = FIRST_RETRY
            .saturating_mul(1 << attempts.tries.min(16))
            .min(LONGEST_RETRY);
        attempts.next_at = now + wait;
    }

    /// How many are wanted.
    pub fn len(&self) -> usize {
        lock(&self.wanted).len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use medchain_protocol::PayloadHash;

    #[test]
    fn a_payload_no_peer_has_is_asked_for_less_often_then_dropped() {
        let wanted = WantedPayloads::default();
        let hash = PayloadHash::of(b"x");
        wanted.add([hash]);
        let start = std::time::Instant::now();
        assert_eq!(wanted.due(start, 10), vec![hash]);
        wanted.failed(&hash, start);
        assert!(wanted.due(start, 10).is_empty());
        assert_eq!(wanted.due(start + FIRST_RETRY * 2, 10), vec![hash]);
        for _ in 1..MAX_PAYLOAD_ATTEMPTS {
            wanted.failed(&hash, start);
        }
        assert_eq!(wanted.len(), 0);
        wanted.add((0..MAX_WANTED_PAYLOADS as u32 + 10).map(|i| PayloadHash::of(&i.to_be_bytes())));
        assert_eq!(wanted.len(), MAX_WANTED_PAYLOADS);
    }

    #[test]
    fn a_scan_makes_a_backed_off_payload_due_at_once_a_relay_miss_does_not() {
        let wanted = WantedPayloads::default();
        let hash = PayloadHash::of(b"x");
        let start = std::time::Instant::now();
        assert_eq!(wanted.add_not_relayed([hash]), 0);
        wanted.failed(&hash, start);
        wanted.add_not_relayed([hash]);
        assert!(wanted.due(std::time::Instant::now(), 10).is_empty());
        wanted.add([hash]);
        assert_eq!(wanted.due(std::time::Instant::now(), 10), vec![hash]);
        wanted.failed(&hash, std::time::Instant::now());
        assert!(wanted.due(std::time::Instant::now(), 10).is_empty());
        // A peer admitted (the author back, perhaps): due at once.
        wanted.all_due_now();
        assert_eq!(wanted.due(std::time::Instant::now(), 10), vec![hash]);
        // Its tries are kept: repair still ends.
        for _ in 2..MAX_PAYLOAD_ATTEMPTS {
            wanted.failed(&hash, start);
        }
        assert_eq!(wanted.len(), 0);
    }

    #[test]
    fn relay_misses_fill_half_the_set_and_leave_room_for_a_scan() {
        let wanted = WantedPayloads::default();
        let hashes =
            |from: u32, count: u32| (from..from + count).map(|i| PayloadHash::of(&i.to_be_bytes()));
        let half = MAX_WANTED_PAYLOADS as u32 / 2;
        assert_eq!(wanted.add_not_relayed(hashes(0, half + 5)), 5);
        assert_eq!(wanted.len(), MAX_WANTED_PAYLOADS / 2);
        assert_eq!(wanted.add(hashes(1_000_000, half)), 0);
        assert_eq!(wanted.len(), MAX_WANTED_PAYLOADS);
    }
}
