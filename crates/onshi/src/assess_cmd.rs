//! `onshi assess`: the desk's decision engine on the command line. Reads a situation as JSON
//! on standard input and writes the decision as JSON on standard output (docs/formats/assess.md).
//!
//! Exit 0 with the decision; exit 2 when the input does not parse or the engine refuses it:
//! the error names the field and the rule, on standard error as a line and on standard output
//! as `{"error": {"field", "rule", "message"}}`, the shape of the HTTP API's errors.

use std::io::Read;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Args;
use onshi_domain::desk;

#[derive(Args)]
pub struct AssessArgs {
    /// print the decision indented
    #[arg(long)]
    pretty: bool,
}

pub fn run(args: AssessArgs) -> Result<ExitCode> {
    let mut input = Vec::new();
    std::io::stdin()
        .read_to_end(&mut input)
        .context("reading the situation from standard input")?;
    let Ok(text) = String::from_utf8(input) else {
        eprintln!("error: (root): the input is not UTF-8 text (json)");
        print_error("(root)", "json", "the input is not UTF-8 text")?;
        return Ok(ExitCode::from(2));
    };
    match desk::assess_json(&text) {
        Ok(decision) => {
            let out = if args.pretty {
                serde_json::to_string_pretty(&decision)?
            } else {
                serde_json::to_string(&decision)?
            };
            println!("{out}");
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("error: {e}");
            print_error(&e.field, e.rule, &e.message)?;
            Ok(ExitCode::from(2))
        }
    }
}

fn print_error(field: &str, rule: &str, message: &str) -> Result<()> {
    let value = serde_json::json!({
        "error": { "field": field, "rule": rule, "message": message }
    });
    println!("{}", serde_json::to_string(&value)?);
    Ok(())
}
