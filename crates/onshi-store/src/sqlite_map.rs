//! The registry's map, warmed ahead of use.
//!
//! SQLite reads a file through a map of its own per connection (`PRAGMA mmap_size`): each
//! reader connection maps the whole registry, and the first touch of a page through that map
//! is a page fault — a minor one when the page is in the OS cache, a read from the disk when
//! it is not. A national registry is a file of several GB read at random, so every
//! confirmation touches pages that a reader's map has not touched before, long after the
//! start: a fault for each. Warming asks the kernel to fill the page tables of the maps in one
//! call (`madvise(MADV_POPULATE_READ)`, Linux 5.14), which also reads into the OS cache any
//! page the disk still holds. Nothing of the file changes; a map that cannot be warmed is left
//! as it was, to fault as before.

use std::path::Path;

/// A map of the file in this process, from `/proc/self/maps`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Mapping {
    pub start: usize,
    pub len: usize,
}

/// One line of `/proc/self/maps`: `start-end perms offset major:minor inode path`. Returns the
/// range with its device (major, minor) and inode, or `None` for a line of another shape.
fn parse_maps_line(line: &str) -> Option<(Mapping, (u32, u32), u64)> {
    let mut f = line.split_ascii_whitespace();
    let (start, end) = f.next()?.split_once('-')?;
    let start = usize::from_str_radix(start, 16).ok()?;
    let end = usize::from_str_radix(end, 16).ok()?;
    let _perms = f.next()?;
    let _offset = f.next()?;
    let (major, minor) = f.next()?.split_once(':')?;
    let dev = (
        u32::from_str_radix(major, 16).ok()?,
        u32::from_str_radix(minor, 16).ok()?,
    );
    let inode = f.next()?.parse().ok()?;
    if end <= start {
        return None;
    }
    Some((
        Mapping {
            start,
            len: end - start,
        },
        dev,
        inode,
    ))
}

/// The maps of `file` in this process.
#[cfg(target_os = "linux")]
pub(crate) fn mappings_of(file: &Path) -> std::io::Result<Vec<Mapping>> {
    use std::os::unix::fs::MetadataExt;
    let md = std::fs::metadata(file)?;
    let dev = (libc::major(md.dev()), libc::minor(md.dev()));
    let maps = std::fs::read_to_string("/proc/self/maps")?;
    Ok(maps
        .lines()
        .filter_map(parse_maps_line)
        .filter(|(_, d, ino)| *d == dev && *ino == md.ino())
        .map(|(m, _, _)| m)
        .collect())
}

#[cfg(not(target_os = "linux"))]
pub(crate) fn mappings_of(_file: &Path) -> std::io::Result<Vec<Mapping>> {
    Ok(Vec::new())
}

