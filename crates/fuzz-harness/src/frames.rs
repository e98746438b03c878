//! Harnesses for the sync protocol's frames: the net crate's `SyncCodec` reading a request or a
//! response (4-byte big-endian length + wire bytes) from arbitrary bytes, through
//! `request_response::Codec` on an in-memory reader inside a current-thread tokio runtime.

use std::io;

use futures::io::Cursor;
use libp2p::request_response::Codec;
use medchain_net::codec::{PROTOCOL, SyncCodec};
use medchain_protocol::Hello;
use medchain_protocol::message::{SyncRequest, SyncResponse, WireMessage};
use tokio::runtime::{Builder, Runtime};

use crate::checks;
use crate::pki::NETWORK;

thread_local! {
    /// One runtime per thread, built once (the codec's read timeout needs its timer).
    static RUNTIME: Option<Runtime> = Builder::new_current_thread().enable_time().build().ok();
}

/// Whether the harnesses have a runtime to run the codec in (the replay test checks this, so a
/// broken runtime cannot make the frame targets silently test nothing).
pub fn runtime_available() -> bool {
    RUNTIME.with(Option::is_some)
}

/// Which side of the protocol reads the frame.
#[derive(Clone, Copy)]
enum Side {
    Request,
    Response,
}

/// What the codec read.
enum Read {
    Request(SyncRequest),
    Response(SyncResponse),
}

impl Read {
    fn to_wire(&self) -> Vec<u8> {
        match self {
            Read::Request(request) => request.to_wire(),
            Read::Response(response) => response.to_wire(),
        }
    }
}

/// The sync codec reading one request frame from `data`.
pub fn sync_frame_request(data: &[u8]) {
    read_frame(data, Side::Request);
}

/// The sync codec reading one response frame from `data`: as the answer to a request of any kind,
/// and as the answer to a hello (for which the codec may accept less). Whatever the second read
/// accepts, the first must accept too, as the same message.
pub fn sync_frame_response(data: &[u8]) {
    read_frame(data, Side::Response);
    let Some((Ok(after_hello), general)) = RUNTIME.with(|runtime| {
        runtime.as_ref().map(|runtime| {
            runtime.block_on(async {
                let mut codec = SyncCodec::default();
                // The stream carried our hello: the codec sets the answer's limit as it writes it.
                let hello = SyncRequest::Hello(Hello {
                    network: NETWORK.into(),
                    certificate: vec![0x30],
                    agent: "fuzz".into(),
                });
                let mut sink = Cursor::new(Vec::new());
                let after_hello = match codec.write_request(&PROTOCOL, &mut sink, hello).await {
                    Ok(()) => codec.read_response(&PROTOCOL, &mut Cursor::new(data)).await,
                    Err(error) => Err(error),
                };
                let general = SyncCodec::default()
                    .read_response(&PROTOCOL, &mut Cursor::new(data))
                    .await;
                (after_hello, general)
            })
        })
    }) else {
        return;
    };
    assert!(
        general.is_ok_and(|message| message == after_hello),
        "the answer to a hello decoded where a general answer did not, or differently"
    );
}

fn read_frame(data: &[u8], side: Side) {
    let Some(result) = RUNTIME.with(|runtime| {
        runtime.as_ref().map(|runtime| {
            runtime.block_on(async {
                let mut codec = SyncCodec::default();
                let mut reader = Cursor::new(data);
                match side {
                    Side::Request => codec
                        .read_request(&PROTOCOL, &mut reader)
                        .await
                        .map(Read::Request),
                    Side::Response => codec
                        .read_response(&PROTOCOL, &mut reader)
                        .await
                        .map(Read::Response),
                }
            })
        })
    }) else {
        return;
    };
    match result {
        Ok(read) => {
            // The frame is the length prefix and exactly the message's canonical wire bytes.
            let wire = read.to_wire();
            let prefix = u32::try_from(wire.len()).map(u32::to_be_bytes).ok();
            assert!(
                prefix.is_some_and(|p| data.get(..4) == Some(&p[..]))
                    && data.get(4..4 + wire.len()) == Some(&wire[..]),
                "a decoded sync frame is not its length prefix and wire bytes"
            );
            match read {
                Read::Request(request) => checks::request(&request),
                Read::Response(response) => checks::response(&response),
            }
        }
        // An in-memory reader never stalls: running out of bytes is an end of file, never the
        // decode timeout.
        Err(error) => assert!(
            error.kind() != io::ErrorKind::TimedOut,
            "an in-memory sync frame timed out"
        ),
    }
}
