//! The sync protocol's codec: each request and response is one frame, a 4-byte big-endian length
//! followed by `WireMessage::to_wire` bytes (version byte + canonical postcard).
//!
//! The length is checked against the message kind's limit before anything is allocated, and the
//! whole read must finish within the decode timeout, so a peer can neither make us allocate more
//! than the limit nor hold a stream open by trickling bytes.
//!
//! The answer to a hello is limited to [`MAX_HELLO_BYTES`] rather than the 16 MiB of other sync
//! responses: anyone who connects is sent our hello, so that answer comes from peers not yet
//! proven to be members. The frame alone does not say which request it answers, so the codec
//! remembers it: libp2p's request-response handler clones the codec for each stream and, on an
//! outbound stream, calls `write_request` then `read_response` on that same clone (and
//! `read_request` then `write_response` on an inbound one), so the limit set when the request
//! passes is the one applied to its response.

use std::io;
use std::time::Duration;

use futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use libp2p::StreamProtocol;
use libp2p::request_response;
use medchain_protocol::limits::MAX_HELLO_BYTES;
use medchain_protocol::message::{SyncRequest, SyncResponse, WireMessage};

/// The sync protocol's name.
pub const PROTOCOL: StreamProtocol = StreamProtocol::new("/medchain/sync/1");

/// Bytes of the length prefix.
const PREFIX: usize = 4;

/// The sync codec; carries the decode timeout and the size limit of the response to the request
/// this stream carries.
#[derive(Clone, Debug)]
pub struct SyncCodec {
    decode_timeout: Duration,
    response_limit: usize,
}

impl Default for SyncCodec {
    fn default() -> Self {
        SyncCodec::new(Duration::from_secs(10))
    }
}

/// The most bytes the response to `request` may take.
pub fn response_limit(request: &SyncRequest) -> usize {
    match request {
        SyncRequest::Hello(_) => MAX_HELLO_BYTES,
        _ => SyncResponse::MAX_BYTES,
    }
}

impl SyncCodec {
    /// A codec whose reads give up after `decode_timeout`.
    pub fn new(decode_timeout: Duration) -> Self {
        SyncCodec {
            decode_timeout,
            response_limit: SyncResponse::MAX_BYTES,
        }
    }
}

fn invalid(error: impl std::error::Error + Send + Sync + 'static) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, error)
}

/// Reads one length-prefixed frame of at most `max` bytes.
async fn read_frame<T>(io: &mut T, max: usize) -> io::Result<Vec<u8>>
where
    T: AsyncRead + Unpin + Send,
{
    let mut prefix = [0u8; PREFIX];
    io.read_exact(&mut prefix).await?;
    let len = u32::from_be_bytes(prefix) as usize;
    if len == 0 || len > max {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("sync frame of {len} bytes, limit {max}"),
        ));
    }
    let mut buf = vec![0u8; len];
    io.read_exact(&mut buf).await?;
    Ok(buf)
}

/// Reads and decodes one message of at most `max` bytes (never more than its kind's limit),
/// within `timeout`.
async fn read_message<M, T>(io: &mut T, timeout: Duration, max: usize) -> io::Result<M>
where
    M: WireMessage,
    T: AsyncRead + Unpin + Send,
{
    let frame = tokio::time::timeout(timeout, read_frame(io, max.min(M::MAX_BYTES)))
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "sync frame decode timeout"))??;
    M::from_wire(&frame).map_err(invalid)
}

/// Encodes and writes one message, refusing to send more than `max` bytes (never more than its
/// kind's limit).
async fn write_message<M, T>(io: &mut T, message: &M, max: usize) -> io::Result<()>
where
    M: WireMessage,
    T: AsyncWrite + Unpin + Send,
{
    let bytes = message.to_wire();
    let max = max.min(M::MAX_BYTES);
    if bytes.len() > max {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("sync message of {} bytes, limit {max}", bytes.len()),
        ));
    }
    let len = u32::try_from(bytes.len()).map_err(invalid)?;
    io.write_all(&len.to_be_bytes()).await?;
    io.write_all(&bytes).await?;
    io.flush().await?;
    io.close().await
}

impl request_response::Codec for SyncCodec {
    type Protocol = StreamProtocol;
    type Request = SyncRequest;
    type Response = SyncResponse;

    async fn read_request<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<SyncRequest>
    where
        T: AsyncRead + Unpin + Send,
    {
        let request: SyncRequest =
            read_message(io, self.decode_timeout, SyncRequest::MAX_BYTES).await?;
        // Our answer on this stream must fit what the requester will accept.
        self.response_limit = response_limit(&request);
        Ok(request)
    }

    async fn read_response<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<SyncResponse>
    where
        T: AsyncRead + Unpin + Send,
    {
        read_message(io, self.decode_timeout, self.response_limit).await
    }

