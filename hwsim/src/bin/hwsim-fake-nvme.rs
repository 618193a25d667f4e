//! `hwsim-fake-nvme`: the stand-in for nvme-cli that simulated blades attach
//! volumes with (`hwsim --fake-nvme PATH`). It obeys the nvmet configfs tree
//! in `PAN_FAKE_NVME_CONFIGFS` and keeps its connections under
//! `PAN_FAKE_NVME_STATE`; see `san::nvme::fake`.

fn main() -> std::process::ExitCode {
    san::nvme::fake::main()
}