/// Fills the page tables of `m` from the file (reading from the disk what the OS cache lacks).
#[cfg(target_os = "linux")]
pub(crate) fn populate(m: Mapping) -> std::io::Result<()> {
    // SAFETY: madvise reads no memory of this process and changes no content: it faults the
    // pages of the range in as a read would. The range was read from this process's own maps;
    // were it unmapped meanwhile, the call fails with ENOMEM, and were it mapped again by
    // something else, its pages are only faulted in.
    let r = unsafe {
        libc::madvise(
            m.start as *mut libc::c_void,
            m.len,
            libc::MADV_POPULATE_READ,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

#[cfg(not(target_os = "linux"))]
pub(crate) fn populate(_m: Mapping) -> std::io::Result<()> {
    Err(std::io::Error::new(
        std::io::ErrorKind::Unsupported,
        "warming a map needs Linux's MADV_POPULATE_READ",
    ))
}

/// A read-only shared map of the first `len` bytes of `f`; the caller unmaps it.
#[cfg(target_os = "linux")]
fn map_read_only(f: &std::fs::File, len: usize) -> std::io::Result<*mut libc::c_void> {
    use std::os::unix::io::AsRawFd;
    // SAFETY: a new read-only shared map of an open file: it aliases no memory of this
    // process, and nothing is read through it here.
    let at = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ,
            libc::MAP_SHARED,
            f.as_raw_fd(),
            0,
        )
    };
    if at == libc::MAP_FAILED {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(at)
    }
}

/// How much of `file` the OS cache holds: (bytes resident, the file's length). Read with
/// `mincore` over a map of the file made and dropped here (the map touches no page, so the
/// reading changes nothing it reads).
#[cfg(target_os = "linux")]
pub(crate) fn resident(file: &Path) -> std::io::Result<(u64, u64)> {
    let f = std::fs::File::open(file)?;
    let len = f.metadata()?.len();
    if len == 0 {
        return Ok((0, 0));
    }
    let len_usize = usize::try_from(len).map_err(std::io::Error::other)?;
    // SAFETY: sysconf has no preconditions.
    let page = usize::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) })
        .map_err(std::io::Error::other)?;
    // only mincore looks at the map, and it is unmapped below whatever mincore returns
    let at = map_read_only(&f, len_usize)?;
    let mut vec = vec![0u8; len_usize.div_ceil(page)];
    // SAFETY: the range is the map made above; vec has one byte per page of it.
    let r = unsafe { libc::mincore(at, len_usize, vec.as_mut_ptr()) };
    let err = std::io::Error::last_os_error();
    // SAFETY: the map made above, not used after.
    unsafe { libc::munmap(at, len_usize) };
    if r != 0 {
        return Err(err);
    }
    let pages = vec.iter().filter(|b| *b & 1 == 1).count() as u64;
    Ok(((pages * page as u64).min(len), len))
}

#[cfg(not(target_os = "linux"))]
pub(crate) fn resident(_file: &Path) -> std::io::Result<(u64, u64)> {
    Err(std::io::Error::new(
        std::io::ErrorKind::Unsupported,
        "reading the OS cache's pages of a file needs Linux's mincore",
    ))
}

/// Asks the OS to drop `file`'s pages from its cache (`posix_fadvise(POSIX_FADV_DONTNEED)`,
/// after its dirty pages are written), as a restart of the machine would: the next read of a
/// page comes from the disk. Pages that a process still maps into its page tables stay; so
/// does a page written meanwhile. Needs no privilege; nothing of the file changes.
#[cfg(target_os = "linux")]
pub(crate) fn drop_from_os_cache(file: &Path) -> std::io::Result<()> {
    use std::os::unix::io::AsRawFd;
    let f = std::fs::File::open(file)?;
    f.sync_data()?;
    // SAFETY: posix_fadvise only advises the kernel about an open descriptor's pages.
    let r = unsafe { libc::posix_fadvise(f.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED) };
    if r == 0 {
        Ok(())
    } else {
        Err(std::io::Error::from_raw_os_error(r))
    }
}

