//! Helpers shared by the sled backend's integration tests.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use nexwatt_storage_sled::SledConfig;

/// Opens the database with raw sled, with the segment size `SledStorage`
/// gives new databases (sled refuses any other).
///
/// A raw `sled::Db` dropped just before may still hold the file lock for a
/// moment (sled's IO threads let go after the handle drops; `SledStorage`
/// waits for that in its drop, raw sled does not): retried for up to 5 s.
pub fn raw_open(path: &std::path::Path) -> sled::Result<sled::Db> {
    let config = sled::Config::new()
        .path(path)
        .segment_size(SledConfig::new(path).segment_size);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        match config.open() {
            Err(sled::Error::Io(e))
                if e.to_string().contains("could not acquire lock")
                    && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
            result => return result,
        }
    }
}
