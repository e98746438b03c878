//! The rogue member itself: a consortium member with a valid provider certificate, run by this
//! test process with `medchain-net`, answering A with junk and flooding it.

use super::*;

/// The rogue member: its identity, its network client and its tasks.
pub(crate) struct Rogue {
    pub(crate) key: MemberKey,
    pub(crate) cert: Vec<u8>,
    pub(crate) chain: ChainId,
    pub(crate) client: Client,
    pub(crate) a: PeerId,
    pub(crate) a_admitted: Arc<AtomicBool>,
    pub(crate) stats: Arc<Stats>,
    pub(crate) noise: Arc<Noise>,
    pub(crate) stop: Arc<AtomicBool>,
    pub(crate) started: Instant,
}

impl Rogue {
    /// A block of `chain` at `height` sealed with the rogue's key (so it verifies only when
    /// `chain` is the rogue's own), carrying the certificate or not.
    pub(crate) fn block(&self, chain: ChainId, height: u64, carry: bool) -> Block {
        let prev = if height == 0 {
            BlockHash::ZERO
        } else {
            BlockHash(self.noise.bytes())
        };
        BlockDraft {
            chain,
            height,
            prev,
            time_ms: now_ms(),
            certificate: self.cert.clone(),
            carry_certificate: carry,
            witnesses: Vec::new(),
            entries: Vec::new(),
        }
        .seal(&self.key)
    }

    /// A made-up block at `height` of `chain` whose [`HEAVY_PAYLOADS`] entries each reference
    /// one inline payload of 64 KiB of noise, as a gossip message: it passes the structure
    /// check, payloads included, so A buffers it like any block ahead of a gap.
    pub(crate) fn heavy(&self, chain: ChainId, height: u64) -> Vec<u8> {
        let payloads: Vec<Vec<u8>> = (0..HEAVY_PAYLOADS)
            .map(|_| self.noise.bytes().repeat(MAX_INLINE_PAYLOAD_BYTES / 32))
            .collect();
        let entries = (0u32..)
            .zip(&payloads)
            .map(|(index, payload)| Entry {
                kind: EntryKind::Create,
                record: RecordId::derive(&chain, height, index),
                patient: PatientRef(self.noise.bytes()),
                actor: "rogue".into(),
                payload: Some(PayloadRef {
                    hash: PayloadHash::of(payload),
                    len: payload.len() as u64,
                    content_type: "application/octet-stream".into(),
                }),
                parents: Vec::new(),
                terms: None,
            })
            .collect();
        let block = BlockDraft {
            chain,
            height,
            prev: BlockHash(self.noise.bytes()),
            time_ms: now_ms(),
            certificate: self.cert.clone(),
            carry_certificate: false,
            witnesses: Vec::new(),
            entries,
        }
        .seal(&self.key);
        BlockMessage {
            block,
            payloads: payloads.into_iter().map(Into::into).collect(),
        }
        .to_wire()
    }

    pub(crate) fn made_up_heads(&self) -> Vec<ChainHead> {
        let heads: Vec<ChainHead> = (0..MADE_UP_HEADS)
            .map(|_| ChainHead {
                chain: self.noise.chain(),
                height: 1_000_000 + self.noise.u64() % 1_000_000,
                hash: BlockHash(self.noise.bytes()),
            })
            .collect();
        self.stats
            .announced
            .lock()
            .unwrap()
            .extend(heads.iter().map(|h| h.chain));
        heads
    }