#[cfg(not(target_os = "linux"))]
pub(crate) fn drop_from_os_cache(_file: &Path) -> std::io::Result<()> {
    Err(std::io::Error::new(
        std::io::ErrorKind::Unsupported,
        "dropping a file from the OS cache is done here only on Linux",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_lines_are_read_and_other_shapes_refused() {
        let (m, dev, ino) = parse_maps_line(
            "7f3a2c000000-7f3a2c400000 r--s 00000000 fd:01 1835013                    /data/central.sqlite",
        )
        .unwrap();
        assert_eq!(m.start, 0x7f3a_2c00_0000);
        assert_eq!(m.len, 0x40_0000);
        assert_eq!(dev, (0xfd, 1));
        assert_eq!(ino, 1_835_013);
        // an anonymous map has inode 0 and no path
        let (_, _, ino) =
            parse_maps_line("55d0c0000000-55d0c0021000 rw-p 00000000 00:00 0").unwrap();
        assert_eq!(ino, 0);
        for bad in [
            "",
            "zz-10 r--s 0 fd:01 1 /x",
            "20-10 r--s 0 fd:01 1 /x",
            "10-20 r--s 0 fd01 1 /x",
            "10-20 r--s 0 fd:01",
        ] {
            assert!(parse_maps_line(bad).is_none(), "{bad:?}");
        }
    }

    /// Minor faults of the calling thread so far.
    #[cfg(target_os = "linux")]
    fn thread_minor_faults() -> i64 {
        // SAFETY: getrusage fills the struct it is given.
        let mut u: libc::rusage = unsafe { std::mem::zeroed() };
        assert_eq!(unsafe { libc::getrusage(libc::RUSAGE_THREAD, &mut u) }, 0);
        u.ru_minflt
    }

    /// Maps `path` read-only, reads a byte of every page, unmaps; returns the minor faults the
    /// reads took.
    #[cfg(target_os = "linux")]
    fn faults_reading(path: &Path, len: usize, warm: bool) -> i64 {
        let f = std::fs::File::open(path).unwrap();
        // unmapped below
        let at = map_read_only(&f, len).unwrap();
        let found = mappings_of(path).unwrap();
        assert_eq!(
            found,
            vec![Mapping {
                start: at as usize,
                len
            }]
        );
        if warm {
            populate(found[0]).unwrap();
        }
        let before = thread_minor_faults();
        let mut sum = 0u64;
        for page in 0..len / 4096 {
            // SAFETY: inside the map made above.
            sum += unsafe { std::ptr::read_volatile((at as *const u8).add(page * 4096)) } as u64;
        }
        let faults = thread_minor_faults() - before;
        assert_eq!(sum, 7 * (len / 4096) as u64);
        // SAFETY: the map made above, not used after.
        unsafe { libc::munmap(at, len) };
        assert!(mappings_of(path).unwrap().is_empty());
        faults
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_mapped_file_is_found_and_its_pages_then_read_without_faults() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let len = 4096 * 4096; // 16 MiB, 4,096 pages
        std::fs::write(&path, vec![7u8; len]).unwrap();
        let cold = faults_reading(&path, len, false);
        let warm = faults_reading(&path, len, true);
        // unwarmed, each first touch of a folio faults (the kernel maps the pages around it,
        // up to a whole large folio of the cache, so far fewer faults than pages); warmed, none
        assert!(cold >= 1, "cold map: {cold} faults");
        assert_eq!(warm, 0, "warmed map: {warm} faults");
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_file_dropped_from_the_os_cache_is_read_back_from_the_disk() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let len = 4096 * 1024; // 4 MiB
        std::fs::write(&path, vec![7u8; len]).unwrap();
        std::fs::read(&path).unwrap();
        let (before, total) = resident(&path).unwrap();
        assert_eq!(total, len as u64);
        drop_from_os_cache(&path).unwrap();
        let (after, _) = resident(&path).unwrap();
        // a file system that keeps files only in memory (tmpfs) cannot drop them: there the
        // reading must agree that all of it is still held, and nothing else is to be proved
        if on_tmpfs(dir.path()) {
            assert_eq!(after, total);
            return;
        }
        assert_eq!(before, total, "a file just read is held whole");
        assert!(after < total / 4, "{after} of {total} bytes still held");
        // read again, it is whole and held again
        assert_eq!(std::fs::read(&path).unwrap(), vec![7u8; len]);
        assert_eq!(resident(&path).unwrap().0, total);
        assert_eq!(
            resident(&dir.path().join("none")).unwrap_err().kind(),
            std::io::ErrorKind::NotFound
        );
    }

    #[cfg(target_os = "linux")]
    fn on_tmpfs(dir: &Path) -> bool {
        use std::os::unix::ffi::OsStrExt;
        let c = std::ffi::CString::new(dir.as_os_str().as_bytes()).unwrap();
        // SAFETY: statfs fills the struct it is given from a NUL-terminated path.
        let mut st: libc::statfs = unsafe { std::mem::zeroed() };
        assert_eq!(unsafe { libc::statfs(c.as_ptr(), &mut st) }, 0);
        st.f_type == libc::TMPFS_MAGIC
    }
}
