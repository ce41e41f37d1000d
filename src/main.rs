fn main() -> std::process::ExitCode {
    breakfast::install_crypto_provider();
    breakfast::cli::main()
}
