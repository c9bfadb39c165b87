use std::io::IsTerminal;
use std::process::ExitCode;

fn main() -> ExitCode {
    let _ = rustls::crypto::ring::default_provider().install_default();
    // Arguments that are not UTF-8 reach clap as they are (it refuses them with a usage
    // error); the journal gets a lossy copy.
    let args_os: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let argv: Vec<String> = args_os
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let env_format = std::env::var_os("FKS_LOG_FORMAT").map(|v| v.to_string_lossy().into_owned());
    fks::logging::set_format(fks::logging::format_before_parsing(
        &argv,
        env_format.as_deref(),
    ));
    let cli = match fks::cli::Cli::try_parse_args(&args_os) {
        Ok(cli) => cli,
        Err(e) => return ExitCode::from(fks::commands::report_usage_error(&argv, &e)),
    };
    let level = match (cli.global.quiet, cli.global.verbose) {
        (true, _) => "error",
        (false, 0) => "warn",
        (false, 1) => "info",
        (false, _) => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("FKS_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(format!("fks={level},warn")));
    fks::logging::set_format(cli.global.log_format);
    fks::logging::set_job(cli.name());
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match cli.global.log_format {
        fks::logging::LogFormat::Json => logs.event_format(fks::logging::JsonLines).init(),
        // Colour only for a person at a terminal: cron logs and pipes get plain text.
        fks::logging::LogFormat::Text => logs
            .with_ansi(std::io::stderr().is_terminal())
            .with_target(false)
            .init(),
    }
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            fks::logging::stderr_line("error", &format!("start async runtime: {e}"));
            return ExitCode::from(1);
        }
    };
    let name = cli.name();
    let format = cli.global.format;
    // A bug must still end in one `error:` line (and the JSON object), exit 1.
    std::panic::set_hook(Box::new(fks::commands::remember_panic));
    let run = std::panic::AssertUnwindSafe(|| rt.block_on(fks::commands::main_entry(cli, argv)));
    match std::panic::catch_unwind(run) {
        Ok(code) => ExitCode::from(code),
        Err(panic) => ExitCode::from(fks::commands::report_panic(name, format, panic.as_ref())),
    }
}
