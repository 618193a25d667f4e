//! `pan-certs`: a self-signed development CA and one server certificate
//! signed by it, for the manager's optional TLS (`scripts/dev-certs.sh`).
//!
//! Writes `ca.pem`, `server.pem` and `server.key` (mode 0600) into `--out`.
//! The CA's key is not kept: make a new set to add names. Not for production.

use anyhow::{Context as _, Result};
use clap::Parser;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};

/// Generate a development CA and a server certificate for the given names.
#[derive(Parser, Debug)]
#[command(about)]
struct Args {
    /// Directory to write ca.pem, server.pem and server.key into (created if missing).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// A DNS name or IP address the server certificate is valid for (repeatable).
    #[arg(long = "san", value_name = "NAME", default_values_t = ["localhost".to_string(), "127.0.0.1".to_string()])]
    sans: Vec<String>,
}

fn main() {
    if let Err(err) = run(Args::parse()) {
        let chain: Vec<String> = err.chain().map(ToString::to_string).collect();
        eprintln!("pan-certs: error: {}", chain.join(": "));
        std::process::exit(1);
    }
}

fn run(args: Args) -> Result<()> {
    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "PAN development CA");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_key = KeyPair::generate().context("generate the CA key")?;
    let ca_cert = ca_params.self_signed(&ca_key).context("sign the CA")?;
    let issuer = Issuer::new(ca_params, ca_key);

    let mut params = CertificateParams::new(args.sans.clone())
        .with_context(|| format!("{:?} are not valid DNS names or IP addresses", args.sans))?;
    params
        .distinguished_name
        .push(DnType::CommonName, "PAN fabric manager");
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    params.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    let key = KeyPair::generate().context("generate the server key")?;
    let cert = params
        .signed_by(&key, &issuer)
        .context("sign the server certificate")?;

    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create {}", args.out.display()))?;
    write(&args.out.join("ca.pem"), &ca_cert.pem(), 0o644)?;
    write(&args.out.join("server.pem"), &cert.pem(), 0o644)?;
    write(&args.out.join("server.key"), &key.serialize_pem(), 0o600)?;
    println!(
        "wrote {0}/ca.pem, {0}/server.pem and {0}/server.key for {1}",
        args.out.display(),
        args.sans.join(", ")
    );
    Ok(())
}

/// Writes `text` to `path` with `mode` (also when the file already existed).
fn write(path: &Path, text: &str, mode: u32) -> Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    file.set_permissions(std::fs::Permissions::from_mode(mode))
        .with_context(|| format!("cannot set the mode of {}", path.display()))?;
    file.write_all(text.as_bytes())
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}
