use bbgate::cli::{AttestCommand, ChartCommand, Cli, Command, NamespaceCommand, PolicyCommand, SignoffsCommand};
use bbgate::error::exit;
use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            // --help and --version are not errors; a bad command line is invalid input (2), and under
            // `--format json` (or BBGATE_FORMAT=json) stdout still holds one JSON document saying so.
            if !e.use_stderr() {
                return ExitCode::from(exit::PASS);
            }
            if json_asked() {
                let text = e.render().to_string();
                let usage = bbgate::error::Error::Invalid(
                    text.lines()
                        .filter(|l| !l.trim().is_empty())
                        .map(str::to_owned)
                        .collect(),
                );
                let _ = bbgate::output::line(&bbgate::output::error_document(&usage));
            }
            return ExitCode::from(exit::INVALID);
        }
    };
    bbgate::output::set_log(cli.verbose);
    let result = match &cli.command {
        Command::Verify(args) => bbgate::verify::run(args),
        Command::Policy(PolicyCommand::Check(args)) => bbgate::verify::policy_check(args),
        Command::Push(args) => bbgate::push::run(args),
        Command::Deploy(args) => bbgate::deploy::run(args),
        Command::Publish(args) => bbgate::bundle::run_publish(args),
        Command::RequestDeploy(args) => bbgate::bundle::run_request(args),
        Command::Comment(args) => bbgate::comment::run(args),
        Command::EksToken(args) => bbgate::deploy::eks::run_token(args),
        Command::Attest(AttestCommand::Verify(args)) => bbgate::attest::run_verify(args),
        Command::Chart(ChartCommand::Check(args)) => bbgate::release::chart_check(args),
        Command::Namespace(NamespaceCommand::Render(args)) => bbgate::namespace::run_render(args),
        Command::Namespace(NamespaceCommand::Check(args)) => bbgate::namespace::run_check(args),
        Command::Audit(args) => bbgate::audit::run(args),
        Command::Signoffs(SignoffsCommand::Export(args)) => bbgate::signoffs::run_export(args),
        Command::Signoffs(SignoffsCommand::Request(args)) => bbgate::signoffs::run_request(args),
        Command::Signoffs(SignoffsCommand::Approve(args)) => bbgate::signoffs::run_approve(args),
        Command::PostRender(args) => bbgate::release::post_render(&args.pins),
        Command::Completions(args) => bbgate::cli::completions(args.shell),
        Command::Man(args) => bbgate::cli::man_pages(&args.out_dir),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            if cli.command.format() == bbgate::cli::Format::Json {
                // A closed stdout changes nothing here: stderr still says why, and the exit code stands.
                let _ = bbgate::output::line(&bbgate::output::error_document(&e));
            }
            let label = match e.exit_code() {
                exit::UNDECIDABLE => "could not decide",
                exit::DENY => "denied",
                _ => "invalid input",
            };
            for line in bbgate::output::terminal_safe(&e.to_string()).lines() {
                eprintln!("bbgate: {label}: {line}");
            }
            ExitCode::from(e.exit_code())
        }
    }
}

/// Did the command line (or BBGATE_FORMAT) ask for JSON, though it did not parse?
fn json_asked() -> bool {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let flag = args
        .iter()
        .enumerate()
        .rev()
        .find_map(|(i, a)| match a.strip_prefix("--format") {
            Some("") => args.get(i + 1).map(String::as_str),
            Some(v) => v.strip_prefix('='),
            None => None,
        });
    match flag {
        Some(v) => v == "json",
        None => std::env::var("BBGATE_FORMAT").is_ok_and(|v| v == "json"),
    }
}
