//! Disk stalls seen from `/proc/diskstats` while a benchmark runs.
//!
//! Every member of the write benchmark keeps its log on the same disk, and
//! every commit needs fsyncs on two of them: when the device stops
//! completing writes, every write in flight waits, whatever PAN does. A
//! thread samples the disk that holds the cluster's data every 5 ms and
//! records each stall: writes in flight and none completed (nor any flush).
//! Each level's figures are printed with the stalls inside its measurement,
//! so a p99 moved by the device is told from one moved by PAN.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Stalls shorter than this are not recorded (a busy disk's ordinary
/// queueing).
const SHORTEST: Duration = Duration::from_millis(20);
const EVERY: Duration = Duration::from_millis(5);

/// Watches one block device; the sampling thread lives as long as the
/// process.
pub struct DiskWatch {
    /// The device's name in `/proc/diskstats`, e.g. `vda`.
    pub device: String,
    stalls: Arc<Mutex<Vec<(Instant, Duration)>>>,
}

/// The stalls inside one window.
pub struct Stalls {
    pub count: usize,
    pub longest: Duration,
    pub total: Duration,
}

impl DiskWatch {
    /// Starts watching the device that holds `path`; `None` where
    /// `/proc/diskstats` does not list it (tmpfs, overlay, not Linux).
    pub fn start(path: &std::path::Path) -> Option<DiskWatch> {
        use std::os::unix::fs::MetadataExt as _;
        let dev = std::fs::metadata(path).ok()?.dev();
        // glibc's encoding of dev_t (`gnu_dev_major`/`gnu_dev_minor`).
        let major = ((dev >> 32) & 0xffff_f000) | ((dev >> 8) & 0xfff);
        let minor = ((dev >> 12) & 0xffff_ff00) | (dev & 0xff);
        let stats = std::fs::read_to_string("/proc/diskstats").ok()?;
        let device = stats.lines().find_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            (f.len() >= 12 && f[0].parse() == Ok(major) && f[1].parse() == Ok(minor))
                .then(|| f[2].to_string())
        })?;
        let stalls = Arc::new(Mutex::new(Vec::new()));
        let (name, record) = (device.clone(), stalls.clone());
        std::thread::Builder::new()
            .name("disk-watch".into())
            .spawn(move || sample(&name, &record))
            .ok()?;
        Some(DiskWatch { device, stalls })
    }

    /// The stalls that overlap `from..to`, clipped to it.
    pub fn within(&self, from: Instant, to: Instant) -> Stalls {
        let stalls = self.stalls.lock().unwrap_or_else(|e| e.into_inner());
        let clipped: Vec<Duration> = stalls
            .iter()
            .filter_map(|&(start, length)| {
                let (a, b) = (start.max(from), (start + length).min(to));
                (b > a).then(|| b - a)
            })
            .collect();
        Stalls {
            count: clipped.len(),
            longest: clipped.iter().copied().max().unwrap_or_default(),
            total: clipped.iter().sum(),
        }
    }
}

/// (writes completed + flushes completed, I/Os in flight) of `device`.
///
/// Runs every 5 ms on a core the cluster shares: only the device's own line
/// is split into fields.
fn read(device: &str) -> Option<(u64, u64)> {
    let stats = std::fs::read_to_string("/proc/diskstats").ok()?;
    let f: Vec<&str> = stats
        .lines()
        .find(|line| line.split_whitespace().nth(2) == Some(device))?
        .split_whitespace()
        .collect();
    let field = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok());
    // Fields after major, minor and name: 4th is writes completed, 9th I/Os
    // in flight, 15th flushes completed (kernels before 5.5 lack it).
    Some((field(7)? + field(18).unwrap_or(0), field(11)?))
}

fn sample(device: &str, stalls: &Mutex<Vec<(Instant, Duration)>>) {
    let mut last: Option<(u64, Instant)> = None;
    let mut stalled_since: Option<Instant> = None;
    loop {
        std::thread::sleep(EVERY);
        let Some((done, in_flight)) = read(device) else {
            return;
        };
        let now = Instant::now();
        let progressed = last.is_none_or(|(before, _)| done != before);
        if !progressed && in_flight > 0 {
            // Stalled since the last sample that saw progress.
            stalled_since.get_or_insert(last.map_or(now, |(_, at)| at));
        } else {
            if let Some(since) = stalled_since.take()
                && now - since >= SHORTEST
            {
                let mut stalls = stalls.lock().unwrap_or_else(|e| e.into_inner());
                stalls.push((since, now - since));
            }
            last = Some((done, now));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stalls_are_counted_and_clipped_to_the_window() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let watch = DiskWatch {
            device: "vda".into(),
            stalls: Arc::new(Mutex::new(vec![
                (t0, ms(50)),            // before the window
                (t0 + ms(90), ms(30)),   // straddles its start: 20 ms inside
                (t0 + ms(200), ms(120)), // inside
                (t0 + ms(950), ms(100)), // straddles its end: 50 ms inside
                (t0 + ms(1000), ms(40)), // after
            ])),
        };
        let s = watch.within(t0 + ms(100), t0 + ms(1000));
        assert_eq!(s.count, 3);
        assert_eq!(s.longest, ms(120));
        assert_eq!(s.total, ms(190));
        let none = watch.within(t0 + ms(400), t0 + ms(900));
        assert_eq!((none.count, none.total), (0, Duration::ZERO));
    }
}
