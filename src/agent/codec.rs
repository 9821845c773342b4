//! The gRPC codec of the agent stream: prost encoding with small buffers.
//! An agent connection lives for days and carries a few small messages a
//! second (a load report is under 100 bytes, a full session list a few
//! kilobytes), while tonic's default codec keeps 8 KiB for each direction
//! of each stream. On a gateway with thousands of agents that is tens of
//! megabytes doing nothing; here each buffer starts at 1 KiB and grows
//! only when a message needs it.

use std::marker::PhantomData;
use tonic::codec::{BufferSettings, Codec};
use tonic_prost::{ProstDecoder, ProstEncoder};

/// Where each encode and decode buffer starts.
pub const BUFFER_SIZE: usize = 1024;
/// tonic's default: how much a response stream batches before it yields.
const YIELD_THRESHOLD: usize = 32 * 1024;

fn settings() -> BufferSettings {
    BufferSettings::new(BUFFER_SIZE, YIELD_THRESHOLD)
}

/// The codec `build.rs` names for `proto/agent.proto` (both ends).
#[derive(Debug, Clone)]
pub struct AgentCodec<T, U>(PhantomData<(T, U)>);

impl<T, U> Default for AgentCodec<T, U> {
    fn default() -> Self {
        AgentCodec(PhantomData)
    }
}

impl<T, U> Codec for AgentCodec<T, U>
where
    T: prost::Message + Send + 'static,
    U: prost::Message + Default + Send + 'static,
{
    type Encode = T;
    type Decode = U;
    type Encoder = ProstEncoder<T>;
    type Decoder = ProstDecoder<U>;

    fn encoder(&mut self) -> Self::Encoder {
        ProstEncoder::new(settings())
    }

    fn decoder(&mut self) -> Self::Decoder {
        ProstDecoder::new(settings())
    }
}
