//! Generated code for Periscope's gRPC API, `periscope.v1`.

#![allow(missing_docs, clippy::all)]

/// `periscope.v1`.
pub mod v1 {
    tonic::include_proto!("periscope.v1");
}

/// Encoded `FileDescriptorSet` of every Periscope proto, for gRPC reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/periscope_descriptor.bin"));
