//! A seccomp filter for the tests that check the server's fallbacks when a syscall is blocked
//! (the engine's `test_seccomp` has the same filter; these tests run it in a child process).

use std::mem::offset_of;

/// The seccomp architecture token for this build (`AUDIT_ARCH_*` from linux/audit.h).
#[cfg(target_arch = "x86_64")]
const AUDIT_ARCH: Option<u32> = Some(0xc000_003e);
#[cfg(target_arch = "aarch64")]
const AUDIT_ARCH: Option<u32> = Some(0xc000_00b7);
#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
const AUDIT_ARCH: Option<u32> = None;

/// Installs a seccomp filter on the calling thread (inherited by threads it creates later) that
/// answers each syscall of `nrs` with `errno` and allows everything else.
///
/// Returns `Err(why)` when the kernel has no seccomp filters; panics when the filter was
/// installed but does not act (a broken machine).
pub(crate) fn block(nrs: &[libc::c_long], errno: i32) -> Result<(), String> {
    install_filter(nrs, errno)?;
    for &nr in nrs {
        // SAFETY: fd arguments are -1 and pointers null: the filter (or the kernel) rejects the
        // call before any memory is touched.
        let r = unsafe { libc::syscall(nr, -1i64, 0i64, -1i64, 0i64, 0i64, 0i64) };
        let got = std::io::Error::last_os_error().raw_os_error();
        assert!(
            r == -1 && got == Some(errno),
            "the filter is installed but syscall {nr} returned {r} ({got:?}), not errno {errno}"
        );
    }
    Ok(())
}

/// Installs the filter of [`block`] without checking it; `errno` 0 makes each call in `nrs`
/// return 0 without running (what copy_file_range does on filesystems that copy nothing).
fn install_filter(nrs: &[libc::c_long], errno: i32) -> Result<(), String> {
    let Some(arch) = AUDIT_ARCH else {
        return Err("no AUDIT_ARCH value known for this architecture".into());
    };
    let stmt = |code: u32, k: u32| libc::sock_filter {
        code: code as u16,
        jt: 0,
        jf: 0,
        k,
    };
    let jeq = |k: u32, jt: u8, jf: u8| libc::sock_filter {
        code: (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16,
        jt,
        jf,
        k,
    };
    let ld_abs = libc::BPF_LD | libc::BPF_W | libc::BPF_ABS;
    let ret = libc::BPF_RET | libc::BPF_K;
    let mut prog = vec![
        stmt(ld_abs, offset_of!(libc::seccomp_data, arch) as u32),
        jeq(arch, 1, 0),
        stmt(ret, libc::SECCOMP_RET_ALLOW),
        stmt(ld_abs, offset_of!(libc::seccomp_data, nr) as u32),
    ];
    for &nr in nrs {
        prog.push(jeq(nr as u32, 0, 1));
        prog.push(stmt(
            ret,
            libc::SECCOMP_RET_ERRNO | (errno as u32 & libc::SECCOMP_RET_DATA),
        ));
    }
    prog.push(stmt(ret, libc::SECCOMP_RET_ALLOW));
    let fprog = libc::sock_fprog {
        len: u16::try_from(prog.len()).expect("a short filter"),
        filter: prog.as_mut_ptr(),
    };
    // SAFETY: prctl with integer arguments only; touches no memory of ours.
    let r = unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) };
    if r != 0 {
        return Err(format!(
            "prctl(PR_SET_NO_NEW_PRIVS): {}",
            std::io::Error::last_os_error()
        ));
    }
    // SAFETY: `fprog` points to `prog`, both alive for the call; the kernel copies the filter.
    let r = unsafe {
        libc::prctl(
            libc::PR_SET_SECCOMP,
            libc::SECCOMP_MODE_FILTER,
            &fprog as *const libc::sock_fprog,
        )
    };
    if r != 0 {
        return Err(format!(
            "prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER): {} (a kernel without CONFIG_SECCOMP_FILTER?)",
            std::io::Error::last_os_error()
        ));
    }
    Ok(())
}