    /// Junk for a block request of `chain` from `from`, in turn: nothing, blocks that do not
    /// verify, another chain's blocks, an answer of the wrong kind.
    pub(crate) fn junk_blocks(
        &self,
        chain: ChainId,
        from: u64,
        limit: u32,
        range: bool,
    ) -> SyncResponse {
        let count = u64::from(limit.min(4));
        let blocks: Vec<Block> = match self.noise.u64() % 4 {
            0 => Vec::new(),
            // Sealed with our key on a chain that is not ours (or, on ours, without the
            // certificate and after a made-up predecessor): they do not verify.
            1 => (from..from.saturating_add(count))
                .map(|h| {
                    let mut block = self.block(chain, h, chain != self.chain);
                    block.signature = Signature([0x5a; 64]);
                    block
                })
                .collect(),
            2 => {
                let other = self.noise.chain();
                (0..count).map(|h| self.block(other, h, true)).collect()
            }
            _ => {
                return if range {
                    SyncResponse::Blocks(Vec::new())
                } else {
                    SyncResponse::NotFound
                };
            }
        };
        if range {
            SyncResponse::Range(
                blocks
                    .into_iter()
                    .map(|block| BlockMessage {
                        block,
                        payloads: Vec::new(),
                    })
                    .collect(),
            )
        } else {
            SyncResponse::Blocks(blocks)
        }
    }

    /// Counts a block request A sent by whose chain it is.
    pub(crate) fn count_block_request(&self, chain: ChainId) {
        let stats = &self.stats;
        if chain == self.chain {
            inc(&stats.a_range_rogue_chain);
        } else if stats.announced.lock().unwrap().contains(&chain) {
            inc(&stats.a_range_announced);
            stats.asked.lock().unwrap().insert(chain);
        } else if stats.gossiped.lock().unwrap().contains(&chain) {
            inc(&stats.a_range_gossiped);
            stats.asked.lock().unwrap().insert(chain);
        } else {
            inc(&stats.a_range_other);
        }
    }

    pub(crate) fn answer(&self, request: &SyncRequest) -> SyncResponse {
        let stats = &self.stats;
        inc(&stats.a_total);
        stats.a_times.lock().unwrap().push(Instant::now());
        match *request {
            SyncRequest::Heads => {
                inc(&stats.a_heads);
                SyncResponse::Heads(self.made_up_heads())
            }
            SyncRequest::Range { chain, from, limit } => {
                self.count_block_request(chain);
                self.junk_blocks(chain, from, limit, true)
            }
            SyncRequest::Blocks { chain, from, limit } => {
                self.count_block_request(chain);
                self.junk_blocks(chain, from, limit, false)
            }
            SyncRequest::Payload(_) => {
                inc(&stats.a_payload);
                SyncResponse::NotFound
            }
            SyncRequest::Evidence { .. } => {
                inc(&stats.a_evidence);
                SyncResponse::Evidence(Vec::new())
            }
            SyncRequest::Hello(_) | SyncRequest::DataKeys(_) | SyncRequest::KeyBackups { .. } => {
                SyncResponse::Error(SyncError {
                    code: SyncErrorCode::BadRequest,
                    message: "no".into(),
                })
            }
        }
    }

    /// Handles the rogue's network events: answers A with junk, judges nothing it relays.
    pub(crate) async fn drive(self: Arc<Self>, mut events: tokio::sync::mpsc::Receiver<Event>) {
        while let Some(event) = events.recv().await {
            match event {
                Event::SyncRequest(inbound) => {
                    let response = self.answer(&inbound.request);
                    let _ = self.client.respond(inbound.reply, response).await;
                }
                Event::Gossip(message) => {
                    let _ = self
                        .client
                        .report(message.id, message.propagation_source, Acceptance::Ignore)
                        .await;
                }
                Event::PeerAdmitted { peer, .. } if peer == self.a => {
                    self.a_admitted.store(true, Ordering::SeqCst);
                }
                _ => {}
            }
        }
    }

