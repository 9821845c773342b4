//! Generates the gRPC code for `proto/*.proto` (needs `protoc`), plus the
//! descriptor set the public API's server reflection serves.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto");
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR")?);
    tonic_prost_build::configure()
        .file_descriptor_set_path(out.join("broker_descriptor.bin"))
        .compile_protos(&["proto/broker.proto"], &["proto"])?;
    tonic_prost_build::configure().compile_protos(&["proto/raft.proto"], &["proto"])?;
    // No transport constructor: its `connect` would clash with the `Connect` RPC.
    tonic_prost_build::configure()
        .build_transport(false)
        .codec_path("crate::agent::codec::AgentCodec")
        .compile_protos(&["proto/agent.proto"], &["proto"])?;
    Ok(())
}
