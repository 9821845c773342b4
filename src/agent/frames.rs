//! The QUIC transport's wire format, shared by the agent and the broker's
//! gateway: one bidirectional stream per connection carrying
//! length-delimited protobuf frames (a varint length, as prost's
//! `encode_length_delimited` writes it, then the message), `AgentMessage`s
//! from the agent and `BrokerCommand`s from the broker; the ALPN both sides
//! insist on; and the application codes a connection is closed with.

use bytes::{Buf, BytesMut};
use prost::Message;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// The ALPN protocol of the agent stream over QUIC.
pub const ALPN: &[u8] = b"x2gobroker-agent/1";

/// The largest frame either side sends or accepts (tonic's default limit
/// for one gRPC message, so both transports carry the same messages).
pub const MAX_FRAME: usize = 4 << 20;

/// The longest varint length prefix (a u64).
const MAX_PREFIX: usize = 10;
/// The most buffer room reserved ahead of the bytes of a frame arriving.
const READ_AHEAD: usize = 64 * 1024;

/// Why a QUIC connection was closed (its application error code); the
/// close reason says more.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum CloseCode {
    /// A normal end: the agent stopped.
    Done = 0,
    /// The certificate or the Hello was refused; the reason is the refusal.
    Refused = 1,
    /// A frame could not be read or decoded.
    Protocol = 2,
    /// A frame was larger than `MAX_FRAME`.
    TooLarge = 3,
    /// The broker node is shutting down.
    ShuttingDown = 4,
    /// A newer connection of the same server took over.
    Replaced = 5,
    /// The broker node has no free connection slot.
    Busy = 6,
}

impl CloseCode {
    /// The code as QUIC carries it.
    pub fn varint(self) -> quinn::VarInt {
        quinn::VarInt::from_u32(self as u32)
    }
}

/// A frame could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("a frame of {len} bytes is larger than the limit of {max} bytes")]
    TooLarge { len: u64, max: usize },
    #[error("a frame length prefix that is not a varint")]
    BadPrefix,
    #[error("the stream ended inside a frame")]
    Truncated,
    #[error("an undecodable frame: {0}")]
    Decode(#[from] prost::DecodeError),
}

impl FrameError {
    /// The code to close the connection with after this error.
    pub fn close_code(&self) -> CloseCode {
        match self {
            FrameError::TooLarge { .. } => CloseCode::TooLarge,
            _ => CloseCode::Protocol,
        }
    }
}

/// Reads length-delimited messages from a stream. `next` is cancel-safe
/// (a frame read halfway is kept for the next call), so it can race other
/// futures in a `select!`.
#[derive(Debug)]
pub struct FrameReader<R> {
    io: R,
    buf: BytesMut,
}

impl<R: AsyncRead + Unpin> FrameReader<R> {
    pub fn new(io: R) -> Self {
        FrameReader {
            io,
            buf: BytesMut::with_capacity(8 * 1024),
        }
    }

    /// The next message; None when the stream ended cleanly between frames.
    pub async fn next<M: Message + Default>(&mut self) -> Result<Option<M>, FrameError> {
        loop {
            if let Some(m) = self.parse()? {
                return Ok(Some(m));
            }
            if self.io.read_buf(&mut self.buf).await? == 0 {
                return match self.buf.is_empty() {
                    true => Ok(None),
                    false => Err(FrameError::Truncated),
                };
            }
        }
    }

