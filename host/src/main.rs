//! The `mdhost` binary: everything lives in the library; this only runs the CLI.

fn main() -> std::process::ExitCode {
    mdhost::cli::main()
}