    async fn write_request<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        request: SyncRequest,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        self.response_limit = response_limit(&request);
        write_message(io, &request, SyncRequest::MAX_BYTES).await
    }

    async fn write_response<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        response: SyncResponse,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        write_message(io, &response, self.response_limit).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::io::Cursor;
    use medchain_protocol::limits::MAX_SYNC_REQUEST_BYTES;
    use request_response::Codec;

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("runtime")
            .block_on(f)
    }

    #[test]
    fn request_round_trips() {
        block_on(async {
            let mut codec = SyncCodec::default();
            let mut buf = Cursor::new(Vec::new());
            codec
                .write_request(&PROTOCOL, &mut buf, SyncRequest::Heads)
                .await
                .expect("write");
            let mut read = Cursor::new(buf.into_inner());
            let got = codec
                .read_request(&PROTOCOL, &mut read)
                .await
                .expect("read");
            assert_eq!(got, SyncRequest::Heads);
        });
    }

    #[test]
    fn oversized_length_is_refused_before_allocating() {
        block_on(async {
            let mut codec = SyncCodec::default();
            let mut frame = (u32::MAX).to_be_bytes().to_vec();
            frame.extend_from_slice(&[1, 2, 3]);
            let err = codec
                .read_request(&PROTOCOL, &mut Cursor::new(frame))
                .await
                .expect_err("oversized");
            assert_eq!(err.kind(), io::ErrorKind::InvalidData);
            let just_over = ((MAX_SYNC_REQUEST_BYTES + 1) as u32).to_be_bytes().to_vec();
            assert!(
                codec
                    .read_request(&PROTOCOL, &mut Cursor::new(just_over))
                    .await
                    .is_err()
            );
        });
    }

    #[test]
    fn the_answer_to_a_hello_is_limited_to_the_hello_size() {
        block_on(async {
            let hello = SyncRequest::Hello(medchain_protocol::message::Hello {
                network: "n".to_owned(),
                certificate: vec![1],
                agent: "a".to_owned(),
            });
            // A frame one byte over the hello limit, but well within the sync response limit.
            let over = [
                &((MAX_HELLO_BYTES + 1) as u32).to_be_bytes()[..],
                &vec![0u8; MAX_HELLO_BYTES + 1],
            ]
            .concat();
            let mut codec = SyncCodec::default();
            codec
                .write_request(&PROTOCOL, &mut Cursor::new(Vec::new()), hello)
                .await
                .expect("write");
            let err = codec
                .read_response(&PROTOCOL, &mut Cursor::new(over.clone()))
                .await
                .expect_err("over the hello limit");
            assert_eq!(err.kind(), io::ErrorKind::InvalidData);
            assert!(err.to_string().contains("limit"), "{err}");

            // After another request the same frame is read (and fails only to decode).
            let mut codec = SyncCodec::default();
            codec
                .write_request(&PROTOCOL, &mut Cursor::new(Vec::new()), SyncRequest::Heads)
                .await
                .expect("write");
            let err = codec
                .read_response(&PROTOCOL, &mut Cursor::new(over))
                .await
                .expect_err("not a response");
            assert!(!err.to_string().contains("limit"), "{err}");
        });
    }

    #[test]
    fn a_responder_does_not_answer_a_hello_with_more_than_the_hello_size() {
        block_on(async {
            let mut codec = SyncCodec::default();
            let mut request = Cursor::new(Vec::new());
            let hello = SyncRequest::Hello(medchain_protocol::message::Hello {
                network: "n".to_owned(),
                certificate: vec![1],
                agent: "a".to_owned(),
            });
            codec
                .write_request(&PROTOCOL, &mut request, hello)
                .await
                .expect("write");
            let mut responder = SyncCodec::default();
            responder
                .read_request(&PROTOCOL, &mut Cursor::new(request.into_inner()))
                .await
                .expect("read");
            let big = SyncResponse::Payload(vec![0u8; MAX_HELLO_BYTES].into());
            let err = responder
                .write_response(&PROTOCOL, &mut Cursor::new(Vec::new()), big)
                .await
                .expect_err("over the hello limit");
            assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        });
    }

    /// A stream that never delivers a byte.
    struct Stalled;

    impl futures::AsyncRead for Stalled {
        fn poll_read(
            self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
            _: &mut [u8],
        ) -> std::task::Poll<io::Result<usize>> {
            std::task::Poll::Pending
        }
    }

    #[test]
    fn a_stalled_frame_times_out() {
        block_on(async {
            let mut codec = SyncCodec::new(Duration::from_millis(50));
            let err = codec
                .read_response(&PROTOCOL, &mut Stalled)
                .await
                .expect_err("stalled");
            assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        });
    }

    #[test]
    fn garbage_and_truncated_frames_are_errors() {
        block_on(async {
            let mut codec = SyncCodec::default();
            let garbage = [0u8, 0, 0, 5, 0xff, 0xfe, 0xfd, 0xfc, 0xfb];
            assert!(
                codec
                    .read_request(&PROTOCOL, &mut Cursor::new(garbage.to_vec()))
                    .await
                    .is_err()
            );
            let truncated = [0u8, 0, 0, 9, 1, 2];
            assert!(
                codec
                    .read_response(&PROTOCOL, &mut Cursor::new(truncated.to_vec()))
                    .await
                    .is_err()
            );
            let empty: Vec<u8> = Vec::new();
            assert!(
                codec
                    .read_response(&PROTOCOL, &mut Cursor::new(empty))
                    .await
                    .is_err()
            );
        });
    }
}