    /// A whole message from the buffer, if one is there.
    fn parse<M: Message + Default>(&mut self) -> Result<Option<M>, FrameError> {
        let prefix = self.buf.iter().take(MAX_PREFIX).position(|b| b & 0x80 == 0);
        let Some(last) = prefix else {
            return match self.buf.len() >= MAX_PREFIX {
                true => Err(FrameError::BadPrefix),
                false => Ok(None),
            };
        };
        let len = prost::decode_length_delimiter(&self.buf[..=last])
            .map_err(|_| FrameError::BadPrefix)?;
        if len > MAX_FRAME {
            return Err(FrameError::TooLarge {
                len: len as u64,
                max: MAX_FRAME,
            });
        }
        let need = last + 1 + len;
        if self.buf.len() < need {
            // Room for what is announced, as it arrives.
            self.buf.reserve((need - self.buf.len()).min(READ_AHEAD));
            return Ok(None);
        }
        self.buf.advance(last + 1);
        let body = self.buf.split_to(len);
        Ok(Some(M::decode(body.freeze())?))
    }
}

/// Write `msg` as one frame (refused, unsent, when over `MAX_FRAME`).
pub async fn write_frame<W, M>(io: &mut W, msg: &M) -> Result<(), FrameError>
where
    W: AsyncWrite + Unpin,
    M: Message,
{
    let len = msg.encoded_len();
    if len > MAX_FRAME {
        return Err(FrameError::TooLarge {
            len: len as u64,
            max: MAX_FRAME,
        });
    }
    io.write_all(&msg.encode_length_delimited_to_vec()).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::proto::{agent_message::Body, AgentMessage, Heartbeat, Hello};

    fn hello(name: &str) -> AgentMessage {
        AgentMessage {
            body: Some(Body::Hello(Hello {
                hostname: name.into(),
                ..Default::default()
            })),
        }
    }

    #[tokio::test]
    async fn frames_round_trip_whatever_the_chunking() {
        let msgs = vec![
            hello("x2go1"),
            AgentMessage::default(),
            AgentMessage {
                body: Some(Body::Heartbeat(Heartbeat {
                    sent_at_unix_ms: 42,
                })),
            },
            hello(&"x".repeat(300)),
        ];
        let mut wire = Vec::new();
        for m in &msgs {
            write_frame(&mut wire, m).await.unwrap();
        }
        // One byte at a time: every split of prefix and body.
        let (mut w, r) = tokio::io::duplex(1);
        let writer = tokio::spawn(async move { w.write_all(&wire).await });
        let mut reader = FrameReader::new(r);
        for m in &msgs {
            assert_eq!(
                reader.next::<AgentMessage>().await.unwrap().as_ref(),
                Some(m)
            );
        }
        writer.await.unwrap().unwrap();
        assert!(reader.next::<AgentMessage>().await.unwrap().is_none());
    }

    #[tokio::test]
    async fn oversized_truncated_and_garbled_frames_are_errors() {
        let mut big = Vec::new();
        prost::encode_length_delimiter(MAX_FRAME + 1, &mut big).unwrap();
        let e = FrameReader::new(&big[..])
            .next::<AgentMessage>()
            .await
            .unwrap_err();
        assert!(matches!(e, FrameError::TooLarge { .. }), "{e}");
        assert_eq!(e.close_code(), CloseCode::TooLarge);

        let mut cut = hello("x2go1").encode_length_delimited_to_vec();
        cut.pop();
        let e = FrameReader::new(&cut[..])
            .next::<AgentMessage>()
            .await
            .unwrap_err();
        assert!(matches!(e, FrameError::Truncated), "{e}");

        let e = FrameReader::new(&[0xffu8; 11][..])
            .next::<AgentMessage>()
            .await
            .unwrap_err();
        assert!(matches!(e, FrameError::BadPrefix), "{e}");

        let e = FrameReader::new(&[2u8, 0xff, 0xff][..])
            .next::<AgentMessage>()
            .await
            .unwrap_err();
        assert!(matches!(e, FrameError::Decode(_)), "{e}");
        assert_eq!(e.close_code(), CloseCode::Protocol);

        let huge = hello(&"x".repeat(MAX_FRAME));
        let e = write_frame(&mut Vec::new(), &huge).await.unwrap_err();
        assert!(e.to_string().contains("larger than the limit"), "{e}");
    }
}
