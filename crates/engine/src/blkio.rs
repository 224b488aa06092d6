//! Block I/O settings (`--blkio-weight`, `--blkio-weight-device`, `--device-{read,write}-
//! {bps,iops}`) into the OCI spec's `linux.resources.blockIO`, with the device numbers taken
//! from a stat of each device path, as Docker's daemon does (`getBlkioWeightDevices`,
//! `getBlkioThrottleDevices`).

use crate::types::{HostConfig, ThrottleDevice};
use crate::{Error, Result};
use oci_spec::runtime::{
    LinuxBlockIo, LinuxThrottleDevice, LinuxThrottleDeviceBuilder, LinuxWeightDeviceBuilder,
};
use std::path::Path;

/// (major, minor) of the block device at `path`; `flag` names the setting in errors.
fn block_device(path: &str, flag: &str) -> Result<(u64, u64)> {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let md = std::fs::metadata(path).map_err(|e| {
        let e = std::io::Error::from_raw_os_error(e.raw_os_error().unwrap_or(libc::EIO));
        let msg = e.to_string();
        // Go's wording: "stat /dev/x: no such file or directory".
        let msg = msg
            .split(" (os error")
            .next()
            .unwrap_or(&msg)
            .to_lowercase();
        Error::InvalidArgument(format!("{flag}: stat {path}: {msg}"))
    })?;
    if !md.file_type().is_block_device() {
        return Err(Error::InvalidArgument(format!(
            "{flag}: {path} is not a block device"
        )));
    }
    Ok((libc::major(md.rdev()) as u64, libc::minor(md.rdev()) as u64))
}

fn throttle(list: &[ThrottleDevice], flag: &str) -> Result<Vec<LinuxThrottleDevice>> {
    list.iter()
        .map(|t| {
            let (major, minor) = block_device(&t.path, flag)?;
            LinuxThrottleDeviceBuilder::default()
                .major(major as i64)
                .minor(minor as i64)
                .rate(t.rate)
                .build()
                .map_err(|e| Error::Other(format!("blockIO: {e}")))
        })
        .collect()
}

/// The `blockIO` object of the spec, or None when no block I/O setting is given.
pub fn block_io(h: &HostConfig) -> Result<Option<LinuxBlockIo>> {
    let mut io = LinuxBlockIo::default();
    if h.blkio_weight > 0 {
        io.set_weight(Some(h.blkio_weight));
    }
    let mut weights = Vec::new();
    for w in &h.blkio_weight_device {
        let (major, minor) = block_device(&w.path, "--blkio-weight-device")?;
        let d = LinuxWeightDeviceBuilder::default()
            .major(major as i64)
            .minor(minor as i64)
            .weight(w.weight)
            .build()
            .map_err(|e| Error::Other(format!("blockIO: {e}")))?;
        weights.push(d);
    }
    if !weights.is_empty() {
        io.set_weight_device(Some(weights));
    }
    let some = |v: Vec<LinuxThrottleDevice>| (!v.is_empty()).then_some(v);
    io.set_throttle_read_bps_device(some(throttle(
        &h.blkio_device_read_bps,
        "--device-read-bps",
    )?));
    io.set_throttle_write_bps_device(some(throttle(
        &h.blkio_device_write_bps,
        "--device-write-bps",
    )?));
    io.set_throttle_read_iops_device(some(throttle(
        &h.blkio_device_read_iops,
        "--device-read-iops",
    )?));
    io.set_throttle_write_iops_device(some(throttle(
        &h.blkio_device_write_iops,
        "--device-write-iops",
    )?));
    Ok((io != LinuxBlockIo::default()).then_some(io))
}

/// Whether this host's cgroups can weigh block I/O. Docker's daemon warns and drops the
/// weights where they cannot be applied; berth refuses them instead. On cgroup v1 the blkio
/// hierarchy's root shows CFQ's `blkio.weight` or BFQ's `blkio.bfq.weight`; on a v2-only host
/// the runtime fails the start when neither `io.weight` nor `io.bfq.weight` exists.
fn weights_supported(blkio_root: &Path) -> bool {
    !blkio_root.exists()
        || blkio_root.join("blkio.weight").exists()
        || blkio_root.join("blkio.bfq.weight").exists()
}

/// Create-time checks: the devices exist and are block devices, weights can be applied.
pub fn validate(h: &HostConfig) -> Result<()> {
    block_io(h)?;
    let blkio_root = Path::new("/sys/fs/cgroup/blkio");
    if (h.blkio_weight > 0 || !h.blkio_weight_device.is_empty()) && !weights_supported(blkio_root) {
        let flag = if h.blkio_weight > 0 {
            "--blkio-weight"
        } else {
            "--blkio-weight-device"
        };
        return Err(Error::InvalidArgument(format!(
            "{flag}: your kernel does not support Block I/O weight (neither blkio.weight nor \
             blkio.bfq.weight in {}: no CFQ or BFQ I/O scheduler)",
            blkio_root.display()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devices_must_be_block_devices() {
        let mut h = HostConfig::default();
        assert!(block_io(&h).unwrap().is_none());
        h.blkio_device_read_bps = vec![ThrottleDevice {
            path: "/dev/null".into(),
            rate: 1,
        }];
        let e = block_io(&h).unwrap_err().to_string();
        assert!(
            e.contains("--device-read-bps: /dev/null is not a block device"),
            "{e}"
        );
        h.blkio_device_read_bps[0].path = "/dev/berth-nonexistent".into();
        let e = block_io(&h).unwrap_err().to_string();
        assert!(
            e.contains("--device-read-bps: stat /dev/berth-nonexistent: no such file or directory"),
            "{e}"
        );
    }
}
