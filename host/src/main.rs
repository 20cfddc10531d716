//! The `mdhost` binary: everything lives in the library; this only runs the CLI.

mdhost::service_allocator!();

fn main() -> std::process::ExitCode {
    mdhost::cli::main()
}
