//! `fake-nvme`: a stand-in for nvme-cli that obeys an nvmet configfs tree
//! (`PAN_FAKE_NVME_CONFIGFS`), keeping its connections under
//! `PAN_FAKE_NVME_STATE`. For tests and simulation only; see
//! [`san::nvme::fake`].

fn main() -> std::process::ExitCode {
    san::nvme::fake::main()
}
