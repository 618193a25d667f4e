//! The codec of PAN's gRPC services: tonic's prost codec with message
//! buffers sized for PAN's messages.
//!
//! tonic starts every call's encode and decode buffers at 8 KiB. A
//! `CreateServer` request or reply is a few hundred bytes, and under write
//! load those 8 KiB buffers — held until HTTP/2 has sent them, and freed on
//! another thread — were a steady stream of fresh pages for the allocator
//! (the leader's largest single cost after HTTP/2 itself). Buffers start at
//! 1 KiB here and grow, as tonic's do, for larger messages (raft batches,
//! snapshot chunks, long lists).

use std::marker::PhantomData;
use tonic::codec::{BufferSettings, Codec};
use tonic_prost::{ProstCodec, ProstDecoder, ProstEncoder};

/// Initial size of a call's message buffer.
const BUFFER_BYTES: usize = 1024;
/// A streaming reply's buffered bytes past which its encoder yields (tonic's default).
const YIELD_THRESHOLD: usize = 32 * 1024;

fn settings() -> BufferSettings {
    BufferSettings::new(BUFFER_BYTES, YIELD_THRESHOLD)
}

/// `application/grpc+proto` with PAN's buffer sizes; the generated clients
/// and servers use it (see `build.rs`).
#[derive(Debug, Clone)]
pub struct PanCodec<T, U>(PhantomData<(T, U)>);

impl<T, U> Default for PanCodec<T, U> {
    fn default() -> Self {
        PanCodec(PhantomData)
    }
}

impl<T, U> Codec for PanCodec<T, U>
where
    T: prost::Message + Send + 'static,
    U: prost::Message + Default + Send + 'static,
{
    type Encode = T;
    type Decode = U;
    type Encoder = ProstEncoder<T>;
    type Decoder = ProstDecoder<U>;

    fn encoder(&mut self) -> Self::Encoder {
        ProstCodec::<T, U>::raw_encoder(settings())
    }

    fn decoder(&mut self) -> Self::Decoder {
        ProstCodec::<T, U>::raw_decoder(settings())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tonic::codec::Encoder as _;

    #[test]
    fn buffers_start_small() {
        let mut codec = PanCodec::<crate::v1::Server, crate::v1::Server>::default();
        // BufferSettings keeps its fields private; its Debug form shows them.
        let settings = format!("{:?}", codec.encoder().buffer_settings());
        assert!(settings.contains("buffer_size: 1024"), "{settings}");
    }

    #[test]
    fn every_generated_client_and_server_uses_this_codec() {
        let generated = include_str!(concat!(env!("OUT_DIR"), "/pan.v1.rs"));
        assert!(generated.contains("crate::codec::PanCodec::default()"));
        assert!(
            !generated.contains("ProstCodec"),
            "a service kept tonic's codec"
        );
    }
}
