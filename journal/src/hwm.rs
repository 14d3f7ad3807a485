//! The high-water mark: a tiny file beside sled's holding the last acknowledged sequence number.
//!
//! sled recovers from a damaged log by stopping at the first bad message, i.e. it can come back
//! *silently* with an earlier state. The journal cannot see that from sled's contents alone, so
//! each group commit also records the last acknowledged sequence number here, after sled's data is
//! durable; on open, a store whose last record is below the mark has lost acknowledged records.
//!
//! Layout: two 16-byte slots at offsets 0 and 512 (different sectors, so a torn write can damage at
//! most the slot being written), each `b"JHWM"` + seq (u64 BE) + CRC32C of those 12 bytes. Writes
//! alternate between the slots; the reader takes the larger valid one.
//!
//! Each slot is written as its whole 512-byte sector with `O_DIRECT` where the filesystem allows
//! it, so a commit sends 512 bytes to the device instead of a 4 KiB page (measured on ext4: ~0.6
//! KiB instead of ~4.1 KiB per commit, see BENCHMARKS.md "Footprint"); where `O_DIRECT` is refused
//! (tmpfs, 4 KiB-sector devices) the slot is written through the page cache as before. Either way
//! it is fdatasynced before the commit is acknowledged.
//!
//! The file also carries the journal's advisory lock (`flock`), held for the journal's lifetime.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result, io_err};

pub(crate) const FILE_NAME: &str = "journal.hwm";
const MAGIC: &[u8; 4] = b"JHWM";
const SLOT_OFFSETS: [u64; 2] = [0, 512];
const SECTOR: usize = 512;

/// One slot's sector, aligned for `O_DIRECT`.
#[repr(C, align(4096))]
struct Sector([u8; SECTOR]);

pub(crate) struct HighWaterMark {
    file: File,
    /// The same file opened with `O_DIRECT`, while the filesystem accepts sector writes.
    direct: Option<File>,
    sector: Box<Sector>,
    path: PathBuf,
    next_slot: usize,
}

/// What was read from the mark when it was opened.
pub(crate) enum Mark {
    /// The file did not exist (new store, or deleted).
    Missing,
    /// Neither slot is valid.
    Unreadable,
    /// The last acknowledged sequence number.
    Value(u64),
}

impl HighWaterMark {
    /// Opens (creating if needed) and locks the mark in `dir`.
    pub(crate) fn open(dir: &Path) -> Result<(Self, Mark)> {
        let path = dir.join(FILE_NAME);
        let existed = path.exists();
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io_err(&path))?;
        // SAFETY: flock on a file descriptor we own; no memory is involved.
        let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if rc != 0 {
            return Err(Error::Locked { path });
        }
        let direct = OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_DIRECT)
            .open(&path)
            .ok();
        let mut hwm = HighWaterMark {
            file,
            direct,
            sector: Box::new(Sector([0; SECTOR])),
            path,
            next_slot: 0,
        };
        if !existed {
            hwm.store(0, true)?;
            // The mark is a new file: its directory entry must be durable too.
            crate::sync_dir(dir)?;
            return Ok((hwm, Mark::Missing));
        }
        let mut best: Option<(u64, usize)> = None;
        for (i, off) in SLOT_OFFSETS.iter().enumerate() {
            let mut buf = [0u8; 16];
            if hwm.file.read_exact_at(&mut buf, *off).is_err() {
                continue;
            }
            if let Some(v) = parse_slot(&buf) {
                if best.is_none_or(|(b, _)| v > b) {
                    best = Some((v, i));
                }
            }
        }
        Ok(match best {
            Some((v, i)) => {
                hwm.next_slot = 1 - i;
                (hwm, Mark::Value(v))
            }
            None => (hwm, Mark::Unreadable),
        })
    }

    /// Records `seq` as acknowledged; with `sync`, fdatasyncs the mark before returning.
    pub(crate) fn store(&mut self, seq: u64, sync: bool) -> Result<()> {
        let mut buf = [0u8; 16];
        buf[..4].copy_from_slice(MAGIC);
        buf[4..12].copy_from_slice(&seq.to_be_bytes());
        let crc = crc32c::crc32c(&buf[..12]);
        buf[12..].copy_from_slice(&crc.to_be_bytes());
        let offset = SLOT_OFFSETS[self.next_slot];
        let mut written_directly = false;
        if let Some(direct) = &self.direct {
            self.sector.0[..16].copy_from_slice(&buf);
            match direct.write_all_at(&self.sector.0, offset) {
                Ok(()) => written_directly = true,
                // EINVAL: this filesystem or device does not take 512-byte direct writes.
                Err(e) if e.raw_os_error() == Some(libc::EINVAL) => self.direct = None,
                Err(e) => return Err(io_err(&self.path)(e)),
            }
        }
        if !written_directly {
            self.file
                .write_all_at(&buf, offset)
                .map_err(io_err(&self.path))?;
        }
        self.next_slot = 1 - self.next_slot;
        if sync {
            // The direct write reached the device but maybe only its volatile cache.
            let f = match (&self.direct, written_directly) {
                (Some(d), true) => d,
                _ => &self.file,
            };
            f.sync_data().map_err(io_err(&self.path))?;
        }
        Ok(())
    }
}

fn parse_slot(buf: &[u8; 16]) -> Option<u64> {
    if &buf[..4] != MAGIC {
        return None;
    }
    let crc = u32::from_be_bytes([buf[12], buf[13], buf[14], buf[15]]);
    if crc != crc32c::crc32c(&buf[..12]) {
        return None;
    }
    let mut s = [0u8; 8];
    s.copy_from_slice(&buf[4..12]);
    Some(u64::from_be_bytes(s))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_larger_valid_slot_and_survives_one_torn_slot() {
        let _forks = crate::isolate::serialize_with_forks();
        let dir = tempfile::tempdir().unwrap();
        {
            let (mut h, m) = HighWaterMark::open(dir.path()).unwrap();
            assert!(matches!(m, Mark::Missing));
            h.store(5, true).unwrap();
            h.store(6, true).unwrap();
        }
        {
            let (_h, m) = HighWaterMark::open(dir.path()).unwrap();
            assert!(matches!(m, Mark::Value(6)));
        }
        // Creation wrote 0 to slot 0, then 5 went to slot 1 and 6 to slot 0. Tear the newest
        // slot: the older one still answers.
        let f = OpenOptions::new()
            .write(true)
            .open(dir.path().join(FILE_NAME))
            .unwrap();
        f.write_all_at(&[0xff; 3], 6).unwrap();
        {
            let (_h, m) = HighWaterMark::open(dir.path()).unwrap();
            assert!(matches!(m, Mark::Value(5)));
        }
        f.write_all_at(&[0xff; 3], 512 + 6).unwrap();
        let (_h, m) = HighWaterMark::open(dir.path()).unwrap();
        assert!(matches!(m, Mark::Unreadable));
    }

    #[test]
    fn second_open_is_refused_while_locked() {
        let _forks = crate::isolate::serialize_with_forks();
        let dir = tempfile::tempdir().unwrap();
        let _first = HighWaterMark::open(dir.path()).unwrap();
        assert!(matches!(
            HighWaterMark::open(dir.path()),
            Err(Error::Locked { .. })
        ));
    }
}