    /// One of the [`IN_FLIGHT`] requesters: ranges of A's chain (three in four) and of made-up
    /// chains, the protocol's largest, one in a hundred over its limit; as fast as answers come.
    pub(crate) async fn request_ranges(self: Arc<Self>, a_chain: ChainId, a_height: u64) {
        let stats = &self.stats;
        while !self.stop.load(Ordering::Relaxed) {
            let pick = self.noise.u64();
            let (chain, from) = if pick % 4 == 3 {
                (self.noise.chain(), self.noise.u64() % 1_000_000)
            } else {
                (a_chain, (pick >> 8) % (a_height + 1) / 4)
            };
            let limit = if pick % 100 == 7 { 100_000 } else { 256 };
            inc(&stats.r_sent);
            match self.client.range(self.a, chain, from, limit).await {
                Ok(SyncResponse::Range(messages)) => {
                    if messages.is_empty() {
                        inc(&stats.r_served_empty);
                    }
                    inc(&stats.r_served);
                    let bytes: usize = messages
                        .iter()
                        .map(|m| {
                            m.block.encode().len()
                                + m.payloads.iter().map(|p| p.len()).sum::<usize>()
                        })
                        .sum();
                    stats
                        .r_served_bytes
                        .fetch_add(bytes as u64, Ordering::Relaxed);
                }
                Ok(SyncResponse::Error(SyncError { code, message })) => match code {
                    SyncErrorCode::Busy if message.contains("in progress") => {
                        inc(&stats.r_busy_slots)
                    }
                    SyncErrorCode::Busy if message.contains("share") => inc(&stats.r_busy_budget),
                    SyncErrorCode::Busy => inc(&stats.r_busy_other),
                    SyncErrorCode::BadRequest => inc(&stats.r_bad_request),
                    _ => inc(&stats.r_other_answer),
                },
                Ok(_) => inc(&stats.r_other_answer),
                Err(e) => {
                    inc(&stats.r_failed);
                    let kind = e.to_string();
                    let kind = kind.split(':').take(2).collect::<Vec<_>>().join(":");
                    *stats.r_failures.lock().unwrap().entry(kind).or_default() += 1;
                    // A failure is usually immediate (a refused stream): do not spin on it.
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }
        }
    }

    /// Gossip A cannot judge yet, every 10 ms: a block of the rogue's own chain and one of a
    /// made-up chain, both at positions that repeat (a position already buffered takes no more
    /// room, but each message is new); every 20 ms a made-up block at a new position; every
    /// 200 ms a new made-up block carrying 2 MiB of inline payloads its entries reference
    /// (within the gossip limit: it passes the structure check and waits in the buffer).
    /// From `hostile_after` also, every second, a badly signed block, junk and 2 MiB of junk,
    /// and once a message over the gossip limit. (A rejected message lowers the rogue's gossip
    /// score until A stops listening to its gossip, so those come second.)
    pub(crate) async fn gossip(self: Arc<Self>, hostile_after: Instant) {
        let stats = &self.stats;
        let made_up: Vec<ChainId> = (0..64).map(|_| self.noise.chain()).collect();
        stats
            .gossiped
            .lock()
            .unwrap()
            .extend(made_up.iter().copied());
        let mut tick = tokio::time::interval(Duration::from_millis(10));
        let mut i: u64 = 0;
        let mut oversized_sent = false;
        while !self.stop.load(Ordering::Relaxed) {
            tick.tick().await;
            i += 1;
            let own = self.block(self.chain, 2 + i % 16, true);
            self.publish(wire(own), &stats.g_ahead_own).await;
            let repeated = self.block(made_up[(i % 64) as usize], 1000 + i / 64 % 16, false);
            self.publish(wire(repeated), &stats.g_ahead_made_up).await;
            if i.is_multiple_of(2) {
                let chain = self.noise.chain();
                stats.gossiped.lock().unwrap().insert(chain);
                let fresh = self.block(chain, 1 + i % 1000, false);
                self.publish(wire(fresh), &stats.g_ahead_fresh).await;
            }
            if i.is_multiple_of(20) {
                let chain = self.noise.chain();
                stats.gossiped.lock().unwrap().insert(chain);
                let heavy = self.heavy(chain, 1 + i % 1000);
                self.publish(heavy, &stats.g_ahead_heavy).await;
            }
            if Instant::now() < hostile_after {
                continue;
            }
            if i.is_multiple_of(100) {
                let mut block = self.block(self.chain, 3, true);
                block.signature = Signature(self.noise.bytes().repeat(2).try_into().unwrap());
                self.publish(wire(block), &stats.g_bad_signature).await;
                let junk = self.noise.bytes().repeat(100);
                self.publish(junk, &stats.g_junk).await;
                let large = self.noise.bytes().repeat((2 << 20) / 32);
                self.publish(large, &stats.g_large_junk).await;
            }
            if !oversized_sent {
                oversized_sent = true;
                let over = vec![0xab; medchain_protocol::limits::MAX_GOSSIP_BYTES + 8192];
                let outcome = match self.client.publish(Topic::Blocks, over).await {
                    Ok(_) => "published".to_owned(),
                    Err(e) => format!("refused by the rogue's own gossipsub: {e}"),
                };
                *stats.g_oversized.lock().unwrap() = Some(outcome);
            }
        }
    }

    pub(crate) async fn publish(&self, data: Vec<u8>, counter: &AtomicU64) {
        match self.client.publish(Topic::Blocks, data).await {
            Ok(_) => inc(counter),
            Err(e) => {
                inc(&self.stats.g_failed);
                *self
                    .stats
                    .g_failures
                    .lock()
                    .unwrap()
                    .entry(e.to_string())
                    .or_default() += 1;
            }
        }
    }
}

/// A block message without inline payloads.
pub(crate) fn wire(block: Block) -> Vec<u8> {
    BlockMessage {
        block,
        payloads: Vec::new(),
    }
    .to_wire()
}

/// Issues the rogue's provider certificate with `medchain ca issue` and starts its network
/// layer, dialling A. Rogue-friendly bounds on its own side: it never refuses A a request,
/// so every request A sends is counted.
pub(crate) fn start_rogue(
    runtime: &tokio::runtime::Runtime,
    ca: &Ca,
    network: &str,
    a_p2p: &str,
) -> Arc<Rogue> {
    let member = ca.member("rogue", "provider", "Rogue Clinic");
    let read = |path: &Path| std::fs::read_to_string(path).unwrap();
    let key = MemberKey::from_pkcs8_pem(&read(&member.join("member.key"))).unwrap();
    let cert = pem_to_der_cert(&read(&member.join("member.pem"))).unwrap();
    let root = pem_to_der_cert(&read(&ca.dir.join("ca.pem"))).unwrap();
    let consortium = Arc::new(Consortium::new(root, Vec::new()).unwrap());
    let mut config = medchain_net::Config::new(network, &key, cert.clone(), consortium).unwrap();
    config.listen = vec!["/ip4/127.0.0.1/tcp/0".parse().unwrap()];
    config.bootstrap = vec![a_p2p.parse().unwrap()];
    config.bounds.inbound_requests_per_peer = 1 << 20;
    config.bounds.events = 1 << 16;
    config.bounds.streams_per_connection = 4 * IN_FLIGHT;
    config.bounds.outbound_requests = 4 * IN_FLIGHT;
    config.timeouts.request = Duration::from_secs(10);
    let a: PeerId = a_p2p.rsplit('/').next().unwrap().parse().unwrap();
    let (client, events, _task) = runtime
        .block_on(async { medchain_net::start(config) })
        .unwrap();
    let rogue = Arc::new(Rogue {
        chain: ChainId::from_public_key(&key.public_key()),
        key,
        cert,
        client,
        a,
        a_admitted: Arc::default(),
        stats: Arc::default(),
        noise: Arc::new(Noise::new()),
        stop: Arc::default(),
        started: Instant::now(),
    });
    runtime.spawn(rogue.clone().drive(events));
    rogue
}
