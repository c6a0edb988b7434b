fn main() {
    bound_allocator_arenas();
    std::process::exit(labgate::cli::main());
}

/// glibc gives each thread that allocates under contention an arena of its own (up to eight
/// per core) and keeps what each arena grew to: under a mixed load of many clients that alone
/// took the server from under 60 MiB to over 70 MiB (`benches/storage.sh`). glibc reads its
/// limit from the environment when the process starts, so the process starts itself once
/// more (the same PID, arguments and descriptors) with `MALLOC_ARENA_MAX=2`, before anything
/// else has happened. A value given by the operator is kept; if the exec fails, labgate runs
/// on as it is.
fn bound_allocator_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    const REEXEC: &str = "LABGATE_ARENAS_SET";
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if std::env::var_os("MALLOC_ARENA_MAX").is_none()
        && std::env::var_os(REEXEC).is_none()
        && let Ok(exe) = std::env::current_exe()
    {
        use std::os::unix::process::CommandExt;
        // The marker makes it once at most: a start in secure-execution mode (file
        // capabilities, setuid) has glibc drop `MALLOC_ARENA_MAX` again.
        let err = std::process::Command::new(exe)
            .arg0(std::env::args_os().next().unwrap_or_default())
            .args(std::env::args_os().skip(1))
            .env("MALLOC_ARENA_MAX", "2")
            .env(REEXEC, "1")
            .exec();
        eprintln!("labgate: running with the allocator's default arenas ({err})");
    }
}
