//! Generates the tonic/prost code for `proto/pan.proto` with a vendored
//! `protoc`, so building PAN needs no system protobuf compiler.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protoc = protoc_bin_vendored::protoc_bin_path()?;
    let mut config = prost_build::Config::new();
    config.protoc_executable(protoc);
    println!("cargo:rerun-if-changed=proto/pan.proto");
    tonic_prost_build::configure()
        // Small message buffers (see src/codec.rs).
        .codec_path("crate::codec::PanCodec")
        .compile_with_config(config, &["proto/pan.proto"], &["proto"])?;
    Ok(())
}
