fn main() {
    std::process::exit(labgate::cli::main());
}
