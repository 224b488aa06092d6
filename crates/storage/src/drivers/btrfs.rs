//! btrfs subvolume ioctls (no `btrfs` subprocess).

use std::ffi::OsStr;
use std::io;
use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

const fn iow(nr: u64, size: u64) -> u64 {
    (1 << 30) | (size << 16) | (0x94 << 8) | nr
}
const VOL_ARGS_SIZE: usize = 4096;
const BTRFS_IOC_SUBVOL_CREATE: u64 = iow(14, VOL_ARGS_SIZE as u64);
const BTRFS_IOC_SNAP_DESTROY: u64 = iow(15, VOL_ARGS_SIZE as u64);
const BTRFS_IOC_SNAP_CREATE_V2: u64 = iow(23, VOL_ARGS_SIZE as u64);

/// struct btrfs_ioctl_vol_args { __s64 fd; char name[4088]; }
#[repr(C)]
struct VolArgs {
    fd: i64,
    name: [u8; 4088],
}

/// struct btrfs_ioctl_vol_args_v2 { __s64 fd; __u64 transid; __u64 flags; __u64 unused[4]; char name[4040]; }
#[repr(C)]
struct VolArgsV2 {
    fd: i64,
    transid: u64,
    flags: u64,
    unused: [u64; 4],
    name: [u8; 4040],
}

fn split(path: &Path) -> io::Result<(std::fs::File, &OsStr)> {
    let parent = path
        .parent()
        .ok_or_else(|| io::Error::other("subvolume path has no parent"))?;
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::other("subvolume path has no name"))?;
    if name.len() >= 4040 {
        return Err(io::Error::other("subvolume name too long"));
    }
    Ok((std::fs::File::open(parent)?, name))
}

fn ioctl<T>(fd: impl AsFd, req: u64, arg: &mut T, what: &str, path: &Path) -> io::Result<()> {
    // SAFETY: `arg` is a live, correctly laid out (#[repr(C)], 4096 bytes) argument struct for
    // this btrfs ioctl request, and the fd is open for the duration of the call.
    let r = unsafe { libc::ioctl(fd.as_fd().as_raw_fd(), req as _, arg as *mut T) };
    if r < 0 {
        let e = io::Error::last_os_error();
        return Err(io::Error::new(
            e.kind(),
            format!("btrfs {what} {}: {e}", path.display()),
        ));
    }
    Ok(())
}

pub fn subvol_create(path: &Path) -> io::Result<()> {
    let (dir, name) = split(path)?;
    let mut a = VolArgs {
        fd: 0,
        name: [0; 4088],
    };
    a.name[..name.len()].copy_from_slice(name.as_bytes());
    ioctl(
        &dir,
        BTRFS_IOC_SUBVOL_CREATE,
        &mut a,
        "subvolume create",
        path,
    )
}

pub fn snapshot(src: &Path, dst: &Path) -> io::Result<()> {
    let s = std::fs::File::open(src)?;
    let (dir, name) = split(dst)?;
    let mut a = VolArgsV2 {
        fd: s.as_raw_fd() as i64,
        transid: 0,
        flags: 0,
        unused: [0; 4],
        name: [0; 4040],
    };
    a.name[..name.len()].copy_from_slice(name.as_bytes());
    ioctl(&dir, BTRFS_IOC_SNAP_CREATE_V2, &mut a, "snapshot", dst)
}

pub fn subvol_delete(path: &Path) -> io::Result<()> {
    let (dir, name) = split(path)?;
    let mut a = VolArgs {
        fd: 0,
        name: [0; 4088],
    };
    a.name[..name.len()].copy_from_slice(name.as_bytes());
    ioctl(
        &dir,
        BTRFS_IOC_SNAP_DESTROY,
        &mut a,
        "subvolume delete",
        path,
    )
}

const _: () = assert!(std::mem::size_of::<VolArgs>() == VOL_ARGS_SIZE);
const _: () = assert!(std::mem::size_of::<VolArgsV2>() == VOL_ARGS_SIZE);
